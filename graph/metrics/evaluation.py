"""Scoring fraud analytics against labels: what the trust, fraud-ring and fraud-review benchmarks
and tests report (issue #14).

Every function is pure: it takes scores, flagged rings (each a collection of member ids) and the
truth (sets of member ids), and returns numbers. A figure that cannot be computed — a precision
with nothing flagged, a share of an empty group — is ``None``, never a made-up 0 or 1.

Goals (:class:`Goal`) are the issue's targets as data, so the benchmark prints each figure next to
its target and tests can hold the same targets: :data:`OTC_GOALS` for Bitcoin OTC with REV2's
labels, :data:`GENERATED_GOALS` for generated networks with planted truth.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata

__all__ = [
    "BOTTOM_SHARE",
    "FIGURES",
    "GENERATED_GOALS",
    "HARD_NEGATIVE_KINDS",
    "NEWCOMER_DAYS",
    "NEWCOMER_GOAL",
    "OTC_GOALS",
    "RISK_THRESHOLD",
    "Figures",
    "Goal",
    "PrecisionRecall",
    "QueueSize",
    "at_risk_share",
    "auc",
    "bottom_share",
    "flagged_members",
    "flagged_share",
    "fraud_figures",
    "newcomer_bottom_ratio",
    "newcomers",
    "queue_size",
    "ring_member_precision_recall",
    "worst_group_jaccard",
]

#: Planted honest groups that look like rings (hard negatives), by the figure name they get.
HARD_NEGATIVE_KINDS = {"circle": "honest_circle", "cohort": "honest_cohort"}
#: A newcomer joined at most this many days before the data's latest event.
NEWCOMER_DAYS = 90
#: A member is *at risk* from this ``fraud_risk`` on (it should mean "more likely fraud than not").
RISK_THRESHOLD = 0.5
#: The lowest share of trust a reviewer looks at first.
BOTTOM_SHARE = 0.05

#: A figure's value: a count, a share or score, or None when it cannot be computed.
Value = float | int | None
Figures = dict[str, Value]

#: Every figure :func:`fraud_figures` returns, with the label it is printed under.
FIGURES = {
    "ring_precision": "ring member precision (fraud / labelled members in flagged rings)",
    "ring_recall": "ring member recall (fraud members in flagged rings / fraud members)",
    "ring_judged": "labelled members in flagged rings",
    "group_jaccard": "worst planted fraud group's best Jaccard with a flagged ring",
    "circle_flagged": "honest-circle members in flagged rings",
    "circle_at_risk": "honest-circle members at fraud_risk ≥ 0.5",
    "cohort_flagged": "honest-cohort members in flagged rings",
    "cohort_at_risk": "honest-cohort members at fraud_risk ≥ 0.5",
    "benign_at_risk": "benign members at fraud_risk ≥ 0.5 (labelled, or not planted fraud)",
    "members_at_risk": "all members at fraud_risk ≥ 0.5",
    "trust_auc": "trust AUC (low trust → fraud; labelled members)",
    "risk_auc": "fraud_risk AUC (labelled members)",
    "queue_rings": "queue: flagged rings",
    "queue_members": "queue: members in flagged rings",
    "queue_share": "queue: share of members in flagged rings",
    "newcomers": "honest newcomers (joined in the last 90 days, not known fraud)",
    "newcomer_ratio": "honest newcomers' share of the lowest 5% of trust / of members",
}


def auc(score: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a positive scores higher than a negative,
    ties counting half (the Mann–Whitney U statistic over both class sizes).

    Pass ``-trust`` to score "low trust means fraud".

    >>> auc([0.9, 0.8, 0.1, 0.8], [True, False, False, True])
    0.875

    Raises
    ------
    ValueError
        When the lengths differ or a class is empty.
    """
    values = np.asarray(score, dtype=np.float64)
    labels = np.asarray(positive, dtype=bool)
    if values.shape != labels.shape:
        raise ValueError(f"{values.shape[0]} scores for {labels.shape[0]} labels")
    p, q = int(labels.sum()), int((~labels).sum())
    if not p or not q:
        raise ValueError("auc needs both positives and negatives")
    ranks = rankdata(values)
    return float((ranks[labels].sum() - p * (p + 1) / 2) / (p * q))


def flagged_members(rings: Iterable[Iterable[str]]) -> set[str]:
    """Every member of at least one of ``rings`` (a member in two rings counts once).

    >>> sorted(flagged_members([("a", "b"), ("b", "c")]))
    ['a', 'b', 'c']
    """
    return {member for ring in rings for member in ring}


@dataclass(frozen=True)
class PrecisionRecall:
    """Members of flagged rings against the truth.

    ``flagged``: members in flagged rings; ``judged``: of them, those with a label; ``found``: of
    them, fraud. ``precision = found / judged`` (None when nothing judged is flagged) and
    ``recall = found / fraud members`` (None when there is no fraud).
    """

    precision: float | None
    recall: float | None
    flagged: int
    judged: int
    found: int


def ring_member_precision_recall(
    rings: Iterable[Iterable[str]],
    fraud: Collection[str],
    *,
    benign: Collection[str] | None = None,
) -> PrecisionRecall:
    """Member precision and recall of flagged ``rings`` against the ``fraud`` members.

    With ``benign`` None the truth is complete (a generated network): every flagged member not
    in ``fraud`` is a false positive. With ``benign`` given the labels are partial (Bitcoin
    OTC's REV2 labels): precision counts only flagged members labelled either way, recall is
    over the labelled fraud.

    >>> result = ring_member_precision_recall([("a", "b"), ("b", "c", "x")], {"a", "b", "c", "d"})
    >>> result.precision, result.recall, result.flagged
    (0.75, 0.75, 4)
    >>> partial = ring_member_precision_recall([("a", "u", "x")], {"a"}, benign={"x", "y"})
    >>> partial.precision, partial.recall, partial.judged
    (0.5, 1.0, 2)
    """
    flagged = flagged_members(rings)
    fraud_set = set(fraud)
    found = len(flagged & fraud_set)
    judged = len(flagged) if benign is None else len(flagged & (fraud_set | set(benign)))
    return PrecisionRecall(
        precision=found / judged if judged else None,
        recall=found / len(fraud_set) if fraud_set else None,
        flagged=len(flagged),
        judged=judged,
        found=found,
    )


def worst_group_jaccard(
    rings: Sequence[Iterable[str]], groups: Iterable[Collection[str]]
) -> float | None:
    """How well the worst-found of ``groups`` (planted fraud groups) is found: the least, over
    the groups, of the best Jaccard similarity |group ∩ ring| / |group ∪ ring| with any flagged
    ring. 0 when a group meets no ring (or nothing is flagged); None when there are no groups.

    Group {a, b, c} is best matched by ring {a, b} (2/3); group {x, y} by ring {x, y, z} (2/3)
    rather than {a, b} (0):

    >>> round(worst_group_jaccard([("a", "b"), ("x", "y", "z")], [("a", "b", "c"), ("x", "y")]), 4)
    0.6667
    """
    flagged = [set(ring) for ring in rings]
    best = [
        max((len(group & ring) / len(group | ring) for ring in flagged), default=0.0)
        for group in (set(members) for members in groups)
        if group
    ]
    return min(best) if best else None


def flagged_share(rings: Iterable[Iterable[str]], n_members: int) -> float | None:
    """Share of ``n_members`` who sit in at least one flagged ring (None for no members).

    >>> flagged_share([("a", "b"), ("b", "c")], 10)
    0.3
    """
    return len(flagged_members(rings)) / n_members if n_members else None


@dataclass(frozen=True)
class QueueSize:
    """The review queue: flagged rings, the members in them and their share of all members."""

    rings: int
    members: int
    share: float | None


def queue_size(rings: Sequence[Iterable[str]], n_members: int) -> QueueSize:
    """The size of a review queue of flagged ``rings`` in a network of ``n_members``.

    >>> queue_size([("a", "b"), ("b", "c")], 10)
    QueueSize(rings=2, members=3, share=0.3)
    """
    return QueueSize(len(rings), len(flagged_members(rings)), flagged_share(rings, n_members))


def at_risk_share(
    fraud_risk: pd.Series,
    group: Collection[str] | None = None,
    *,
    threshold: float = RISK_THRESHOLD,
) -> float | None:
    """Share of ``group`` (default: every member) with ``fraud_risk ≥ threshold``.

    ``fraud_risk`` is indexed by ``member_id`` (``risk.csv``'s ``fraud_risk``); None when the
    group is empty.

    >>> risk = pd.Series([0.9, 0.5, 0.2, 0.1], index=["a", "b", "c", "d"])
    >>> at_risk_share(risk), at_risk_share(risk, {"c", "d"}), at_risk_share(risk, [])
    (0.5, 0.0, None)

    Raises
    ------
    KeyError
        When a member of ``group`` has no risk.
    """
    values = fraud_risk if group is None else fraud_risk.loc[list(group)]
    if not len(values):
        return None
    return float((values.to_numpy(dtype=np.float64) >= threshold).mean())


def newcomers(joined_at: pd.Series, now: pd.Timestamp, *, days: float = NEWCOMER_DAYS) -> pd.Series:
    """Which members joined in the ``days`` before ``now`` (a boolean Series like ``joined_at``).

    >>> joined = pd.Series(pd.to_datetime(["2026-01-01", "2026-05-01", "2026-06-30"]))
    >>> newcomers(joined, pd.Timestamp("2026-06-30")).tolist()
    [False, True, True]
    """
    return joined_at > now - pd.Timedelta(days=days)


def bottom_share(
    score: npt.ArrayLike, group: npt.ArrayLike, *, bottom: float = BOTTOM_SHARE
) -> float:
    """Share of ``group`` members among the lowest ``bottom`` share of ``score``.

    The lowest ``k = ⌈bottom·n⌉`` scores are looked at. Members tied at the k-th lowest score
    are in it each with the same chance — the share a reviewer would see on average if ties
    were ordered at random — so no order among equal scores (such as member id) decides.

    Ten scores, the lowest 20% (two places); three members tie at 0 for them, each in with
    chance 2/3; the one group member among them is expected at 2/3 of a place out of 2:

    >>> share = bottom_share([0, 0, 0, 1, 2, 3, 4, 5, 6, 7], [1] + [0] * 8 + [1], bottom=0.2)
    >>> round(share, 4)
    0.3333

    Raises
    ------
    ValueError
        When the lengths differ, there are no scores or ``bottom`` is not in (0, 1].
    """
    values = np.asarray(score, dtype=np.float64)
    members = np.asarray(group, dtype=bool)
    if values.shape != members.shape:
        raise ValueError(f"{values.shape[0]} scores for {members.shape[0]} group flags")
    if not values.size:
        raise ValueError("bottom_share needs scores")
    if not 0 < bottom <= 1:
        raise ValueError(f"bottom must be in (0, 1], not {bottom}")
    # The rounding guard keeps 0.05 × 100 at 5 places, not 6.
    k = max(1, math.ceil(bottom * values.size - 1e-9))
    cut = np.partition(values, k - 1)[k - 1]
    below, tied = values < cut, values == cut
    chance = (k - int(below.sum())) / int(tied.sum())
    return float((members[below].sum() + chance * members[tied].sum()) / k)


def newcomer_bottom_ratio(
    score: npt.ArrayLike, newcomer: npt.ArrayLike, *, bottom: float = BOTTOM_SHARE
) -> float | None:
    """How over-represented ``newcomer`` members are among the lowest ``bottom`` of trust:
    their share there (:func:`bottom_share`) over their share of all members. 1 means no more
    than chance; None when there are no newcomers.

    Two newcomers of ten members (20%); the lowest 20% (two places) holds one of them (50%):

    >>> newcomer_bottom_ratio([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    ...                       [True] + [False] * 8 + [True], bottom=0.2)
    2.5
    """
    flags = np.asarray(newcomer, dtype=bool)
    if not flags.any():
        return None
    return bottom_share(score, flags, bottom=bottom) / float(flags.mean())


def fraud_figures(
    *,
    rings: Sequence[Iterable[str]],
    trust_score: pd.Series,
    fraud_risk: pd.Series,
    joined_at: pd.Series,
    now: pd.Timestamp,
    fraud: Collection[str],
    benign: Collection[str] | None = None,
    hard_negatives: Mapping[str, Collection[str] | None] | None = None,
    fraud_groups: Iterable[Collection[str]] = (),
) -> Figures:
    """Every figure of :data:`FIGURES` for one analysed network.

    Parameters
    ----------
    rings
        The flagged rings (the review queue), each as its member ids.
    trust_score, fraud_risk, joined_at
        Per member, indexed by ``member_id``: ``trust.csv``'s ``trust_score``, ``risk.csv``'s
        ``fraud_risk`` and the join time. Their index is the network's members.
    now
        The moment newcomers are counted back from (the data's latest event).
    fraud, benign
        Fraud members, and members known honest; ``benign`` None means every member not in
        ``fraud`` is honest (planted truth). AUCs are over the labelled members only.
    hard_negatives
        Honest groups that look like rings, by name (``"circle"``, ``"cohort"``): their members
        in flagged rings and their share at risk. A name missing or None gives None figures
        (the network has no such truth).
    fraud_groups
        The planted fraud groups, each as its members (for ``group_jaccard``; none on real data).
    """
    members = trust_score.index
    fraud_set = set(fraud)
    honest = (
        members.difference(pd.Index(list(fraud_set)))
        if benign is None
        else members.intersection(pd.Index(list(benign)))
    )
    labelled = members.isin(list(fraud_set)) | members.isin(honest)
    positive = members[labelled].isin(list(fraud_set))
    accuracy = ring_member_precision_recall(rings, fraud_set, benign=benign)
    queue = queue_size(rings, len(members))
    flagged = flagged_members(rings)

    def _auc(score: pd.Series) -> float | None:
        chosen = score.reindex(members).to_numpy(dtype=np.float64)[labelled]
        return auc(chosen, positive) if positive.any() and not positive.all() else None

    figures: Figures = {
        "ring_precision": accuracy.precision,
        "ring_recall": accuracy.recall,
        "ring_judged": accuracy.judged,
        "group_jaccard": worst_group_jaccard(rings, fraud_groups),
    }
    for name in HARD_NEGATIVE_KINDS:
        group = (hard_negatives or {}).get(name)
        figures[f"{name}_flagged"] = None if group is None else len(flagged & set(group))
        figures[f"{name}_at_risk"] = None if group is None else at_risk_share(fraud_risk, group)
    # Honest newcomers: joined lately and not known fraud (on real data, unlabelled ones count).
    new = newcomers(joined_at.reindex(members), now) & ~members.isin(list(fraud_set))
    figures |= {
        "benign_at_risk": at_risk_share(fraud_risk, honest),
        "members_at_risk": at_risk_share(fraud_risk.reindex(members)),
        "trust_auc": _auc(-trust_score),
        "risk_auc": _auc(fraud_risk),
        "queue_rings": queue.rings,
        "queue_members": queue.members,
        "queue_share": queue.share,
        "newcomers": int(new.sum()),
        "newcomer_ratio": newcomer_bottom_ratio(trust_score.to_numpy(dtype=np.float64), new),
    }
    return figures


Verdict = Literal["pass", "fail", "n/a"]


@dataclass(frozen=True)
class Goal:
    """A target for one figure: ``figure op target`` (``op`` is ``"<="`` or ``">="``).

    ``when`` = (figure, least value): the goal applies only once that figure reaches the value
    (e.g. a precision judged on at least 5 members); otherwise, or when the figure is None, the
    verdict is ``"n/a"``. ``percent`` shows the target as a percentage.

    >>> goal = Goal("ring_precision", ">=", 0.75, when=("ring_judged", 5))
    >>> goal.describe()
    '≥ 0.75 when ≥ 5 judged'
    >>> goal.verdict({"ring_precision": 0.8, "ring_judged": 12})
    'pass'
    >>> goal.verdict({"ring_precision": 0.2, "ring_judged": 3})
    'n/a'
    """

    figure: str
    op: Literal["<=", ">="]
    target: float
    when: tuple[str, int] | None = None
    percent: bool = False

    def describe(self) -> str:
        """The goal as printed next to its figure: ``≤ 3%``, ``≥ 0.95``, ``= 0``."""
        target = f"{self.target:.0%}" if self.percent else f"{self.target:g}"
        if self.op == "<=" and self.target == 0:
            return "= 0"
        condition = f" when ≥ {self.when[1]} judged" if self.when else ""
        return f"{'≤' if self.op == '<=' else '≥'} {target}{condition}"

    def verdict(self, figures: Mapping[str, Value]) -> Verdict:
        """Whether ``figures`` meet the goal: ``"pass"``, ``"fail"`` or ``"n/a"``."""
        value = figures.get(self.figure)
        if value is None:
            return "n/a"
        if self.when is not None:
            support = figures.get(self.when[0])
            if support is None or support < self.when[1]:
                return "n/a"
        met = value <= self.target if self.op == "<=" else value >= self.target
        return "pass" if met else "fail"


#: Honest newcomers no more than 1.5× their share of members among the lowest 5% of trust.
NEWCOMER_GOAL = Goal("newcomer_ratio", "<=", 1.5)
#: Issue #14's goals on Bitcoin OTC with REV2's labels.
OTC_GOALS = (
    Goal("queue_share", "<=", 0.03, percent=True),
    Goal("benign_at_risk", "<=", 0.10, percent=True),
    Goal("ring_precision", ">=", 0.75, when=("ring_judged", 5)),
    Goal("risk_auc", ">=", 0.95),
    Goal("trust_auc", ">=", 0.97),
    NEWCOMER_GOAL,
)
#: Issue #14's goals on generated networks, under each adaptation and with honest cohorts.
GENERATED_GOALS = (
    Goal("ring_precision", ">=", 0.9),
    Goal("ring_recall", ">=", 0.9),
    Goal("circle_flagged", "<=", 0),
    Goal("cohort_flagged", "<=", 0),
    Goal("circle_at_risk", "<=", 0.05, percent=True),
    Goal("cohort_at_risk", "<=", 0.05, percent=True),
    Goal("risk_auc", ">=", 0.95),
    Goal("trust_auc", ">=", 0.85),
    NEWCOMER_GOAL,
)
