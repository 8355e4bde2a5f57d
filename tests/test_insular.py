"""Insular exchange: cohorts, referral links, the window after joining, hour shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.metrics.insular import confirmed_hours, insular_sessions
from graph.model import Snapshot
from tests.conftest import snapshot_of

MEMBERS = {
    "old": "2020-01-01",
    "rec": "2024-06-01",  # a recruiter who joined long before his referees
    "ref1": "2025-03-01",
    "ref2": "2025-05-20",
    "new": "2025-03-05",
    "late": "2025-05-01",
}
REFERRALS = [("rec", "ref1"), ("rec", "ref2")]


def _snapshot(
    sessions: list[tuple[str, str, str, float]], status: list[str] | None = None
) -> Snapshot:
    rows = [(h, r, day, hours, None) for h, r, day, hours in sessions]
    return snapshot_of(MEMBERS, rows, status=status, referrals=REFERRALS)


def _flags(snapshot: Snapshot, **settings: float) -> dict[str, bool]:
    flags = insular_sessions(snapshot, **settings)
    return dict(zip(snapshot.sessions["session_id"], flags.tolist(), strict=True))


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
        "rec": 0.0,
        "ref1": 3.0,
        "ref2": 0.0,
        "new": 3.0,
        "late": 0.0,
    }
    # The disputed session counts for neither; "late" has no hours at all.
    assert dict(zip(ids, total.tolist(), strict=True)) == {
        "old": 10.0,
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


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(MEMBERS)),
            st.sampled_from(list(MEMBERS)),
            st.integers(0, 400),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_flags_follow_the_definition(rows: list[tuple[str, str, int]]) -> None:
    """Against a per-session reading of the module's definition."""
    rows = [r for r in rows if r[0] != r[1]]
    if not rows:
        return
    start = pd.Timestamp("2025-03-01")
    sessions = [(h, r, str((start + pd.Timedelta(days=d)).date()), 1.0) for h, r, d in rows]
    snapshot = _snapshot(sessions)
    joined = {m: pd.Timestamp(t) for m, t in MEMBERS.items()}
    parent = {b: a for a, b in REFERRALS}
    flags = _flags(snapshot)
    for session_id, (h, r, day, _) in zip(
        (f"s{i}" for i in range(len(sessions))), sessions, strict=True
    ):
        later = max(joined[h], joined[r])
        cohort = abs(joined[h] - joined[r]) <= pd.Timedelta(days=30)
        linked = (
            parent.get(h) == r
            or parent.get(r) == h
            or (parent.get(h) is not None and parent.get(h) == parent.get(r))
        )
        early = pd.Timestamp(day) - later <= pd.Timedelta(days=90)
        assert flags[session_id] == bool(early and (cohort or linked)), (h, r, day)
    assert np.asarray(list(flags.values())).dtype == bool
