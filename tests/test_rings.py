"""Fraud-ring detection: each detector on known cases, the score's reasons, accuracy on
generated networks with planted fraud, and the per-member risk table."""

from __future__ import annotations

from dataclasses import asdict

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from graph.generate import GeneratorParams
from graph.metrics.claims import implausible_claims
from graph.metrics.evaluation import auc
from graph.metrics.rings import (
    RING_COLUMNS,
    RISK_COLUMNS,
    bounded_cycles,
    detect_rings,
    risk_table,
)
from graph.metrics.trust import trust_scores
from graph.model import DETECTED_RING_KINDS
from graph.store import SqliteStore
from tests.conftest import SessionRow, ingest_generated, snapshot_of

#: Established neighbours (joined years ago) and fresh accounts (joined days before 2025-06).
OLD = dict.fromkeys(("ann", "bo", "cai", "dan", "eli", "fay", "gus"), "2022-01-01")
FRESH = dict.fromkeys(("xu", "yan", "zed", "wu"), "2025-05-28")


def _weekly(a: str, b: str, weeks: int, start: str = "2024-01-01") -> list[SessionRow]:
    """Two neighbours helping each other in turn, an hour or two a week."""
    day = pd.Timestamp(start)
    return [
        (
            *((a, b) if week % 2 else (b, a))[0:2],
            str((day + pd.Timedelta(weeks=week)).date()),
            1.5,
            9,
        )
        for week in range(weeks)
    ]


#: A neighbourhood where everyone helps everyone now and then for two years.
NEIGHBOURHOOD: list[SessionRow] = [
    row
    for a, b in [("ann", "bo"), ("bo", "cai"), ("cai", "ann"), ("dan", "eli"), ("eli", "fay")]
    for row in _weekly(a, b, 40)
] + [
    (h, r, f"2024-{m:02d}-15", 1.0, 8)
    for m in range(1, 13)
    for h, r in [("gus", "ann"), ("fay", "gus"), ("dan", "cai"), ("bo", "eli")]
]


def _loop(members: list[str], start: str, rounds: int, hours: float = 6) -> list[SessionRow]:
    day = pd.Timestamp(start)
    rows = []
    for turn in range(rounds):
        for i, helper in enumerate(members):
            at = day + pd.Timedelta(days=3 * turn, hours=i)
            rows.append((helper, members[(i + 1) % len(members)], str(at), hours, 10))
    return rows


def _rings(rows: list[SessionRow], **settings: object) -> pd.DataFrame:
    snapshot = snapshot_of({**OLD, **FRESH}, NEIGHBOURHOOD + rows)
    return detect_rings(snapshot, **settings)  # type: ignore[arg-type]


def _with(rings: pd.DataFrame, kind: str, *members: str) -> pd.DataFrame:
    """The rings of ``kind`` that hold all of ``members``."""
    holds = rings["members"].map(lambda found: set(members) <= set(found))
    return rings[(rings["kind"] == kind) & holds]


def test_a_fresh_loop_is_found_with_its_sessions_and_reasons() -> None:
    rows = _loop(["xu", "yan", "zed"], "2025-06-02", rounds=4)
    rings = _rings(rows)
    assert list(rings.columns) == RING_COLUMNS
    loop = _with(rings, "loop", "xu", "yan", "zed").iloc[0]
    assert set(loop["members"]) == {"xu", "yan", "zed"}
    assert len(loop["session_ids"]) == 12
    assert loop["hours"] == pytest.approx(72.0)
    assert loop["credits"] == loop["hours"]
    assert loop["score"] >= 0.5
    assert loop["first_at"] == pd.Timestamp("2025-06-02")
    reasons = " ".join(loop["reasons"])
    assert "closed loop of 3 members" in reasons
    assert "hours per member per active day" in reasons
    assert "days old" in reasons


def test_a_loop_spread_wider_than_the_window_is_not_a_loop() -> None:
    day = pd.Timestamp("2025-06-02")
    rows = [
        (h, r, str((day + pd.Timedelta(days=30 * i)).date()), 6.0, 10)
        for i, (h, r) in enumerate([("xu", "yan"), ("yan", "zed"), ("zed", "xu")])
    ]
    assert _with(_rings(rows), "loop", "xu", "yan", "zed").empty
    # A window twice the loop's span always holds it whole, whatever the grid.
    wide = _rings(rows, window_days=120, min_score=0.0)
    assert len(_with(wide, "loop", "xu", "yan", "zed")) == 1


def test_fresh_accounts_minting_back_and_forth_are_a_pair() -> None:
    rows = [
        (h, r, f"2025-06-{d:02d}", 7.0, 10)
        for d in range(2, 12)
        for h, r in ([("xu", "yan")] if d % 2 else [("yan", "xu")])
    ]
    pair = _with(_rings(rows), "pair", "xu", "yan").iloc[0]
    assert set(pair["members"]) == {"xu", "yan"}
    assert pair["score"] >= 0.5
    assert "back and forth" in pair["reasons"][0]


def test_long_standing_neighbours_helping_weekly_are_not_flagged() -> None:
    rings = _rings([])
    assert not (rings["score"] >= 0.5).any(), rings[["kind", "members", "score"]]


def test_a_helper_claiming_more_than_a_day_is_no_ring() -> None:
    """Impossible claims are one member's (graph.metrics.claims), not a group's: the helper and
    the neighbours he claims to have helped at once are not a ring for it (they were an
    "implausible" ring scored at least 0.9 before)."""
    rows = [("gus", r, "2025-06-03 06:00", 9.0, 9) for r in ("ann", "bo", "cai")]
    rings = _rings(rows, min_score=0.0)
    assert set(rings["kind"]) <= set(DETECTED_RING_KINDS)
    assert not (rings["score"] >= 0.5).any(), rings[["kind", "members", "score"]]
    claims = implausible_claims(snapshot_of({**OLD, **FRESH}, NEIGHBOURHOOD + rows)).members
    gus = claims.set_index("member_id").loc["gus"]
    assert (gus["days_over_24h"], gus["max_day_hours"]) == (1, 27.0)
    assert gus["claims_score"] > 0


def test_a_recruiter_with_a_burst_of_referees_trading_among_themselves_is_a_farm() -> None:
    farm = {f"s{i}": "2025-06-01" for i in range(5)}
    rows: list[SessionRow] = []
    for i in range(5):
        for d in (3, 6, 9):
            at = f"{3 * i + 6:02d}:00"  # one after another, never overlapping
            rows.append((f"s{i}", "gus", f"2025-06-{d:02d} {at}", 2.5, 10))
            rows.append(("gus", f"s{i}", f"2025-06-{d + 1:02d} {at}", 2.5, 10))
    snapshot = snapshot_of(
        {**OLD, **farm}, NEIGHBOURHOOD + rows, referrals=[("gus", s) for s in farm]
    )
    ring = _with(detect_rings(snapshot), "sybil_farm", "gus").iloc[0]
    assert ring["members"][0] == "gus"
    assert set(ring["members"][1:]) == set(farm)
    assert ring["score"] >= 0.5


def test_risk_is_the_strongest_ring_of_each_member_with_its_doubted_trust() -> None:
    rows = _loop(["xu", "yan", "zed"], "2025-06-02", rounds=4)
    snapshot = snapshot_of({**OLD, **FRESH}, NEIGHBOURHOOD + rows)
    rings = detect_rings(snapshot)
    trust = pd.Series({"xu": 0.1, "yan": 0.5, "zed": 0.9, "wu": 0.25})
    risk = risk_table(snapshot, rings, trust_score=trust).set_index("member_id")
    assert list(risk.reset_index().columns) == RISK_COLUMNS
    loop = _with(rings, "loop", "xu", "yan", "zed").iloc[0]
    assert (risk.loc[["xu", "yan", "zed"], "ring_score"] == loop["score"]).all()
    assert (risk.loc[["xu", "yan", "zed"], "ring_id"] == loop["ring_id"]).all()
    assert risk.loc["xu", "trust_doubt"] == pytest.approx(0.8)
    assert risk.loc["xu", "fraud_risk"] == pytest.approx(1 - (1 - loop["score"]) * 0.2)
    assert risk.loc["yan", "fraud_risk"] == risk.loc["zed", "fraud_risk"] == loop["score"]
    # Outside any ring, only doubted trust makes a member risky; members without a trust
    # score are taken as unknown.
    assert risk.loc["wu", "ring_id"] == ""
    assert risk.loc["wu", "fraud_risk"] == pytest.approx(0.5)
    assert risk.loc["gus", "fraud_risk"] == 0.0
    # Without claims nobody has a claims score; with them, a claim that stands adds to risk.
    assert (risk["claims_score"] == 0).all()
    claims = pd.DataFrame({"member_id": ["zed", "gus", "nobody"], "claims_score": [0.5, 0.25, 1]})
    both = risk_table(snapshot, rings, trust_score=trust, claims=claims).set_index("member_id")
    assert both.loc["gus", "fraud_risk"] == both.loc["gus", "claims_score"] == 0.25
    assert both.loc["zed", "fraud_risk"] == pytest.approx(1 - (1 - loop["score"]) * 0.5)
    assert both.loc["xu", "fraud_risk"] == risk.loc["xu", "fraud_risk"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("window_days", 0),
        ("max_loop", 2),
        ("max_loop", 9),
        ("min_pair_hours", float("nan")),
        ("min_farm_referees", 1),
        ("farm_share", 0),
        ("min_score", 1.5),
    ],
)
def test_settings_are_checked(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=setting):
        _rings([], **{setting: value})


#: Generator settings the detectors must hold across: ring sizes, camouflage, hours.
GENERATED = [
    GeneratorParams(members=3000, seed=1),
    GeneratorParams(members=3000, seed=2, fraud_hours=(1.0, 3.0), camouflage=6.0),
    GeneratorParams(members=3000, seed=3, farm_size=(5, 25), loop_size=(3, 6)),
    GeneratorParams(members=3000, seed=6, camouflage=10.0, fraud_hours=(2.0, 5.0)),
    # Loops longer than the loop detector's bound are left to the dense-block detector.
    GeneratorParams(members=3000, seed=4, loop_size=(3, 12), farm_size=(5, 25)),
    GeneratorParams(members=10000, seed=5),
]


@pytest.mark.parametrize("params", GENERATED, ids=lambda p: f"{p.members}-seed{p.seed}")
def test_planted_fraud_is_found_and_honest_circles_are_not(params: GeneratorParams) -> None:
    store = SqliteStore(":memory:")
    data = ingest_generated(store, **asdict(params))
    snapshot = store.snapshot()
    trust_table = trust_scores(snapshot).set_index("member_id")
    rings = detect_rings(snapshot, trust_percentile=trust_table["trust_percentile"])
    flagged_rings = rings[rings["score"] >= 0.5]
    flagged = {m for members in flagged_rings["members"] for m in members}
    planted = [g for g in data.truth if g.kind != "honest_circle"]
    fraud = {m for g in planted for m in g.members}
    circles = {m for g in data.truth if g.kind == "honest_circle" for m in g.members}
    assert len(flagged & fraud) / len(flagged) >= 0.9  # precision
    assert len(flagged & fraud) / len(fraud) >= 0.9  # recall
    assert not flagged & circles
    for group in planted:
        members = set(group.members)
        best = max(len(members & set(r)) / len(members | set(r)) for r in flagged_rings["members"])
        assert best >= 0.5, group
    risk = risk_table(snapshot, rings, trust_score=trust_table["trust_score"])
    assert auc(risk["fraud_risk"], risk["member_id"].isin(fraud)) >= 0.95
    assert np.isin(rings["kind"], DETECTED_RING_KINDS).all()


@pytest.mark.parametrize("seed", range(6))
def test_bounded_cycles_are_networkx_simple_cycles(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes = int(rng.integers(5, 40))
    edges = np.unique(rng.integers(0, nodes, (int(rng.integers(5, 160)), 2)), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    found = bounded_cycles(edges[:, 0], edges[:, 1], 5)
    ours = sorted(tuple(map(int, row)) for rows in found.values() for row in rows)
    graph = nx.DiGraph(edges.tolist())
    expected = sorted(
        tuple(cycle[cycle.index(min(cycle)) :] + cycle[: cycle.index(min(cycle))])
        for cycle in nx.simple_cycles(graph, length_bound=5)
        if len(cycle) >= 3
    )
    assert ours == expected
    assert all(rows.shape[1] == length for length, rows in found.items())
