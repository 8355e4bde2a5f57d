"""Fraud rings and their audit trail in both stores: the same calls give the same answers."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.errors import ReviewError, RingNotFoundError, StoreError
from graph.ingest import ingest
from graph.model import Ring, RingReview
from graph.rings import reconcile
from graph.store import GraphStore, SqliteStore
from graph.store.neo4j import Neo4jStore
from tests.conftest import NOW, WriteDataset
from tests.test_store import dump

T0 = datetime(2025, 2, 1, 9, 30, tzinfo=UTC)

#: Over GOOD's members m1..m4 and sessions s1..s4; members and sessions in evidence order.
LOOP = Ring(
    ring_id="loop-1",
    kind="loop",
    members=("m2", "m1", "m3"),
    session_ids=("s2", "s1", "s4"),
    score=0.75,
    reasons=("3.5 hours per member-day", "ratings only from inside"),
    first_at=T0,
    last_at=T0 + timedelta(days=29, seconds=1),
    hours=4.0,
    credits=3.5,
)
PAIR = Ring(
    ring_id="pair-1",
    kind="pair",
    members=("m3", "m4"),
    session_ids=("s3",),
    score=0.9,
    reasons=(),
    first_at=T0,
    last_at=T0,
    hours=1.0,
    credits=0.0,
    status="confirmed",
)
FARM = Ring(
    ring_id="farm-1",
    kind="sybil_farm",
    members=("m1", "m2", "m3", "m4"),
    session_ids=(),
    score=0.75,
    reasons=("shared device",),
    first_at=T0,
    last_at=T0,
    hours=0.0,
    credits=0.0,
    status="dismissed",
)

#: A ring of the kind earlier versions detected (issue 14 made implausible claims a finding per
#: member, graph.metrics.claims), as they stored it: stores still hold such rings.
LEGACY = Ring(
    ring_id="implausible-5d4b1f0c9e2a",
    kind="implausible",
    members=("m1", "m2", "m3"),
    session_ids=("s1", "s4"),
    score=0.93,
    reasons=(
        "claims that cannot be true: more than 24 hours in a day, or sessions that overlap "
        "with different recipients",
    ),
    first_at=T0,
    last_at=T0 + timedelta(days=29),
    hours=2.0,
    credits=2.0,
)


@pytest.fixture
def stocked(store: GraphStore, write_dataset: WriteDataset) -> GraphStore:
    """A store holding GOOD (members m1..m4, sessions s1..s4) and no rings yet."""
    ingest(write_dataset(), store, now=NOW)
    return store


def test_rings_come_back_as_saved_most_suspicious_first(stocked: GraphStore) -> None:
    assert stocked.rings() == []
    stocked.save_rings([LOOP, PAIR, FARM])
    # Score descending, then ring_id: farm-1 before loop-1 at the same score.
    assert stocked.rings() == [PAIR, FARM, LOOP]
    assert stocked.ring("loop-1") == LOOP
    assert stocked.ring("nope") is None
    assert stocked.rings(status="open") == [LOOP]
    assert stocked.rings(status="confirmed") == [PAIR]
    assert stocked.rings(status="dismissed") == [FARM]
    assert stocked.ring_reviews("loop-1") == []


def test_a_legacy_implausible_ring_loads_lists_and_takes_reviews(stocked: GraphStore) -> None:
    stocked.save_rings([LOOP, LEGACY])
    assert stocked.rings() == [LEGACY, LOOP]
    assert stocked.ring(LEGACY.ring_id) == LEGACY
    assert stocked.rings(status="open") == [LEGACY, LOOP]
    stocked.review_ring(LEGACY.ring_id, "dismissed", reviewer="ann", note="one-hour ratings", at=T0)
    dismissed = replace(LEGACY, status="dismissed")
    assert stocked.ring(LEGACY.ring_id) == dismissed
    assert stocked.ring_reviews(LEGACY.ring_id) == [
        RingReview(LEGACY.ring_id, "dismissed", "ann", "one-hour ratings", T0)
    ]
    # Detection no longer finds such rings: a run keeps the stored one and its decision.
    rings, reviews = reconcile([replace(LOOP, ring_id="")], stocked.rings(), now=T0)
    assert (rings, reviews) == ([LOOP, dismissed], [])
    stocked.save_rings(rings, reviews)
    assert stocked.rings() == [dismissed, LOOP]


def test_saving_again_replaces_a_rings_evidence_but_not_its_decision(stocked: GraphStore) -> None:
    stocked.save_rings([LOOP, PAIR])
    grown = replace(
        LOOP,
        members=("m4", "m2", "m1"),
        session_ids=("s3",),
        score=0.5,
        reasons=("fewer hours now",),
        last_at=T0 + timedelta(days=60),
        hours=9.5,
        credits=9.0,
    )
    # An analysis that read the rings before a reviewer confirmed one saves it as it saw it:
    # the evidence is new, the reviewer's decision stays.
    stocked.review_ring("pair-1", "dismissed", reviewer="rev", note="neighbours", at=T0)
    stocked.save_rings([replace(grown, status="confirmed"), PAIR])
    assert stocked.rings() == [replace(PAIR, status="dismissed"), grown]
    # A status changes with an audit entry saved beside the ring.
    reopen = RingReview("pair-1", "open", "system", "grew by 1 member since dismissed: m1", T0)
    stocked.save_rings([PAIR], [reopen])
    assert stocked.ring("pair-1") == replace(PAIR, status="open")
    assert [entry.status for entry in stocked.ring_reviews("pair-1")] == ["dismissed", "open"]


def test_saving_the_same_rings_and_reviews_again_changes_nothing(stocked: GraphStore) -> None:
    reopened = RingReview("farm-1", "open", "system", "grew by 1 member since dismissed: m4", T0)
    stocked.save_rings([LOOP, PAIR, FARM], [reopened])
    rings, trail = stocked.rings(), stocked.ring_reviews("farm-1")
    stocked.save_rings([LOOP, PAIR, FARM], [reopened])
    assert stocked.rings() == rings
    assert stocked.ring_reviews("farm-1") == trail == [reopened]


def test_saving_again_writes_nothing_to_the_embedded_file(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    path = tmp_path / "rings.db"
    reopened = RingReview("farm-1", "open", "system", "grew", T0)
    with SqliteStore(path) as store:
        ingest(write_dataset(), store, now=NOW)
        store.save_rings([LOOP, PAIR, FARM], [reopened])
    before = dump(path)
    with SqliteStore(path) as store:
        store.save_rings([LOOP, PAIR, FARM], [reopened])
    assert dump(path) == before


@pytest.mark.neo4j
def test_saving_again_adds_no_node_or_relationship_to_neo4j(
    neo4j_store: Neo4jStore, write_dataset: WriteDataset
) -> None:
    ingest(write_dataset(), neo4j_store, now=NOW)
    reopened = RingReview("farm-1", "open", "system", "grew", T0)
    graph_size = (
        "MATCH (n) OPTIONAL MATCH (n)-[r]->() "
        "RETURN count(DISTINCT n) AS nodes, count(r) AS links, "
        "collect(DISTINCT elementId(n)) AS node_ids"
    )
    neo4j_store.save_rings([LOOP, PAIR, FARM], [reopened])
    before = neo4j_store.query(graph_size)
    neo4j_store.save_rings([LOOP, PAIR, FARM], [reopened])
    assert neo4j_store.query(graph_size) == before


def test_the_audit_trail_is_in_time_order_and_sets_the_status(stocked: GraphStore) -> None:
    stocked.save_rings([LOOP])
    later = stocked.review_ring(
        "loop-1", "confirmed", reviewer="王芳", note="same device", at=T0 + timedelta(days=2)
    )
    earlier = stocked.review_ring(
        "loop-1", "dismissed", reviewer="ann", note="neighbours", at=T0 + timedelta(days=1)
    )
    # Two decisions within one second are kept in the order they were made.
    same_second = [
        stocked.review_ring("loop-1", status, reviewer="bo", note=note, at=T0 + timedelta(days=3))
        for status, note in (("open", "second look"), ("confirmed", "confirmed after all"))
    ]
    assert stocked.ring_reviews("loop-1") == [earlier, later, *same_second]
    assert later == RingReview("loop-1", "confirmed", "王芳", "same device", T0 + timedelta(days=2))
    # The ring has the status of the latest decision made, not of the latest time given.
    ring = stocked.ring("loop-1")
    assert ring is not None
    assert ring.status == "confirmed"
    assert stocked.rings(status="confirmed") == [ring]


def test_a_review_without_a_time_is_timed_now(stocked: GraphStore) -> None:
    stocked.save_rings([LOOP])
    before = datetime.now(UTC).replace(microsecond=0)
    entry = stocked.review_ring("loop-1", "dismissed", reviewer="ann", note="known family")
    assert before <= entry.reviewed_at <= datetime.now(UTC)
    assert stocked.ring_reviews("loop-1") == [entry]


def test_bad_reviews_are_refused_and_change_nothing(stocked: GraphStore) -> None:
    stocked.save_rings([LOOP])
    with pytest.raises(ReviewError, match="not 'closed'"):
        stocked.review_ring("loop-1", "closed", reviewer="ann", note="n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="note is 2,001 characters"):
        stocked.review_ring("loop-1", "confirmed", reviewer="ann", note="x" * 2001)
    with pytest.raises(ValueError, match="reviewer is 201 characters"):
        stocked.review_ring("loop-1", "confirmed", reviewer="a" * 201, note="n")
    with pytest.raises(RingNotFoundError, match="no fraud ring 'loop-404'") as raised:
        stocked.review_ring("loop-404", "confirmed", reviewer="ann", note="n")
    assert raised.value.ring_id == "loop-404"
    with pytest.raises(RingNotFoundError, match="loop-404"):
        stocked.ring_reviews("loop-404")
    assert stocked.ring_reviews("loop-1") == []
    assert stocked.rings() == [LOOP]


def test_rings_naming_what_the_store_does_not_hold_are_refused_whole(
    stocked: GraphStore,
) -> None:
    stranger = replace(PAIR, ring_id="pair-2", members=("m3", "m99"))
    with pytest.raises(StoreError, match="ring 'pair-2' names member_id 'm99', which is not"):
        stocked.save_rings([LOOP, stranger])
    ghost = replace(PAIR, session_ids=("s3", "s99"))
    with pytest.raises(StoreError, match="ring 'pair-1' names session_id 's99'"):
        stocked.save_rings([LOOP, ghost])
    orphan = RingReview("pair-404", "open", "system", "grew", T0)
    with pytest.raises(RingNotFoundError, match="pair-404"):
        stocked.save_rings([LOOP], [orphan])
    with pytest.raises(ReviewError, match="needs a note"):
        stocked.save_rings([LOOP], [RingReview("loop-1", "open", "system", " ", T0)])
    with pytest.raises(ValueError, match="each named once"):
        stocked.save_rings([replace(LOOP, members=("m1", "m1"))])
    assert stocked.rings() == []


def test_decisions_stick_across_detection_runs(stocked: GraphStore) -> None:
    """The review workflow end to end: detect, decide, detect again on grown data."""
    first_run = [replace(LOOP, members=("m1", "m2")), PAIR]
    rings, reviews = reconcile(first_run, stocked.rings(), now=T0)
    stocked.save_rings(rings, reviews)
    loop_id, pair_id = (ring.ring_id for ring in rings)
    stocked.review_ring(loop_id, "dismissed", reviewer="ann", note="neighbours", at=T0)
    stocked.review_ring(pair_id, "confirmed", reviewer="ann", note="sock puppets", at=T0)

    later = T0 + timedelta(days=30)
    grown = [replace(PAIR, members=("m3", "m4", "m1")), LOOP]
    rings, reviews = reconcile(grown, stocked.rings(), now=later)
    stocked.save_rings(rings, reviews)
    assert {(ring.ring_id, ring.status) for ring in stocked.rings()} == {
        (pair_id, "confirmed"),
        (loop_id, "open"),
    }
    assert stocked.ring_reviews(loop_id)[-1] == RingReview(
        loop_id, "open", "system", "grew by 1 member since dismissed: m3", later
    )
    # A third run on the same data changes nothing.
    again = reconcile(grown, stocked.rings(), now=later + timedelta(days=1))
    assert again[1] == []
    assert sorted(again[0], key=lambda ring: ring.ring_id) == sorted(
        stocked.rings(), key=lambda ring: ring.ring_id
    )


@pytest.mark.neo4j
def test_both_stores_answer_the_same(
    sqlite_store: SqliteStore, neo4j_store: Neo4jStore, write_dataset: WriteDataset
) -> None:
    folder = write_dataset()
    answers = []
    for store in (sqlite_store, neo4j_store):
        ingest(folder, store, now=NOW)
        store.save_rings([LOOP, PAIR, FARM], [RingReview("farm-1", "open", "system", "g", T0)])
        store.review_ring("loop-1", "confirmed", reviewer="ann", note="yes", at=T0)
        answers.append(
            (
                store.rings(),
                [store.rings(status=status) for status in ("open", "confirmed", "dismissed")],
                [store.ring_reviews(ring.ring_id) for ring in store.rings()],
            )
        )
    assert answers[0] == answers[1]


@pytest.mark.neo4j
def test_neo4j_rings_are_a_graph_analysts_can_walk(
    neo4j_store: Neo4jStore, write_dataset: WriteDataset
) -> None:
    ingest(write_dataset(), neo4j_store, now=NOW)
    neo4j_store.save_rings([LOOP, PAIR])
    neo4j_store.review_ring("loop-1", "confirmed", reviewer="ann", note="yes", at=T0)
    members = neo4j_store.query(
        "MATCH (m:Member)-[x:IN_RING]->(:Ring {ring_id: $id}) "
        "RETURN m.member_id AS member ORDER BY x.position",
        id="loop-1",
    )
    assert [row["member"] for row in members] == ["m2", "m1", "m3"]
    evidence = neo4j_store.query(
        "MATCH (r:Ring {ring_id: $id}) MATCH (h:Member)-[s:HELPED]->(:Member) "
        "WHERE s.session_id IN r.session_ids RETURN s.session_id AS session, h.member_id AS h "
        "ORDER BY session",
        id="loop-1",
    )
    assert evidence == [
        {"session": "s1", "h": "m1"},
        {"session": "s2", "h": "m2"},
        {"session": "s4", "h": "m1"},
    ]
    trail = neo4j_store.query(
        "MATCH (:Ring {ring_id: $id})-[:REVIEWED]->(e:RingReview) "
        "RETURN e.status AS status, e.reviewer AS reviewer, e.reviewed_at AS at",
        id="loop-1",
    )
    assert trail == [{"status": "confirmed", "reviewer": "ann", "at": int(T0.timestamp())}]
    with pytest.raises(StoreError, match="already exists"):
        neo4j_store.execute("CREATE (:Ring {ring_id: 'loop-1'})")


def test_an_embedded_store_from_before_rings_gains_them_on_opening(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    with SqliteStore(path) as store:
        ingest(write_dataset(), store, now=NOW)
    # Take the store back to the schema the code before rings created.
    db = sqlite3.connect(path)
    for kind, name in db.execute(
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'ring%' ORDER BY type = 'table'"
    ).fetchall():
        db.execute(f"DROP {kind.upper()} {name}")
    db.commit()
    db.close()
    assert not [table for table, _ in dump(path) if table.startswith("ring")]
    with SqliteStore(path) as store:
        store.save_rings([LOOP])
        store.review_ring("loop-1", "dismissed", reviewer="ann", note="n", at=T0)
    with SqliteStore(path) as store:
        assert store.ring("loop-1") == replace(LOOP, status="dismissed")
        assert store.counts() == {"members": 4, "sessions": 4, "referrals": 3, "redemptions": 1}
    db = sqlite3.connect(path)
    members = db.execute("SELECT member_id FROM ring_members_v ORDER BY position").fetchall()
    db.close()
    assert members == [("m2",), ("m1",), ("m3",)]
