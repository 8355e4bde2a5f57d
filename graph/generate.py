"""Synthetic time-bank generator with planted fraud patterns and honest hard negatives.

`generate` builds a seeded, realistic time bank (members, help sessions, a referral forest,
merchant redemptions) in the shape of ``/work/shared/SCHEMA.md`` and plants labelled groups
whose ground truth is returned alongside: ``loop`` (new accounts cycling hours A→B→…→A),
``pair`` (two accounts swapping large hours), ``sybil_farm`` (a recruiter and a burst of fake
referees sharing phones/devices), and two hard negatives that are not fraud: ``honest_circle``
(long-tenured neighbours helping each other weekly) and ``honest_cohort`` (four friends who
join in one week through an established member, help one another and are helped by
established members). Fraud accounts also trade a few ordinary-looking "camouflage" sessions
with honest members; those are not part of the truth.

`GeneratorParams.adaptations` makes the fraud adapt to detection, each alone or in any mix
(see `ADAPTATIONS`): ``slow`` trips, ``aged`` dormant accounts joined apart, ``recruited``
established members, and ``padded`` real help. Without adaptations and honest cohorts the
output is what it was before they existed, byte for byte.

Everything is vectorised with numpy (loops run per planted group, never per member or per
session), so a million members with ten million sessions take well under a minute to generate.
Output strings are assembled as fixed-width byte buffers and handed to pyarrow without copies.
`write_dataset` is the only function that touches the file system.

Determinism: one `numpy.random.SeedSequence` per `GeneratorParams.seed` is spawned into
independent sub-streams per stage, no set/dict ordering or wall clock is involved, so the same
parameters always give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

__all__ = [
    "ADAPTATIONS",
    "FRAUD_KINDS",
    "HONEST_KINDS",
    "Adaptation",
    "GeneratedDataset",
    "GeneratorParams",
    "PlantedGroup",
    "generate",
    "write_dataset",
]

GroupKind = Literal["loop", "pair", "sybil_farm", "honest_circle", "honest_cohort"]
#: Planted kinds that are fraud, and the hard negatives that are not. Test a group with
#: ``group.kind in FRAUD_KINDS``: ``kind != "honest_circle"`` counts honest cohorts as fraud.
FRAUD_KINDS: tuple[GroupKind, ...] = ("loop", "pair", "sybil_farm")
HONEST_KINDS: tuple[GroupKind, ...] = ("honest_circle", "honest_cohort")

Adaptation = Literal["slow", "aged", "recruited", "padded"]
#: Every adaptation, in the order `GeneratorParams` keeps them.
ADAPTATIONS: tuple[Adaptation, ...] = ("slow", "aged", "recruited", "padded")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ByteArray = npt.NDArray[np.uint8]

MINUTE = 60
HOUR = 3600
DAY = 86_400

MEMBER_COLUMNS = (
    "member_id",
    "joined_at",
    "community_id",
    "activated_at",
    "display_name",
    "phone_hash",
    "device_id",
)
SESSION_COLUMNS = (
    "session_id",
    "helper_id",
    "recipient_id",
    "started_at",
    "hours",
    "service",
    "rating",
    "status",
)
REFERRAL_COLUMNS = ("referrer_id", "referee_id", "referred_at")
REDEMPTION_COLUMNS = ("redemption_id", "member_id", "merchant_id", "credits", "redeemed_at")

SERVICES = (
    "eldercare",
    "tutoring",
    "repair",
    "shopping",
    "cooking",
    "companionship",
    "cleaning",
    "medical_escort",
    "gardening",
    "tech_help",
    "childcare",
    "haircut",
)
# Service mix for sessions whose recipient is an ordinary member, and for elderly recipients.
_SERVICE_W_GENERAL = np.array([6, 16, 12, 12, 9, 6, 11, 2, 6, 10, 7, 3], dtype=np.float64)
_SERVICE_W_ELDERLY = np.array([26, 2, 8, 13, 9, 17, 8, 11, 2, 3, 0.5, 0.5], dtype=np.float64)
_NEIGHBOURLY = np.array([0, 3, 4, 5, 2, 6], dtype=np.int64)  # services honest circles trade

STATUSES = ("confirmed", "pending", "disputed")
_CONFIRMED, _PENDING, _DISPUTED = 0, 1, 2

# Honest session length in hours: mostly 0.5-3 in half hours, a thin tail up to 6.
_HOURS = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])
_HOURS_W = np.array([0.09, 0.30, 0.18, 0.20, 0.07, 0.10, 0.04, 0.015, 0.005])
_POSITIVE_RATINGS = np.arange(0, 11, dtype=np.int64)
_POSITIVE_W = np.array([0.2, 0.2, 0.3, 0.5, 0.8, 1.5, 3.5, 12.0, 25.0, 28.0, 30.0])
_NEGATIVE_RATINGS = np.arange(-10, 0, dtype=np.int64)
_NEGATIVE_W = np.array([1.0, 1.5, 2.0, 3.0, 3.5, 3.5, 3.0, 2.5, 1.5, 1.0])
_REDEEM_SIZES = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0])
_REDEEM_SIZES_W = np.array([0.18, 0.22, 0.2, 0.12, 0.12, 0.07, 0.05, 0.04])

_SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
)
_GIVEN_CHARS = tuple(
    "芳伟娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力亮晨欣怡婷浩宇子涵梓睿博雪梅琳颖鹏飞斌志凤金春云海"
)

_NULL_RATING = -99  # internal sentinel, never written

# Adaptations (issue 14). Each number is the one the issue measured detectors against; the
# GeneratorParams docstring says why each defeats what it defeats.
_SLOW_TRIP = 60 * DAY  # one trip round a loop: 4x the 14-day and 2x the 30-day window
_SLOW_HOP_STRETCH = 1.25  # hops are trip/k to 1.25 trip/k apart: never faster than the trip
_SLOW_PAIR_GAP = (35 * DAY, 45 * DAY)  # a pair's consecutive swaps: more than 30 days apart
_SLOW_FARM_DAYS = (180, 301)  # farm trading spread over 6-10 months instead of 1-5 weeks
_SLOW_SPAN = 310 * DAY  # longest slow scheme (4 trips of 75 days) plus the start delay
_AGED_DORMANCY = (180 * DAY, 211 * DAY)  # from the last join of a group to its first fraud
_AGED_JOIN_SPAN = (90 * DAY, 151 * DAY)  # a group's accounts join over 3-5 months
_RECRUIT_TENURE = 365 * DAY  # "established": a member for a year when the scheme starts
_RECRUIT_HISTORY = 3  # honest sessions a recruit has had before the scheme starts
_RECRUIT_SHARE = 0.5  # share of each group's accounts that are recruits (at least one)
_RECRUIT_EARLIEST = 455 * DAY  # schemes with recruits start >= a year and a quarter in
_PADDING_SESSIONS = 30  # one-hour sessions of real help per fraud account
_COHORT_SIZE = 4  # friends per honest cohort
_COHORT_WEEK = 7 * DAY  # they all join within one week
_COHORT_EARLIEST = 400 * DAY  # cohorts join once the bank has members of a year's standing


@dataclass(frozen=True)
class GeneratorParams:
    """Settings of the synthetic time bank; ``None`` means "scale with ``members``".

    Parameters
    ----------
    members : int
        Total number of member accounts, planted fraud accounts included (>= 20).
    seed : int
        Seed of every random stream (>= 0). Same parameters give byte-identical output.
    sessions_per_member : float
        Honest help sessions per honest member (planted sessions come on top).
    communities : int or None
        Number of communities; default ``max(1, round(members / 400))``.
    start, end : str
        ISO dates bounding every timestamp (``end`` is inclusive at its first second).
    activation_rate : float
        Share in [0, 1] of honest members who paid the 1-yuan activation.
    referral_share : float
        Share in [0, 1) of honest members who joined via a referral.
    family_share : float
        Share in [0, 0.2] of honest members in families sharing one device (hard negative).
    redeem_share : float
        Share in [0, 1] of honest earners who redeem credits with merchants.
    merchants : int or None
        Number of merchants; default ``max(5, members // 2000)``.
    loops, pairs, sybil_farms, honest_circles : int or None
        Planted groups of each kind; default ``members // 1500``, at least 2 when
        ``members >= 1000`` and at least 1 when ``members >= 300``; 0 disables a kind.
    loop_size, farm_size, circle_size : tuple of int
        Inclusive (min, max) accounts per loop, per farm (recruiter + fake referees) and per
        honest circle.
    fraud_hours : tuple of float
        Inclusive (min, max) hours per fraudulent session, within (0, 24].
    camouflage : float
        Mean number of camouflage sessions each loop, pair and farm-recruiter account trades
        with honest members (Poisson). Fake farm referees trade only inside their farm.
    adaptations : tuple of {"slow", "aged", "recruited", "padded"}
        How the planted fraud adapts to detection, in any mix (stored in `ADAPTATIONS` order,
        repeats dropped). Each is an adaptation issue 14 measured against our detectors:

        - ``slow``: a trip round a loop takes about 60 days instead of days (hops a loop of
          ``k`` spaced 60/k to 75/k days apart), so any ``k`` consecutive hops span at least
          40 days and no 14- or 30-day window holds a whole loop; a pair's swaps are 35-45
          days apart (more than 30, so no window sees both directions); a farm trades over
          6-10 months, each trade in its own slot of that span, so a 30-day window holds
          about a tenth of it. Loops and pairs keep 3-4 trips: each edge still repeats three
          times or more.
        - ``aged``: new fraud accounts join 3-5 months apart from one another (each in its
          own slot of that span, so consecutive joins are at least span/2k apart and farm
          referees come in no burst) and stay dormant — no session at all — for 180-210
          days after the group's last join. 180 days is twice the 90 days within which
          newcomer signals (youth, join-date closeness) look at a group's first months; the
          upper bounds keep every new account younger than a year when its scheme starts,
          so new accounts and recruits stay apart by tenure.
        - ``recruited``: half of each loop's, pair's and farm's accounts (at least one) are
          established honest members instead of new accounts: a member for at least a year
          when the scheme starts (tenure is what trust rewards) with at least three honest
          sessions before it. A recruited farm's recruiter is one of them; only its new fake
          referees were referred by it and share phones and devices. Recruits keep their
          honest history and are fraud members in the truth.
        - ``padded``: every fraud account (recruits and fake referees included) also gives
          30 one-hour sessions of real help to honest members, spread over its active time
          (from its first fraud session, or its activation when that comes first and it is
          not aged, to ``end``). 30 hours is the order of what a loop account cycles inside
          its group (4-9 trips of 4-8 hours), so its hours are no longer mostly in the group.

        Slow and aged schemes begin earlier so they still end by ``end``; a ValueError says
        when the window is too short for them.
    honest_cohorts : int or None
        Honest friend cohorts (a hard negative, truth kind ``honest_cohort``): four new
        members who join within one week, all referred by one established member (a member
        for a year), help one another about fortnightly for 2-6 months and are each helped
        by the referrer and 2-4 other established members. ``None`` scales like the other
        group counts when ``adaptations`` is set and means 0 without adaptations, so that
        default output (and readers that count every kind but ``honest_circle`` as fraud)
        stays as it was; 0 disables.
    """

    members: int
    seed: int
    sessions_per_member: float = 10.0
    communities: int | None = None
    start: str = "2023-01-01"
    end: str = "2026-06-30"
    activation_rate: float = 0.85
    referral_share: float = 0.7
    family_share: float = 0.015
    redeem_share: float = 0.6
    merchants: int | None = None
    loops: int | None = None
    pairs: int | None = None
    sybil_farms: int | None = None
    honest_circles: int | None = None
    loop_size: tuple[int, int] = (3, 6)
    farm_size: tuple[int, int] = (6, 16)
    circle_size: tuple[int, int] = (4, 8)
    fraud_hours: tuple[float, float] = (4.0, 8.0)
    camouflage: float = 3.0
    adaptations: tuple[Adaptation, ...] = ()
    honest_cohorts: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "adaptations", _canonical_adaptations(self.adaptations))
        _validate(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GeneratorParams:
        """Parameters from `to_dict` output, e.g. ``truth.json``'s ``params`` (lists become
        tuples; keys missing from older files take their defaults).

        Examples
        --------
        >>> p = GeneratorParams(members=500, seed=1, adaptations=("slow",))
        >>> GeneratorParams.from_dict(p.to_dict()) == p
        True
        """
        converted: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
        }
        return cls(**converted)

    def resolved(self) -> GeneratorParams:
        """Return a copy with every ``None`` replaced by its value derived from ``members``.

        Examples
        --------
        >>> GeneratorParams(members=3000, seed=1).resolved().loops
        2
        """
        n = self.members
        auto = _auto_group_count(n)
        return dataclasses.replace(
            self,
            communities=self.communities
            if self.communities is not None
            else max(1, round(n / 400)),
            merchants=self.merchants if self.merchants is not None else max(5, n // 2000),
            loops=self.loops if self.loops is not None else auto,
            pairs=self.pairs if self.pairs is not None else auto,
            sybil_farms=self.sybil_farms if self.sybil_farms is not None else auto,
            honest_circles=self.honest_circles if self.honest_circles is not None else auto,
            honest_cohorts=_cohort_count(self),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-ready values (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class PlantedGroup:
    """Ground truth of one planted group.

    ``members`` are the planted accounts (a sybil farm lists its recruiter first, then its
    referees; a loop lists accounts in cycle order), recruited established members included.
    ``session_ids`` are the planted sessions (the fraudulent ones, or an honest circle's or
    cohort's mutual sessions); camouflage, padding and a cohort's help from established
    members are not included. ``kind`` is in `FRAUD_KINDS` or `HONEST_KINDS`.
    """

    group_id: str
    kind: GroupKind
    members: tuple[str, ...]
    session_ids: tuple[str, ...]


@dataclass(frozen=True)
class GeneratedDataset:
    """A generated time bank: the four SCHEMA.md tables, the planted truth and the parameters.

    Times are ISO 8601 strings ``YYYY-MM-DDTHH:MM:SS`` (naive = UTC); empty optional values are
    missing (``NaN``/``<NA>``); ``sessions.rating`` is a nullable integer column.
    """

    members: pd.DataFrame
    sessions: pd.DataFrame
    referrals: pd.DataFrame
    redemptions: pd.DataFrame
    truth: list[PlantedGroup]
    params: GeneratorParams


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _auto_group_count(members: int) -> int:
    count = members // 1500
    if members >= 1000:
        count = max(count, 2)
    elif members >= 300:
        count = max(count, 1)
    return count


def _cohort_count(p: GeneratorParams) -> int:
    if p.honest_cohorts is not None:
        return p.honest_cohorts
    return _auto_group_count(p.members) if p.adaptations else 0


def _canonical_adaptations(value: Any) -> tuple[Adaptation, ...]:
    """``value`` as a tuple in `ADAPTATIONS` order without repeats; ValueError naming the
    valid ones for anything else."""
    valid = ", ".join(ADAPTATIONS)
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise ValueError(f"adaptations must be a tuple of names ({valid}), got {value!r}")
    unknown = [a for a in value if a not in ADAPTATIONS]
    if unknown:
        raise ValueError(f"unknown adaptation {unknown[0]!r}: the valid ones are {valid}")
    return tuple(a for a in ADAPTATIONS if a in value)


def _anchor_window(p: GeneratorParams, t0: int, t1: int) -> tuple[int, int]:
    """Range of the time the first new account of a planted fraud group joins.

    By default the second half of the window, at most 300 days and at least 55 days before
    ``end`` (the longest scheme lasts 45 days). Slow and aged schemes take longer from the
    first join to the last session, so their range moves back by that much; schemes with
    recruits start late enough for members of a year's standing to exist.
    """
    lo = max(t0 + (t1 - t0) // 2, t1 - 300 * DAY)
    hi = t1 - 55 * DAY
    aged = "aged" in p.adaptations
    lead = _AGED_JOIN_SPAN[1] + _AGED_DORMANCY[1] if aged else 0
    shift = lead + (_SLOW_SPAN - 55 * DAY if "slow" in p.adaptations else 0)
    floor = t0 + HOUR
    if "recruited" in p.adaptations:
        # The scheme starts after the anchor by at least the shortest aged lead.
        floor = t0 + _RECRUIT_EARLIEST - (_AGED_JOIN_SPAN[0] + _AGED_DORMANCY[0] if aged else 0)
    return max(lo - shift, floor), hi - shift


def _iso_day(ts: int) -> str:
    return str(np.datetime64(ts, "s").astype("datetime64[D]"))


def _parse_time(value: str, name: str) -> int:
    try:
        parsed = np.datetime64(value, "s")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}={value!r} is not an ISO 8601 date or datetime") from exc
    if np.isnat(parsed):
        raise ValueError(f"{name}={value!r} is not an ISO 8601 date or datetime")
    return int(parsed.astype(np.int64))


def _check_range(name: str, value: tuple[Any, ...], low: float, high: float) -> None:
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) tuple, got {value!r}")
    lo, hi = value
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{name}={value!r} must satisfy {low} <= min <= max <= {high}")


def _validate(p: GeneratorParams) -> None:
    if isinstance(p.members, bool) or not isinstance(p.members, int) or p.members < 20:
        raise ValueError(f"members must be an int >= 20, got {p.members!r}")
    if isinstance(p.seed, bool) or not isinstance(p.seed, int) or p.seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {p.seed!r}")
    if not (math.isfinite(p.sessions_per_member) and 0 <= p.sessions_per_member <= 1000):
        raise ValueError(f"sessions_per_member must be in [0, 1000], got {p.sessions_per_member}")
    if p.communities is not None and not 1 <= p.communities <= p.members:
        raise ValueError(f"communities must be in [1, members], got {p.communities}")
    if p.merchants is not None and p.merchants < 1:
        raise ValueError(f"merchants must be >= 1, got {p.merchants}")
    t0, t1 = _parse_time(p.start, "start"), _parse_time(p.end, "end")
    if t1 - t0 < 180 * DAY:
        raise ValueError(f"end ({p.end}) must be at least 180 days after start ({p.start})")
    for name in ("activation_rate", "redeem_share"):
        value = getattr(p, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0.0 <= p.referral_share < 1.0:
        raise ValueError(f"referral_share must be in [0, 1), got {p.referral_share}")
    if not 0.0 <= p.family_share <= 0.2:
        raise ValueError(f"family_share must be in [0, 0.2], got {p.family_share}")
    for name in ("loops", "pairs", "sybil_farms", "honest_circles"):
        value = getattr(p, name)
        if value is not None and (isinstance(value, bool) or value < 0):
            raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")
    _check_range("loop_size", p.loop_size, 3, 50)
    _check_range("farm_size", p.farm_size, 3, 500)
    _check_range("circle_size", p.circle_size, 3, 30)
    _check_range("fraud_hours", p.fraud_hours, 0.01, 24.0)
    if not (math.isfinite(p.camouflage) and 0.0 <= p.camouflage <= 1000.0):
        raise ValueError(f"camouflage must be in [0, 1000], got {p.camouflage}")
    loops, pairs, farms, circles = (
        _auto_group_count(p.members) if v is None else v
        for v in (p.loops, p.pairs, p.sybil_farms, p.honest_circles)
    )
    planted = loops * p.loop_size[1] + 2 * pairs + farms * p.farm_size[1]
    if planted > 0.2 * p.members:
        raise ValueError(
            f"planted fraud may need up to {planted} accounts, more than 20% of members="
            f"{p.members}; lower loops/pairs/sybil_farms or their sizes"
        )
    if p.honest_cohorts is not None and (
        isinstance(p.honest_cohorts, bool) or p.honest_cohorts < 0
    ):
        raise ValueError(
            f"honest_cohorts must be a non-negative int or None, got {p.honest_cohorts!r}"
        )
    cohorts = _cohort_count(p)
    if _COHORT_SIZE * cohorts > 0.1 * p.members:
        raise ValueError(
            f"honest cohorts need {_COHORT_SIZE * cohorts} members, more than 10% of members="
            f"{p.members}; lower honest_cohorts"
        )
    if cohorts and t1 - 30 * DAY <= t0 + _COHORT_EARLIEST:
        raise ValueError(
            f"honest cohorts join at least {_COHORT_EARLIEST // DAY} days after start (when "
            f"members of a year's standing exist) and 30 days before end; widen start..end"
        )
    if p.adaptations and planted > 0:
        lo, hi = _anchor_window(p, t0, t1)
        if lo >= hi:
            raise ValueError(
                f"adaptations {', '.join(p.adaptations)} do not fit in {p.start}..{p.end}: "
                f"their fraud groups would have to begin between {_iso_day(lo)} and "
                f"{_iso_day(hi)}; start earlier or end later"
            )
    circled = circles * p.circle_size[1]
    if circled > 0.1 * p.members:
        raise ValueError(
            f"honest circles may need up to {circled} members, more than 10% of members="
            f"{p.members}; lower honest_circles or circle_size"
        )


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _weighted_choice(rng: np.random.Generator, weights: FloatArray, size: int) -> IntArray:
    """Draw ``size`` indices with probability proportional to ``weights``."""
    cum = np.cumsum(weights)
    pos = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    out: IntArray = np.minimum(pos, len(weights) - 1).astype(np.int64)
    return out


def _daytime(
    rng: np.random.Generator,
    ts: IntArray,
    lo: IntArray | int,
    hi: IntArray | int,
    *,
    first_hour: int,
    last_hour: int,
    step: int,
) -> IntArray:
    """Move each time to a slot on its day between ``first_hour`` and ``last_hour``.

    Slots are multiples of ``step`` seconds. A time whose slot would leave ``[lo, hi]`` keeps
    its own time-of-day (rounded up to the minute, never past ``hi``).
    """
    n_slots = (last_hour - first_hour) * HOUR // step + 1
    day = ts // DAY
    cand = day * DAY + first_hour * HOUR + rng.integers(0, n_slots, len(ts)) * step
    ok = (cand >= lo) & (cand <= hi)
    fallback = np.maximum(np.minimum(-(-ts // MINUTE) * MINUTE, hi), ts)
    return np.where(ok, cand, fallback).astype(np.int64)


def _fraud_hours(rng: np.random.Generator, bounds: tuple[float, float], size: int) -> FloatArray:
    """Hours per fraudulent session: half-hour steps inside ``bounds`` when there are any."""
    lo, hi = float(bounds[0]), float(bounds[1])
    grid = np.arange(math.ceil(lo * 2 - 1e-9) / 2, hi + 1e-9, 0.5)
    if len(grid):
        return grid[rng.integers(0, len(grid), size)].astype(np.float64)
    return np.clip(np.round(rng.uniform(lo, hi, size), 2), lo, hi)


class _CommunitySampler:
    """Draw members of a community who are present by a given time, proportionally to a weight.

    Members are sorted by (community, presence time); a prefix of a community's block holds the
    members present by a time, so a draw is two binary searches.
    """

    def __init__(
        self, community: IntArray, present: IntArray, weight: FloatArray, n_communities: int
    ) -> None:
        self.base = int(present.min())
        self.scale = int(present.max()) - self.base + 2
        key = community * self.scale + (present - self.base)
        self.order = np.argsort(key, kind="stable").astype(np.int64)
        self.key = key[self.order]
        self.cum = np.cumsum(weight[self.order])
        self.cum0 = np.concatenate([[0.0], self.cum])
        counts = np.bincount(community, minlength=n_communities).astype(np.int64)
        self.ends = np.cumsum(counts)
        self.starts = self.ends - counts

    def sample(
        self, rng: np.random.Generator, community: IntArray, before: IntArray | None = None
    ) -> IntArray:
        """One member per entry of ``community`` (non-empty), present at ``before`` if possible.

        When nobody in the community is present yet, the earliest member is returned; callers
        move the session after both members joined.
        """
        start = self.starts[community]
        end = self.ends[community]
        if before is not None:
            rel = np.clip(before - self.base, -1, self.scale - 1)
            end = np.searchsorted(self.key, community * self.scale + rel, side="right")
            end = np.maximum(end, np.minimum(start + 1, self.ends[community]))
        lo, hi = self.cum0[start], self.cum0[end]
        pos = np.searchsorted(self.cum, lo + rng.random(len(community)) * (hi - lo), side="right")
        out: IntArray = self.order[np.clip(pos, start, end - 1)]
        return out


# --------------------------------------------------------------------------------------------
# String columns as fixed-width byte buffers (10M ISO timestamps in well under a second)
# --------------------------------------------------------------------------------------------


def _fixed_width_strings(buf: ByteArray, valid: BoolArray | None = None) -> pa.Array:
    n, width = buf.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(buf).reshape(-1)
    bitmap = None
    if valid is not None and not bool(valid.all()):
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, -1 if bitmap is not None else 0
    )


def _put_digits(buf: ByteArray, col: int, values: IntArray, width: int) -> None:
    x = values.copy()
    for j in range(width - 1, -1, -1):
        buf[:, col + j] = 48 + x % 10
        x //= 10


def _prefixed_ids(prefix: str, numbers: IntArray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers``, e.g. ``m000042``."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    buf = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    buf[:, : len(head)] = head
    _put_digits(buf, len(head), numbers, width)
    return _fixed_width_strings(buf)


def _iso_strings(ts: IntArray, valid: BoolArray | None = None) -> pa.Array:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SS``; entries where ``valid`` is False are null."""
    if valid is not None:
        ts = np.where(valid, ts, 0)
    days = ts // DAY
    sod = ts - days * DAY
    d64 = days.astype("datetime64[D]")
    month64 = d64.astype("datetime64[M]")
    year = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month64.astype(np.int64) % 12 + 1
    mday = (d64 - month64.astype("datetime64[D]")).astype(np.int64) + 1
    buf = np.empty((len(ts), 19), dtype=np.uint8)
    _put_digits(buf, 0, year, 4)
    _put_digits(buf, 5, month, 2)
    _put_digits(buf, 8, mday, 2)
    _put_digits(buf, 11, sod // HOUR, 2)
    _put_digits(buf, 14, sod // MINUTE % 60, 2)
    _put_digits(buf, 17, sod % 60, 2)
    buf[:, 4] = buf[:, 7] = ord("-")
    buf[:, 10] = ord("T")
    buf[:, 13] = buf[:, 16] = ord(":")
    return _fixed_width_strings(buf, valid)


def _hex_strings(raw: ByteArray) -> pa.Array:
    lut = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    hexed[:, 0::2] = lut[raw >> 4]
    hexed[:, 1::2] = lut[raw & 15]
    return _fixed_width_strings(hexed)


def _chinese_names(rng: np.random.Generator, n: int) -> pa.Array:
    surname_w = 1.0 / (np.arange(len(_SURNAMES), dtype=np.float64) + 3.0)
    surname = pa.array(_SURNAMES).take(pa.array(_weighted_choice(rng, surname_w, n)))
    given = pa.array(_GIVEN_CHARS)
    first = given.take(pa.array(rng.integers(0, len(_GIVEN_CHARS), n)))
    second_pool = pa.array((*_GIVEN_CHARS, ""))
    # A quarter of given names have one character.
    second_idx = np.where(
        rng.random(n) < 0.25, len(_GIVEN_CHARS), rng.integers(0, len(_GIVEN_CHARS), n)
    )
    second = second_pool.take(pa.array(second_idx))
    return pc.binary_join_element_wise(surname, first, second, "")


# --------------------------------------------------------------------------------------------
# Honest population
# --------------------------------------------------------------------------------------------


@dataclass
class _Population:
    """Internal arrays indexed by internal member index (honest first, then planted)."""

    joined: IntArray
    activated: IntArray
    is_active: BoolArray
    community: IntArray
    referrer: IntArray  # internal index or -1


def _honest_join_times(rng: np.random.Generator, n: int, t0: int, t1: int) -> IntArray:
    # Exponential growth: the joining rate at `end` is e^1.6 ≈ 5x the rate at `start`.
    g = 1.6
    frac = np.log1p(rng.random(n) * math.expm1(g)) / g
    ts = t0 + (frac * (t1 - t0)).astype(np.int64)
    tod = np.clip(rng.normal(14.5, 3.5, n), 7.0, 23.5) * HOUR
    ts = (ts // DAY) * DAY + tod.astype(np.int64)
    return np.sort(np.clip(ts, t0, t1))


def _activation(
    rng: np.random.Generator, joined: IntArray, rate: float, t1: int
) -> tuple[IntArray, BoolArray]:
    n = len(joined)
    kind = rng.random(n)
    delay = np.where(
        kind < 0.55,
        MINUTE + rng.exponential(8 * MINUTE, n),
        np.where(
            kind < 0.85,
            30 * MINUTE + rng.exponential(5 * HOUR, n),
            DAY + rng.exponential(4 * DAY, n),
        ),
    ).astype(np.int64)
    activated = joined + delay
    is_active = (rng.random(n) < rate) & (activated <= t1)
    return activated, is_active


def _referral_forest(
    rng: np.random.Generator, joined: IntArray, is_active: BoolArray, share: float, t0: int, t1: int
) -> tuple[IntArray, IntArray]:
    """Parents (or -1) and depths of a referral forest over members sorted by join time.

    Members join in time chunks; a referee's referrer is drawn among members who joined in
    earlier chunks, weighted by a heavy-tailed recruiting propensity that fades with the
    referrer's age in the bank and with its generation depth (deeper generations recruit less).
    """
    n = len(joined)
    parent = np.full(n, -1, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    propensity = rng.lognormal(0.0, 1.2, n) * np.where(is_active, 1.0, 0.2)
    n_chunks = 96
    bounds = np.linspace(t0, t1 + 1, n_chunks + 1).astype(np.int64)
    cuts = np.searchsorted(joined, bounds, side="left")
    first = int(cuts[1])
    share_adj = min(1.0, share * n / max(1, n - first))
    wants = rng.random(n) < share_adj
    for k in range(1, n_chunks):
        a, b = int(cuts[k]), int(cuts[k + 1])
        if a == 0 or b == a:
            continue
        need = np.flatnonzero(wants[a:b]) + a
        if len(need) == 0:
            continue
        age_days = (bounds[k] - joined[:a]) / DAY
        w = propensity[:a] * 0.6 ** depth[:a] * (0.1 + np.exp(-age_days / 150.0))
        chosen = _weighted_choice(rng, w, len(need))
        parent[need] = chosen
        depth[need] = depth[chosen] + 1
    return parent, depth


def _communities(rng: np.random.Generator, parent: IntArray, n_communities: int) -> IntArray:
    """Community per member: inherited from the referrer except at roots and rare switches."""
    n = len(parent)
    idx = np.arange(n, dtype=np.int64)
    anchor = (parent < 0) | (rng.random(n) < 0.08)
    ptr = np.where(anchor, idx, parent)
    while True:  # pointer jumping: O(log depth) passes
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    size_w = rng.lognormal(0.0, 0.6, n_communities)
    own = _weighted_choice(rng, size_w, n)
    # Make sure small populations still touch every community once.
    anchors = np.flatnonzero(anchor)
    if len(anchors) >= n_communities:
        own[anchors[rng.permutation(len(anchors))[:n_communities]]] = np.arange(n_communities)
    return own[ptr]


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------


@dataclass
class _Sessions:
    helper: IntArray
    recipient: IntArray
    ts: IntArray
    hours: FloatArray
    service: IntArray
    rating: IntArray
    status: IntArray
    group: IntArray  # planted group index, or -1

    @staticmethod
    def concat(parts: list[_Sessions]) -> _Sessions:
        def cat(name: str, dtype: type) -> Any:
            return np.concatenate([getattr(p, name) for p in parts]).astype(dtype)

        return _Sessions(
            helper=cat("helper", np.int64),
            recipient=cat("recipient", np.int64),
            ts=cat("ts", np.int64),
            hours=cat("hours", np.float64),
            service=cat("service", np.int64),
            rating=cat("rating", np.int64),
            status=cat("status", np.int64),
            group=cat("group", np.int64),
        )


def _honest_hours(rng: np.random.Generator, n: int) -> FloatArray:
    return _HOURS[_weighted_choice(rng, _HOURS_W, n)]


def _honest_ratings(rng: np.random.Generator, complaint_p: FloatArray | float, n: int) -> IntArray:
    neg = rng.random(n) < complaint_p
    rating = np.where(
        neg,
        _NEGATIVE_RATINGS[_weighted_choice(rng, _NEGATIVE_W, n)],
        _POSITIVE_RATINGS[_weighted_choice(rng, _POSITIVE_W, n)],
    )
    empty = rng.random(n) < 0.06
    return np.where(empty, _NULL_RATING, rating).astype(np.int64)


def _honest_status(
    rng: np.random.Generator, rating: IntArray, ts: IntArray, t1: int
) -> tuple[IntArray, IntArray]:
    """Status codes (~95/3/2 confirmed/pending/disputed) and ratings (pending → unrated)."""
    n = len(ts)
    recent = ts > t1 - 14 * DAY
    u = rng.random(n)
    disputed = u < np.where((rating < 0) & (rating != _NULL_RATING), 0.45, 0.011)
    pending = ~disputed & (rng.random(n) < np.where(recent, 0.45, 0.02))
    status = np.where(disputed, _DISPUTED, np.where(pending, _PENDING, _CONFIRMED))
    return status.astype(np.int64), np.where(pending, _NULL_RATING, rating).astype(np.int64)


def _services(rng: np.random.Generator, elderly_recipient: BoolArray) -> IntArray:
    n = len(elderly_recipient)
    general = _weighted_choice(rng, _SERVICE_W_GENERAL, n)
    elderly = _weighted_choice(rng, _SERVICE_W_ELDERLY, n)
    return np.where(elderly_recipient, elderly, general).astype(np.int64)


@dataclass
class _Traits:
    activity: FloatArray
    give: FloatArray
    elderly: BoolArray
    bad_helper: BoolArray
    active_until: IntArray


def _honest_traits(rng: np.random.Generator, pop: _Population, n_honest: int, t1: int) -> _Traits:
    n = n_honest
    role = rng.random(n)
    elderly = role < 0.22
    giver = (role >= 0.22) & (role < 0.37)
    give = np.where(
        elderly,
        rng.beta(1.2, 5.0, n),
        np.where(giver, rng.beta(5.0, 1.2, n), rng.beta(2.5, 2.5, n)),
    )
    activity = np.minimum(rng.lognormal(0.0, 1.0, n), 12.0) * np.where(pop.is_active[:n], 1.0, 0.12)
    eff = np.where(pop.is_active[:n], pop.activated[:n], pop.joined[:n])
    active_until = np.minimum(eff + rng.exponential(900.0 * DAY, n).astype(np.int64), t1)
    return _Traits(
        activity=activity,
        give=give,
        elderly=elderly,
        bad_helper=rng.random(n) < 0.03,
        active_until=active_until,
    )


def _honest_sessions(
    rng: np.random.Generator,
    pop: _Population,
    traits: _Traits,
    local: _CommunitySampler,
    anywhere: _CommunitySampler,
    n_sessions: int,
    t1: int,
) -> _Sessions:
    n = len(traits.activity)
    eff = np.where(pop.is_active[:n], pop.activated[:n], pop.joined[:n])
    comm = pop.community[:n]
    until = traits.active_until

    # Every member keeps 2-5 regular partners: community members present during its life.
    n_reg = 5
    k_reg = rng.integers(2, n_reg, n)
    met_at = np.repeat(eff, n_reg) + (rng.random(n * n_reg) * np.repeat(until - eff, n_reg))
    partners = local.sample(rng, np.repeat(comm, n_reg), met_at.astype(np.int64))
    partners = partners.reshape(n, n_reg)

    # Initiators: activity x length of active life; each picks a moment in that life.
    span = np.maximum(until - eff, DAY).astype(np.float64)
    u = _weighted_choice(rng, traits.activity * span, n_sessions)
    life = np.maximum(until[u] - eff[u] - HOUR, 0)
    moment = eff[u] + HOUR + (rng.random(n_sessions) * life).astype(np.int64)
    kind = rng.random(n_sessions)
    v_regular = partners[u, rng.integers(0, k_reg[u])]
    v_local = local.sample(rng, comm[u], moment - HOUR)
    v_any = anywhere.sample(rng, np.zeros(n_sessions, dtype=np.int64), moment - HOUR)
    v = np.where(kind < 0.65, v_regular, np.where(kind < 0.93, v_local, v_any))
    v = np.where(v == u, v_any, v)
    v = np.where(v == u, (u + 1 + rng.integers(0, n - 1, n_sessions)) % n, v)

    # Direction follows the two members' giving propensities.
    gu, gv = traits.give[u], traits.give[v]
    p_u_helps = gu * (1 - gv) / np.maximum(gu * (1 - gv) + gv * (1 - gu), 1e-12)
    u_helps = rng.random(n_sessions) < p_u_helps
    helper = np.where(u_helps, u, v)
    recipient = np.where(u_helps, v, u)

    # The session happens at the initiator's moment unless the partner joined later.
    lo = np.maximum(eff[u], eff[v]) + HOUR
    hi = np.where(until[u] > lo + DAY, until[u], t1)
    later = lo + (rng.random(n_sessions) * np.maximum(hi - lo, 0)).astype(np.int64)
    raw = np.where(moment >= lo, moment, later)
    ts = _daytime(rng, raw, lo, t1, first_hour=7, last_hour=20, step=15 * MINUTE)

    keep = np.flatnonzero(lo <= t1)
    helper, recipient, ts = helper[keep], recipient[keep], ts[keep]
    m = len(keep)
    complaint_p = np.where(traits.bad_helper[helper], 0.3, 0.013)
    rating = _honest_ratings(rng, complaint_p, m)
    status, rating = _honest_status(rng, rating, ts, t1)
    return _Sessions(
        helper=helper,
        recipient=recipient,
        ts=ts,
        hours=_honest_hours(rng, m),
        service=_services(rng, traits.elderly[recipient]),
        rating=rating,
        status=status,
        group=np.full(m, -1, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------
# Planted groups
# --------------------------------------------------------------------------------------------


@dataclass
class _Planted:
    kinds: list[GroupKind]
    members: list[IntArray]  # internal indices per group
    new: list[IntArray] = dataclasses.field(default_factory=list)  # new accounts, ascending
    joined: list[IntArray] = dataclasses.field(default_factory=list)  # of `new`
    activated: list[IntArray] = dataclasses.field(default_factory=list)  # of `new`
    community: list[int] = dataclasses.field(default_factory=list)
    start: list[int] = dataclasses.field(default_factory=list)  # first fraud session
    referrals: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    fake_referees: list[IntArray] = dataclasses.field(default_factory=list)  # per farm
    sessions: list[_Sessions] = dataclasses.field(default_factory=list)

    def add_group(
        self,
        kind: GroupKind,
        accounts: IntArray,
        new: IntArray,
        times: tuple[IntArray, IntArray],
        community: int,
        sessions: tuple[IntArray, IntArray, IntArray, FloatArray, IntArray],
    ) -> None:
        """Record one planted group: its ``accounts`` (``new`` ones and recruits), the join
        and activation ``times`` of ``new``, and its sessions (helper, recipient, time, hours,
        service), all confirmed and rated 10, as colluders rate each other."""
        helper, recipient, ts, hours, service = sessions
        n = len(ts)
        self.sessions.append(
            _Sessions(
                helper=helper,
                recipient=recipient,
                ts=ts,
                hours=hours,
                service=service,
                rating=np.full(n, 10, dtype=np.int64),
                status=np.full(n, _CONFIRMED, dtype=np.int64),
                group=np.full(n, len(self.kinds), dtype=np.int64),
            )
        )
        self.kinds.append(kind)
        self.members.append(accounts)
        self.new.append(new)
        self.joined.append(times[0])
        self.activated.append(times[1])
        self.community.append(community)
        self.start.append(int(ts.min()) if n else 0)

    def recruits(self, n_honest: int) -> IntArray:
        """Honest members recruited into any group (empty without ``recruited``)."""
        every = np.concatenate([*self.members, np.zeros(0, np.int64)])
        return np.sort(every[every < n_honest])


def _group_sizes(rng: np.random.Generator, p: GeneratorParams) -> tuple[IntArray, IntArray]:
    """Accounts per loop and per sybil farm (drawn first: they fix the honest head count)."""
    assert p.loops is not None
    assert p.sybil_farms is not None
    loops = rng.integers(p.loop_size[0], p.loop_size[1] + 1, p.loops)
    farms = rng.integers(p.farm_size[0], p.farm_size[1] + 1, p.sybil_farms)
    return loops.astype(np.int64), farms.astype(np.int64)


def _recruit_count(p: GeneratorParams, size: IntArray | int) -> IntArray:
    """Established members among a group of ``size`` accounts: none unless ``recruited``."""
    size = np.asarray(size, dtype=np.int64)
    if "recruited" not in p.adaptations:
        return np.zeros_like(size)
    return np.maximum(1, (size * _RECRUIT_SHARE).astype(np.int64))


def _new_account_count(p: GeneratorParams, loop_sizes: IntArray, farm_sizes: IntArray) -> int:
    assert p.pairs is not None
    sizes = np.concatenate([loop_sizes, np.full(p.pairs, 2, np.int64), farm_sizes])
    return int((sizes - _recruit_count(p, sizes)).sum())


def _join_times(
    rng: np.random.Generator, anchor: int, k: int, burst: int, *, aged: bool
) -> IntArray:
    """Join times of ``k`` new accounts from ``anchor``: within ``burst`` seconds, or aged
    accounts each in its own slot of a 3-5 month span (consecutive joins >= span/2k apart)."""
    if not aged:
        return anchor + np.sort(rng.integers(0, burst, k))
    span = int(rng.integers(*_AGED_JOIN_SPAN))
    slot = (np.arange(k) + rng.uniform(0.25, 0.75, k)) * (span / max(k, 1))
    return anchor + slot.astype(np.int64)


def _lead(rng: np.random.Generator, low: int, high: int, *, aged: bool) -> int:
    """Delay from the last activation to the first fraud session: dormancy when aged."""
    return int(rng.integers(*_AGED_DORMANCY)) if aged else int(rng.integers(low, high))


def _spaced(rng: np.random.Generator, n: int, low: float, high: float) -> IntArray:
    """Offsets of ``n`` slow hops, consecutive ones ``low`` to ``high`` seconds apart."""
    gaps = rng.uniform(low, high, max(n - 1, 0))
    out: IntArray = np.concatenate([[0.0], np.cumsum(gaps)]).astype(np.int64)
    return out + rng.integers(0, HOUR, n)


class _RecruitPool:
    """Established honest members a scheme starting at a given time may recruit.

    A member qualifies from the later of its first anniversary and its third honest session
    (as helper or recipient); each is recruited at most once. The first recruit of a group
    is drawn from everyone qualified, the others from its community when it has enough.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        joined: IntArray,
        community: IntArray,
        is_active: BoolArray,
        honest: _Sessions,
        latest: int,
    ) -> None:
        n = len(joined)
        self.rng = rng
        self.community = community
        member = np.concatenate([honest.helper, honest.recipient])
        ts = np.concatenate([honest.ts, honest.ts])
        keep = (is_active & (joined <= latest - _RECRUIT_TENURE))[member]
        base = int(ts.min()) if len(ts) else 0
        key = np.sort(member[keep] * (1 << 32) + (ts[keep] - base))
        who, when = key >> 32, (key & ((1 << 32) - 1)) + base
        counts = np.bincount(who, minlength=n)
        nth = np.cumsum(counts) - counts + _RECRUIT_HISTORY - 1
        has = counts >= _RECRUIT_HISTORY
        qualify = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        qualify[has] = np.maximum(joined[has] + _RECRUIT_TENURE, when[nth[has]])
        cand = np.flatnonzero(has)
        self.by_time = cand[np.argsort(qualify[cand], kind="stable")]
        self.time = qualify[self.by_time]
        by_comm = cand[np.lexsort((qualify[cand], community[cand]))]
        self.by_comm, self.comm_time = by_comm, qualify[by_comm]
        bounds = np.searchsorted(community[by_comm], np.arange(int(community.max()) + 2))
        self.comm_bounds = bounds
        self.used = np.zeros(n, dtype=bool)

    def _take(self, pool: IntArray, k: int) -> IntArray:
        """Up to ``k`` unused members of ``pool``, at random, marked used."""
        if k <= 0 or len(pool) == 0:
            return np.zeros(0, np.int64)
        picks = pool[self.rng.integers(0, len(pool), 4 * k + 8)]
        picks = picks[~self.used[picks]]
        _, first = np.unique(picks, return_index=True)
        chosen = picks[np.sort(first)][:k]
        if len(chosen) < k:  # a crowded pool: draw from what is left of it
            free = np.setdiff1d(pool[~self.used[pool]], chosen)
            extra = free[self.rng.permutation(len(free))[: k - len(chosen)]]
            chosen = np.concatenate([chosen, extra])
        self.used[chosen] = True
        return chosen.astype(np.int64)

    def draw(self, k: int, start: int) -> IntArray:
        """``k`` members qualified before ``start``, the first one's neighbours preferred."""
        everyone = self.by_time[: np.searchsorted(self.time, start, side="left")]
        first = self._take(everyone, min(k, 1))
        if len(first) == 0:
            return first
        c = int(self.community[first[0]])
        a, b = int(self.comm_bounds[c]), int(self.comm_bounds[c + 1])
        local = self.by_comm[a : a + int(np.searchsorted(self.comm_time[a:b], start))]
        rest = self._take(local, k - 1)
        rest = np.concatenate([rest, self._take(everyone, k - 1 - len(rest))])
        return np.concatenate([first, rest])


def _plant_fraud(
    rng: np.random.Generator,
    p: GeneratorParams,
    loop_sizes: IntArray,
    farm_sizes: IntArray,
    honest_joined: IntArray,
    honest_comm: IntArray,
    t0: int,
    t1: int,
    pool: _RecruitPool | None,
) -> _Planted:
    """Accounts, referrals and sessions of loops, pairs and sybil farms (new accounts from H
    on; recruits, with ``recruited``, drawn from ``pool``)."""
    assert p.pairs is not None
    n_honest = len(honest_joined)
    recent_lo, recent_hi = _anchor_window(p, t0, t1)
    aged, slow = "aged" in p.adaptations, "slow" in p.adaptations
    out = _Planted(kinds=[], members=[])
    next_index = n_honest

    def new_accounts(k: int) -> IntArray:
        nonlocal next_index
        idx = np.arange(next_index, next_index + k, dtype=np.int64)
        next_index += k
        return idx

    def recruit(k: int, start: int) -> IntArray:
        if k == 0:
            return np.zeros(0, np.int64)
        assert pool is not None
        chosen = pool.draw(k, start)
        if len(chosen) < k:
            raise ValueError(
                f"cannot recruit {k} established members into a scheme starting "
                f"{_iso_day(start)}: too few members of a year's standing with "
                f"{_RECRUIT_HISTORY} honest sessions; add members or drop 'recruited'"
            )
        return chosen

    def community_of(recruits: IntArray) -> int:
        if len(recruits):
            return int(honest_comm[recruits[0]])
        return int(honest_comm[rng.integers(0, n_honest)])

    def services(n: int) -> IntArray:
        options = rng.choice(len(SERVICES), size=2, replace=False)
        return options[rng.integers(0, 2, n)].astype(np.int64)

    # Loops: 3-6 brand-new accounts cycling hours for a few weeks.
    for k_loop in loop_sizes:
        k = int(k_loop)
        n_new = k - int(_recruit_count(p, k))
        new = new_accounts(n_new)
        anchor = int(rng.integers(recent_lo, recent_hi))
        joined = _join_times(rng, anchor, n_new, 3 * DAY, aged=aged)
        activated = joined + rng.integers(MINUTE, HOUR, n_new)
        order = rng.permutation(k)
        start = int(activated.max()) + _lead(rng, HOUR, 3 * DAY, aged=aged)
        recruits = recruit(k - n_new, start)
        cycle = np.concatenate([new, recruits])[order]
        if slow:
            rounds = int(rng.integers(3, 5))
            hop = _SLOW_TRIP / k
            offsets = _spaced(rng, rounds * k, hop, _SLOW_HOP_STRETCH * hop)
        else:
            rounds = int(rng.integers(4, 10))
            duration = int(rng.integers(14, 43)) * DAY
            gap = int(rng.integers(HOUR, 6 * HOUR))
            r_idx = np.repeat(np.arange(rounds), k)
            e_off = np.tile(np.arange(k), rounds) * gap
            offsets = r_idx * (duration // rounds) + e_off + rng.integers(0, HOUR, len(r_idx))
        e_idx = np.tile(np.arange(k), rounds)
        ts = start + offsets
        n = len(ts)
        community = community_of(recruits)
        out.add_group(
            "loop",
            cycle,
            new,
            (joined, activated),
            community,
            (
                cycle[e_idx],
                cycle[(e_idx + 1) % k],
                np.minimum(ts, t1),
                _fraud_hours(rng, p.fraud_hours, n),
                services(n),
            ),
        )

    # Pairs: two new accounts swapping large hours back and forth within days.
    for _ in range(p.pairs):
        n_new = 2 - int(_recruit_count(p, 2))
        new = new_accounts(n_new)
        anchor = int(rng.integers(recent_lo, recent_hi))
        joined = _join_times(rng, anchor, n_new, 2 * DAY, aged=aged)
        activated = joined + rng.integers(MINUTE, HOUR, n_new)
        start = int(activated.max()) + _lead(rng, HOUR, 2 * DAY, aged=aged)
        recruits = recruit(2 - n_new, start)
        acc = np.concatenate([new, recruits])
        if slow:
            rounds = 3
            offsets = _spaced(rng, 2 * rounds, *_SLOW_PAIR_GAP)
        else:
            rounds = int(rng.integers(3, 9))
            duration = int(rng.integers(3, 15)) * DAY
            r_idx = np.repeat(np.arange(rounds), 2)
            d_off = np.tile(np.arange(2), rounds) * rng.integers(HOUR, 12 * HOUR, len(r_idx))
            offsets = (
                r_idx * (duration // rounds) + d_off + rng.integers(0, 30 * MINUTE, len(r_idx))
            )
        d_idx = np.tile(np.arange(2), rounds)
        ts = start + offsets
        n = len(ts)
        community = community_of(recruits)
        out.add_group(
            "pair",
            acc,
            new,
            (joined, activated),
            community,
            (
                acc[d_idx],
                acc[1 - d_idx],
                np.minimum(ts, t1),
                _fraud_hours(rng, p.fraud_hours, n),
                services(n),
            ),
        )

    # Sybil farms: a recruiter and a burst of fake referees trading only inside the farm.
    for farm_size in farm_sizes:
        size = int(farm_size)
        n_recruits = int(_recruit_count(p, size))
        new = new_accounts(size - n_recruits)
        # A recruited recruiter is already established; a new one joins before the burst.
        fakes = new if n_recruits else new[1:]
        m = len(fakes)
        burst_at = int(rng.integers(recent_lo, recent_hi))
        recruiter_joined = max(t0 + HOUR, burst_at - int(rng.integers(30, 400)) * DAY)
        burst = int(rng.integers(2 * HOUR, 2 * DAY))
        head = np.zeros(0 if n_recruits else 1, np.int64)
        joined = np.concatenate(
            [head + recruiter_joined, _join_times(rng, burst_at, m, burst, aged=aged)]
        ).astype(np.int64)
        activated = joined + np.concatenate(
            [rng.integers(MINUTE, 2 * HOUR, len(head)), rng.integers(MINUTE, 30 * MINUTE, m)]
        )
        if not n_recruits and rng.random() < 0.6:
            n_before = int(np.searchsorted(honest_joined, recruiter_joined, side="left"))
            if n_before > 0:
                out.referrals.append((int(rng.integers(0, n_before)), int(new[0])))
        start = int(activated.max()) + _lead(rng, HOUR, DAY, aged=aged)
        recruits = recruit(n_recruits, start)
        acc = np.concatenate([recruits, new])
        recruiter, referees = acc[0], acc[1:]
        out.referrals.extend((int(recruiter), int(r)) for r in fakes)
        out.fake_referees.append(fakes)
        duration = int(rng.integers(*_SLOW_FARM_DAYS) if slow else rng.integers(7, 36)) * DAY
        n = len(referees) * int(rng.integers(2, 5))
        kind = rng.random(n)
        a = referees[rng.integers(0, len(referees), n)]
        b = referees[rng.integers(0, len(referees), n)]
        peer = (kind >= 0.8) & (a != b)
        up = (kind >= 0.6) & ~peer
        helper = np.where(peer, a, np.where(up, a, recruiter))
        recipient = np.where(peer, b, np.where(up, recruiter, a))
        if slow:  # each trade in its own slot: no month of the 6-10 holds a cluster
            ts = start + ((np.arange(n) + rng.random(n)) * (duration / n)).astype(np.int64)
        else:
            ts = start + rng.integers(0, duration, n)
        community = community_of(recruits)
        out.add_group(
            "sybil_farm",
            acc,
            new,
            (joined, activated),
            community,
            (
                helper,
                recipient,
                np.minimum(ts, t1),
                _fraud_hours(rng, p.fraud_hours, n),
                services(n),
            ),
        )
    return out


def _plant_circles(
    rng: np.random.Generator,
    p: GeneratorParams,
    pop: _Population,
    traits: _Traits,
    n_honest: int,
    first_group: int,
    t0: int,
    t1: int,
    recruited: IntArray,
) -> tuple[list[IntArray], list[_Sessions]]:
    """Honest circles: long-tenured neighbours helping each other about weekly for months
    (never members ``recruited`` into fraud)."""
    assert p.honest_circles is not None
    if p.honest_circles == 0:
        return [], []
    n = n_honest
    eff = np.where(pop.is_active[:n], pop.activated[:n], pop.joined[:n])
    tenure_min = min(365 * DAY, int(0.4 * (t1 - t0)))
    eligible = (
        (eff <= t1 - tenure_min)
        & (traits.active_until >= t1)
        & (traits.activity >= np.quantile(traits.activity, 0.4))
    )
    eligible[recruited] = False
    cand = np.flatnonzero(eligible)
    cand = cand[np.argsort(pop.community[cand], kind="stable")]
    cand_comm = pop.community[cand]
    counts = np.bincount(cand_comm, minlength=int(pop.community.max()) + 1)
    ends = np.cumsum(counts)
    starts = ends - counts
    used = np.zeros(n, dtype=bool)
    free = counts.astype(np.int64).copy()
    members_out: list[IntArray] = []
    sessions_out: list[_Sessions] = []
    for i in range(p.honest_circles):
        k = int(rng.integers(p.circle_size[0], p.circle_size[1] + 1))
        ok = np.flatnonzero(free >= k)
        if len(ok) == 0:
            raise ValueError(
                f"cannot place honest circle {i + 1}: no community has {k} long-tenured members"
                " left; lower honest_circles or circle_size, or add members"
            )
        c = int(ok[_weighted_choice(rng, free[ok].astype(np.float64), 1)[0]])
        pool = cand[starts[c] : ends[c]]
        pool = pool[~used[pool]]
        chosen = np.sort(pool[rng.permutation(len(pool))[:k]])
        used[chosen] = True
        free[c] -= k
        # The circle starts once every member has been around for a while (90 days by default).
        latest = int(eff[chosen].max()) + min(90 * DAY, tenure_min // 2)
        room = t1 - DAY - latest
        span = min(int(rng.integers(90, 271)) * DAY, room)
        begin = latest + int(rng.integers(0, max(room - span, 0) + 1))
        n_weeks = max(span // (7 * DAY), 1)
        per_week = 1 + (rng.random(n_weeks) < 0.45).astype(np.int64)
        week = np.repeat(np.arange(n_weeks, dtype=np.int64), per_week)
        s = len(week)
        a = rng.integers(0, k, s)
        b = (a + rng.integers(1, k, s)) % k
        raw = begin + week * 7 * DAY + rng.integers(0, 7 * DAY, s)
        members_out.append(chosen)
        sessions_out.append(
            _neighbourly(rng, chosen[a], chosen[b], raw, begin, t1, first_group + i)
        )
    return members_out, sessions_out


def _neighbourly(
    rng: np.random.Generator,
    helper: IntArray,
    recipient: IntArray,
    raw: IntArray,
    begin: IntArray | int,
    t1: int,
    group: int,
) -> _Sessions:
    """Friendly 1-2 hour help between neighbours around the ``raw`` times (daytime, after
    ``begin``), rated as honest members rate; ``group`` is the planted group index or -1."""
    s = len(raw)
    ts = _daytime(rng, raw, begin, t1, first_hour=9, last_hour=19, step=30 * MINUTE)
    rating = _honest_ratings(rng, 0.005, s)
    status, rating = _honest_status(rng, rating, ts, t1)
    return _Sessions(
        helper=helper,
        recipient=recipient,
        ts=ts,
        hours=np.array([1.0, 1.5, 2.0])[_weighted_choice(rng, np.array([0.5, 0.3, 0.2]), s)],
        service=_NEIGHBOURLY[rng.integers(0, len(_NEIGHBOURLY), s)],
        rating=rating,
        status=status,
        group=np.full(s, group, dtype=np.int64),
    )


def _outside_sessions(
    rng: np.random.Generator,
    accounts: IntArray,
    since: IntArray,
    pop: _Population,
    traits: _Traits,
    samplers: tuple[_CommunitySampler, _CommunitySampler],
    t1: int,
    *,
    account_helps: float = 0.5,
    hours: float | None = None,
    established_by: IntArray | None = None,
) -> _Sessions:
    """One session per entry of ``accounts`` with an honest partner, at a moment between the
    entry's ``since`` and ``t1``.

    The partner is drawn from the account's community (70%) or anywhere, among members
    present at that moment — or, given ``established_by``, present by then. The account
    helps with probability ``account_helps``; ``hours`` fixes every session's length
    (default: the honest mix).
    """
    local, anywhere = samplers
    n_honest = len(traits.activity)
    n = len(accounts)
    acc = accounts
    eff = np.where(pop.is_active, pop.activated, pop.joined)
    life = np.maximum(t1 - since - HOUR, 0)
    moment = since + HOUR + (rng.random(n) * life).astype(np.int64)
    before = moment - HOUR if established_by is None else np.minimum(moment - HOUR, established_by)
    near = local.sample(rng, pop.community[acc], before)
    far = anywhere.sample(rng, np.zeros(n, dtype=np.int64), before)
    use_near = rng.random(n) < 0.7
    if established_by is not None:  # a young community may have nobody established yet
        use_near &= eff[near] <= established_by
    partner = np.where(use_near, near, far)
    lo = np.maximum(since, eff[partner]) + HOUR
    keep = np.flatnonzero(lo <= t1)
    acc, partner, lo, moment = acc[keep], partner[keep], lo[keep], moment[keep]
    n = len(acc)
    raw = np.where(moment >= lo, moment, lo + (rng.random(n) * (t1 - lo)).astype(np.int64))
    ts = _daytime(rng, raw, lo, t1, first_hour=8, last_hour=20, step=15 * MINUTE)
    acc_helps = rng.random(n) < account_helps
    helper = np.where(acc_helps, acc, partner)
    recipient = np.where(acc_helps, partner, acc)
    rating = _honest_ratings(rng, 0.01, n)
    status, rating = _honest_status(rng, rating, ts, t1)
    elderly = np.zeros(n, dtype=bool)
    honest_recipient = recipient < n_honest
    elderly[honest_recipient] = traits.elderly[recipient[honest_recipient]]
    return _Sessions(
        helper=helper,
        recipient=recipient,
        ts=ts,
        hours=_honest_hours(rng, n) if hours is None else np.full(n, hours),
        service=_services(rng, elderly),
        rating=rating,
        status=status,
        group=np.full(n, -1, dtype=np.int64),
    )


@dataclass
class _Cohorts:
    """New honest members joining in friend cohorts (indices ``first`` on, cohort by cohort)."""

    members: list[IntArray]
    joined: IntArray
    activated: IntArray
    community: IntArray
    referrer: IntArray  # per account: the cohort's established referrer

    @property
    def accounts(self) -> IntArray:
        return np.concatenate(self.members or [np.zeros(0, np.int64)])


def _plant_cohorts(
    rng: np.random.Generator,
    count: int,
    first: int,
    honest_eff: IntArray,
    anywhere: _CommunitySampler,
    community: IntArray,
    t0: int,
    t1: int,
) -> _Cohorts:
    """Who and when: four friends join within a week through one established referrer.

    The referrer is drawn (by activity) among honest members present a year before the week
    — established, as trust counts tenure — and the friends live in its community. Weeks
    fall in the last 300 days, at least 30 days before ``end`` so their first help fits.
    """
    k = _COHORT_SIZE
    if count == 0:
        empty = np.zeros(0, np.int64)
        return _Cohorts([], empty, empty, empty, empty)
    lo = max(t0 + _COHORT_EARLIEST, t1 - 300 * DAY, int(honest_eff.min()) + _RECRUIT_TENURE)
    if lo >= t1 - 30 * DAY:
        raise ValueError(
            "cannot place honest cohorts: no member is established (a year's standing) by "
            "30 days before end; add members or lower honest_cohorts"
        )
    week = rng.integers(lo, t1 - 30 * DAY, count)
    referrer = anywhere.sample(rng, np.zeros(count, np.int64), week - _RECRUIT_TENURE)
    raw = np.repeat(week, k) + rng.integers(0, _COHORT_WEEK - DAY, count * k)
    joined = _daytime(rng, raw, raw, t1, first_hour=8, last_hour=21, step=MINUTE)
    joined = np.sort(joined.reshape(count, k), axis=1).reshape(-1)
    return _Cohorts(
        members=[first + np.arange(i * k, (i + 1) * k, dtype=np.int64) for i in range(count)],
        joined=joined,
        activated=joined + rng.integers(MINUTE, 2 * HOUR, count * k),
        community=np.repeat(community[referrer], k),
        referrer=np.repeat(referrer, k),
    )


def _cohort_sessions(
    rng: np.random.Generator,
    cohorts: _Cohorts,
    pop: _Population,
    traits: _Traits,
    samplers: tuple[_CommunitySampler, _CommunitySampler],
    first_group: int,
    t1: int,
) -> list[_Sessions]:
    """Each cohort's mutual help (its truth sessions), then the help its members get from
    their referrer (a welcome within two weeks) and from 2-4 other established members."""
    out: list[_Sessions] = []
    k = _COHORT_SIZE
    for i, acc in enumerate(cohorts.members):
        begin = int(cohorts.activated[i * k : (i + 1) * k].max()) + int(rng.integers(DAY, 7 * DAY))
        span = max(min(int(rng.integers(60, 181)) * DAY, t1 - DAY - begin), DAY)
        # Rounds in which each friend helps one other and is helped by one, fortnightly.
        rounds = max(2, span // (14 * DAY))
        shift = np.repeat(rng.integers(1, k, rounds), k)
        giver = np.tile(np.arange(k), rounds)
        period = span // rounds
        raw = begin + np.repeat(np.arange(rounds), k) * period + rng.integers(0, period, rounds * k)
        out.append(
            _neighbourly(rng, acc[giver], acc[(giver + shift) % k], raw, begin, t1, first_group + i)
        )
    everyone = cohorts.accounts
    if len(everyone) == 0:
        return out
    position = everyone - everyone[0]
    welcome = cohorts.activated[position] + rng.integers(DAY, 14 * DAY, len(everyone))
    out.append(_neighbourly(rng, cohorts.referrer[position], everyone, welcome, welcome, t1, -1))
    per = rng.integers(2, 5, len(everyone))
    out.append(
        _outside_sessions(
            rng,
            np.repeat(everyone, per),
            np.repeat(cohorts.activated[position] + DAY, per),
            pop,
            traits,
            samplers,
            t1,
            account_helps=0.0,
            established_by=np.repeat(cohorts.joined[position] - _RECRUIT_TENURE, per),
        )
    )
    return out


# --------------------------------------------------------------------------------------------
# Identifiers and redemptions
# --------------------------------------------------------------------------------------------


def _identifiers(
    rng: np.random.Generator,
    n_total: int,
    n_honest: int,
    community: IntArray,
    family_share: float,
    fake_referees: list[IntArray],
) -> tuple[ByteArray, ByteArray]:
    """Raw phone-hash (16 bytes) and device-id (8 bytes) values, with planted sharing."""
    phone = rng.integers(0, 256, (n_total, 16), dtype=np.uint8)
    device = rng.integers(0, 256, (n_total, 8), dtype=np.uint8)
    # Honest families: 2-3 members of one community sharing a device (hard negative).
    if family_share > 0 and n_honest >= 3:
        order = np.argsort(community[:n_honest] * n_honest + rng.permutation(n_honest))
        n_slots = n_honest // 3
        n_families = min(n_slots, round(family_share * n_honest / 2.4))
        slots = np.sort(rng.choice(n_slots, size=n_families, replace=False)) * 3
        head = order[slots]
        for off, keep_p in ((1, 1.0), (2, 0.4)):
            other = order[slots + off]
            ok = (community[other] == community[head]) & (rng.random(n_families) < keep_p)
            device[other[ok]] = device[head[ok]]
    # Farm referees: a few shared phones and devices among them.
    for referees in fake_referees:
        m = len(referees)
        n_dev = max(1, min(m // 2, round(m / 5)))
        n_phone = max(1, min(m // 2, round(m / 6)))
        device[referees] = device[referees[:n_dev]][rng.permutation(np.arange(m) % n_dev)]
        phone[referees] = phone[referees[:n_phone]][rng.permutation(np.arange(m) % n_phone)]
    return phone, device


def _redemptions(
    rng: np.random.Generator,
    s: _Sessions,
    n_total: int,
    is_fraud: BoolArray,
    community: IntArray,
    n_merchants: int,
    redeem_share: float,
    t1: int,
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """Member, merchant, credits and time of each redemption (balance never negative)."""
    earn = np.flatnonzero(s.status == _CONFIRMED)
    helper, ts, hours = s.helper[earn], s.ts[earn], s.hours[earn]
    order = np.lexsort((ts, helper))
    helper, ts, hours = helper[order], ts[order], hours[order]
    earned = np.bincount(helper, weights=hours, minlength=n_total)
    counts = np.bincount(helper, minlength=n_total).astype(np.int64)
    group_end = np.cumsum(counts)
    cum = np.cumsum(hours)
    cum_before = np.concatenate([[0.0], cum])[group_end - counts]
    cum_in = cum - np.repeat(cum_before, counts)

    redeems = (earned >= 1.0) & (rng.random(n_total) < np.where(is_fraud, 0.95, redeem_share))
    share = np.where(is_fraud, rng.beta(8.0, 2.0, n_total), rng.beta(2.0, 3.0, n_total))
    target = np.where(redeems, share * earned, 0.0)
    k = np.where(redeems, np.maximum(1, rng.poisson(target / 3.5)), 0).astype(np.int64)
    member = np.repeat(np.arange(n_total, dtype=np.int64), k)
    credits = _REDEEM_SIZES[_weighted_choice(rng, _REDEEM_SIZES_W, len(member))]
    csum = np.cumsum(credits)
    spent_before = np.concatenate([[0.0], csum])[np.cumsum(k) - k]
    cum_spent = csum - np.repeat(spent_before, k)
    # Tolerance: fractional fraud hours make float sums inexact.
    keep = cum_spent <= earned[member] - 1e-6
    member, credits, cum_spent = member[keep], credits[keep], cum_spent[keep]

    # First moment the member's confirmed earnings cover the cumulative spend.
    big = float(earned.max()) + 1.0
    keys = helper * big + cum_in
    reach = np.searchsorted(keys, member * big + cum_spent, side="left")
    reach = np.minimum(reach, group_end[member] - 1)
    fraud_m = is_fraud[member]
    delay = (
        np.where(
            fraud_m, rng.exponential(2 * DAY, len(member)), rng.exponential(25 * DAY, len(member))
        ).astype(np.int64)
        + 10 * MINUTE
    )
    when = ts[reach] + delay
    when = _daytime(rng, when, when, t1, first_hour=8, last_hour=21, step=MINUTE)
    # Non-decreasing per member so the running balance never goes negative.
    span = int(when.max()) + 1 if len(when) else 1
    when = np.maximum.accumulate(when + member * span) - member * span
    keep = when <= t1
    member, credits, when = member[keep], credits[keep], when[keep]

    home = rng.integers(0, n_merchants, (int(community.max()) + 1, 2))
    popular = _weighted_choice(
        rng, 1.0 / (np.arange(n_merchants, dtype=np.float64) + 2.0), len(member)
    )
    local = home[community[member], rng.integers(0, 2, len(member))]
    merchant = np.where(rng.random(len(member)) < 0.7, local, popular).astype(np.int64)
    return member, merchant, credits, when


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _to_frame(columns: dict[str, pa.Array], names: tuple[str, ...]) -> pd.DataFrame:
    assert tuple(columns) == names, "column order must follow SCHEMA.md"
    table = pa.table(columns)
    mapping = {pa.int64(): pd.Int64Dtype()}
    return cast(pd.DataFrame, table.to_pandas(types_mapper=mapping.get))


def _width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n, 1))))


def generate(params: GeneratorParams) -> GeneratedDataset:
    """Generate a synthetic time bank with planted fraud groups and their ground truth.

    Parameters
    ----------
    params : GeneratorParams
        Size, seed, time window and planting knobs. ``None`` fields are resolved from
        ``params.members`` (see `GeneratorParams.resolved`).

    Returns
    -------
    GeneratedDataset
        ``members``, ``sessions``, ``referrals`` and ``redemptions`` frames with the columns of
        SCHEMA.md, ``truth`` (one `PlantedGroup` per planted group) and the resolved params.

    Examples
    --------
    >>> ds = generate(GeneratorParams(members=1000, seed=7))
    >>> list(ds.sessions.columns)[:4]
    ['session_id', 'helper_id', 'recipient_id', 'started_at']
    >>> sorted({g.kind for g in ds.truth})
    ['honest_circle', 'loop', 'pair', 'sybil_farm']
    >>> adapted = generate(GeneratorParams(members=1000, seed=7, adaptations=("slow", "padded")))
    >>> sorted({g.kind for g in adapted.truth})
    ['honest_circle', 'honest_cohort', 'loop', 'pair', 'sybil_farm']
    """
    p = params.resolved()
    assert p.communities is not None
    assert p.merchants is not None
    assert p.honest_circles is not None
    t0, t1 = _parse_time(p.start, "start"), _parse_time(p.end, "end")
    assert p.honest_cohorts is not None
    # One independent stream per stage, so e.g. the camouflage knob leaves honest rows alone.
    # The last two (adaptations, cohorts) came later: spawned after the first ten, they leave
    # those drawing exactly as before.
    (
        rng_size,
        rng_plan,
        rng_join,
        rng_ref,
        rng_traits,
        rng_sess,
        rng_circle,
        rng_camo,
        rng_ids,
        rng_redeem,
        rng_adapt,
        rng_cohort,
    ) = (np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(12))

    # Planted accounts are counted first: honest members are whatever remains.
    loop_sizes, farm_sizes = _group_sizes(rng_size, p)
    n_fraud = _new_account_count(p, loop_sizes, farm_sizes)
    n_cohort = _COHORT_SIZE * p.honest_cohorts
    n_honest = p.members - n_fraud - n_cohort

    joined_h = _honest_join_times(rng_join, n_honest, t0, t1)
    activated_h, active_h = _activation(rng_join, joined_h, p.activation_rate, t1)
    parent, _ = _referral_forest(rng_ref, joined_h, active_h, p.referral_share, t0, t1)
    community_h = _communities(rng_ref, parent, p.communities)
    honest_pop = _Population(joined_h, activated_h, active_h, community_h, parent)
    traits = _honest_traits(rng_traits, honest_pop, n_honest, t1)
    eff_h = np.where(active_h, activated_h, joined_h)
    local = _CommunitySampler(community_h, eff_h, traits.activity, p.communities)
    anywhere = _CommunitySampler(np.zeros(n_honest, np.int64), eff_h, traits.activity, 1)
    honest = _honest_sessions(
        rng_sess, honest_pop, traits, local, anywhere, round(p.sessions_per_member * n_honest), t1
    )
    pool = None
    if "recruited" in p.adaptations:  # recruits need their honest history first
        pool = _RecruitPool(rng_adapt, joined_h, community_h, active_h, honest, t1)
    fraud = _plant_fraud(rng_plan, p, loop_sizes, farm_sizes, joined_h, community_h, t0, t1, pool)
    recruited = fraud.recruits(n_honest)
    # Partners of fraud accounts and cohort members are honest: never recruits.
    samplers = (local, anywhere)
    if len(recruited):
        weight = traits.activity.copy()
        weight[recruited] = 0.0
        samplers = (
            _CommunitySampler(community_h, eff_h, weight, p.communities),
            _CommunitySampler(np.zeros(n_honest, np.int64), eff_h, weight, 1),
        )
    cohorts = _plant_cohorts(
        rng_cohort, p.honest_cohorts, n_honest + n_fraud, eff_h, samplers[1], community_h, t0, t1
    )

    def cat(parts: list[IntArray]) -> IntArray:
        return np.concatenate(parts or [np.zeros(0, np.int64)]).astype(np.int64)

    # New fraud accounts were numbered group by group, each group's in ascending order.
    fraud_comm = cat(
        [np.full(len(m), c, np.int64) for m, c in zip(fraud.new, fraud.community, strict=True)]
    )
    pop = _Population(
        joined=cat([joined_h, *fraud.joined, cohorts.joined]),
        activated=cat([activated_h, *fraud.activated, cohorts.activated]),
        is_active=np.concatenate([active_h, np.ones(n_fraud + n_cohort, dtype=bool)]),
        community=cat([community_h, fraud_comm, cohorts.community]),
        referrer=cat([parent, np.full(n_fraud, -1, dtype=np.int64), cohorts.referrer]),
    )
    for referrer, referred in fraud.referrals:
        pop.referrer[referred] = referrer

    circle_members, circle_sessions = _plant_circles(
        rng_circle, p, pop, traits, n_honest, len(fraud.kinds), t0, t1, recruited
    )
    # Outside sessions of fraud accounts start with their activity: a recruit's with its
    # scheme, an aged account's after its dormancy.
    since = np.where(pop.is_active, pop.activated, pop.joined)
    for acc, new, start in zip(fraud.members, fraud.new, fraud.start, strict=True):
        since[acc[acc < n_honest]] = start
        if "aged" in p.adaptations:
            since[new] = start
    camo_accounts = np.sort(
        cat(
            [
                m if k != "sybil_farm" else m[:1]
                for m, k in zip(fraud.members, fraud.kinds, strict=True)
            ]
        )
    )
    # Camouflage: a Poisson number of ordinary sessions per account, either way round.
    per = rng_camo.poisson(p.camouflage, len(camo_accounts))
    camo_accounts = np.repeat(camo_accounts, per)
    camo = _outside_sessions(
        rng_camo, camo_accounts, since[camo_accounts], pop, traits, samplers, t1
    )
    parts = [honest, *fraud.sessions, *circle_sessions, camo]
    if "padded" in p.adaptations:
        padders = np.repeat(np.sort(cat(fraud.members)), _PADDING_SESSIONS)
        parts.append(
            _outside_sessions(
                rng_adapt,
                padders,
                since[padders],
                pop,
                traits,
                samplers,
                t1,
                account_helps=1.0,
                hours=1.0,
            )
        )
    n_groups = len(fraud.kinds) + len(circle_members)
    parts.extend(_cohort_sessions(rng_cohort, cohorts, pop, traits, samplers, n_groups, t1))
    sessions = _Sessions.concat(parts)
    del honest, camo, local, anywhere, samplers, parts  # the 10M-row parts are in `sessions`

    circle_kinds: list[GroupKind] = ["honest_circle"] * len(circle_members)
    cohort_kinds: list[GroupKind] = ["honest_cohort"] * len(cohorts.members)
    kinds = [*fraud.kinds, *circle_kinds, *cohort_kinds]
    group_members = [*fraud.members, *circle_members, *cohorts.members]

    # Ids follow registration / start order, so planted rows interleave with honest ones.
    n_total = p.members
    member_order = np.argsort(pop.joined, kind="stable")
    rank = np.empty(n_total, dtype=np.int64)
    rank[member_order] = np.arange(n_total)
    member_ids = _prefixed_ids("m", rank + 1, _width(n_total, 6))
    session_order = np.argsort(sessions.ts, kind="stable")
    n_sessions = len(session_order)
    session_rank = np.empty(n_sessions, dtype=np.int64)
    session_rank[session_order] = np.arange(n_sessions)
    session_ids = _prefixed_ids("s", session_rank + 1, _width(n_sessions, 7))

    phone, device = _identifiers(
        rng_ids, n_total, n_honest, pop.community, p.family_share, fraud.fake_referees
    )
    names = _chinese_names(rng_ids, n_total)

    mo = pa.array(member_order)
    comm_ids = _prefixed_ids("c", pop.community + 1, _width(p.communities, 3))
    members_df = _to_frame(
        {
            "member_id": member_ids.take(mo),
            "joined_at": _iso_strings(pop.joined[member_order]),
            "community_id": comm_ids.take(mo),
            "activated_at": _iso_strings(pop.activated[member_order], pop.is_active[member_order]),
            "display_name": names.take(mo),
            "phone_hash": _hex_strings(phone[member_order]),
            "device_id": _hex_strings(device[member_order]),
        },
        MEMBER_COLUMNS,
    )

    so = session_order
    rating = sessions.rating[so]
    sessions_df = _to_frame(
        {
            "session_id": session_ids.take(pa.array(so)),
            "helper_id": member_ids.take(pa.array(sessions.helper[so])),
            "recipient_id": member_ids.take(pa.array(sessions.recipient[so])),
            "started_at": _iso_strings(sessions.ts[so]),
            "hours": pa.array(sessions.hours[so]),
            "service": pa.array(SERVICES).take(pa.array(sessions.service[so])),
            "rating": pa.array(rating, mask=rating == _NULL_RATING, type=pa.int64()),
            "status": pa.array(STATUSES).take(pa.array(sessions.status[so])),
        },
        SESSION_COLUMNS,
    )

    referee = np.flatnonzero(pop.referrer >= 0)
    referee = referee[np.argsort(rank[referee], kind="stable")]
    referrals_df = _to_frame(
        {
            "referrer_id": member_ids.take(pa.array(pop.referrer[referee])),
            "referee_id": member_ids.take(pa.array(referee)),
            "referred_at": _iso_strings(pop.joined[referee]),
        },
        REFERRAL_COLUMNS,
    )

    is_fraud = np.zeros(n_total, dtype=bool)
    is_fraud[n_honest : n_honest + n_fraud] = True
    is_fraud[recruited] = True
    r_member, r_merchant, r_credits, r_when = _redemptions(
        rng_redeem, sessions, n_total, is_fraud, pop.community, p.merchants, p.redeem_share, t1
    )
    r_order = np.argsort(r_when, kind="stable")
    redemptions_df = _to_frame(
        {
            "redemption_id": _prefixed_ids(
                "r", np.arange(1, len(r_order) + 1, dtype=np.int64), _width(len(r_order), 6)
            ),
            "member_id": member_ids.take(pa.array(r_member[r_order])),
            "merchant_id": _prefixed_ids("mer", r_merchant[r_order] + 1, _width(p.merchants, 3)),
            "credits": pa.array(r_credits[r_order]),
            "redeemed_at": _iso_strings(r_when[r_order]),
        },
        REDEMPTION_COLUMNS,
    )

    truth: list[PlantedGroup] = []
    counters: dict[str, int] = {}
    width = _width(
        max(p.loops or 0, p.pairs or 0, p.sybil_farms or 0, p.honest_circles, p.honest_cohorts),
        3,
    )
    member_id_list = member_ids.to_numpy(zero_copy_only=False)
    session_group = sessions.group
    planted_idx = np.flatnonzero(session_group >= 0)
    planted_idx = planted_idx[np.lexsort((session_rank[planted_idx], session_group[planted_idx]))]
    bounds = np.searchsorted(session_group[planted_idx], np.arange(len(kinds) + 1), side="left")
    session_id_list = session_ids.take(pa.array(planted_idx)).to_pylist()
    for g, (kind, acc) in enumerate(zip(kinds, group_members, strict=True)):
        counters[kind] = counters.get(kind, 0) + 1
        truth.append(
            PlantedGroup(
                group_id=f"{kind}-{counters[kind]:0{width}d}",
                kind=kind,
                members=tuple(str(x) for x in member_id_list[acc]),
                session_ids=tuple(session_id_list[int(bounds[g]) : int(bounds[g + 1])]),
            )
        )
    return GeneratedDataset(
        members=members_df,
        sessions=sessions_df,
        referrals=referrals_df,
        redemptions=redemptions_df,
        truth=truth,
        params=p,
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    header = (",".join(str(c) for c in frame.columns) + "\n").encode("utf-8")
    try:
        with path.open("wb") as fh:
            fh.write(header)
            pa_csv.write_csv(
                table,
                fh,
                write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"),
            )
    except pa.ArrowInvalid:
        # A value holds a comma, quote or newline: fall back to quoting strings.
        pa_csv.write_csv(table, str(path))


def write_dataset(dataset: GeneratedDataset, out_dir: Path) -> dict[str, Path]:
    """Write the four CSV tables and ``truth.json`` into ``out_dir`` (created if missing).

    CSVs are UTF-8 with a header row and no index; missing optional values are empty fields.
    ``truth.json`` is ``{"params": {...}, "groups": [{"group_id", "kind", "members",
    "session_ids"}, ...]}`` with the resolved parameters: ``adaptations`` a list of names and
    ``honest_cohorts`` a count (files written before they existed lack both;
    `GeneratorParams.from_dict` reads those as no adaptations and no cohorts).

    Parameters
    ----------
    dataset : GeneratedDataset
        Output of `generate`.
    out_dir : Path
        Target folder.

    Returns
    -------
    dict of str to Path
        Paths keyed ``members``, ``sessions``, ``referrals``, ``redemptions`` and ``truth``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    tables = {
        "members": dataset.members,
        "sessions": dataset.sessions,
        "referrals": dataset.referrals,
        "redemptions": dataset.redemptions,
    }
    for name, frame in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        _write_csv(frame, paths[name])
    truth = {
        "params": dataset.params.to_dict(),
        "groups": [
            {
                "group_id": g.group_id,
                "kind": g.kind,
                "members": list(g.members),
                "session_ids": list(g.session_ids),
            }
            for g in dataset.truth
        ],
    }
    paths["truth"] = out_dir / "truth.json"
    paths["truth"].write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return paths
