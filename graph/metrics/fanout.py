"""Referral fan-out: who recruited whom, how far each referral tree reaches, and pyramid signs.

The referral forest is the snapshot's ``referrer`` column: each member has at most one referrer
(ingest refuses a second one and any cycle), so every member sits in exactly one tree, under the
root that nobody referred. :func:`fanout` describes each member's place in that forest and how
their progress splits between recruiting and service; :func:`pyramid` rolls the members up into
one row per tree and flags the trees that look like a recruitment pyramid rather than a time bank.

How it stays fast
-----------------
No networkx and no Python loop over members. Generations and roots come from pointer jumping
(each round doubles how far every member has looked up the tree, so a forest ``d`` deep needs
about log₂ d rounds). Downline sizes and depths are then accumulated bottom-up one generation at a
time, and DFS pre-order positions top-down one generation at a time — numpy calls per generation,
not per member, so the work is linear in members plus a few calls per generation. In pre-order a
member's downline is the interval just after it, ``pre[h] < pre[r] ≤ pre[h] + downline_size[h]``,
which is how millions of sessions are tested "inside the helper's downline?" in one vectorised
comparison (:meth:`_Forest.in_downline`, the one downline test; :mod:`graph.metrics.tiers` reads
its results from this table rather than testing again). The distinct people each member helped
outside their downline come from one sort of the (helper, recipient) pairs packed into integers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from graph.model import Snapshot

__all__ = [
    "DEFAULT_HOURS_PER_REFERRAL",
    "FANOUT_COLUMNS",
    "PYRAMID_COLUMNS",
    "fanout",
    "pyramid",
]

#: Columns of :func:`fanout`'s result, in order.
FANOUT_COLUMNS = [
    "member_id",
    "direct_referrals",
    "active_referrals",
    "downline_size",
    "downline_depth",
    "generation",
    "tree_root",
    "refers_three",
    "hours_given",
    "hours_to_downline",
    "hours_outside_downline",
    "people_helped_outside_downline",
    "recruitment_share",
    "activated_downline",
    "downline_at_regulatory_line",
    "fees_outpace_service",
]

#: The lines Chinese law draws for prosecuting a pyramid scheme (传销): people, and levels with
#: the organiser's own counted (see :func:`pyramid`).
REGULATORY_MIN_SIZE = 30
REGULATORY_MIN_LEVELS = 3

#: Columns of :func:`pyramid`'s result, in order.
PYRAMID_COLUMNS = [
    "tree_root",
    "tree_size",
    "depth",
    "members_per_generation",
    "activated_members",
    "activation_fees_yuan",
    "service_hours",
    "service_hours_outside_tree",
    "hours_per_activation",
    "median_recruitment_share",
    "regulatory_threshold",
    "fee_driven",
    "recruitment_driven",
    "pyramid_risk",
    "reasons",
]

#: Hours of service one active referral is taken to be worth in ``recruitment_share``.
#:
#: An exchange rate for that one indicator, nothing else (no credits or tiers are computed with
#: it): it says how much progress a member is taken to make by bringing in someone who goes on to
#: help, next to an hour of help they give themselves. With ten hours, a recruiter with one active
#: referral and fewer than ten hours of help outside their downline owes more of their progress
#: to recruiting than to service. Lower it (or raise it) to read the indicator under a laxer (or
#: stricter) view of recruiting.
DEFAULT_HOURS_PER_REFERRAL = 10.0

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_SECONDS_PER_DAY = 86_400


def fanout(
    snapshot: Snapshot,
    *,
    active_window_days: int = 90,
    hours_per_referral: float = DEFAULT_HOURS_PER_REFERRAL,
) -> pd.DataFrame:
    """Each member's place in the referral forest and where their given hours went.

    Parameters
    ----------
    snapshot
        The network.
    active_window_days
        A referee is *active* when they gave (were the helper of) at least one confirmed session
        that started from their ``joined_at`` to ``joined_at`` plus this many days, both ends
        included (days of 24 hours; ≥ 0).
    hours_per_referral
        Hours of service one active referral is worth in ``recruitment_share`` (> 0): an exchange
        rate for that indicator only. See :data:`DEFAULT_HOURS_PER_REFERRAL`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FANOUT_COLUMNS`, one row per member in snapshot order:

        - ``direct_referrals``: members this member referred;
        - ``active_referrals``: of those, the active ones (see ``active_window_days``);
        - ``downline_size``: members anywhere below this one in the referral tree (self excluded);
        - ``downline_depth``: generations below this member (0 for a member who referred nobody);
        - ``generation``: generations above this member (0 for a root, whom nobody referred);
        - ``tree_root``: ``member_id`` of the root of this member's tree (their own for a root);
        - ``refers_three``: ``active_referrals ≥ 3``, the programme's "1 refers 3";
        - ``hours_given``: hours of confirmed sessions this member gave (as helper);
        - ``hours_to_downline`` / ``hours_outside_downline``: the part of ``hours_given`` that
          went to members of this member's downline / to anyone else (upline, siblings,
          strangers); the two add up to ``hours_given``;
        - ``people_helped_outside_downline``: distinct other members this member helped in
          confirmed sessions, not counting their own downline (however many sessions each);
        - ``recruitment_share``: in [0, 1], the share of the member's progress that comes from
          recruiting rather than from service outside their own downline,
          ``R / (R + hours_outside_downline)`` with ``R = active_referrals · hours_per_referral``;
          0 when both are 0. Help given to one's own downline does not count as service here: it
          is how a recruiter keeps recruits active;
        - ``activated_downline``: members of the downline who paid the 1-yuan activation;
        - ``downline_at_regulatory_line``: the member, as organiser, heads at least
          :data:`REGULATORY_MIN_SIZE` people over at least :data:`REGULATORY_MIN_LEVELS` levels
          (themselves and their own level included) — the legal line of :func:`pyramid`, per
          member;
        - ``fees_outpace_service``: the member's downline paid more activation fees (1 yuan each)
          than the member gave hours of help outside it — rewards that track fees, not service
          (:func:`pyramid`'s ``fee_driven``, per member).

    Raises
    ------
    ValueError
        For a setting out of range.

    Examples
    --------
    Ann referred Bo and Cai, Bo referred Dan. Bo helped Ann a week after joining (so Bo is an
    active referral of Ann's); Ann helped Dan (her downline) and Cai (also her downline).

    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo", "cai", "dan"],
    ...                         "joined_at": ["2025-01-01"] * 4,
    ...                         "activated_at": ["2025-01-01", "2025-01-02", None, "2025-01-03"]})
    >>> referrals = pd.DataFrame({"referrer_id": ["ann", "ann", "bo"],
    ...                           "referee_id": ["bo", "cai", "dan"],
    ...                           "referred_at": ["2025-01-01"] * 3})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2", "s3"],
    ...                          "helper_id": ["bo", "ann", "ann"],
    ...                          "recipient_id": ["ann", "dan", "cai"],
    ...                          "started_at": ["2025-01-08", "2025-02-01", "2025-02-02"],
    ...                          "hours": [2.0, 1.5, 1.0]})
    >>> report = ingest({"members": members, "referrals": referrals, "sessions": sessions}, store)
    >>> table = fanout(store.snapshot())
    >>> table[["member_id", "direct_referrals", "active_referrals", "downline_size",
    ...        "downline_depth", "generation", "tree_root"]].to_numpy().tolist()
    [['ann', 2, 1, 3, 2, 0, 'ann'], ['bo', 1, 0, 1, 1, 1, 'ann'], ['cai', 0, 0, 0, 0, 1, 'ann'], ['dan', 0, 0, 0, 0, 2, 'ann']]
    >>> table[["hours_given", "hours_to_downline", "hours_outside_downline",
    ...        "recruitment_share", "activated_downline"]].iloc[:2].to_numpy().tolist()
    [[2.5, 2.5, 0.0, 1.0, 2.0], [2.0, 0.0, 2.0, 0.0, 1.0]]
    >>> table["people_helped_outside_downline"].tolist()
    [0, 1, 0, 0]
    """
    _check_fanout_settings(active_window_days, hours_per_referral)
    n = snapshot.n_members
    member_ids = snapshot.members["member_id"].reset_index(drop=True)
    forest = _forest(snapshot.referrer)
    parent = forest.parent
    referred = parent >= 0

    members = snapshot.members
    activated = members["activated_at"].notna().to_numpy()
    joined = _seconds(members["joined_at"])
    helper, recipient, started, hours = _confirmed_sessions(snapshot)

    elapsed = started - joined[helper]
    in_window = (elapsed >= 0) & (elapsed <= active_window_days * _SECONDS_PER_DAY)
    active = np.zeros(n, dtype=bool)
    active[helper[in_window]] = True
    direct = np.bincount(parent[referred], minlength=n)
    active_referrals = np.bincount(parent[referred & active], minlength=n)

    to_downline = forest.in_downline(helper, recipient)
    hours_to_downline = np.bincount(helper[to_downline], hours[to_downline], minlength=n)
    outside = ~to_downline
    hours_outside = np.bincount(helper[outside], hours[outside], minlength=n)
    other = outside & (helper != recipient)
    people_outside = _distinct_partners(helper[other], recipient[other], n)

    recruiting = active_referrals * float(hours_per_referral)
    progress = recruiting + hours_outside
    share = np.divide(recruiting, progress, out=np.zeros(n), where=progress > 0)

    return pd.DataFrame(
        {
            "member_id": member_ids,
            "direct_referrals": direct.astype(np.int64),
            "active_referrals": active_referrals.astype(np.int64),
            "downline_size": forest.size,
            "downline_depth": forest.height,
            "generation": forest.generation,
            "tree_root": member_ids.take(forest.root).reset_index(drop=True),
            "refers_three": active_referrals >= 3,
            "hours_given": hours_to_downline + hours_outside,
            "hours_to_downline": hours_to_downline,
            "hours_outside_downline": hours_outside,
            "people_helped_outside_downline": people_outside,
            "recruitment_share": share,
            "activated_downline": forest.subtree_sum(activated.astype(np.int64)),
        }
    ).pipe(_with_organiser_signs)


def _with_organiser_signs(table: pd.DataFrame) -> pd.DataFrame:
    """Add the member-level pyramid signs, read off the member's own downline (see
    :func:`fanout`): the same for the fast and the readable version."""
    people = table["downline_size"] + 1
    levels = table["downline_depth"] + 1
    activated = table["activated_downline"]
    return table.assign(
        downline_at_regulatory_line=(levels >= REGULATORY_MIN_LEVELS)
        & (people >= REGULATORY_MIN_SIZE),
        fees_outpace_service=(activated > 0) & (table["hours_outside_downline"] < activated),
    )


def pyramid(
    snapshot: Snapshot,
    fanout_table: pd.DataFrame | None = None,
    *,
    min_levels: int = REGULATORY_MIN_LEVELS,
    min_size: int = REGULATORY_MIN_SIZE,
    min_hours_per_activation: float = 1.0,
    max_recruitment_share: float = 0.75,
    activation_fee_yuan: float = 1.0,
) -> pd.DataFrame:
    """One row per referral tree with at least one referral, riskiest first: is it a pyramid?

    A time bank grows by referral too, so a large deep tree is not by itself a problem. What
    marks a recruitment pyramid (传销) is that the tree's rewards follow recruiting and the
    activation fees recruits pay, not the service its members give. Three signs are flagged:

    ``regulatory_threshold`` — the tree spans at least ``min_levels`` levels, its root's own
    level included, and has at least ``min_size`` people (root included). Thirty people and three levels are the
    lines Chinese law draws for prosecuting the organisers of a pyramid scheme (组织、领导传销活动罪,
    Criminal Law Art. 224-1): the 2013 opinion of the Supreme People's Court, Supreme People's
    Procuratorate and Ministry of Public Security 《关于办理组织领导传销活动刑事案件适用法律若干问题的意见》
    (section 1) sets 三十人以上且层级在三级以上, "以上" including the number itself, and counts
    the organiser and their own level (包括组织者、领导者本人及其本层级在内): a root with two
    generations below it spans three levels (``depth`` 2).

    ``fee_driven`` — the tree collected activation fees that its service does not account for:
    fewer than ``min_hours_per_activation`` hours of confirmed help went from its members to
    people outside the tree per activated member (with the default 1.0: activated members
    outnumber the hours of help the tree gave the rest of the bank).

    ``recruitment_driven`` — the median ``recruitment_share`` of the tree's recruiters (members
    who referred anyone) is above ``max_recruitment_share``: the typical recruiter progresses by
    recruiting far more than by helping people outside their downline (with the defaults, three
    times more: fewer than 3⅓ hours of outside help per active referral). Honest recruiters mix
    the two, so the default line is well above an even split: on the project's synthetic honest
    network, a 0.5 line would flag a third of all trees.

    Parameters
    ----------
    snapshot
        The network.
    fanout_table
        :func:`fanout` of this snapshot (computed with its defaults when omitted): pass your own
        to use other ``fanout`` settings or to avoid computing it twice.
    min_levels
        Levels, the root's own included (≥ 1), for ``regulatory_threshold``: ``depth + 1``.
    min_size
        People in the tree, root included (≥ 1), for ``regulatory_threshold``.
    min_hours_per_activation
        Hours of help to people outside the tree per activated member (> 0) below which a tree
        is ``fee_driven``.
    max_recruitment_share
        Median recruiter ``recruitment_share`` (in [0, 1)) above which a tree is
        ``recruitment_driven``. 0.75: recruiting outweighs outside service three to one.
    activation_fee_yuan
        Activation fee per member, in yuan (≥ 0).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PYRAMID_COLUMNS`, sorted by ``pyramid_risk`` (then ``tree_size``)
        descending:

        - ``tree_root``: ``member_id`` of the root; ``tree_size``: members, root included;
          ``depth``: generations below the root;
        - ``members_per_generation``: members in each generation from the root down, as
          ``"1-3-9"``;
        - ``activated_members``: members of the tree who paid the activation;
          ``activation_fees_yuan``: what they paid;
        - ``service_hours``: confirmed hours the tree's members gave anyone;
          ``service_hours_outside_tree``: the part given to members of other trees;
        - ``hours_per_activation``: ``service_hours_outside_tree / activated_members`` (NaN when
          no member is activated);
        - ``median_recruitment_share``: median ``recruitment_share`` of the tree's recruiters;
        - the three flags above;
        - ``pyramid_risk``: in [0, 1], ``structure · (fees + recruiting) / 2`` where
          ``structure = min(1, (depth + 1) / min_levels) · min(1, tree_size / min_size)`` (1 exactly
          when ``regulatory_threshold`` holds), ``fees = A / (A + H / min_hours_per_activation)``
          for ``A`` activated members and ``H`` hours of help outside the tree (above 1/2
          exactly when ``fee_driven``; 0 when both are 0) and ``recruiting`` is the median
          recruitment share. A tree must have a pyramid's shape *and* a pyramid's economics to
          score high;
        - ``reasons``: the flags in words, or ``"no pyramid signs"``.

    Raises
    ------
    ValueError
        For a setting out of range, or a ``fanout_table`` that is not one row per member of
        ``snapshot`` in snapshot order.

    Examples
    --------
    Ann recruited a chain of three generations; nobody in it helped anyone outside the tree, but
    all paid the activation. It is fee-driven, though too small to meet the regulatory line.

    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> names = ["ann", "bo", "cai", "dan", "eve"]
    >>> members = pd.DataFrame({"member_id": names, "joined_at": "2025-01-01",
    ...                         "activated_at": ["2025-01-01"] * 4 + [None]})
    >>> referrals = pd.DataFrame({"referrer_id": ["ann", "bo", "cai"],
    ...                           "referee_id": ["bo", "cai", "dan"],
    ...                           "referred_at": "2025-01-01"})
    >>> report = ingest({"members": members, "referrals": referrals}, store)
    >>> table = pyramid(store.snapshot())
    >>> table[["tree_root", "tree_size", "depth", "members_per_generation", "activated_members",
    ...        "regulatory_threshold", "fee_driven", "recruitment_driven"]].to_numpy().tolist()
    [['ann', 4, 3, '1-1-1-1', 4, False, True, False]]
    >>> print(table["reasons"].iloc[0])
    fee-driven: 4 members paid the 1-yuan activation (4 yuan) but the tree gave 0 hours of help outside itself (0 hours per activation; at least 1 expected)
    """
    _check_pyramid_settings(
        min_levels=min_levels,
        min_size=min_size,
        min_hours_per_activation=min_hours_per_activation,
        max_recruitment_share=max_recruitment_share,
        activation_fee_yuan=activation_fee_yuan,
    )
    member_ids = snapshot.members["member_id"].reset_index(drop=True)
    if fanout_table is None:
        fanout_table = fanout(snapshot)
    elif len(fanout_table) != len(member_ids) or not np.array_equal(
        fanout_table["member_id"].to_numpy(dtype=object), member_ids.to_numpy(dtype=object)
    ):
        raise ValueError("fanout_table must be fanout() of this snapshot: one row per member")
    n = snapshot.n_members
    forest = _forest(snapshot.referrer)
    root = forest.root

    tree_size = np.bincount(root, minlength=n)
    trees = np.flatnonzero(tree_size > 1)
    depth = forest.height[trees]
    size = tree_size[trees]
    activated = np.bincount(
        root, snapshot.members["activated_at"].notna().to_numpy(), minlength=n
    ).astype(np.int64)[trees]
    helper, recipient, _, hours = _confirmed_sessions(snapshot)
    service = np.bincount(root[helper], hours, minlength=n)[trees]
    crossing = root[helper] != root[recipient]
    outside = np.bincount(root[helper[crossing]], hours[crossing], minlength=n)[trees]
    hours_per_activation = np.divide(
        outside, activated, out=np.full(len(trees), np.nan), where=activated > 0
    )

    recruiter = np.bincount(forest.parent[forest.parent >= 0], minlength=n) > 0
    median_share = _group_median(
        root[recruiter],
        fanout_table["recruitment_share"].to_numpy(np.float64)[recruiter],
        n,
    )[trees]

    regulatory = (depth + 1 >= min_levels) & (size >= min_size)
    fee_driven = (activated > 0) & (outside < activated * min_hours_per_activation)
    recruitment_driven = median_share > max_recruitment_share

    structure = np.minimum((depth + 1) / min_levels, 1.0) * np.minimum(size / min_size, 1.0)
    fee_weight = outside / min_hours_per_activation
    fee_total = activated + fee_weight
    fees = np.divide(activated, fee_total, out=np.zeros(len(trees)), where=fee_total > 0)
    risk = structure * (fees + median_share) / 2

    table = pd.DataFrame(
        {
            "tree_root": member_ids.take(trees).reset_index(drop=True),
            "tree_size": size.astype(np.int64),
            "depth": depth,
            "members_per_generation": _generation_counts(root, forest.generation, trees),
            "activated_members": activated,
            "activation_fees_yuan": activated * float(activation_fee_yuan),
            "service_hours": service,
            "service_hours_outside_tree": outside,
            "hours_per_activation": hours_per_activation,
            "median_recruitment_share": median_share,
            "regulatory_threshold": regulatory,
            "fee_driven": fee_driven,
            "recruitment_driven": recruitment_driven,
            "pyramid_risk": risk,
        }
    )
    table["reasons"] = _reasons(
        table,
        min_levels=min_levels,
        min_size=min_size,
        min_hours_per_activation=min_hours_per_activation,
        max_recruitment_share=max_recruitment_share,
        activation_fee_yuan=activation_fee_yuan,
    )
    # Riskiest first; ties by size (largest first), then by snapshot order of the root.
    order = np.lexsort((np.arange(len(trees)), -size, -risk))
    return table.iloc[order].reset_index(drop=True)[PYRAMID_COLUMNS]


def _fanout_networkx(
    snapshot: Snapshot,
    *,
    active_window_days: int = 90,
    hours_per_referral: float = DEFAULT_HOURS_PER_REFERRAL,
) -> pd.DataFrame:
    """The readable twin of :func:`fanout`: networkx tree walks, one member at a time.

    Same settings and result; far slower (each member walks its whole downline), so only tests
    and researchers checking a definition call it.
    """
    import networkx as nx

    _check_fanout_settings(active_window_days, hours_per_referral)
    tree = snapshot.referral_graph()
    members = snapshot.members
    ids = members["member_id"].tolist()
    joined = dict(zip(ids, members["joined_at"], strict=True))
    activated = dict(zip(ids, members["activated_at"].notna(), strict=True))
    window = pd.Timedelta(days=active_window_days)

    confirmed = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    given: dict[str, list[tuple[str, float]]] = {member: [] for member in ids}
    active: set[str] = set()
    for helper, recipient, started, hours in zip(
        confirmed["helper"],
        confirmed["recipient"],
        confirmed["started_at"],
        confirmed["hours"],
        strict=True,
    ):
        given[ids[helper]].append((ids[recipient], float(hours)))
        if joined[ids[helper]] <= started <= joined[ids[helper]] + window:
            active.add(ids[helper])

    rows = []
    for member in ids:
        downline = nx.descendants(tree, member)
        upline = nx.ancestors(tree, member)
        referees = list(tree.successors(member))
        active_referrals = sum(referee in active for referee in referees)
        to_downline = sum(hours for recipient, hours in given[member] if recipient in downline)
        outside = sum(hours for recipient, hours in given[member] if recipient not in downline)
        people = {recipient for recipient, _ in given[member] if recipient not in downline}
        recruiting = active_referrals * hours_per_referral
        rows.append(
            {
                "member_id": member,
                "direct_referrals": len(referees),
                "active_referrals": active_referrals,
                "downline_size": len(downline),
                "downline_depth": max(nx.single_source_shortest_path_length(tree, member).values()),
                "generation": len(upline),
                "tree_root": next((a for a in upline if tree.in_degree(a) == 0), member),
                "refers_three": active_referrals >= 3,
                "hours_given": to_downline + outside,
                "hours_to_downline": to_downline,
                "hours_outside_downline": outside,
                "people_helped_outside_downline": len(people - {member}),
                "recruitment_share": recruiting / (recruiting + outside)
                if recruiting + outside > 0
                else 0.0,
                "activated_downline": sum(activated[below] for below in downline),
            }
        )
    return pd.DataFrame(rows, columns=FANOUT_COLUMNS[:-2]).pipe(_with_organiser_signs)


@dataclass(frozen=True)
class _Forest:
    """The referral forest as arrays indexed by member number.

    ``parent`` (−1 for a root), ``generation`` (0 for a root), ``root``, ``size`` (members
    below), ``height`` (generations below) and ``pre`` (DFS pre-order position, children visited
    in member order, trees in root order).
    """

    parent: IntArray
    generation: IntArray
    root: IntArray
    size: IntArray
    height: IntArray
    pre: IntArray

    def in_downline(self, ancestor: IntArray, member: IntArray) -> BoolArray:
        """Whether each ``member[i]`` is in ``ancestor[i]``'s downline (strictly below it).

        In pre-order a downline is the interval just after its head: ``member`` comes after
        ``ancestor``, no further than ``ancestor``'s downline size. One vectorised comparison,
        however many pairs.
        """
        pre_ancestor = self.pre[ancestor]
        pre_member = self.pre[member]
        inside: BoolArray = (pre_member > pre_ancestor) & (
            pre_member <= pre_ancestor + self.size[ancestor]
        )
        return inside

    def subtree_sum(self, values: IntArray) -> IntArray:
        """Sum of ``values`` over each member's downline (self excluded), from pre-order sums."""
        by_position = np.zeros(len(values) + 1, dtype=np.int64)
        by_position[self.pre + 1] = values
        cumulative = np.cumsum(by_position)
        # The downline occupies positions pre+1 … pre+size.
        return np.asarray(cumulative[self.pre + self.size + 1] - cumulative[self.pre + 1])


def _forest(referrer: npt.NDArray[np.integer]) -> _Forest:
    parent = np.asarray(referrer, dtype=np.int64)
    n = len(parent)
    generation, root = _generations(parent)
    n_levels = int(generation.max()) + 1 if n else 0
    by_level = np.argsort(generation, kind="stable")
    bounds = np.searchsorted(generation[by_level], np.arange(n_levels + 1))
    levels = [by_level[bounds[g] : bounds[g + 1]] for g in range(n_levels)]

    size = np.zeros(n, dtype=np.int64)
    height = np.zeros(n, dtype=np.int64)
    for level in reversed(levels[1:]):
        up = parent[level]
        np.add.at(size, up, size[level] + 1)
        np.maximum.at(height, up, height[level] + 1)

    # A child's pre-order offset from its parent: 1, plus the subtrees of its elder siblings.
    children = np.flatnonzero(parent >= 0)
    children = children[np.argsort(parent[children], kind="stable")]
    width = size[children] + 1
    before = np.cumsum(width) - width
    first = np.ones(len(children), dtype=bool)
    first[1:] = parent[children[1:]] != parent[children[:-1]]
    family_start = np.maximum.accumulate(np.where(first, np.arange(len(children)), 0))
    offset = np.zeros(n, dtype=np.int64)
    offset[children] = 1 + before - before[family_start]

    pre = np.zeros(n, dtype=np.int64)
    if n_levels:
        roots = levels[0]
        tree_width = size[roots] + 1
        pre[roots] = np.cumsum(tree_width) - tree_width
    for level in levels[1:]:
        pre[level] = pre[parent[level]] + offset[level]
    return _Forest(parent, generation, root, size, height, pre)


def _generations(parent: IntArray) -> tuple[IntArray, IntArray]:
    """Generation and root of every member, by pointer jumping.

    ``jump[v]`` is an ancestor ``distance[v]`` generations up; each round replaces it by the
    ancestor's own jump, doubling the distance covered, until it reaches a root (which jumps to
    itself at distance 0). Members already at their root drop out of the rounds.
    """
    n = len(parent)
    member = np.arange(n, dtype=np.int64)
    jump = np.where(parent >= 0, parent, member)
    distance = (parent >= 0).astype(np.int64)
    pending = np.flatnonzero(parent[jump] >= 0)
    rounds_left = math.ceil(math.log2(n)) + 1 if n > 1 else 1
    while len(pending):
        if rounds_left == 0:
            raise ValueError("the referral forest has a cycle")
        rounds_left -= 1
        ancestor = jump[pending]
        distance[pending] += distance[ancestor]
        jump[pending] = jump[ancestor]
        pending = pending[parent[jump[pending]] >= 0]
    return distance, jump


def _distinct_partners(member: IntArray, partner: IntArray, n: int) -> IntArray:
    """Per member number ``0..n-1``, how many distinct ``partner`` values it is paired with.

    One sort of the pairs packed into int64 keys (``member · n + partner``, < n² fits), then a
    count of the first of each run of equal keys: a SIMD sort, far quicker than ``np.unique``
    or building a sparse matrix.
    """
    key = np.sort(member * n + partner)
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return np.bincount(key[first] // max(n, 1), minlength=n).astype(np.int64)


def _seconds(times: pd.Series) -> IntArray:
    return np.asarray(times.to_numpy(dtype="datetime64[s]").view(np.int64), dtype=np.int64)


def _confirmed_sessions(snapshot: Snapshot) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Helper, recipient, start (Unix seconds) and hours of the confirmed sessions."""
    sessions = snapshot.sessions
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    return (
        sessions["helper"].to_numpy()[confirmed].astype(np.int64),
        sessions["recipient"].to_numpy()[confirmed].astype(np.int64),
        _seconds(sessions["started_at"])[confirmed],
        sessions["hours"].to_numpy(np.float64)[confirmed],
    )


def _group_median(group: IntArray, values: FloatArray, n_groups: int) -> FloatArray:
    """Median of ``values`` per group number in ``0..n_groups-1`` (0 for a group without any)."""
    order = np.lexsort((values, group))
    counts = np.bincount(group, minlength=n_groups)
    start = np.cumsum(counts) - counts
    present = counts > 0
    sorted_values = values[order]
    low = sorted_values[start[present] + (counts[present] - 1) // 2]
    high = sorted_values[start[present] + counts[present] // 2]
    median = np.zeros(n_groups, dtype=np.float64)
    median[present] = (low + high) / 2
    return median


def _generation_counts(root: IntArray, generation: IntArray, trees: IntArray) -> list[str]:
    """``"1-3-9"``: members per generation of each tree in ``trees`` (roots, ascending)."""
    if not len(trees):
        return []
    in_tree = np.zeros(len(root), dtype=bool)
    in_tree[trees] = True
    chosen = in_tree[root]
    # One sortable key per (tree, generation); both are < n, so the key fits in int64.
    span = int(generation.max()) + 1
    cells, counts = np.unique(root[chosen] * span + generation[chosen], return_counts=True)
    ends = np.cumsum(np.bincount(np.searchsorted(trees, cells // span), minlength=len(trees)))
    words = counts.astype(str).tolist()
    bounds = [0, *ends.tolist()]
    return ["-".join(words[start:end]) for start, end in itertools.pairwise(bounds)]


def _reasons(
    table: pd.DataFrame,
    *,
    min_levels: int,
    min_size: int,
    min_hours_per_activation: float,
    max_recruitment_share: float,
    activation_fee_yuan: float,
) -> list[str]:
    """Each tree's flags in words; only flagged trees need formatting."""
    reasons = ["no pyramid signs"] * len(table)
    flags = table[["regulatory_threshold", "fee_driven", "recruitment_driven"]].to_numpy()
    flagged = np.flatnonzero(flags.any(axis=1))
    columns = [
        "tree_size",
        "depth",
        "activated_members",
        "activation_fees_yuan",
        "service_hours_outside_tree",
        "hours_per_activation",
        "median_recruitment_share",
    ]
    rows = table[columns].iloc[flagged].itertuples(index=False, name=None)
    for position, (regulatory, fees, recruiting), row in zip(
        flagged.tolist(), flags[flagged].tolist(), rows, strict=True
    ):
        size, depth, activated, yuan, outside, per_activation, share = row
        parts = []
        if regulatory:
            parts.append(
                f"{size} people over {depth} generations below the root: at or past the "
                f"{min_size}-people, {min_levels}-level line for pyramid schemes (传销)"
            )
        if fees:
            parts.append(
                f"fee-driven: {activated} members paid the {activation_fee_yuan:g}-yuan "
                f"activation ({yuan:g} yuan) but the tree gave {outside:g} hours of help outside "
                f"itself ({per_activation:.3g} hours per activation; at least "
                f"{min_hours_per_activation:g} expected)"
            )
        if recruiting:
            parts.append(
                f"recruitment-driven: the typical recruiter owes {share:.0%} of their progress "
                f"to recruiting (more than {max_recruitment_share:.0%})"
            )
        reasons[position] = "; ".join(parts)
    return reasons


def _check_fanout_settings(active_window_days: int, hours_per_referral: float) -> None:
    if active_window_days < 0:
        raise ValueError(f"active_window_days must be ≥ 0, not {active_window_days}")
    if not (math.isfinite(hours_per_referral) and hours_per_referral > 0):
        raise ValueError(f"hours_per_referral must be finite and > 0, not {hours_per_referral}")


def _check_pyramid_settings(
    *,
    min_levels: int,
    min_size: int,
    min_hours_per_activation: float,
    max_recruitment_share: float,
    activation_fee_yuan: float,
) -> None:
    if min_levels < 1:
        raise ValueError(f"min_levels must be ≥ 1, not {min_levels}")
    if min_size < 1:
        raise ValueError(f"min_size must be ≥ 1, not {min_size}")
    if not (math.isfinite(min_hours_per_activation) and min_hours_per_activation > 0):
        raise ValueError(
            f"min_hours_per_activation must be finite and > 0, not {min_hours_per_activation}"
        )
    if not 0 <= max_recruitment_share < 1:
        raise ValueError(f"max_recruitment_share must be in [0, 1), not {max_recruitment_share}")
    if not (math.isfinite(activation_fee_yuan) and activation_fee_yuan >= 0):
        raise ValueError(f"activation_fee_yuan must be finite and ≥ 0, not {activation_fee_yuan}")
