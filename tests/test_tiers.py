"""Tier eligibility: measures from a snapshot, tiers at every boundary, the missing text, the
what-if comparison, policy files (every error names its key) and hypothesis properties against a
plain per-member reference."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import PolicyError, TimebankError
from graph.ingest import ingest
from graph.metrics.fanout import fanout as fanout_table
from graph.metrics.tiers import (
    MEASURE_COLUMNS,
    NO_TIER,
    REQUIREMENT_KINDS,
    REQUIREMENT_SPECS,
    TIER_COLUMNS,
    TIER_LEVELS,
    TIERS,
    Policy,
    RequirementKind,
    Requirements,
    assign_tiers,
    compare_policies,
    promotion_shortfall,
    tier_measures,
    tiers,
)
from graph.model import Snapshot
from graph.policy import default_policy_text, load_policy, parse_policy
from graph.store import SqliteStore
from tests.conftest import NOW

# --------------------------------------------------------------------------- helpers

#: (helper, recipient, hours, status, started_at)
Session = tuple[str, str, float, str, str]


def snapshot_of(
    members: dict[str, tuple[str, str | None]],
    sessions: Sequence[Session] = (),
    referrals: Sequence[tuple[str, str]] = (),
    as_of: str | None = None,
) -> Snapshot:
    """A snapshot through the real ingest path; members: id → (joined_at, activated_at)."""
    tables: dict[str, pd.DataFrame] = {
        "members": pd.DataFrame(
            {
                "member_id": list(members),
                "joined_at": [joined for joined, _ in members.values()],
                "activated_at": [activated for _, activated in members.values()],
            }
        )
    }
    if sessions:
        tables["sessions"] = pd.DataFrame(
            {
                "session_id": [f"s{i}" for i in range(len(sessions))],
                "helper_id": [s[0] for s in sessions],
                "recipient_id": [s[1] for s in sessions],
                "hours": [s[2] for s in sessions],
                "status": [s[3] for s in sessions],
                "started_at": [s[4] for s in sessions],
            }
        )
    if referrals:
        tables["referrals"] = pd.DataFrame(
            {
                "referrer_id": [a for a, _ in referrals],
                "referee_id": [b for _, b in referrals],
                "referred_at": "2025-01-02",
            }
        )
    with SqliteStore(":memory:") as store:
        report = ingest(tables, store, now=NOW)
        assert report.all_accepted, report.rejects
        return store.snapshot(as_of=as_of) if as_of else store.snapshot()


def inputs_for(
    snapshot: Snapshot,
    *,
    hours: dict[str, float] | None = None,
    active: dict[str, int] | None = None,
    people: dict[str, int] | None = None,
    percentile: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trust, fanout) tables of exactly the contracted columns, zeros unless given."""
    ids = snapshot.members["member_id"].tolist()
    hours, active, people = hours or {}, active or {}, people or {}
    percentile = percentile or {}
    fanout = pd.DataFrame(
        {
            "member_id": ids,
            "direct_referrals": [active.get(m, 0) for m in ids],
            "active_referrals": [active.get(m, 0) for m in ids],
            "downline_size": 0,
            "hours_given": [hours.get(m, 0.0) for m in ids],
            "hours_to_downline": 0.0,
            "hours_outside_downline": [hours.get(m, 0.0) for m in ids],
            "people_helped_outside_downline": [people.get(m, 0) for m in ids],
        }
    )
    trust = pd.DataFrame(
        {
            "member_id": ids,
            "trust_score": 0.5,
            "trust_rank": range(1, len(ids) + 1),
            "trust_percentile": [percentile.get(m, 0.0) for m in ids],
        }
    )
    return trust, fanout


def measures_of(*rows: dict[str, Any]) -> pd.DataFrame:
    """Hand-made measures: each row overrides a member who meets nothing but activation."""
    base: dict[str, Any] = {
        "activated": True,
        "hours_given_outside_downline": 0.0,
        "people_helped_outside_downline": 0,
        "active_referrals": 0,
        "tenure_days": 0.0,
        "trust_percentile": 0.0,
        "no_open_fraud_ring": True,
    }
    frame = pd.DataFrame(
        [{"member_id": f"m{i}", **base, **row} for i, row in enumerate(rows)],
        columns=MEASURE_COLUMNS,
    )
    return frame.astype({"people_helped_outside_downline": "int64", "active_referrals": "int64"})


#: Each tier's numbers, written out by hand (not read from the shipped file) so tests pin them:
#: a member with exactly these values (and the flags) meets that tier and every tier below.
AT_TIER = {
    "time_volunteer": {"hours_given_outside_downline": 2.0, "people_helped_outside_downline": 1},
    "community_head": {
        "hours_given_outside_downline": 20.0,
        "people_helped_outside_downline": 5,
        "active_referrals": 1,
        "tenure_days": 90.0,
        "trust_percentile": 50.0,
    },
    "symbiotic_member": {
        "hours_given_outside_downline": 60.0,
        "people_helped_outside_downline": 12,
        "active_referrals": 2,
        "tenure_days": 180.0,
        "trust_percentile": 75.0,
    },
    "city_partner": {
        "hours_given_outside_downline": 150.0,
        "people_helped_outside_downline": 25,
        "active_referrals": 3,
        "tenure_days": 365.0,
        "trust_percentile": 90.0,
    },
}


#: The tiers of AT_TIER, with activation for the first and the fraud rule from community_head.
LADDER = Policy(
    time_volunteer=Requirements(activated=True, **AT_TIER["time_volunteer"]),
    community_head=Requirements(no_open_fraud_ring=True, **AT_TIER["community_head"]),
    symbiotic_member=Requirements(**AT_TIER["symbiotic_member"]),
    city_partner=Requirements(**AT_TIER["city_partner"]),
)


def tier_list(table: pd.DataFrame) -> list[str]:
    return [str(t) for t in table["tier"]]


# --------------------------------------------------------------------------- measures


def test_measures_read_the_real_fanout_table() -> None:
    # a refers b; a helps b (her downline) and c twice; b helps a. tests/test_fanout.py pins
    # how fanout() counts; tier_measures takes its numbers as they are.
    snapshot = snapshot_of(
        {
            "a": ("2025-01-01", "2025-01-01"),
            "b": ("2025-01-02", None),
            "c": ("2025-01-03", "2025-01-03"),
        },
        sessions=[
            ("a", "b", 1.0, "confirmed", "2025-02-01"),
            ("a", "c", 1.0, "confirmed", "2025-02-01"),
            ("a", "c", 2.0, "confirmed", "2025-02-02"),
            ("b", "a", 1.5, "confirmed", "2025-02-03"),
        ],
        referrals=[("a", "b")],
    )
    trust, _ = inputs_for(snapshot)
    measures = tier_measures(snapshot, trust=trust, fanout=fanout_table(snapshot))
    assert list(measures.columns) == MEASURE_COLUMNS
    assert measures["member_id"].tolist() == ["a", "b", "c"]
    assert measures["people_helped_outside_downline"].tolist() == [1, 1, 0]
    assert measures["people_helped_outside_downline"].dtype == np.int64
    assert measures["hours_given_outside_downline"].tolist() == [3.0, 1.5, 0.0]
    assert measures["active_referrals"].tolist() == [1, 0, 0]  # b helped within 90 days
    assert measures["activated"].tolist() == [True, False, True]


def test_tenure_from_as_of_or_latest_event() -> None:
    members = {"a": ("2025-01-01", None), "b": ("2025-01-11", None)}
    late = [("a", "b", 1.0, "pending", "2025-03-02")]  # any session counts as an event
    snapshot = snapshot_of(members, sessions=late)
    trust, fanout = inputs_for(snapshot)
    tenure = tier_measures(snapshot, trust=trust, fanout=fanout)["tenure_days"]
    assert tenure.tolist() == [60.0, 50.0]  # 2025-03-02 is day 60 after 2025-01-01

    cut = snapshot_of(members, sessions=late, as_of="2025-02-01T12:00:00")
    assert cut.as_of is not None
    tenure = tier_measures(cut, trust=trust, fanout=fanout)["tenure_days"]
    assert tenure.tolist() == [31.5, 21.5]


def test_inputs_are_aligned_by_member_id() -> None:
    snapshot = snapshot_of(dict.fromkeys(("a", "b", "c"), ("2025-01-01", "2025-01-01")))
    trust, fanout = inputs_for(
        snapshot,
        hours={"a": 1.0, "b": 2.0, "c": 3.0},
        active={"a": 4, "b": 5, "c": 6},
        people={"a": 7, "b": 8, "c": 9},
        percentile={"a": 10.0, "b": 20.0, "c": 30.0},
    )
    # Rows in another order, plus a member the snapshot does not have: aligned, extra ignored.
    shuffled = pd.concat([trust.iloc[[2, 0, 1]], trust.iloc[[0]].assign(member_id="zz")])
    measures = tier_measures(snapshot, trust=shuffled, fanout=fanout.iloc[::-1])
    assert measures["trust_percentile"].tolist() == [10.0, 20.0, 30.0]
    assert measures["hours_given_outside_downline"].tolist() == [1.0, 2.0, 3.0]
    assert measures["active_referrals"].tolist() == [4, 5, 6]
    assert measures["people_helped_outside_downline"].tolist() == [7, 8, 9]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda t, f: (t.drop(columns="trust_percentile"), f), "trust: missing columns"),
        (lambda t, f: (t, f.drop(columns="active_referrals")), "fanout: missing columns"),
        (
            lambda t, f: (t, f.drop(columns="people_helped_outside_downline")),
            "fanout: missing columns people_helped_outside_downline",
        ),
        (lambda t, f: (t.iloc[:2], f), "trust: no row for 1 members (e.g. c)"),
        (lambda t, f: (t, pd.concat([f, f.iloc[[0]]])), "fanout: a member_id appears more"),
        (
            lambda t, f: (t.assign(trust_percentile=[1.0, np.nan, 2.0]), f),
            "trust.trust_percentile: missing",
        ),
    ],
)
def test_bad_inputs_are_refused(break_it: Any, message: str) -> None:
    snapshot = snapshot_of(dict.fromkeys(("a", "b", "c"), ("2025-01-01", None)))
    trust, fanout = break_it(*inputs_for(snapshot))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tier_measures(snapshot, trust=trust, fanout=fanout)


def test_ring_members_fail_the_fraud_requirement() -> None:
    ids = ("a", "b", "c")
    snapshot = snapshot_of(dict.fromkeys(ids, ("2024-01-01", "2024-01-01")))
    trust, fanout = inputs_for(snapshot)
    free = tier_measures(snapshot, trust=trust, fanout=fanout)
    assert free["no_open_fraud_ring"].tolist() == [True, True, True]  # None: no information
    ringed = tier_measures(snapshot, trust=trust, fanout=fanout, ring_members={"b", "stranger"})
    assert ringed["no_open_fraud_ring"].tolist() == [True, False, True]

    # b has community-head numbers but sits in a ring: stays a time volunteer, told why.
    strong = {"hours_given_outside_downline": 20.0, "people_helped_outside_downline": 5}
    strong |= {"active_referrals": 1, "tenure_days": 90.0, "trust_percentile": 50.0}
    measures = measures_of(strong, {**strong, "no_open_fraud_ring": False})
    table = assign_tiers(measures, policy=LADDER)
    assert tier_list(table) == ["community_head", "time_volunteer"]
    assert table["missing"].iloc[1] == "no_open_fraud_ring: in an open or confirmed fraud ring"
    assert table["gap_no_open_fraud_ring"].tolist() == [False, True]


def test_tiers_end_to_end() -> None:
    snapshot = snapshot_of(
        {"a": ("2024-01-01", "2024-01-01"), "b": ("2024-06-01", None)},
        sessions=[("a", "b", 3.0, "confirmed", "2025-01-01")],
    )
    trust, fanout = inputs_for(snapshot, hours={"a": 3.0}, people={"a": 1}, percentile={"a": 60.0})
    table = tiers(snapshot, policy=LADDER, trust=trust, fanout=fanout)
    assert list(table.columns) == TIER_COLUMNS
    assert tier_list(table) == ["time_volunteer", "none"]
    assert table["tenure_days"].tolist() == [366.0, 214.0]
    assert table["missing"].iloc[0] == (
        "hours_given_outside_downline: 17 hours more; people_helped_outside_downline: 4 members "
        "more; active_referrals: 1 referral more"
    )


# --------------------------------------------------------------------------- tiers


def one_kind_policy(kind: RequirementKind, threshold: float | bool) -> Policy:
    """time_volunteer needs activation and this one kind; the other tiers are out of reach
    (through another kind, so that the next tier asks nothing more of this one)."""
    other = "people_helped_outside_downline" if kind == "active_referrals" else "active_referrals"
    out_of_reach = replace(Requirements(), **{other: 10**9})
    return Policy(
        time_volunteer=replace(Requirements(activated=True), **{kind: threshold}),
        community_head=out_of_reach,
        symbiotic_member=out_of_reach,
        city_partner=out_of_reach,
    )


@pytest.mark.parametrize(
    ("kind", "threshold", "just_under", "gap_text"),
    [
        ("hours_given_outside_downline", 10.0, 9.99, "0.01 hours"),
        ("people_helped_outside_downline", 3, 2, "1 member"),
        ("active_referrals", 2, 1, "1 referral"),
        ("tenure_days", 90.0, 89.5, "0.5 days"),
        ("trust_percentile", 50.0, 49.99, "0.01 percentile points"),
    ],
)
def test_exactly_at_a_threshold_passes_just_under_fails(
    kind: RequirementKind, threshold: float, just_under: float, gap_text: str
) -> None:
    table = assign_tiers(
        measures_of({kind: threshold}, {kind: just_under}, {kind: threshold * 2}),
        policy=one_kind_policy(kind, threshold),
    )
    assert tier_list(table) == ["time_volunteer", NO_TIER, "time_volunteer"]
    assert table["missing"].iloc[1] == f"{kind}: {gap_text} more"
    assert table[f"gap_{kind}"].iloc[1] == pytest.approx(threshold - just_under)
    assert table[f"gap_{kind}"].iloc[0] == 0


@pytest.mark.parametrize("kind", ["activated", "no_open_fraud_ring"])
def test_flags(kind: RequirementKind) -> None:
    table = assign_tiers(
        measures_of({kind: True}, {kind: False}), policy=one_kind_policy(kind, True)
    )
    assert tier_list(table) == ["time_volunteer", NO_TIER]
    assert table[f"gap_{kind}"].tolist() == [False, True]
    assert table["missing"].iloc[1] == REQUIREMENT_SPECS[kind].unmet


@pytest.mark.parametrize(
    ("hours", "shown"),
    [
        (9.999, "0.01 hours"),
        (9.877, "0.13 hours"),
        (9.5, "0.5 hours"),
        (9.0, "1 hour"),
        (8.0, "2 hours"),
        (0.0, "10 hours"),
        (7.9, "2.1 hours"),
    ],
)
def test_gaps_are_shown_rounded_up_to_a_hundredth(hours: float, shown: str) -> None:
    table = assign_tiers(
        measures_of({"hours_given_outside_downline": hours}),
        policy=one_kind_policy("hours_given_outside_downline", 10.0),
    )
    assert table["missing"].iloc[0] == f"hours_given_outside_downline: {shown} more"


def test_summed_hours_a_hair_under_the_threshold_pass() -> None:
    summed = sum([0.1] * 10)  # 0.9999999999999999
    table = assign_tiers(
        measures_of({"hours_given_outside_downline": summed}),
        policy=one_kind_policy("hours_given_outside_downline", 1.0),
    )
    assert tier_list(table) == ["time_volunteer"]


@pytest.mark.parametrize("level", range(len(TIERS)))
def test_tier_boundaries(level: int) -> None:
    tier = TIERS[level]
    exact = AT_TIER[tier]
    rows = [exact]
    # One requirement just under, each in turn: the member drops to the tier below.
    for kind, value in exact.items():
        under = value - 1 if isinstance(value, int) else value - 0.01
        rows.append({**exact, kind: under})
    table = assign_tiers(measures_of(*rows), policy=LADDER)
    below = TIER_LEVELS[level]  # TIER_LEVELS[0] is "none"
    assert tier_list(table) == [tier] + [below] * len(exact)
    # The members just under have this tier next, and exactly that one kind missing.
    assert table["next_tier"].iloc[1:].tolist() == [tier] * len(exact)
    assert table["missing"].iloc[1:].str.split(":").str[0].tolist() == list(exact)


def test_each_higher_tier_requires_the_one_below() -> None:
    city = AT_TIER["city_partner"]
    measures = measures_of(
        {**city, "activated": False},  # city-partner numbers, never activated
        {**city, "no_open_fraud_ring": False},  # community_head refuses ring members
        {**city, "tenure_days": 100.0},  # symbiotic_member needs 180 days
        city,
    )
    table = assign_tiers(measures, policy=LADDER)
    assert tier_list(table) == [NO_TIER, "time_volunteer", "community_head", "city_partner"]
    assert table["missing"].iloc[0] == "activated: the 1-yuan activation is not paid"
    assert table["gap_activated"].tolist() == [True, False, False, False]
    assert table["missing"].iloc[2] == "tenure_days: 80 days more"
    assert table["gap_tenure_days"].tolist() == [0.0, 0.0, 80.0, 0.0]


def test_missing_text_and_gaps() -> None:
    measures = measures_of(
        # At time_volunteer: all of community_head's kinds but the flag fall short.
        {
            "hours_given_outside_downline": 7.5,
            "people_helped_outside_downline": 2,
            "tenure_days": 89.999,
            "trust_percentile": 100 / 3,
        },
        # Not activated and nothing else: the next tier's kinds in kind order.
        {"activated": False, "hours_given_outside_downline": 1.25},
        # The top: nothing missing, no next tier.
        AT_TIER["city_partner"],
    )
    table = assign_tiers(measures, policy=LADDER)
    assert table["missing"].tolist() == [
        "hours_given_outside_downline: 12.5 hours more; people_helped_outside_downline: 3 "
        "members more; active_referrals: 1 referral more; tenure_days: 0.01 days more; "
        "trust_percentile: 16.67 percentile points more",
        "activated: the 1-yuan activation is not paid; hours_given_outside_downline: 0.75 hours "
        "more; people_helped_outside_downline: 1 member more",
        "",
    ]
    assert table["next_tier"].iloc[:2].tolist() == ["community_head", "time_volunteer"]
    assert pd.isna(table["next_tier"].iloc[2])
    gaps = table[[f"gap_{k}" for k in REQUIREMENT_KINDS]]
    assert gaps.iloc[0].tolist() == pytest.approx([False, 12.5, 3, 1, 0.001, 50 - 100 / 3, False])
    assert gaps.iloc[1].tolist() == [True, 0.75, 1, 0, 0.0, 0.0, False]
    assert gaps.iloc[2].tolist() == [False, 0.0, 0, 0, 0.0, 0.0, False]
    assert table["gap_people_helped_outside_downline"].dtype == np.int64
    # The measured values come along unchanged.
    assert table["hours_given_outside_downline"].tolist() == [7.5, 1.25, 150.0]


def test_promotion_shortfall_is_the_share_of_each_unmet_threshold_summed() -> None:
    community_head = AT_TIER["community_head"]
    measures = measures_of(
        # Time volunteers, short of community_head (20 h, 1 referral, 50th percentile) by:
        {**community_head, "hours_given_outside_downline": 17.5},  # 2.5 of 20 hours
        {**community_head, "active_referrals": 0},  # 1 of 1 referral
        {**community_head, "hours_given_outside_downline": 10.0, "trust_percentile": 25.0},
        {**community_head, "no_open_fraud_ring": False},  # a flag: all of it
        {"activated": False, **AT_TIER["time_volunteer"]},  # the activation alone
        AT_TIER["city_partner"],  # the top: nothing to go
    )
    table = assign_tiers(measures, policy=LADDER)
    assert tier_list(table)[:4] == ["time_volunteer"] * 4
    shortfall = promotion_shortfall(table, policy=LADDER)
    assert shortfall.tolist() == pytest.approx([2.5 / 20, 1.0, 10 / 20 + 25 / 50, 1.0, 1.0, 0.0])
    # Read back from CSV (strings, NaN for the top tier's next tier), the same.
    again = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert promotion_shortfall(again, policy=LADDER).tolist() == pytest.approx(shortfall)


def test_promotion_shortfall_refuses_a_table_of_another_policy() -> None:
    table = assign_tiers(measures_of(AT_TIER["time_volunteer"]), policy=LADDER)
    assert table["gap_active_referrals"].iloc[0] == 1  # community_head asks for a referral
    lenient = replace(LADDER, community_head=replace(LADDER.community_head, active_referrals=None))
    with pytest.raises(ValueError, match=r"active_referrals.*another"):
        promotion_shortfall(table, policy=lenient)


def test_result_types_and_an_empty_network() -> None:
    table = assign_tiers(measures_of({}), policy=LADDER)
    assert table["tier"].dtype == pd.CategoricalDtype(list(TIER_LEVELS), ordered=True)
    assert (table["tier"] >= "none").all()
    empty = assign_tiers(measures_of(), policy=LADDER)
    assert list(empty.columns) == TIER_COLUMNS
    assert len(empty) == 0


# --------------------------------------------------------------------------- what-if


def test_compare_policies_counts() -> None:
    measures = measures_of(
        {"activated": False},  # none under both
        {"hours_given_outside_downline": 2.0, "people_helped_outside_downline": 1},
        AT_TIER["community_head"],
        AT_TIER["symbiotic_member"],
        AT_TIER["city_partner"],
        {"hours_given_outside_downline": 2.0},  # helped nobody outside their downline
    )
    # Loosen the first tier (no people needed) and tighten symbiotic_member's hours to 100.
    alternative = replace(
        LADDER,
        time_volunteer=Requirements(activated=True, hours_given_outside_downline=2),
        symbiotic_member=replace(LADDER.symbiotic_member, hours_given_outside_downline=100),
    )
    current = assign_tiers(measures, policy=LADDER)
    other = assign_tiers(measures, policy=alternative)
    # By hand: m3 (60 h) falls to community_head, m4 (150 h) stays city_partner, m5 (no one
    # helped) becomes a time volunteer.
    assert tier_list(current) == [NO_TIER, *TIERS, NO_TIER]
    assert tier_list(other) == [NO_TIER, *TIERS[:2], *TIERS[1:2], TIERS[3], TIERS[0]]

    change = compare_policies(current, other)
    assert (change.moved_up, change.moved_down, change.unchanged) == (1, 1, 4)
    assert change.counts.index.tolist() == list(TIER_LEVELS)
    assert change.counts["current"].tolist() == [2, 1, 1, 1, 1]
    assert change.counts["alternative"].tolist() == [1, 2, 2, 0, 1]
    assert change.counts["change"].tolist() == [-1, 1, 1, -1, 0]
    assert change.transitions.loc["symbiotic_member", "community_head"] == 1
    assert change.transitions.loc["none", "time_volunteer"] == 1
    assert int(np.trace(change.transitions.to_numpy())) == 4
    assert int(change.transitions.to_numpy().sum()) == 6
    assert change.movers.astype(str).to_numpy().tolist() == [
        ["m3", "symbiotic_member", "community_head"],
        ["m5", "none", "time_volunteer"],
    ]
    as_json = json.loads(json.dumps(change.as_dict()))
    assert as_json["moved_down"] == 1
    assert as_json["counts"]["community_head"] == {"current": 1, "alternative": 2, "change": 1}
    assert as_json["transitions"]["symbiotic_member"]["community_head"] == 1

    # The other way round the table transposes; tiers read back as plain strings work.
    back = compare_policies(other.astype({"tier": str}), current.astype({"tier": str}))
    assert (back.moved_up, back.moved_down) == (1, 1)
    assert (back.transitions.to_numpy() == change.transitions.to_numpy().T).all()


def test_compare_policies_refuses_mismatched_tables() -> None:
    table = assign_tiers(measures_of({}, {}), policy=LADDER)
    with pytest.raises(ValueError, match="same members"):
        compare_policies(table, table.iloc[::-1])
    with pytest.raises(ValueError, match="'mayor' is not one of"):
        compare_policies(table, table.assign(tier=["mayor", "none"]))


# --------------------------------------------------------------------------- policy files

TIER_TABLES = """
[tiers.time_volunteer]
activated = true
hours_given_outside_downline = 2
[tiers.community_head]
hours_given_outside_downline = 20
active_referrals = 1
[tiers.symbiotic_member]
trust_percentile = 75
[tiers.city_partner]
trust_percentile = 90
"""


def test_parse_policy_reads_every_field() -> None:
    policy = parse_policy('name = "pilot"\ndescription = "test"\n' + TIER_TABLES)
    assert policy.name == "pilot"
    assert policy.description == "test"
    assert policy.tier("community_head") == Requirements(
        hours_given_outside_downline=20, active_referrals=1
    )
    assert policy.city_partner.trust_percentile == 90


def edit(old: str, new: str) -> str:
    assert old in TIER_TABLES
    return TIER_TABLES.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[tiers\n", None, "not valid TOML"),
        ('colour = "red"\n' + TIER_TABLES, "colour", "unknown key"),
        ("name = 3\n" + TIER_TABLES, "name", "expected a string, got 3"),
        ('name = "x"\n', "tiers", "missing"),
        ("tiers = 3\n", "tiers", "expected a table"),
        (
            TIER_TABLES + "[tiers.city_partnr]\n",
            "tiers.city_partnr",
            "unknown tier (did you mean city_partner?)",
        ),
        (
            edit("[tiers.city_partner]\ntrust_percentile = 90\n", ""),
            "tiers.city_partner",
            "missing",
        ),
        (
            edit(
                "[tiers.symbiotic_member]\ntrust_percentile = 75\n"
                "[tiers.city_partner]\ntrust_percentile = 90\n",
                "[tiers.city_partner]\ntrust_percentile = 90\n"
                "[tiers.symbiotic_member]\ntrust_percentile = 75\n",
            ),
            "tiers.city_partner",
            "out of order",
        ),
        (
            edit(
                "[tiers.city_partner]\ntrust_percentile = 90\n", '[tiers]\ncity_partner = "yes"\n'
            ),
            "tiers.city_partner",
            "expected a table of requirements",
        ),
        (
            edit("active_referrals = 1", "direct_referrals = 1"),
            "tiers.community_head.direct_referrals",
            "unknown requirement",
        ),
        (
            edit("active_referrals = 1", 'active_referrals = "three"'),
            "tiers.community_head.active_referrals",
            "expected a non-negative integer, got 'three'",
        ),
        (
            edit("active_referrals = 1", "active_referrals = 2.5"),
            "tiers.community_head.active_referrals",
            "expected a non-negative integer, got 2.5",
        ),
        (
            edit("active_referrals = 1", "active_referrals = -1"),
            "tiers.community_head.active_referrals",
            "expected a non-negative integer, got -1",
        ),
        (
            edit("active_referrals = 1", "active_referrals = true"),
            "tiers.community_head.active_referrals",
            "expected a non-negative integer, got true",
        ),
        (
            edit("hours_given_outside_downline = 20", "hours_given_outside_downline = -0.5"),
            "tiers.community_head.hours_given_outside_downline",
            "expected a non-negative number (hours), got -0.5",
        ),
        (
            edit("hours_given_outside_downline = 20", 'hours_given_outside_downline = "20"'),
            "tiers.community_head.hours_given_outside_downline",
            "got '20'",
        ),
        (
            edit("trust_percentile = 90", "trust_percentile = 120"),
            "tiers.city_partner.trust_percentile",
            "expected a number from 0 to 100 (percentile points), got 120",
        ),
        (
            edit("trust_percentile = 90", 'no_open_fraud_ring = "yes"'),
            "tiers.city_partner.no_open_fraud_ring",
            "expected true or false, got 'yes'",
        ),
        (
            edit("activated = true\n", ""),
            "tiers.time_volunteer.activated",
            "the first tier requires the 1-yuan activation",
        ),
        (
            edit("activated = true", "activated = false"),
            "tiers.time_volunteer.activated",
            "the first tier requires the 1-yuan activation",
        ),
        (
            edit("trust_percentile = 90", "trust_percentile = 70"),
            "tiers.city_partner.trust_percentile",
            "70 is looser than tiers.symbiotic_member.trust_percentile = 75",
        ),
        (
            edit("hours_given_outside_downline = 20", "hours_given_outside_downline = 1.5"),
            "tiers.community_head.hours_given_outside_downline",
            "1.5 is looser than tiers.time_volunteer.hours_given_outside_downline = 2",
        ),
    ],
)
def test_policy_errors_name_the_file_and_key(text: str, key: str | None, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.toml")
    error = caught.value
    assert isinstance(error, TimebankError)
    assert (error.source, error.key) == ("policy.toml", key)
    assert reason in error.reason
    prefix = "policy.toml: " if key is None else f"policy.toml: {key}: "
    assert str(error).startswith(prefix + error.reason[:20])


def test_the_message_from_the_issue() -> None:
    text = edit("active_referrals = 1", 'active_referrals = "three"')
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.toml")
    assert str(caught.value) == (
        "policy.toml: tiers.community_head.active_referrals: "
        "expected a non-negative integer, got 'three'"
    )


def test_policies_built_in_python_are_validated_too() -> None:
    with pytest.raises(PolicyError, match=r"^tiers\.symbiotic_member\.tenure_days: 10 is looser"):
        replace(LADDER, symbiotic_member=replace(LADDER.symbiotic_member, tenure_days=10))
    with pytest.raises(KeyError, match="unknown tier"):
        LADDER.tier("mayor")  # type: ignore[arg-type]


def test_load_policy_from_files(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(TIER_TABLES, encoding="utf-8")
    assert load_policy(good).community_head.active_referrals == 1
    assert load_policy(str(good)) == load_policy(good)

    with pytest.raises(PolicyError, match=r"nope\.toml: cannot read the file"):
        load_policy(tmp_path / "nope.toml")
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes(('name = "城市"\n' + TIER_TABLES).encode("gbk"))
    with pytest.raises(PolicyError, match=r"gbk\.toml: not UTF-8"):
        load_policy(gbk)
    bad = tmp_path / "bad.toml"
    bad.write_text(edit("active_referrals = 1", "active_referrals = -2"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.toml: tiers\.community_head\.active_referrals"):
        load_policy(bad)


def test_the_shipped_default_loads_and_rewards_service() -> None:
    shipped = resources.files("graph").joinpath("policies/default.toml")
    assert shipped.is_file()
    default = load_policy()
    assert default.name == "default"
    assert parse_policy(default_policy_text()) == default
    table = default.thresholds()
    assert table.loc["time_volunteer", "activated"] == 1.0
    # Service over recruiting: no referral is needed to volunteer; at every tier that asks for
    # referrals the outside service asked per active referral is at least 20 hours; referral
    # asks stay small; the fraud requirement applies from community_head up.
    assert np.isnan(table.loc["time_volunteer", "active_referrals"])
    hours = table["hours_given_outside_downline"].ffill()
    referrals = table["active_referrals"].ffill().fillna(0)
    asking = referrals > 0
    assert asking.sum() == 3
    assert ((hours[asking] / referrals[asking]) >= 20).all()
    assert referrals.max() <= 3
    assert table.loc["community_head", "no_open_fraud_ring"] == 1.0
    for tier in TIERS:  # every tier states its own service figure
        assert not np.isnan(table.loc[tier, "hours_given_outside_downline"])


# --------------------------------------------------------------------------- properties

GRID = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 90.0, 100.0]


@st.composite
def policy_pairs(draw: st.DrawFn) -> tuple[Policy, Policy]:
    """(strict, loose): two valid policies, loose never asking more than strict of any tier."""
    strict: dict[str, dict[str, Any]] = {tier: {} for tier in TIERS}
    loose: dict[str, dict[str, Any]] = {tier: {} for tier in TIERS}
    for kind in REQUIREMENT_KINDS:
        spec = REQUIREMENT_SPECS[kind]
        if spec.value == "flag":
            for tier in TIERS:
                forced = kind == "activated" and tier == "time_volunteer"
                on = forced or draw(st.booleans())
                strict[tier][kind] = on
                loose[tier][kind] = forced or (on and draw(st.booleans()))
            continue
        # Thresholds rising up the ladder; the loose policy scales them all down by one factor
        # (keeping their order) and drops some.
        values = sorted(draw(st.lists(st.sampled_from(GRID), min_size=4, max_size=4)))
        factor = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
        for tier, value in zip(TIERS, values, strict=True):
            if not draw(st.booleans()):
                continue
            strict[tier][kind] = int(value) if spec.value == "count" else value
            if draw(st.booleans()):
                lowered = value * factor
                loose[tier][kind] = int(lowered) if spec.value == "count" else lowered
    make = lambda tables: Policy(**{t: Requirements(**tables[t]) for t in TIERS})  # noqa: E731
    return make(strict), make(loose)


members_st = st.lists(
    st.fixed_dictionaries(
        {
            "activated": st.booleans(),
            "hours_given_outside_downline": st.sampled_from(GRID) | st.floats(0, 120),
            "people_helped_outside_downline": st.sampled_from([0, 1, 2, 5, 10, 20, 50, 90]),
            "active_referrals": st.integers(0, 100),
            "tenure_days": st.sampled_from(GRID) | st.floats(0, 120),
            "trust_percentile": st.sampled_from(GRID) | st.floats(0, 100),
            "no_open_fraud_ring": st.booleans(),
        }
    ),
    max_size=25,
)


def reference(row: pd.Series, policy: Policy) -> tuple[str, str | None, dict[str, float]]:
    """The rules read plainly, one member at a time: (tier, next tier, gap per stated kind)."""

    def value(kind: str) -> float:
        return float(row[kind])

    held = NO_TIER
    for tier in TIERS:
        stated = policy.tier(tier).required()
        if all(value(k) >= threshold - 1e-9 for k, threshold in stated.items()):
            held = tier
        else:
            break
    following = None if held == TIERS[-1] else TIERS[TIER_LEVELS.index(held)]
    gaps: dict[str, float] = {}
    if following is not None:
        for kind, threshold in policy.tier(following).required().items():
            short = threshold - value(kind)
            gaps[kind] = short if short > 1e-9 else 0.0
    return held, following, gaps


@settings(max_examples=200, deadline=None)
@given(pair=policy_pairs(), rows=members_st)
def test_agrees_with_a_per_member_reference(pair: tuple[Policy, Policy], rows: list[Any]) -> None:
    policy = pair[0]
    table = assign_tiers(measures_of(*rows), policy=policy)
    shortfall = promotion_shortfall(table, policy=policy)
    for i, row in table.iterrows():
        held, following, gaps = reference(row, policy)
        assert row["tier"] == held
        assert (pd.isna(row["next_tier"]) and following is None) or row["next_tier"] == following
        for kind in REQUIREMENT_KINDS:
            gap = float(row[f"gap_{kind}"])
            assert gap == pytest.approx(gaps.get(kind, 0.0), abs=1e-9), (i, kind)
        listed = [part.split(":")[0] for part in row["missing"].split("; ") if part]
        assert listed == [k for k in REQUIREMENT_KINDS if gaps.get(k, 0) > 0]
        stated = {} if following is None else policy.tier(following).required()
        share = sum(gap / stated[kind] for kind, gap in gaps.items() if gap > 0)
        assert shortfall[i] == pytest.approx(share, abs=1e-9), i


@settings(max_examples=200, deadline=None)
@given(pair=policy_pairs(), rows=members_st)
def test_loosening_a_policy_never_moves_anyone_down(
    pair: tuple[Policy, Policy], rows: list[Any]
) -> None:
    strict, loose = pair
    measures = measures_of(*rows)
    change = compare_policies(
        assign_tiers(measures, policy=strict), assign_tiers(measures, policy=loose)
    )
    assert change.moved_down == 0
    assert change.moved_up + change.unchanged == len(rows)


@settings(max_examples=100, deadline=None)
@given(pair=policy_pairs(), rows=members_st.filter(bool), data=st.data())
def test_more_service_never_lowers_a_tier(
    pair: tuple[Policy, Policy], rows: list[Any], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(REQUIREMENT_KINDS))
    more = data.draw(st.sampled_from([1, 5, 50]))
    measures = measures_of(*rows)
    better = measures.copy()
    if REQUIREMENT_SPECS[kind].value == "flag":
        better[kind] = True
    else:
        better[kind] = better[kind] + more
    before = assign_tiers(measures, policy=pair[0])["tier"].cat.codes
    after = assign_tiers(better, policy=pair[0])["tier"].cat.codes
    assert (after >= before).all()


@pytest.mark.parametrize("value", ["inf", "nan", "1e300"])
def test_thresholds_beyond_any_real_number_are_refused(value: str) -> None:
    text = default_policy_text().replace("tenure_days = 365", f"tenure_days = {value}", 1)
    assert text != default_policy_text()
    with pytest.raises(PolicyError, match=r"p\.toml: tiers\.city_partner\.tenure_days"):
        parse_policy(text, source="p.toml")
