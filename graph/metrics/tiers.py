"""Tier eligibility: the highest rung of the ladder each member has reached, what is still
missing for the next rung, and how a change of policy would move members.

The ladder
----------
:data:`TIERS`, lowest first: ``time_volunteer`` (时间志工) → ``community_head`` (社区会长) →
``symbiotic_member`` (共生会员) → ``city_partner`` (城市合伙人). Each tier requires the one below:
a member holds a tier when they meet its requirements *and* those of every lower tier, so a
member with city-partner numbers who never paid the 1-yuan activation holds no tier at all
(:data:`NO_TIER`, ``"none"``).

Requirements
------------
A :class:`Policy` gives each tier its :class:`Requirements`: thresholds over a closed set of
requirement kinds (:data:`REQUIREMENT_KINDS`, described in :data:`REQUIREMENT_SPECS`). Each kind
is measured per member by :func:`tier_measures`; a requirement is met when the measured value
is at least the threshold (exactly at the threshold passes; 1e-9 of slack absorbs the rounding
of summed hours).

- ``activated`` (flag): the 1-yuan trust account is open (``activated_at`` is set);
- ``hours_given_outside_downline`` (hours): confirmed hours given to members outside the
  member's own referral downline (from the fan-out table);
- ``people_helped_outside_downline`` (members): distinct members helped in confirmed sessions,
  not counting the member's own downline (from the fan-out table);
- ``active_referrals`` (referrals): referees who are active (from the fan-out table), not mere
  sign-ups;
- ``tenure_days`` (days): days since joining, at the reference time (below);
- ``trust_percentile`` (percentile points, 0 to 100, 100 = most trusted): from the trust table;
- ``no_open_fraud_ring`` (flag): not a member of an open or confirmed fraud ring.

The set is deliberately one-sided. Nothing counts raw referrals or downline size, and service
counts only when it reaches people outside one's own downline: a ladder that rewarded
recruiting would turn the time bank into a pyramid, so a policy can ask for *active* referrals
only, and the shipped default (``graph/policies/default.toml``) keeps that ask small beside the
service it asks for.

The *downline* of a member is everyone below them in the referral forest (their referees,
their referees' referees, …). The *reference time* for tenure is ``snapshot.as_of`` or, for a
snapshot of everything (``as_of`` None), the latest event in the snapshot (a join, activation,
session, referral or redemption), so the same data always gives the same tenure.

Policies are usually read from TOML files by :mod:`graph.policy`; this module only computes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.errors import PolicyError
from graph.model import Snapshot

__all__ = [
    "MEASURE_COLUMNS",
    "NO_TIER",
    "REQUIREMENT_KINDS",
    "REQUIREMENT_SPECS",
    "TIERS",
    "TIER_COLUMNS",
    "TIER_DTYPE",
    "TIER_LEVELS",
    "Policy",
    "PolicyError",
    "RequirementKind",
    "RequirementSpec",
    "Requirements",
    "TierComparison",
    "TierName",
    "assign_tiers",
    "compare_policies",
    "promotion_shortfall",
    "tier_measures",
    "tiers",
    "what_if",
]

TierName = Literal["time_volunteer", "community_head", "symbiotic_member", "city_partner"]
#: The tiers, lowest first; each requires the one before it.
TIERS: tuple[TierName, ...] = get_args(TierName)
#: The ``tier`` of a member who does not even meet ``time_volunteer``.
NO_TIER = "none"
#: Every value of the ``tier`` column, lowest first.
TIER_LEVELS: tuple[str, ...] = (NO_TIER, *TIERS)
#: Ordered categorical dtype of the ``tier`` and ``next_tier`` columns (``tier >= "..."`` works).
TIER_DTYPE = pd.CategoricalDtype(list(TIER_LEVELS), ordered=True)

RequirementKind = Literal[
    "activated",
    "hours_given_outside_downline",
    "people_helped_outside_downline",
    "active_referrals",
    "tenure_days",
    "trust_percentile",
    "no_open_fraud_ring",
]
#: The closed set of requirement kinds, in the order ``missing`` lists them.
REQUIREMENT_KINDS: tuple[RequirementKind, ...] = get_args(RequirementKind)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: A measured value at most this far below its threshold still meets it (float sums of hours).
_SLACK = 1e-9


@dataclass(frozen=True)
class RequirementSpec:
    """What one requirement kind measures and what its threshold may be.

    ``value`` is ``"flag"`` (threshold ``true`` = required; ``false`` = not required, the same
    as leaving it out), ``"count"`` (a whole number ≥ 0) or ``"amount"`` (a number from 0 to
    ``maximum``). ``unit`` names what a count or amount counts, plural (``"hours"``), and
    ``one`` the same in the singular (``"hour"``): the one place each kind's unit is defined,
    read by error messages, the ``missing`` text and whatever shows a gap. ``unmet`` is the
    ``missing`` text of an unmet flag.
    """

    kind: RequirementKind
    value: Literal["flag", "count", "amount"]
    unit: str
    description: str
    maximum: float = float("inf")
    unmet: str = ""
    one: str = ""

    def quantity(self, number: str) -> str:
        """``number`` (as shown) with this kind's unit: ``"6.5 hours"``, ``"1 hour"``."""
        return f"{number} {self.one if number == '1' else self.unit}"

    @property
    def expected(self) -> str:
        """What a threshold must be, as an error message says it."""
        if self.value == "flag":
            return "true or false"
        if self.value == "count":
            return "a non-negative integer"
        if self.maximum == float("inf"):
            return f"a non-negative number ({self.unit})"
        return f"a number from 0 to {self.maximum:g} ({self.unit})"


#: Every requirement kind's :class:`RequirementSpec`, in :data:`REQUIREMENT_KINDS` order.
REQUIREMENT_SPECS: Mapping[RequirementKind, RequirementSpec] = {
    spec.kind: spec
    for spec in (
        RequirementSpec(
            "activated",
            "flag",
            "",
            "the 1-yuan trust account is open",
            unmet="activated: the 1-yuan activation is not paid",
        ),
        RequirementSpec(
            "hours_given_outside_downline",
            "amount",
            "hours",
            "confirmed hours given to members outside one's own referral downline",
            one="hour",
        ),
        RequirementSpec(
            "people_helped_outside_downline",
            "count",
            "members",
            "distinct members helped in confirmed sessions, outside one's own downline",
            one="member",
        ),
        RequirementSpec(
            "active_referrals",
            "count",
            "referrals",
            "referees who are active (as fan-out defines it)",
            one="referral",
        ),
        RequirementSpec("tenure_days", "amount", "days", "days since joining", one="day"),
        RequirementSpec(
            "trust_percentile",
            "amount",
            "percentile points",
            "trust percentile, 100 = most trusted",
            maximum=100.0,
            one="percentile point",
        ),
        RequirementSpec(
            "no_open_fraud_ring",
            "flag",
            "",
            "not in an open or confirmed fraud ring",
            unmet="no_open_fraud_ring: in an open or confirmed fraud ring",
        ),
    )
}

#: Columns of :func:`tier_measures`'s result, in order: the measured value of every kind.
MEASURE_COLUMNS = ["member_id", *REQUIREMENT_KINDS]
#: Columns of :func:`tiers` and :func:`assign_tiers`, in order: the verdict, what the next tier
#: still lacks per kind (``gap_<kind>``), then the measured values it was judged on.
TIER_COLUMNS = [
    "member_id",
    "tier",
    "next_tier",
    "missing",
    *(f"gap_{kind}" for kind in REQUIREMENT_KINDS),
    *REQUIREMENT_KINDS,
]


def _show(value: object) -> str:
    """A threshold as TOML spells it (``true``, ``'three'``, ``2.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


#: The largest threshold a policy may set: a billion hours, members or days is a typo, and
#: larger numbers (or infinity) would overflow the ``missing`` text's arithmetic.
_LARGEST = 1e9


def _threshold_problem(spec: RequirementSpec, value: object) -> str | None:
    """Why ``value`` cannot be a threshold of ``spec.kind``, or None when it can."""
    if spec.value == "flag":
        ok = isinstance(value, bool)
    elif isinstance(value, bool):
        ok = False
    elif spec.value == "count":
        ok = isinstance(value, int) and value >= 0
    else:
        ok = isinstance(value, int | float) and 0 <= value <= min(spec.maximum, _LARGEST)
    return None if ok else f"expected {spec.expected}, got {_show(value)}"


@dataclass(frozen=True)
class Requirements:
    """The thresholds of one tier; None (or ``False`` for a flag) means "not required".

    Units: hours, members, referrals, days, percentile points; see :data:`REQUIREMENT_SPECS`.
    """

    activated: bool = False
    hours_given_outside_downline: float | None = None
    people_helped_outside_downline: int | None = None
    active_referrals: int | None = None
    tenure_days: float | None = None
    trust_percentile: float | None = None
    no_open_fraud_ring: bool = False

    def required(self) -> dict[RequirementKind, float]:
        """The requirements this tier states, kind → threshold (a required flag is 1)."""
        stated: dict[RequirementKind, float] = {}
        for kind in REQUIREMENT_KINDS:
            value = getattr(self, kind)
            if value is not None and value is not False:
                stated[kind] = float(value)
        return stated


@dataclass(frozen=True)
class Policy:
    """The requirements of every tier: the rules :func:`assign_tiers` applies.

    Construction validates the policy and raises :class:`~graph.errors.PolicyError` naming the
    key (``tiers.<tier>.<kind>``) when a threshold has the wrong type or range, when
    ``time_volunteer`` does not require ``activated``, or when a tier states a *looser*
    threshold than a tier below it (a higher tier requires the one below, so that threshold
    could never apply: it is always a mistake). A tier may leave a kind out: it then adds
    nothing to what the tiers below already require.

    Examples
    --------
    >>> policy = Policy(
    ...     time_volunteer=Requirements(activated=True),
    ...     community_head=Requirements(hours_given_outside_downline=20, active_referrals=1),
    ...     symbiotic_member=Requirements(hours_given_outside_downline=60, tenure_days=180),
    ...     city_partner=Requirements(trust_percentile=90, no_open_fraud_ring=True),
    ... )
    >>> policy.tier("community_head").required()
    {'hours_given_outside_downline': 20.0, 'active_referrals': 1.0}
    >>> Policy(time_volunteer=Requirements(active_referrals=3), community_head=Requirements(),
    ...        symbiotic_member=Requirements(), city_partner=Requirements())
    Traceback (most recent call last):
    ...
    graph.errors.PolicyError: tiers.time_volunteer.activated: the first tier requires the 1-yuan activation; set activated = true
    """

    time_volunteer: Requirements
    community_head: Requirements
    symbiotic_member: Requirements
    city_partner: Requirements
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        for tier in TIERS:
            requirements = getattr(self, tier)
            if not isinstance(requirements, Requirements):
                raise PolicyError(
                    f"expected Requirements, got {type(requirements).__name__}",
                    key=f"tiers.{tier}",
                )
            for spec in REQUIREMENT_SPECS.values():
                value = getattr(requirements, spec.kind)
                problem = None if value is None else _threshold_problem(spec, value)
                if problem:
                    raise PolicyError(problem, key=f"tiers.{tier}.{spec.kind}")
        if self.time_volunteer.activated is not True:
            raise PolicyError(
                "the first tier requires the 1-yuan activation; set activated = true",
                key="tiers.time_volunteer.activated",
            )
        for kind in REQUIREMENT_KINDS:
            below: tuple[str, float] | None = None
            for tier in TIERS:
                value = getattr(self, tier).required().get(kind)
                if value is None:
                    continue
                if below is not None and value < below[1]:
                    raise PolicyError(
                        f"{value:g} is looser than tiers.{below[0]}.{kind} = {below[1]:g}; "
                        "a tier requires the tiers below it, so this threshold would never "
                        "apply",
                        key=f"tiers.{tier}.{kind}",
                    )
                below = (tier, value)

    def tier(self, name: TierName) -> Requirements:
        """The requirements of tier ``name``."""
        if name not in TIERS:
            raise KeyError(f"unknown tier {name!r}; the tiers are {', '.join(TIERS)}")
        requirements: Requirements = getattr(self, name)
        return requirements

    def thresholds(self) -> pd.DataFrame:
        """The policy as a table: one row per tier, one column per kind (NaN = not required;
        a required flag is 1.0)."""
        return pd.DataFrame(
            [
                [self.tier(tier).required().get(kind, np.nan) for kind in REQUIREMENT_KINDS]
                for tier in TIERS
            ],
            index=pd.Index(TIERS, name="tier"),
            columns=list(REQUIREMENT_KINDS),
        )


def tiers(
    snapshot: Snapshot,
    *,
    policy: Policy,
    trust: pd.DataFrame,
    fanout: pd.DataFrame,
    ring_members: Collection[str] | None = None,
) -> pd.DataFrame:
    """The tier of every member under ``policy``, and what the next tier still lacks.

    The same as ``assign_tiers(tier_measures(snapshot, ...), policy=policy)``; to judge several
    policies on one snapshot, measure once and call :func:`assign_tiers` per policy.

    Parameters
    ----------
    snapshot
        The network.
    policy
        The rules (:func:`graph.policy.load_policy` reads them from TOML).
    trust, fanout, ring_members
        As for :func:`tier_measures`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIER_COLUMNS`, one row per member in snapshot order; see
        :func:`assign_tiers`.
    """
    measures = tier_measures(snapshot, trust=trust, fanout=fanout, ring_members=ring_members)
    return assign_tiers(measures, policy=policy)


def tier_measures(
    snapshot: Snapshot,
    *,
    trust: pd.DataFrame,
    fanout: pd.DataFrame,
    ring_members: Collection[str] | None = None,
) -> pd.DataFrame:
    """Every requirement kind measured for every member: what tiers are judged on.

    Parameters
    ----------
    snapshot
        The network.
    trust
        ``member_id``, ``trust_percentile`` (in [0, 100], 100 = most trusted) — the trust
        analytic's table; other columns are ignored.
    fanout
        ``member_id``, ``active_referrals``, ``hours_outside_downline`` (hours),
        ``people_helped_outside_downline`` (members) — the fan-out analytic's table
        (:func:`graph.metrics.fanout.fanout`); other columns are ignored.
    ring_members
        ``member_id`` of every member of an open or confirmed fraud ring. None means there is
        no ring information: then nobody is counted as in a ring and ``no_open_fraud_ring``
        passes for everyone. Ids of members not in the snapshot are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MEASURE_COLUMNS`, one row per member in snapshot order: ``activated``
        and ``no_open_fraud_ring`` (bool), ``hours_given_outside_downline`` (hours, from
        ``fanout``), ``people_helped_outside_downline`` and ``active_referrals`` (int, from
        ``fanout``), ``tenure_days`` (days since joining at the reference time, see the module
        documentation) and ``trust_percentile`` (from ``trust``).

    Raises
    ------
    ValueError
        ``trust`` or ``fanout`` lacks a column, lists a member twice, has no row for a member
        of the snapshot (rows may come in any order; extra members are ignored) or holds a
        missing or infinite value.
    """
    ids = snapshot.members["member_id"]
    fan = _member_values(
        fanout,
        "fanout",
        ["active_referrals", "hours_outside_downline", "people_helped_outside_downline"],
        ids,
    )
    counts = {  # whole numbers in fanout(); _member_values reads every column as float
        column: np.rint(fan[column]).astype(np.int64)
        for column in ("people_helped_outside_downline", "active_referrals")
    }
    percentile = _member_values(trust, "trust", ["trust_percentile"], ids)["trust_percentile"]
    in_ring = (
        np.zeros(len(ids), dtype=bool)
        if ring_members is None
        else ids.isin(list(ring_members)).to_numpy()
    )
    return pd.DataFrame(
        {
            "member_id": ids.array,  # no copy: the snapshot's own strings
            "activated": snapshot.members["activated_at"].notna().to_numpy(),
            "hours_given_outside_downline": fan["hours_outside_downline"],
            "people_helped_outside_downline": counts["people_helped_outside_downline"],
            "active_referrals": counts["active_referrals"],
            "tenure_days": _tenure_days(snapshot),
            "trust_percentile": percentile,
            "no_open_fraud_ring": ~in_ring,
        },
        columns=MEASURE_COLUMNS,
    )


def assign_tiers(measures: pd.DataFrame, *, policy: Policy) -> pd.DataFrame:
    """The tier each member holds under ``policy``, judged on measured values.

    Parameters
    ----------
    measures
        Columns :data:`MEASURE_COLUMNS` (from :func:`tier_measures`, or built by hand).
    policy
        The rules.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIER_COLUMNS`, one row per row of ``measures``, in order:

        - ``tier``: the highest tier whose requirements, and those of every tier below it, the
          member meets; ``"none"`` when not even ``time_volunteer``'s (dtype
          :data:`TIER_DTYPE`);
        - ``next_tier``: the tier above ``tier``, missing (NaN) at the top tier;
        - ``missing``: what ``next_tier`` still lacks, each gap in its kind's unit, e.g.
          ``"hours_given_outside_downline: 12.5 hours more; active_referrals: 2 referrals
          more"`` (amounts rounded *up* to 0.01), empty at the top tier;
        - ``gap_<kind>``: how much of ``next_tier``'s requirement of that kind is lacking (the
          same unit as the kind; ``True`` for an unmet flag), 0 / ``False`` when met, not
          required by ``next_tier``, or at the top tier;
        - then the measured values, as in ``measures``.

    Examples
    --------
    >>> import pandas as pd
    >>> policy = Policy(
    ...     time_volunteer=Requirements(activated=True, hours_given_outside_downline=2),
    ...     community_head=Requirements(hours_given_outside_downline=20, active_referrals=2),
    ...     symbiotic_member=Requirements(tenure_days=180),
    ...     city_partner=Requirements(trust_percentile=90),
    ... )
    >>> measures = pd.DataFrame({
    ...     "member_id": ["ann", "bo", "cy"], "activated": [True, False, True],
    ...     "hours_given_outside_downline": [7.5, 300.0, 400.0],
    ...     "people_helped_outside_downline": [3, 40, 50], "active_referrals": [0, 9, 2],
    ...     "tenure_days": [30.0, 900.0, 400.0], "trust_percentile": [40.0, 99.0, 95.0],
    ...     "no_open_fraud_ring": [True, True, True]})
    >>> table = assign_tiers(measures, policy=policy)
    >>> table[["member_id", "tier", "next_tier", "missing"]].to_numpy().tolist()
    [['ann', 'time_volunteer', 'community_head', 'hours_given_outside_downline: 12.5 hours more; active_referrals: 2 referrals more'], ['bo', 'none', 'time_volunteer', 'activated: the 1-yuan activation is not paid'], ['cy', 'city_partner', nan, '']]
    >>> table["gap_hours_given_outside_downline"].tolist()
    [12.5, 0.0, 0.0]
    """
    _require_columns(measures, "measures", MEASURE_COLUMNS)
    n = len(measures)
    values: dict[RequirementKind, FloatArray] = {}
    for kind in REQUIREMENT_KINDS:
        column = measures[kind].to_numpy(dtype=np.float64)
        if not np.isfinite(column).all():
            raise ValueError(f"measures.{kind}: missing or infinite values")
        values[kind] = column
    # thresholds[t, k]: tier t's threshold of kind k (NaN = not required); the extra last row
    # is "above the top tier", which requires nothing, so nobody has a gap there.
    thresholds = np.full((len(TIERS) + 1, len(REQUIREMENT_KINDS)), np.nan)
    thresholds[:-1] = policy.thresholds().to_numpy()

    level = np.zeros(n, dtype=np.int64)
    reached = np.ones(n, dtype=bool)
    for t in range(len(TIERS)):
        for k, kind in enumerate(REQUIREMENT_KINDS):
            if not np.isnan(thresholds[t, k]):
                reached &= values[kind] >= thresholds[t, k] - _SLACK
        level += reached

    gaps: dict[RequirementKind, FloatArray] = {}
    for k, kind in enumerate(REQUIREMENT_KINDS):
        if np.isnan(thresholds[:, k]).all():
            gaps[kind] = np.zeros(n)
            continue
        gap = thresholds[level, k] - values[kind]
        gap[~(gap > _SLACK)] = 0.0  # met, or NaN: not required by the next tier
        gaps[kind] = gap

    top = len(TIERS)
    table: dict[str, Any] = {
        "member_id": measures["member_id"].array,
        "tier": pd.Categorical.from_codes(level, dtype=TIER_DTYPE),
        "next_tier": pd.Categorical.from_codes(
            np.where(level < top, level + 1, -1), dtype=TIER_DTYPE
        ),
        "missing": _missing_text(gaps, n),
    }
    for kind, gap in gaps.items():
        kind_value = REQUIREMENT_SPECS[kind].value
        table[f"gap_{kind}"] = (
            gap > 0
            if kind_value == "flag"
            else np.rint(gap).astype(np.int64)
            if kind_value == "count"
            else gap
        )
    for kind in REQUIREMENT_KINDS:
        table[kind] = measures[kind].to_numpy()
    return pd.DataFrame(table, columns=TIER_COLUMNS)


def promotion_shortfall(table: pd.DataFrame, *, policy: Policy) -> FloatArray:
    """How far each member is from their next tier, comparable across requirement kinds.

    A gap is in its kind's own unit (hours, members, days …), so gaps of different kinds
    cannot be compared or added; the share of a threshold still missing can. The shortfall is
    the sum, over the requirements of ``next_tier`` the member does not meet, of ``gap /
    threshold`` (each in (0, 1]; an unmet flag counts 1, the whole requirement): 0.125 for a
    member 2.5 of 20 hours short, 1 for one who has not paid the activation, 1.5 for one
    lacking 1 of 2 active referrals and 90 of 90 days. Smaller is closer; 0 at the top tier.

    Parameters
    ----------
    table
        A tier table judged under ``policy`` (:func:`assign_tiers`, or ``tiers.csv`` read
        back): ``next_tier`` and the ``gap_<kind>`` columns are read.
    policy
        The policy the table was judged under: its thresholds are the denominators.

    Returns
    -------
    numpy.ndarray
        One float ≥ 0 per row, in order.

    Raises
    ------
    ValueError
        A column is missing, or a row has a gap for a requirement its next tier does not state
        under ``policy`` (the table was judged under another policy).

    Examples
    --------
    >>> import pandas as pd
    >>> head = Requirements(hours_given_outside_downline=20, active_referrals=2)
    >>> policy = Policy(time_volunteer=Requirements(activated=True), community_head=head,
    ...                 symbiotic_member=head, city_partner=head)
    >>> measures = pd.DataFrame.from_records(
    ...     [("ann", True, 17.5, 3, 1, 30.0, 40.0, True),  # 2.5 of 20 h, 1 of 2 referrals
    ...      ("bo", False, 300.0, 40, 9, 900.0, 99.0, True),  # not activated
    ...      ("cy", True, 400.0, 50, 2, 400.0, 95.0, True)],  # at the top
    ...     columns=MEASURE_COLUMNS)
    >>> table = assign_tiers(measures, policy=policy)
    >>> table["missing"].tolist()[:2]
    ['hours_given_outside_downline: 2.5 hours more; active_referrals: 1 referral more', 'activated: the 1-yuan activation is not paid']
    >>> promotion_shortfall(table, policy=policy).tolist()
    [0.625, 1.0, 0.0]
    """
    kinds = list(REQUIREMENT_KINDS)
    _require_columns(table, "table", ["next_tier", *(f"gap_{kind}" for kind in kinds)])
    # Row −1 (the next tier of the top tier, which is none) states nothing.
    thresholds = np.vstack([policy.thresholds().to_numpy(), np.full(len(kinds), np.nan)])
    following = pd.Index(TIERS).get_indexer(pd.Index(table["next_tier"].astype(object)))
    stated = thresholds[following]
    gaps = table[[f"gap_{kind}" for kind in kinds]].to_numpy(dtype=np.float64)
    unmet = gaps > 0
    if (unmet & ~(stated > 0)).any():
        row, column = np.argwhere(unmet & ~(stated > 0))[0]
        raise ValueError(
            f"table: row {row} lacks {kinds[column]}, which its next tier does not require "
            "under this policy (judged under another one?)"
        )
    shares = np.divide(gaps, stated, out=np.zeros_like(gaps), where=unmet)
    shortfall: FloatArray = shares.sum(axis=1)
    return shortfall


def _require_columns(frame: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {', '.join(missing)}")


def _member_values(
    frame: pd.DataFrame, name: str, columns: list[str], ids: pd.Series
) -> dict[str, FloatArray]:
    """``frame``'s ``columns`` as float arrays aligned to the snapshot's members ``ids``."""
    _require_columns(frame, name, ["member_id", *columns])
    keys = pd.Index(frame["member_id"])
    position: npt.NDArray[np.intp] | None = None
    if not keys.equals(pd.Index(ids)):
        if not keys.is_unique:
            raise ValueError(f"{name}: a member_id appears more than once")
        position = keys.get_indexer(ids)
        absent = position < 0
        if absent.any():
            examples = ", ".join(ids[absent][:3].astype(str))
            raise ValueError(f"{name}: no row for {int(absent.sum())} members (e.g. {examples})")
    aligned: dict[str, FloatArray] = {}
    for column in columns:
        data = frame[column].to_numpy(dtype=np.float64)
        if position is not None:
            data = data[position]
        if not np.isfinite(data).all():
            raise ValueError(f"{name}.{column}: missing or infinite values")
        aligned[column] = data
    return aligned


def _tenure_days(snapshot: Snapshot) -> FloatArray:
    """Days from joining to the reference time (see the module documentation), ≥ 0."""
    joined = snapshot.members["joined_at"].to_numpy(dtype="datetime64[s]")
    if not len(joined):
        return np.zeros(0)
    reference = snapshot.reference_time
    days: FloatArray = np.maximum((reference - joined).astype(np.float64) / 86_400.0, 0.0)
    return days


def _amount_text(cents: int) -> str:
    """``1250`` → ``"12.5"``, ``300`` → ``"3"``, ``1`` → ``"0.01"``."""
    whole, fraction = divmod(cents, 100)
    return f"{whole}.{fraction:02d}".rstrip("0").rstrip(".") if fraction else str(whole)


def _missing_text(gaps: Mapping[RequirementKind, FloatArray], n: int) -> pd.Series:
    """The ``missing`` column: ``"<kind>: <gap> <unit> more"`` (or a flag's text) per unmet kind,
    joined with ``"; "`` in :data:`REQUIREMENT_KINDS` order, empty when nothing is missing.

    Vectorised through pyarrow: each kind's distinct rounded gaps are formatted once, and the
    parts of each member are joined as a list array.
    """
    labels: list[str] = []
    label_of: list[IntArray] = []  # per kind: index into labels, −1 = nothing missing
    for kind, gap in gaps.items():
        short = gap > 0
        if not short.any():
            continue
        index = np.full(n, -1, dtype=np.int64)
        spec = REQUIREMENT_SPECS[kind]
        if spec.value == "flag":
            index[short] = len(labels)
            labels.append(spec.unmet)
        else:
            # Round up so that "0.01 more" is never shown for a gap that 0.01 would not close.
            cents = np.maximum(np.ceil(gap[short] * 100 - 1e-6), 1).astype(np.int64)
            distinct, inverse = np.unique(cents, return_inverse=True)
            index[short] = len(labels) + inverse
            labels.extend(f"{kind}: {spec.quantity(_amount_text(int(c)))} more" for c in distinct)
        label_of.append(index)
    if not label_of:
        return pd.Series([""] * n, dtype=str)
    parts = np.column_stack(label_of)  # row-major: a member's parts in kind order
    present = parts >= 0
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    lists = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(labels, pa.string()).take(pa.array(parts[present]))
    )
    return pd.Series(pc.binary_join(lists, "; ").to_pandas(), dtype=str)


@dataclass(frozen=True)
class TierComparison:
    """How members' tiers change from the ``current`` policy to an ``alternative`` one.

    Attributes
    ----------
    moved_up, moved_down, unchanged
        Numbers of members whose tier rises, falls or stays.
    transitions
        Members by tier under ``current`` (rows, ``from_tier``) and under ``alternative``
        (columns, ``to_tier``), over :data:`TIER_LEVELS`; the diagonal is the unchanged.
    counts
        Members per tier (:data:`TIER_LEVELS`): ``current``, ``alternative`` and ``change``.
    movers
        ``member_id``, ``from_tier``, ``to_tier`` of every member who moves, in input order.
    """

    moved_up: int
    moved_down: int
    unchanged: int
    transitions: pd.DataFrame
    counts: pd.DataFrame
    movers: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        """The comparison as plain JSON-ready values (for the CLI and the HTTP API); movers
        are left out."""
        return {
            "moved_up": self.moved_up,
            "moved_down": self.moved_down,
            "unchanged": self.unchanged,
            "counts": {
                str(tier): {name: int(value) for name, value in row.items()}
                for tier, row in self.counts.iterrows()
            },
            "transitions": {
                str(source): {str(target): int(value) for target, value in row.items()}
                for source, row in self.transitions.iterrows()
            },
        }


def compare_policies(current: pd.DataFrame, alternative: pd.DataFrame) -> TierComparison:
    """What-if: how tiers would change going from one policy's verdict to another's.

    Parameters
    ----------
    current, alternative
        Tier tables of the same members in the same order (:func:`tiers` or
        :func:`assign_tiers` under each policy); only ``member_id`` and ``tier`` are read, so
        tables read back from CSV work too.

    Returns
    -------
    TierComparison

    Raises
    ------
    ValueError
        The tables list different members, or a ``tier`` outside :data:`TIER_LEVELS`.

    Examples
    --------
    >>> import pandas as pd
    >>> before = pd.DataFrame({"member_id": ["a", "b", "c"],
    ...                        "tier": ["none", "community_head", "time_volunteer"]})
    >>> after = pd.DataFrame({"member_id": ["a", "b", "c"],
    ...                       "tier": ["time_volunteer", "time_volunteer", "time_volunteer"]})
    >>> change = compare_policies(before, after)
    >>> change.moved_up, change.moved_down, change.unchanged
    (1, 1, 1)
    >>> change.counts.loc["time_volunteer"].tolist()
    [1, 3, 2]
    """
    for frame, name in ((current, "current"), (alternative, "alternative")):
        _require_columns(frame, name, ["member_id", "tier"])
    ids = current["member_id"]
    if not pd.Index(ids).equals(pd.Index(alternative["member_id"])):
        raise ValueError("current and alternative must list the same members in the same order")
    before = _tier_codes(current["tier"], "current")
    after = _tier_codes(alternative["tier"], "alternative")
    levels = len(TIER_LEVELS)
    transitions = pd.DataFrame(
        np.bincount(before * levels + after, minlength=levels * levels).reshape(levels, levels),
        index=pd.Index(TIER_LEVELS, name="from_tier"),
        columns=pd.Index(TIER_LEVELS, name="to_tier"),
    )
    per_tier = {
        "current": np.bincount(before, minlength=levels),
        "alternative": np.bincount(after, minlength=levels),
    }
    counts = pd.DataFrame(
        {**per_tier, "change": per_tier["alternative"] - per_tier["current"]},
        index=pd.Index(TIER_LEVELS, name="tier"),
    )
    moved = before != after
    movers = pd.DataFrame(
        {
            "member_id": ids.to_numpy()[moved],
            "from_tier": pd.Categorical.from_codes(before[moved], dtype=TIER_DTYPE),
            "to_tier": pd.Categorical.from_codes(after[moved], dtype=TIER_DTYPE),
        }
    )
    return TierComparison(
        moved_up=int((after > before).sum()),
        moved_down=int((after < before).sum()),
        unchanged=int((~moved).sum()),
        transitions=transitions,
        counts=counts,
        movers=movers,
    )


def what_if(measures: pd.DataFrame, *, current: Policy, alternative: Policy) -> TierComparison:
    """How members' tiers move from ``current`` to ``alternative``, both judging the same
    ``measures`` (columns :data:`MEASURE_COLUMNS`, e.g. from :func:`tier_measures`)."""
    return compare_policies(
        assign_tiers(measures, policy=current), assign_tiers(measures, policy=alternative)
    )


def _tier_codes(tier: pd.Series, name: str) -> IntArray:
    """Positions in :data:`TIER_LEVELS` of a ``tier`` column (categorical or strings)."""
    if isinstance(tier.dtype, pd.CategoricalDtype) and tier.dtype == TIER_DTYPE:
        codes = tier.cat.codes.to_numpy().astype(np.int64)
    else:
        codes = pd.Index(TIER_LEVELS).get_indexer(pd.Index(tier.astype(object))).astype(np.int64)
    if (codes < 0).any():
        bad = tier[codes < 0].iloc[0]
        raise ValueError(f"{name}.tier: {bad!r} is not one of {', '.join(TIER_LEVELS)}")
    return codes
