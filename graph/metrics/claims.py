"""Implausible claims: more hours in a day than the day has, and sessions that overlap in time.

A helper who claims 30 hours of help on one day, or keeps claiming sessions with different
recipients at the same time, claims credits for time that did not exist. That is a finding about
the data and about one member, not about a group: it is reported per session and per member
here (``claims.csv``), never as a fraud ring — a group is a ring only because of how credits flow
among its members (:mod:`graph.metrics.rings`).

Whether a claim can be judged at all depends on how finely the data records time, so the data's
resolution is inferred first (:func:`time_resolution`) and a claim *stands* only where the
resolution can show it:

- **date-only timestamps** (every session starts at the same time of day, e.g. midnight): the
  order of a day's sessions is unknown, so no overlap can be judged; hours per day still can;
- **hour-rounded start times** (or minute, or second): an overlap no longer than the starts'
  grain plus the durations' grain may be the rounding's doing, so only longer overlaps count;
- **placeholder durations** (one value, e.g. exactly 1 hour, for nearly every session): hours
  say how many sessions there were, not how long they lasted, so neither overlaps nor hours per
  day can be judged. Ratings imported as one-hour sessions (SNAP's Bitcoin OTC) are such data.

Coarse data is never called impossible: a claim the data cannot show scores 0.

Thresholds, and why
-------------------
:data:`COARSE_SHARE` (95%)
    The share of sessions that must sit on one grid point (one time of day, one minute and
    second of the hour, one second of the minute) or share one duration for the data to be read
    as that coarse. By chance, finer data puts 1/86,400, 1/3,600, 1/60 of its sessions on one
    point, and varied durations rarely give one value to more than half of the sessions, so 95%
    cannot arise by accident; the 5% slack lets a few hand-corrected or imported records through
    without hiding the data's resolution. When in doubt (a handful of sessions all alike) the
    data is read as coarse: that only ever withholds a claim, never makes one.
:data:`DAY_HOURS` (24)
    A day has 24 hours. On data with real start times each session's hours are split at
    midnight between the days they fall on, so more than 24 hours in one day cannot be true
    however the sessions are arranged; on date-only data a session counts on its date.
Overlap tolerance (:attr:`TimeResolution.overlap_tolerance_seconds`)
    The starts' grain (a day, an hour, a minute or a second) plus the durations' grain (e.g. a
    quarter hour): the most that rounding the two ends of a recorded session can add to an
    overlap. Only longer overlaps are *clear*.
:data:`MIN_OVERLAPS` (3) and :data:`OVERLAP_SHARE` (20%)
    One mistyped start time makes at most two overlaps (with the session before and the one
    after it), so three overlaps are the fewest that one typo cannot explain. Manual entry gets
    a few percent of times wrong; each wrong time overlaps at most two sessions, so typos alone
    leave well under 10% of a busy helper's sessions overlapping: one in five is a habit.
``claims_score``
    Per member, in [0, 1]: ``1 − (1 − day)·(1 − overlap)`` over the claims that stand, with
    ``day = 1 − 0.5^(days / 2)`` for ``days`` days over 24 hours (one day, which one mistyped
    duration can make, gives 0.29; two give 0.5, "as likely a pattern as not") and
    ``overlap = min(1, share / 0.5)`` for the share of the member's sessions that overlap beyond
    the resolution (0.4 at the 20% threshold, 1 when half of them do). 0 when no claim stands.

Only confirmed sessions make claims (they are what minted credits); the resolution is read from
every session, whatever its status, since it is a property of how the data was recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from graph.model import Snapshot

__all__ = [
    "CLAIM_COLUMNS",
    "COARSE_SHARE",
    "DAY_HOURS",
    "MIN_OVERLAPS",
    "OVERLAP_SHARE",
    "SESSION_CLAIM_COLUMNS",
    "ClaimsResult",
    "TimeResolution",
    "TimestampResolution",
    "implausible_claims",
    "time_resolution",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TimestampResolution = Literal["date", "minute", "second"]

#: Share of sessions on one grid point (or with one duration) that makes the data that coarse.
COARSE_SHARE = 0.95
#: Hours a day holds.
DAY_HOURS = 24.0
#: Overlaps beyond the resolution a helper must claim before they count as a habit ...
MIN_OVERLAPS = 3
#: ... and the share of the helper's confirmed sessions they must be.
OVERLAP_SHARE = 0.2
#: Duration grains looked for, coarsest first (hours): an hour, half, quarter, 10, 5, 1 minute.
_DURATION_STEPS = (1.0, 0.5, 0.25, 1 / 6, 1 / 12, 1 / 60)
_DAY = 86_400

#: Columns of :attr:`ClaimsResult.members` (``claims.csv``), in order.
CLAIM_COLUMNS = [
    "member_id",
    "claims_score",
    "sessions",
    "days_over_24h",
    "max_day_hours",
    "excess_hours",
    "overlaps",
    "clear_overlaps",
    "claimed_hours",
    "day_claim_stands",
    "overlap_claim_stands",
    "note",
]
#: Columns of :attr:`ClaimsResult.sessions`, in order.
SESSION_CLAIM_COLUMNS = [
    "session_id",
    "helper_id",
    "recipient_id",
    "started_at",
    "hours",
    "day_hours",
    "over_day",
    "overlap_hours",
    "overlaps_session",
    "stands",
]


@dataclass(frozen=True)
class TimeResolution:
    """How finely the data records time, with the evidence (session counts) it was read from.

    Attributes
    ----------
    timestamps
        ``"date"`` when at least :data:`COARSE_SHARE` of sessions start at one time of day
        (date-only data, whatever offset it was stored with), else ``"minute"`` when that share
        start at one second of the minute, else ``"second"``.
    hour_rounded
        At least :data:`COARSE_SHARE` of sessions start at one minute and second of the hour.
    placeholder_durations
        At least :data:`COARSE_SHARE` of sessions last ``modal_hours``.
    duration_step_hours
        The coarsest grain (1, ½, ¼ hour, 10, 5 or 1 minute) that at least
        :data:`COARSE_SHARE` of durations are whole multiples of; 1/3600 (a second) when none.
    sessions
        Sessions the evidence counts (every status).
    same_time_of_day, same_second_of_hour, same_second_of_minute
        Sessions at the most common time of day, second of the hour and second of the minute.
    modal_hours, modal_hours_sessions
        The most common duration (hours; None without sessions) and how many sessions have it.
    day_start_seconds
        Where the data's days begin, in seconds after midnight UTC: the common time of day of
        date-only data (a date stored with an offset), else 0.
    """

    timestamps: TimestampResolution
    hour_rounded: bool
    placeholder_durations: bool
    duration_step_hours: float
    sessions: int
    same_time_of_day: int
    same_second_of_hour: int
    same_second_of_minute: int
    modal_hours: float | None
    modal_hours_sessions: int
    day_start_seconds: int

    @property
    def start_step_seconds(self) -> int:
        """How far a recorded start may be from the real one: the timestamps' grain (s)."""
        if self.timestamps == "date":
            return _DAY
        if self.hour_rounded:
            return 3600
        return 60 if self.timestamps == "minute" else 1

    @property
    def overlap_tolerance_seconds(self) -> float:
        """The longest overlap rounding alone can make: the start's grain plus the duration's."""
        return self.start_step_seconds + self.duration_step_hours * 3600

    @property
    def overlaps_can_stand(self) -> bool:
        """Whether the data can show an overlap: real start times and real durations."""
        return self.timestamps != "date" and not self.placeholder_durations

    @property
    def day_claims_can_stand(self) -> bool:
        """Whether the data can show more than 24 hours in a day: real durations."""
        return not self.placeholder_durations

    def as_dict(self) -> dict[str, Any]:
        """The resolution and its evidence as plain values (``summary.json``'s
        ``time_resolution``), with what it lets stand."""
        return {
            **asdict(self),
            "overlaps_can_stand": self.overlaps_can_stand,
            "day_claims_can_stand": self.day_claims_can_stand,
        }


@dataclass(frozen=True)
class ClaimsResult:
    """What :func:`implausible_claims` found.

    Attributes
    ----------
    resolution
        The data's inferred time resolution (:func:`time_resolution`).
    members
        One row per member with at least one recorded claim, whether it stands or not (the
        data-quality finding), strongest first: columns :data:`CLAIM_COLUMNS`. Only those
        members: this is a queue to work through, and every member's ``claims_score`` is in
        ``risk.csv`` anyway (:func:`graph.metrics.rings.risk_table`). ``sessions``
        are the member's confirmed sessions given; ``days_over_24h`` the days on which they
        claim more than 24 hours, the most hours on one day (``max_day_hours``) and the hours
        beyond 24 summed over those days (``excess_hours``: credits that cannot have been
        earned); ``overlaps`` their sessions that overlap an earlier one of theirs with a
        different recipient, ``clear_overlaps`` those overlapping by more than the resolution's
        rounding; ``claimed_hours`` the hours of every session in a claim;
        ``day_claim_stands`` / ``overlap_claim_stands`` whether the data can show the claim
        (and, for overlaps, whether they are a habit); ``claims_score`` in [0, 1] (0 unless a
        claim stands); ``note`` says why, in words.
    sessions
        One row per confirmed session in a recorded claim: columns
        :data:`SESSION_CLAIM_COLUMNS`. ``day_hours`` are the helper's hours on the session's
        day, ``over_day`` whether it falls on a day over 24 hours, ``overlap_hours`` its largest
        overlap with another of the helper's sessions with a different recipient
        (``overlaps_session``, empty when none), ``stands`` whether the claim it is part of
        stands.
    """

    resolution: TimeResolution
    members: pd.DataFrame
    sessions: pd.DataFrame


def time_resolution(snapshot: Snapshot) -> TimeResolution:
    """The time resolution of ``snapshot``'s sessions: timestamps' grain, hour rounding and
    placeholder durations, with the session counts that show them.

    Examples
    --------
    >>> import pandas as pd
    >>> from graph.model import Snapshot
    >>> def sessions(times, hours):
    ...     return pd.DataFrame({"started_at": pd.to_datetime(times), "hours": hours})
    >>> empty = pd.DataFrame()
    >>> dated = sessions(["2025-03-01", "2025-03-01", "2025-03-04"], [1.0, 2.5, 1.5])
    >>> found = time_resolution(Snapshot(empty, dated, empty, empty))
    >>> found.timestamps, found.hour_rounded, found.placeholder_durations
    ('date', True, False)
    >>> timed = sessions(["2025-03-01 09:12", "2025-03-01 14:47"], [1.0, 1.0])
    >>> found = time_resolution(Snapshot(empty, timed, empty, empty))
    >>> found.timestamps, found.hour_rounded, found.placeholder_durations, found.modal_hours
    ('minute', False, True, 1.0)
    """
    sessions = snapshot.sessions
    seconds = _seconds(sessions["started_at"].to_numpy())
    hours = sessions["hours"].to_numpy(dtype=np.float64)
    n = len(seconds)
    need = COARSE_SHARE * n
    of_day = np.mod(seconds, _DAY)
    day_counts = np.bincount(of_day, minlength=1)
    same_day = int(day_counts.max())
    same_hour = int(np.bincount(np.mod(seconds, 3600), minlength=1).max())
    same_minute = int(np.bincount(np.mod(seconds, 60), minlength=1).max())
    counts = pd.Series(hours).value_counts(sort=True)
    modal_hours = float(counts.index[0]) if n else None
    modal_sessions = int(counts.iloc[0]) if n else 0
    step = 1 / 3600
    for grain in _DURATION_STEPS:
        units = hours / grain
        if np.count_nonzero(np.abs(units - np.round(units)) <= 1e-6) >= need:
            step = grain
            break
    timestamps: TimestampResolution = (
        "date" if same_day >= need else "minute" if same_minute >= need else "second"
    )
    return TimeResolution(
        timestamps=timestamps,
        hour_rounded=same_hour >= need,
        placeholder_durations=modal_sessions >= need,
        duration_step_hours=step,
        sessions=n,
        same_time_of_day=same_day,
        same_second_of_hour=same_hour,
        same_second_of_minute=same_minute,
        modal_hours=modal_hours,
        modal_hours_sessions=modal_sessions,
        day_start_seconds=int(np.argmax(day_counts)) if timestamps == "date" else 0,
    )


def implausible_claims(snapshot: Snapshot) -> ClaimsResult:
    """Per session and per member: more than 24 hours claimed in a day, and sessions that
    overlap with different recipients, judged against the data's time resolution.

    Returns
    -------
    ClaimsResult
        The resolution, the members with a recorded claim (``claims.csv``) and the sessions in
        one; see :class:`ClaimsResult` for the columns.

    Examples
    --------
    A helper who claims 10 + 12 + 8 hours on one day, on data with real times and durations
    (those hours cannot fit the day without an overlap too, but one overlap is no habit):

    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo", "gus"], "joined_at": "2024-01-01"})
    >>> sessions = pd.DataFrame({
    ...     "session_id": ["s1", "s2", "s3", "s4"],
    ...     "helper_id": ["gus", "gus", "gus", "ann"],
    ...     "recipient_id": ["ann", "bo", "ann", "bo"],
    ...     "started_at": ["2025-06-03T00:10", "2025-06-03T10:20", "2025-06-03T15:50",
    ...                    "2025-06-05T09:41"],
    ...     "hours": [10.0, 12.0, 8.0, 1.5]})
    >>> _ = ingest({"members": members, "sessions": sessions}, store)
    >>> found = implausible_claims(store.snapshot())
    >>> found.resolution.timestamps, found.resolution.placeholder_durations
    ('minute', False)
    >>> row = found.members.iloc[0]
    >>> row["member_id"], int(row["days_over_24h"]), float(row["max_day_hours"])
    ('gus', 1, 30.0)
    >>> bool(row["day_claim_stands"]), bool(row["overlap_claim_stands"]), int(row["overlaps"])
    (True, False, 1)
    >>> round(float(row["claims_score"]), 2)
    0.29
    """
    resolution = time_resolution(snapshot)
    help_ = _Confirmed.of(snapshot)
    n = snapshot.n_members
    days = _day_hours(help_, resolution, n)
    overlap = _overlaps(help_)
    tolerance = resolution.overlap_tolerance_seconds
    # The sessions in a recorded claim (in helper-then-time order, as the arrays are): all the
    # per-member counts but the sessions given come from them.
    rows = np.flatnonzero(days.over_day | (overlap.seconds > 0) | (overlap.partner_seconds > 0))
    helper = help_.helper[rows]
    seconds = overlap.seconds[rows]
    given = np.bincount(help_.helper, minlength=n)
    overlaps = np.bincount(helper[seconds > 0], minlength=n)
    clear_overlaps = np.bincount(helper[seconds > tolerance], minlength=n)
    claimed_hours = _sums(helper, help_.hours[rows], n)
    day_stands = (days.days_over > 0) & resolution.day_claims_can_stand
    habit = (clear_overlaps >= MIN_OVERLAPS) & (clear_overlaps >= OVERLAP_SHARE * given)
    overlap_stands = habit & resolution.overlaps_can_stand
    share = clear_overlaps / np.maximum(given, 1)
    day_part = np.where(day_stands, 1.0 - 0.5 ** (days.days_over / 2.0), 0.0)
    overlap_part = np.where(overlap_stands, np.minimum(1.0, share / 0.5), 0.0)
    score = 1.0 - (1.0 - day_part) * (1.0 - overlap_part)

    members = np.flatnonzero((days.days_over > 0) | (overlaps > 0))
    table = pd.DataFrame(
        {
            "member_id": snapshot.member_ids[members].astype(str),
            "claims_score": score[members],
            "sessions": given[members],
            "days_over_24h": days.days_over[members],
            "max_day_hours": days.max_hours[members],
            "excess_hours": days.excess[members],
            "overlaps": overlaps[members],
            "clear_overlaps": clear_overlaps[members],
            "claimed_hours": claimed_hours[members],
            "day_claim_stands": day_stands[members],
            "overlap_claim_stands": overlap_stands[members],
        }
    )
    table["note"] = _notes(table, resolution)
    table = table.sort_values(
        ["claims_score", "excess_hours", "clear_overlaps", "member_id"],
        ascending=[False, False, False, True],
        kind="stable",
        ignore_index=True,
    )[CLAIM_COLUMNS]

    partner_seconds = overlap.partner_seconds[rows]
    overlapping = np.maximum(seconds, partner_seconds)
    over_day = days.over_day[rows]
    stands = (over_day & day_stands[helper]) | ((overlapping > tolerance) & overlap_stands[helper])
    partner = np.where(seconds >= partner_seconds, overlap.with_[rows], overlap.by[rows])
    session_ids = snapshot.sessions["session_id"]
    ids = snapshot.member_ids
    sessions = pd.DataFrame(
        {
            "session_id": session_ids.take(help_.row[rows]).to_numpy(dtype=str),
            "helper_id": ids[helper].astype(str),
            "recipient_id": ids[help_.recipient[rows]].astype(str),
            "started_at": snapshot.sessions["started_at"].to_numpy()[help_.row[rows]],
            "hours": help_.hours[rows],
            "day_hours": days.day_hours[days.day_of[rows]],
            "over_day": over_day,
            "overlap_hours": overlapping / 3600.0,
            "overlaps_session": np.where(
                partner >= 0,
                session_ids.take(help_.row[np.maximum(partner, 0)]).to_numpy(dtype=str),
                "",
            ),
            "stands": stands,
        },
        columns=SESSION_CLAIM_COLUMNS,
    )
    return ClaimsResult(resolution, table, sessions)


@dataclass(frozen=True)
class _Confirmed:
    """Confirmed sessions in helper-then-time order."""

    helper: IntArray
    recipient: IntArray
    started: IntArray
    ended: IntArray
    hours: FloatArray
    row: IntArray  # the session's row in ``snapshot.sessions``

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Confirmed:
        sessions = snapshot.sessions
        order = snapshot.confirmed_by_helper
        hours = sessions["hours"].to_numpy(dtype=np.float64)[order]
        started = _seconds(sessions["started_at"].to_numpy())[order]
        return cls(
            helper=sessions["helper"].to_numpy()[order].astype(np.int64),
            recipient=sessions["recipient"].to_numpy()[order].astype(np.int64),
            started=started,
            ended=started + np.round(hours * 3600).astype(np.int64),
            hours=hours,
            row=order.astype(np.int64),
        )


@dataclass(frozen=True)
class _Days:
    days_over: IntArray  # per member
    max_hours: FloatArray  # per member
    excess: FloatArray  # per member
    day_hours: FloatArray  # per (helper, day) sessions started on
    day_of: IntArray  # per session: its (helper, day) in ``day_hours``
    over_day: BoolArray  # per session: on a day over 24 hours


def _day_hours(help_: _Confirmed, resolution: TimeResolution, n: int) -> _Days:
    """Hours each helper claims per day, each session's hours split at midnight (on date-only
    data, at the data's own day start) between the days it falls on."""
    origin = resolution.day_start_seconds
    day = (help_.started - origin) // _DAY
    boundary = origin + (day + 1) * _DAY
    first = (np.minimum(help_.ended, boundary) - help_.started) / 3600.0
    spill = np.maximum(help_.ended - boundary, 0) / 3600.0
    low = int(day.min()) if len(day) else 0
    span = (int(day.max()) - low + 2) if len(day) else 1
    # (helper, day) keys, sorted as the sessions are: each day a helper started sessions on is
    # one run.
    key = help_.helper * span + (day - low)
    starts = _run_starts(key)
    opens = np.zeros(len(key), dtype=np.int64)
    opens[starts] = 1
    group = np.cumsum(opens) - 1
    keys = key[starts]
    totals = np.add.reduceat(first, starts) if len(starts) else np.zeros(0)
    # Hours past midnight go to the next day: one of those runs, or a day of their own.
    spilled = np.flatnonzero(spill > 0)
    next_key = key[spilled] + 1
    at = np.minimum(np.searchsorted(keys, next_key), max(len(keys) - 1, 0))
    known = (keys[at] == next_key) if len(keys) else np.zeros(0, dtype=bool)
    np.add.at(totals, at[known], spill[spilled[known]])
    extra_keys, extra_of = np.unique(next_key[~known], return_inverse=True)
    extra = _sums(extra_of, spill[spilled[~known]], len(extra_keys))
    all_keys = np.concatenate([keys, extra_keys])
    all_totals = np.concatenate([totals, extra])
    members = all_keys // span
    over = all_totals > DAY_HOURS
    days_over = np.bincount(members[over], minlength=n).astype(np.int64)
    excess = _sums(members[over], all_totals[over] - DAY_HOURS, n)
    max_hours = np.zeros(n)
    if len(starts):
        # The runs are sorted by helper, so each helper's days are one run of runs.
        helper_runs = _run_starts(keys // span)
        max_hours[keys[helper_runs] // span] = np.maximum.reduceat(totals, helper_runs)
    np.maximum.at(max_hours, extra_keys // span, extra)
    over_day = over[group]
    spill_group = at.copy()
    spill_group[~known] = len(keys) + extra_of
    over_day[spilled] |= over[spill_group]
    return _Days(days_over, max_hours, excess, totals, group, over_day)


@dataclass(frozen=True)
class _Overlap:
    seconds: IntArray  # per session: overlap with an earlier session (0 when none)
    with_: IntArray  # the earlier session it overlaps (−1 when none)
    partner_seconds: IntArray  # per session: largest overlap a later session makes with it
    by: IntArray  # that later session (−1 when none)


def _overlaps(help_: _Confirmed) -> _Overlap:
    """Each session's overlap with an earlier session of its helper with another recipient.

    The earlier sessions compared are the one that ends last (the running maximum of ends, a
    segmented cumulative maximum over the helper-then-time order) and the one just before: the
    longest overlap is with one of them unless both went to the same recipient, when a shorter
    overlap with a third session may be missed — a claim is then understated, never made up.
    """
    count = len(help_.helper)
    seconds = np.zeros(count, dtype=np.int64)
    with_ = np.full(count, -1, dtype=np.int64)
    if count > 1:
        low = int(help_.ended.min())
        width = int(help_.ended.max()) - low + 1
        packed = help_.helper * width + (help_.ended - low)
        running = np.maximum.accumulate(packed)
        position = np.arange(count, dtype=np.int64)
        last_end = np.maximum.accumulate(np.where(packed == running, position, 0))
        later = position[1:]
        for earlier in (last_end[:-1], position[:-1]):
            valid = (help_.helper[earlier] == help_.helper[later]) & (
                help_.recipient[earlier] != help_.recipient[later]
            )
            amount = np.minimum(help_.ended[earlier], help_.ended[later]) - help_.started[later]
            better = valid & (amount > seconds[later])
            seconds[later[better]] = amount[better]
            with_[later[better]] = earlier[better]
    partner_seconds = np.zeros(count, dtype=np.int64)
    by = np.full(count, -1, dtype=np.int64)
    hit = np.flatnonzero(with_ >= 0)
    # Per earlier session, the later one overlapping it most: the last of its run when sorted
    # by earlier session, then overlap.
    hit = hit[np.lexsort((seconds[hit], with_[hit]))]
    last = hit[np.append(_run_starts(with_[hit])[1:], len(hit)) - 1] if len(hit) else hit
    partner_seconds[with_[last]] = seconds[last]
    by[with_[last]] = last
    return _Overlap(seconds, with_, partner_seconds, by)


def _sums(groups: IntArray, values: FloatArray, size: int) -> FloatArray:
    """``values`` summed per group ``0..size-1``."""
    return np.asarray(np.bincount(groups, values, size), dtype=np.float64)


def _run_starts(ordered: IntArray) -> IntArray:
    """Where each run of equal values of a sorted array starts."""
    return np.flatnonzero(np.concatenate([[len(ordered) > 0], ordered[1:] != ordered[:-1]]))


def _notes(table: pd.DataFrame, resolution: TimeResolution) -> list[str]:
    """Why each member's claims stand or not, in words."""
    share = resolution.modal_hours_sessions / max(resolution.sessions, 1)
    placeholder = (
        f"placeholder durations: {share:.0%} of sessions last exactly "
        f"{resolution.modal_hours or 0:g} h"
    )
    notes = []
    for row in table.to_dict("records"):
        parts = []
        why: list[str] = []
        days = int(row["days_over_24h"])
        if days:
            parts.append(
                f"more than 24 hours on {days} day{'' if days == 1 else 's'} "
                f"(up to {float(row['max_day_hours']):.1f} h): "
                + ("stands" if row["day_claim_stands"] else "cannot be judged")
            )
            if not row["day_claim_stands"]:
                why.append(placeholder)
        if row["overlaps"]:
            said = (
                f"{int(row['overlaps'])} of {int(row['sessions'])} sessions overlap another "
                f"with a different recipient, {int(row['clear_overlaps'])} beyond the "
                "timestamps' resolution: "
            )
            if row["overlap_claim_stands"]:
                parts.append(said + "stands")
            elif resolution.overlaps_can_stand:
                parts.append(
                    said + f"too few for a habit (at least {MIN_OVERLAPS} and "
                    f"{OVERLAP_SHARE:.0%} of sessions)"
                )
            else:
                parts.append(said + "cannot be judged")
                why.append(
                    placeholder if resolution.placeholder_durations else "date-only timestamps"
                )
        reasons = list(dict.fromkeys(why))
        notes.append("; ".join(parts) + (f" ({'; '.join(reasons)})" if reasons else ""))
    return notes


def _seconds(times: np.ndarray) -> IntArray:
    """Seconds since the epoch of datetime64 values."""
    return np.asarray(times.astype("datetime64[s]", copy=False).view(np.int64))
