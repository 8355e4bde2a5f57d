"""Implausible claims: the data's time resolution, claims per session and per member and which
of them stand — known answers on small hand-built networks, the fast overlap kernel against a
brute-force one, and Bitcoin OTC (ratings read as one-hour placeholder sessions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.ingest import ingest, read_snap
from graph.metrics.claims import (
    CLAIM_COLUMNS,
    SESSION_CLAIM_COLUMNS,
    ClaimsResult,
    _Confirmed,
    _overlaps,
    implausible_claims,
    time_resolution,
)
from graph.metrics.rings import risk_table
from graph.model import Snapshot
from graph.shared_data import bitcoin_otc_folder
from graph.store import SqliteStore
from tests.conftest import SessionRow, snapshot_of

PEOPLE = ("gus", "ann", "bo", "cai", "dan", "eli", "fay")
MEMBERS = dict.fromkeys(PEOPLE, "2024-01-01")
#: Durations that vary in quarter hours: real durations, not placeholders.
DURATIONS = (0.75, 1.5, 2.25, 1.0, 3.5)


def _background(*, clock: str, hours: tuple[float, ...] = DURATIONS) -> list[SessionRow]:
    """Forty days of ordinary help between ann, bo and cai, one session a day, at times of
    ``clock`` resolution: ``"date"`` (date only), ``"hour"`` (on the hour), ``"minute"``,
    ``"second"``."""
    rows: list[SessionRow] = []
    for d in range(40):
        day = pd.Timestamp("2025-03-01") + pd.Timedelta(days=d)
        at = {
            "date": day,
            "hour": day + pd.Timedelta(hours=8 + d % 9),
            "minute": day + pd.Timedelta(hours=8 + d % 9, minutes=7 * d % 60),
            "second": day + pd.Timedelta(hours=8 + d % 9, minutes=7 * d % 60, seconds=d % 59),
        }[clock]
        text = str(at.date()) if clock == "date" else str(at)
        helper, recipient = [("ann", "bo"), ("bo", "cai"), ("cai", "ann")][d % 3]
        rows.append((helper, recipient, text, hours[d % len(hours)], 9))
    return rows


def _claims(rows: list[SessionRow]) -> tuple[Snapshot, ClaimsResult]:
    snapshot = snapshot_of(MEMBERS, rows)
    return snapshot, implausible_claims(snapshot)


def _member(found: ClaimsResult, member: str) -> pd.Series:
    rows = found.members.set_index("member_id")
    assert member in rows.index, f"{member} has no claim: {found.members}"
    return rows.loc[member]


@pytest.mark.parametrize(
    ("clock", "timestamps", "hour_rounded", "step"),
    [
        ("date", "date", True, 86_400),
        ("hour", "minute", True, 3_600),
        ("minute", "minute", False, 60),
        ("second", "second", False, 1),
    ],
)
def test_the_timestamps_resolution_is_read_from_the_data(
    clock: str, timestamps: str, hour_rounded: bool, step: int
) -> None:
    found = time_resolution(snapshot_of(MEMBERS, _background(clock=clock)))
    assert (found.timestamps, found.hour_rounded) == (timestamps, hour_rounded)
    assert found.start_step_seconds == step
    assert not found.placeholder_durations
    assert found.duration_step_hours == 0.25
    assert found.sessions == 40
    assert found.overlaps_can_stand == (clock != "date")
    assert found.day_claims_can_stand


def test_dates_stored_with_an_offset_are_date_only_and_days_start_there() -> None:
    rows = [
        (h, r, f"{t}T00:00:00+08:00", hours, s) for h, r, t, hours, s in _background(clock="date")
    ]
    found = time_resolution(snapshot_of(MEMBERS, rows))
    assert found.timestamps == "date"
    assert found.day_start_seconds == 16 * 3600  # midnight in UTC+8 is 16:00 UTC
    assert found.same_time_of_day == 40


@pytest.mark.parametrize(("alike", "placeholder"), [(38, True), (37, False)])
def test_durations_are_placeholders_when_95_percent_share_one_value(
    alike: int, placeholder: bool
) -> None:
    rows = _background(clock="minute")
    rows = [(h, r, t, 1.0 if i < alike else 2.5, s) for i, (h, r, t, _, s) in enumerate(rows)]
    found = time_resolution(snapshot_of(MEMBERS, rows))
    assert found.placeholder_durations is placeholder
    assert (found.modal_hours, found.modal_hours_sessions) == (1.0, alike)
    assert found.overlaps_can_stand is found.day_claims_can_stand is not placeholder


def test_on_date_only_data_no_overlap_stands_but_hours_per_date_do() -> None:
    # gus helps three people on each of five dates: every session starts at midnight, so they
    # "overlap" as recorded, but date-only data cannot say when in the day each happened.
    busy = [
        (
            "gus",
            recipient,
            str((pd.Timestamp("2025-04-01") + pd.Timedelta(days=d)).date()),
            hours,
            9,
        )
        for d in range(5)
        for recipient, hours in (("dan", 2.0), ("eli", 1.5), ("fay", 2.5))
    ]
    # fay claims 10 + 9 + 8 hours on one date: no day holds that, whatever its clock.
    long_day = [
        ("fay", r, "2025-04-20", h, 9) for r, h in (("dan", 10.0), ("eli", 9.0), ("gus", 8.0))
    ]
    _, found = _claims(_background(clock="date") + busy + long_day)
    assert found.resolution.timestamps == "date"
    gus = _member(found, "gus")
    assert (gus["overlaps"], gus["clear_overlaps"], gus["sessions"]) == (10, 0, 15)
    assert not gus["overlap_claim_stands"]
    assert gus["claims_score"] == 0.0
    assert "cannot be judged" in gus["note"]
    assert "date-only timestamps" in gus["note"]
    fay = _member(found, "fay")
    assert (fay["days_over_24h"], fay["max_day_hours"], fay["excess_hours"]) == (1, 27.0, 3.0)
    assert fay["day_claim_stands"]
    assert fay["claims_score"] == pytest.approx(1 - 0.5**0.5)
    sessions = found.sessions.set_index("session_id")
    assert not sessions.loc[sessions["helper_id"] == "gus", "stands"].any()
    assert sessions.loc[sessions["helper_id"] == "fay", "stands"].all()
    assert list(found.sessions.columns) == SESSION_CLAIM_COLUMNS


def test_placeholder_one_hour_sessions_make_no_claim_stand() -> None:
    # Every session lasts one hour (ratings read as sessions): gus's 30 sessions in one day are
    # 30 events, not 30 hours.
    rows = _background(clock="minute", hours=(1.0,))
    burst = [
        (
            "gus",
            PEOPLE[1 + i % 6],
            str(pd.Timestamp("2025-04-02 00:05") + i * pd.Timedelta(minutes=20)),
            1.0,
            9,
        )
        for i in range(30)
    ]
    snapshot, found = _claims(rows + burst)
    assert found.resolution.placeholder_durations
    gus = _member(found, "gus")
    assert (gus["days_over_24h"], gus["max_day_hours"], gus["overlaps"]) == (1, 30.0, 29)
    assert gus["claimed_hours"] == 30.0
    assert not gus["day_claim_stands"]
    assert not gus["overlap_claim_stands"]
    assert gus["claims_score"] == 0.0
    assert "placeholder durations: 100% of sessions last exactly 1 h" in gus["note"]
    assert not found.sessions["stands"].any()
    risk = risk_table(
        snapshot,
        pd.DataFrame(columns=["ring_id", "kind", "members", "score"]),
        claims=found.members,
    )
    assert (risk["claims_score"] == 0).all()
    assert (risk["fraud_risk"] == 0).all()


def test_thirty_hours_in_a_day_on_real_times_stands_and_adds_to_risk() -> None:
    long_day = [
        ("gus", "ann", "2025-04-02 00:10", 10.0, 9),
        ("gus", "bo", "2025-04-02 10:20", 12.0, 9),
        ("gus", "cai", "2025-04-02 15:50", 8.0, 9),
    ]
    snapshot, found = _claims(_background(clock="minute") + long_day)
    assert not found.resolution.placeholder_durations
    gus = _member(found, "gus")
    assert (gus["days_over_24h"], gus["max_day_hours"], gus["excess_hours"]) == (1, 30.0, 6.0)
    assert gus["day_claim_stands"]
    assert gus["claims_score"] == pytest.approx(1 - 0.5**0.5)  # one day: not yet a pattern
    assert gus["note"].startswith("more than 24 hours on 1 day (up to 30.0 h): stands")
    assert list(found.members.columns) == CLAIM_COLUMNS
    trust = pd.Series({"gus": 0.25})  # doubted trust: 0.5
    no_rings = pd.DataFrame(columns=["ring_id", "kind", "members", "score"])
    risk = risk_table(snapshot, no_rings, trust_score=trust, claims=found.members)
    risk = risk.set_index("member_id")
    assert risk.loc["gus", "claims_score"] == gus["claims_score"]
    assert risk.loc["gus", "fraud_risk"] == pytest.approx(1 - 0.5 * (1 - gus["claims_score"]))
    assert risk.loc["ann", "claims_score"] == 0.0
    # A second such day makes it as likely a pattern as not.
    again = [(h, r, t.replace("04-02", "04-09"), hours, s) for h, r, t, hours, s in long_day]
    _, found = _claims(_background(clock="minute") + long_day + again)
    assert _member(found, "gus")["claims_score"] == pytest.approx(0.5)


def test_hours_are_split_at_midnight_between_the_days_they_fall_on() -> None:
    # 20 hours from 01:00, then 6 hours from 20:00 (one hour overlapping the first, two after
    # midnight): 24 hours on the first day, not more. Counted whole on the day it started, the
    # second session would make it 26.
    rows = [("gus", "ann", "2025-04-02 01:00", 20.0, 9), ("gus", "bo", "2025-04-02 20:00", 6.0, 9)]
    _, found = _claims(_background(clock="minute") + rows)
    gus = _member(found, "gus")
    assert (gus["days_over_24h"], gus["max_day_hours"], gus["overlaps"]) == (0, 24.0, 1)
    assert found.sessions["day_hours"].tolist() == [24.0, 24.0]
    assert found.sessions["overlap_hours"].tolist() == [1.0, 1.0]
    assert not found.sessions["over_day"].any()
    # 23 hours from 01:30 the next day: with the two hours spilled into it, 24.5 hours that day
    # (and one more hour spilled into the day after).
    rows.append(("gus", "cai", "2025-04-03 01:30", 23.0, 9))
    _, found = _claims(_background(clock="minute") + rows)
    gus = _member(found, "gus")
    assert (gus["days_over_24h"], gus["max_day_hours"], gus["excess_hours"]) == (1, 24.5, 0.5)
    assert found.sessions["day_hours"].tolist() == [24.0, 24.0, 24.5]
    assert found.sessions["over_day"].tolist() == [False, True, True]


def _overlapping(
    helper: str, days: int, overlap_minutes: int, recipients: tuple[str, str]
) -> list[SessionRow]:
    """``helper`` gives a two-hour session each day, and on each of ``days`` days a second
    one starting ``120 − overlap_minutes`` minutes into it."""
    rows: list[SessionRow] = []
    for d in range(days):
        start = pd.Timestamp("2025-05-01 09:00") + pd.Timedelta(days=d)
        rows.append((helper, recipients[0], str(start), 2.0, 9))
        second = start + pd.Timedelta(minutes=120 - overlap_minutes)
        rows.append((helper, recipients[1], str(second), 1.5, 9))
    return rows


def test_overlaps_stand_when_they_are_a_habit_beyond_the_resolution() -> None:
    rows = _background(clock="minute")
    rows += _overlapping("gus", 4, 60, ("ann", "bo"))  # 4 of 8 sessions: a habit
    rows += _overlapping("dan", 2, 60, ("ann", "bo"))  # two: one mistyped time can make that
    rows += _overlapping("eli", 3, 60, ("ann", "bo"))  # three, but of 20 sessions (15%)
    rows += [("eli", "cai", f"2025-06-{d + 1:02d} 10:00", 1.0, 9) for d in range(14)]
    rows += _overlapping("fay", 4, 10, ("ann", "bo"))  # 10 minutes: within the rounding
    rows += _overlapping("cai", 4, 60, ("ann", "ann"))  # the same recipient: no claim
    _, found = _claims(rows)
    tolerance = found.resolution.overlap_tolerance_seconds
    assert tolerance == 60 + 0.25 * 3600  # minute times, quarter-hour durations
    gus = _member(found, "gus")
    assert (gus["overlaps"], gus["clear_overlaps"], gus["sessions"]) == (4, 4, 8)
    assert gus["overlap_claim_stands"]
    assert gus["claims_score"] == pytest.approx((4 / 8) / 0.5)
    assert gus["claimed_hours"] == 4 * 3.5
    for member, overlaps, clear in (("dan", 2, 2), ("eli", 3, 3), ("fay", 4, 0)):
        row = _member(found, member)
        assert (row["overlaps"], row["clear_overlaps"]) == (overlaps, clear), member
        assert not row["overlap_claim_stands"], member
        assert row["claims_score"] == 0.0, member
        assert "too few for a habit" in row["note"], member
    assert "cai" not in set(found.members["member_id"])
    sessions = found.sessions
    assert set(sessions.loc[sessions["stands"], "helper_id"]) == {"gus"}
    first = sessions[sessions["helper_id"] == "gus"].iloc[0]
    assert first["overlap_hours"] == 1.0
    assert (
        first["overlaps_session"] == sessions[sessions["helper_id"] == "gus"].iloc[1]["session_id"]
    )


def test_on_hour_rounded_times_only_overlaps_longer_than_the_rounding_stand() -> None:
    rows = _background(clock="hour", hours=(1.0, 1.5, 2.0, 2.5))
    # Starts on the hour, durations in half hours: rounding alone can make 1.5 hours of overlap.
    rows += _overlapping("gus", 4, 60, ("ann", "bo"))
    for d in range(4):
        start = pd.Timestamp("2025-05-01 09:00") + pd.Timedelta(days=d)
        rows.append(("dan", "ann", str(start), 3.0, 9))
        rows.append(("dan", "bo", str(start + pd.Timedelta(hours=1)), 2.0, 9))
    _, found = _claims(rows)
    assert found.resolution.hour_rounded
    assert found.resolution.overlap_tolerance_seconds == 3600 + 1800
    gus, dan = _member(found, "gus"), _member(found, "dan")
    assert (gus["overlaps"], gus["clear_overlaps"], gus["overlap_claim_stands"]) == (4, 0, False)
    assert (dan["overlaps"], dan["clear_overlaps"], dan["overlap_claim_stands"]) == (4, 4, True)


def test_an_empty_network_has_no_claims() -> None:
    found = implausible_claims(snapshot_of(MEMBERS, []))
    assert found.members.empty
    assert found.sessions.empty
    assert list(found.members.columns) == CLAIM_COLUMNS
    assert found.resolution.sessions == 0


def _brute_force_overlaps(help_: _Confirmed) -> np.ndarray:
    """Each session's largest overlap (s) with any earlier session of its helper with another
    recipient: every pair compared."""
    found = np.zeros(len(help_.helper), dtype=np.int64)
    for later in range(len(found)):
        for earlier in range(later):
            if (
                help_.helper[earlier] == help_.helper[later]
                and help_.recipient[earlier] != help_.recipient[later]
            ):
                amount = min(help_.ended[earlier], help_.ended[later]) - help_.started[later]
                found[later] = max(found[later], amount)
    return found


def _random_sessions(seed: int, *, distinct_recipients: bool) -> _Confirmed:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 80))
    helper = np.sort(rng.integers(0, 4, count))
    started = rng.integers(0, 3 * 86_400, count) // 60 * 60
    order = np.lexsort((started, helper))
    helper, started = helper[order], started[order]
    hours = rng.choice([0.25, 0.5, 1.0, 2.0, 5.0], count)
    recipient = 10 + (np.arange(count) if distinct_recipients else rng.integers(0, 3, count))
    return _Confirmed(
        helper=helper.astype(np.int64),
        recipient=recipient.astype(np.int64),
        started=started.astype(np.int64),
        ended=(started + hours * 3600).astype(np.int64),
        hours=hours,
        row=np.arange(count, dtype=np.int64),
    )


@pytest.mark.parametrize("seed", range(8))
def test_the_overlap_kernel_is_the_brute_force_one(seed: int) -> None:
    """Exact when every session has its own recipient; with repeated recipients it may miss an
    overlap hidden behind a same-recipient session, but never reports one that is not there."""
    distinct = _random_sessions(seed, distinct_recipients=True)
    assert (_overlaps(distinct).seconds == _brute_force_overlaps(distinct)).all()
    repeated = _random_sessions(seed, distinct_recipients=False)
    found = _overlaps(repeated)
    assert (found.seconds <= _brute_force_overlaps(repeated)).all()
    for later in np.flatnonzero(found.seconds > 0):
        earlier = found.with_[later]
        assert earlier < later
        assert repeated.helper[earlier] == repeated.helper[later]
        assert repeated.recipient[earlier] != repeated.recipient[later]
        ends = min(repeated.ended[earlier], repeated.ended[later])
        assert found.seconds[later] == ends - repeated.started[later]


def test_bitcoin_otc_ratings_are_placeholder_sessions_and_no_claim_stands() -> None:
    """OTC's times are real (to the second) but every rating is read as one hour of help, so
    the bursts of ratings a busy trader gets are recorded "overlaps" and "days over 24 hours"
    that the data cannot show."""
    store = SqliteStore(":memory:")
    ingest(read_snap(bitcoin_otc_folder() / "network.csv"), store)
    found = implausible_claims(store.snapshot())
    resolution = found.resolution
    assert resolution.placeholder_durations
    assert (resolution.modal_hours, resolution.modal_hours_sessions) == (1.0, 35_592)
    assert resolution.timestamps == "second"
    assert not resolution.overlaps_can_stand
    assert not resolution.day_claims_can_stand
    members = found.members
    assert (members["overlaps"] > 0).sum() > 500  # recorded: the old detector's "rings"
    assert (members["days_over_24h"] > 0).any()
    assert (members["claims_score"] == 0).all()
    assert not members["day_claim_stands"].any()
    assert not members["overlap_claim_stands"].any()
    assert not found.sessions["stands"].any()
