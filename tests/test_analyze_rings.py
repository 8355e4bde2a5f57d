"""Fraud rings through ``analyze``: the review queue in rings.json and the store, stable ids
across re-runs, and reviewers' decisions feeding back into trust and tiers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from graph.analyze import analyze
from graph.metrics.rings import FLAG_SCORE
from graph.store import GraphStore
from tests.conftest import ingest_generated


def _queue(out: Path) -> list[dict[str, object]]:
    rings: list[dict[str, object]] = json.loads((out / "rings.json").read_text())["rings"]
    return rings


def test_flagged_rings_join_the_queue_and_decisions_stick(
    store: GraphStore, tmp_path: Path
) -> None:
    data = ingest_generated(store, members=2000, seed=3)
    first = analyze(store, tmp_path / "first")
    queue = _queue(tmp_path / "first")
    assert queue, "planted fraud is flagged"
    scores = [ring["score"] for ring in queue]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= FLAG_SCORE
    assert {ring["status"] for ring in queue} == {"open"}
    assert [ring.ring_id for ring in store.rings()] == [ring["ring_id"] for ring in queue]
    assert first.summary["rings"] == {"open": len(queue), "confirmed": 0, "dismissed": 0}
    planted = {m for g in data.truth if g.kind != "honest_circle" for m in g.members}
    assert planted & set(queue[0]["members"])

    # risk.csv: each flagged member's strongest ring, by its queue id.
    risk = pd.read_csv(tmp_path / "first" / "risk.csv", keep_default_na=False)
    top = queue[0]
    at_top = risk.set_index("member_id").loc[list(top["members"])]
    assert (at_top["ring_score"] == top["score"]).all()
    assert (at_top["fraud_risk"] >= top["score"]).all()
    assert (at_top["ring_id"] == top["ring_id"]).all()
    stored = store.member_results().set_index("member_id")
    first_member = top["members"][0]
    assert stored.loc[first_member, "fraud_risk"] == at_top.loc[first_member, "fraud_risk"]

    # Reviewers decide; a re-run keeps every id and decision.
    confirmed, dismissed = queue[0], queue[1]
    store.review_ring(confirmed["ring_id"], "confirmed", reviewer="rev", note="minting loop")
    store.review_ring(dismissed["ring_id"], "dismissed", reviewer="rev", note="family")
    second = analyze(store, tmp_path / "second")
    again = {ring["ring_id"]: ring for ring in _queue(tmp_path / "second")}
    assert set(again) == {ring["ring_id"] for ring in queue}
    assert again[confirmed["ring_id"]]["status"] == "confirmed"
    assert again[dismissed["ring_id"]]["status"] == "dismissed"
    assert [r.status for r in store.ring_reviews(confirmed["ring_id"])] == ["confirmed"]

    # Confirmed members vouch for nothing any more: whom they vouched for lose trust.
    trust_before = first.tables["trust.csv"].set_index("member_id")
    trust_after = second.tables["trust.csv"].set_index("member_id")
    assert not trust_before["positive_trust"].equals(trust_after["positive_trust"])
    # Members of open or confirmed rings fail "no open fraud ring"; a dismissed ring's pass.
    measures = second.tables["tiers.csv"].set_index("member_id")["no_open_fraud_ring"]
    for ring, passes in ((confirmed, False), (dismissed, True)):
        only_here = [m for m in ring["members"] if _rings_of(again, m) == {ring["ring_id"]}]
        assert only_here, ring
        assert (measures.loc[only_here] == passes).all(), ring


def _rings_of(queue: dict[str, dict[str, object]], member: str) -> set[str]:
    return {ring_id for ring_id, ring in queue.items() if member in ring["members"]}
