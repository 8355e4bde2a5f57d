"""Insular exchange: cohorts, referral links, the window after joining, who had met the members
by then, hour shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.metrics.insular import confirmed_hours, insular_sessions, known_since
from graph.model import Snapshot
from tests.conftest import snapshot_of

MEMBERS = {
    "old": "2020-01-01",
    "elder": "2021-06-01",  # a second long-standing member
    "rec": "2024-06-01",  # a recruiter who joined long before his referees
    "ref1": "2025-03-01",
    "ref2": "2025-05-20",
    "new": "2025-03-05",
    "late": "2025-05-01",
}
REFERRALS = [("rec", "ref1"), ("rec", "ref2")]


def _snapshot(
    sessions: list[tuple[str, str, str, float]] | list[tuple[str, str, str, float, int | None]],
    status: list[str] | None = None,
) -> Snapshot:
    rows = [(*row[:4], row[4] if len(row) > 4 else None) for row in sessions]
    return snapshot_of(MEMBERS, rows, status=status, referrals=REFERRALS)


def _flags(snapshot: Snapshot, **settings: float) -> dict[str, bool]:
    flags = insular_sessions(snapshot, **settings)
    return dict(zip(snapshot.sessions["session_id"], flags.tolist(), strict=True))


def _known(snapshot: Snapshot, **settings: float) -> dict[str, str | None]:
    known = known_since(snapshot, **settings)
    return {
        member: None if np.isnat(at) else str(at.astype("datetime64[D]"))
        for member, at in zip(snapshot.members["member_id"], known, strict=True)
    }


def test_accounts_that_joined_together_are_insular_in_their_first_months() -> None:
    snapshot = _snapshot(
        [
            ("ref1", "new", "2025-03-10", 2),  # joined four days apart, days after: insular
            ("new", "ref1", "2025-05-25", 2),  # 81 days after the later joined: still insular
            ("new", "ref1", "2025-06-10", 2),  # 97 days after: no longer
            ("old", "new", "2025-03-10", 2),  # an established member: never
            ("late", "new", "2025-05-02", 2),  # joined 57 days apart: not a cohort
        ]
    )
    assert _flags(snapshot) == {"s0": True, "s1": True, "s2": False, "s3": False, "s4": False}
    assert _flags(snapshot, window_days=60)["s1"] is False
    assert _flags(snapshot, cohort_days=60)["s4"] is True


def test_recruiter_referees_and_siblings_are_linked_whenever_they_joined() -> None:
    snapshot = _snapshot(
        [
            ("rec", "ref1", "2025-03-02", 1),  # recruiter → his referee
            ("ref2", "rec", "2025-05-21", 1),  # referee → recruiter
            ("ref1", "ref2", "2025-06-01", 1),  # siblings, 80 days apart in joining
            ("rec", "old", "2025-03-02", 1),  # the recruiter with an outsider
            ("rec", "ref1", "2025-07-01", 1),  # 122 days after ref1 joined
        ]
    )
    assert _flags(snapshot) == {"s0": True, "s1": True, "s2": True, "s3": False, "s4": False}


def test_hours_count_confirmed_hours_given_and_received() -> None:
    snapshot = _snapshot(
        [
            ("ref1", "new", "2025-03-10", 3),
            ("old", "new", "2025-03-11", 1),
            ("new", "ref1", "2025-03-12", 5),
            ("old", "ref1", "2025-03-13", 9),
        ],
        status=["confirmed", "confirmed", "disputed", "confirmed"],
    )
    inside, total = confirmed_hours(snapshot, insular_sessions(snapshot))
    ids = snapshot.members["member_id"].tolist()
    assert dict(zip(ids, inside.tolist(), strict=True)) == {
        "old": 0.0,
        "elder": 0.0,
        "rec": 0.0,
        "ref1": 3.0,
        "ref2": 0.0,
        "new": 3.0,
        "late": 0.0,
    }
    # The disputed session counts for neither; "late" has no hours at all.
    assert dict(zip(ids, total.tolist(), strict=True)) == {
        "old": 10.0,
        "elder": 0.0,
        "rec": 0.0,
        "ref1": 12.0,
        "ref2": 0.0,
        "new": 4.0,
        "late": 0.0,
    }


@pytest.mark.parametrize("setting", ["cohort_days", "window_days"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_settings_are_checked(setting: str, value: float) -> None:
    snapshot = _snapshot([("ref1", "new", "2025-03-10", 2)])
    with pytest.raises(ValueError, match=setting):
        insular_sessions(snapshot, **{setting: value})
    with pytest.raises(ValueError, match=setting):
        known_since(snapshot, **{setting: value})


@pytest.mark.parametrize("value", [0, -1, True])
def test_witnesses_must_be_a_count_of_at_least_one(value: int) -> None:
    snapshot = _snapshot([("ref1", "new", "2025-03-10", 2)])
    with pytest.raises(ValueError, match="witnesses"):
        insular_sessions(snapshot, witnesses=value)
    with pytest.raises(ValueError, match="witnesses"):
        known_since(snapshot, witnesses=value)


def test_linked_help_stops_being_insular_once_two_established_members_had_met_both() -> None:
    snapshot = _snapshot(
        [
            ("ref1", "new", "2025-03-10", 2),  # nobody outside had met either: insular
            ("old", "new", "2025-03-11", 1),  # old meets new
            ("new", "elder", "2025-03-12", 1),  # elder meets new (new helps): new is known
            ("new", "ref1", "2025-03-13", 2),  # ref1 has rec's referral only: still insular
            ("ref1", "old", "2025-03-20", 1),  # old meets ref1: with rec's word, ref1 is known
            ("ref1", "new", "2025-03-21", 2),  # both known by then: not insular
        ]
    )
    assert _flags(snapshot) == {
        "s0": True,
        "s1": False,
        "s2": False,
        "s3": True,
        "s4": False,
        "s5": False,
    }
    assert _known(snapshot) == {
        "old": None,
        "elder": None,
        "rec": None,
        "ref1": "2025-03-20",
        "ref2": None,
        "new": "2025-03-12",
        "late": None,
    }
    # One witness suffices when asked for one: ref1 has rec's referral from the day it joined.
    assert _flags(snapshot, witnesses=1)["s3"] is False
    assert _known(snapshot, witnesses=1)["ref1"] == "2025-03-01"
    # Three are more than anyone here has.
    assert not any(_known(snapshot, witnesses=3).values())
    assert _flags(snapshot, witnesses=3)["s5"] is True


def test_only_established_members_outside_the_links_witness_and_only_in_good_standing() -> None:
    witnesses = [
        ("late", "new", "2025-05-02", 1),  # joined 57 days before: not yet established
        ("new", "ref1", "2025-03-06", 1),  # a cohort mate: linked, never a witness
        ("rec", "ref1", "2025-03-07", 1),  # the recruiter: counted once, as his referral
        ("old", "new", "2025-03-08", 1, -6),  # a complaint is no vouch
        ("elder", "new", "2025-03-09", 1),  # pending, below
        ("new", "elder", "2025-03-10", 1),  # disputed, below
    ]
    status = ["confirmed"] * 4 + ["pending", "disputed"]
    snapshot = _snapshot(witnesses, status=status)
    known = _known(snapshot, witnesses=1)
    assert known["new"] is None
    assert known["ref1"] == "2025-03-01"  # rec's referral, not his session
    assert _known(snapshot)["ref1"] is None
    # A member of a confirmed fraud ring witnesses nobody.
    met = _snapshot([("old", "new", "2025-03-08", 1), ("elder", "new", "2025-03-09", 1)])
    assert _known(met)["new"] == "2025-03-09"
    discredited = met.members["member_id"].eq("elder").to_numpy()
    assert np.isnat(known_since(met, discredited=discredited)[met.member_positions["new"]])


def test_the_same_witness_twice_is_one_witness() -> None:
    snapshot = _snapshot(
        [
            ("old", "new", "2025-03-08", 1),
            ("new", "old", "2025-03-09", 1),
            ("old", "new", "2025-03-10", 1),
            ("elder", "new", "2025-03-12", 1),
        ]
    )
    assert _known(snapshot)["new"] == "2025-03-12"


def test_two_witnesses_meeting_a_member_the_same_day_make_it_known_that_day() -> None:
    snapshot = _snapshot([("old", "new", "2025-03-08", 1), ("new", "elder", "2025-03-08", 1)])
    assert _known(snapshot)["new"] == "2025-03-08"


Row = tuple[str, str, int, str]  # helper, recipient, day after 2025-03-01, kind


def _reference_flags(rows: list[Row], witnesses: int = 2) -> list[bool]:
    """The module's definition read session by session, with nothing vectorised."""
    start = pd.Timestamp("2025-03-01")
    joined = {m: pd.Timestamp(t) for m, t in MEMBERS.items()}
    parent = {b: a for a, b in REFERRALS}
    window, cohort = pd.Timedelta(days=90), pd.Timedelta(days=30)

    def linked(a: str, b: str) -> bool:
        return (
            abs(joined[a] - joined[b]) <= cohort
            or parent.get(a) == b
            or parent.get(b) == a
            or (parent.get(a) is not None and parent.get(a) == parent.get(b))
        )

    def known(member: str, when: pd.Timestamp) -> bool:
        met = set()
        for helper, recipient, day, kind in rows:
            at = start + pd.Timedelta(days=day)
            partner = recipient if helper == member else helper if recipient == member else None
            if partner is None or kind != "vouch" or at > when or linked(member, partner):
                continue
            if at - joined[partner] >= window:
                met.add(partner)
        referrer = parent.get(member)  # referred the day the member joined
        referred = joined[member]
        if referrer is not None and referred <= when and referred - joined[referrer] >= window:
            met.add(referrer)
        return len(met) >= witnesses

    flags = []
    for helper, recipient, day, _ in rows:
        at = start + pd.Timedelta(days=day)
        early = at - max(joined[helper], joined[recipient]) <= window
        both = known(helper, at) and known(recipient, at)
        flags.append(linked(helper, recipient) and early and not both)
    return flags


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(MEMBERS)),
            st.sampled_from(list(MEMBERS)),
            # Mostly within the newcomers' first months, where witnesses decide.
            st.integers(0, 150),
            st.sampled_from(["vouch", "complaint", "pending"]),
        ),
        min_size=1,
        max_size=16,
    ),
    st.integers(1, 3),
)
def test_flags_follow_the_definition(rows: list[Row], witnesses: int) -> None:
    """Against a per-session reading of the module's definition."""
    rows = [r for r in rows if r[0] != r[1]]
    if not rows:
        return
    start = pd.Timestamp("2025-03-01")
    sessions = [
        (h, r, str((start + pd.Timedelta(days=d)).date()), 1.0, -5 if kind == "complaint" else 8)
        for h, r, d, kind in rows
    ]
    status = ["pending" if kind == "pending" else "confirmed" for *_, kind in rows]
    snapshot = _snapshot(sessions, status=status)
    assert insular_sessions(snapshot).dtype == bool
    flags = _flags(snapshot, witnesses=witnesses)
    assert [flags[f"s{i}"] for i in range(len(rows))] == _reference_flags(rows, witnesses)
