"""Stable ring ids and decisions across detection runs (graph.rings), and audit-entry checks."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from graph.errors import ReviewError
from graph.model import Ring, RingKind, RingReview, RingStatus
from graph.rings import MAX_NOTE_CHARS, reconcile, ring_id_for, ring_review

T0 = datetime(2025, 2, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def ring(
    members: str,
    *,
    ring_id: str = "",
    kind: RingKind = "loop",
    status: RingStatus = "open",
    score: float = 0.8,
) -> Ring:
    """A ring of the space-separated ``members``, with evidence that tells runs apart by score."""
    return Ring(
        ring_id=ring_id,
        kind=kind,
        members=tuple(members.split()),
        session_ids=tuple(f"s-{member}" for member in members.split()),
        score=score,
        reasons=(f"scored {score}",),
        first_at=T0,
        last_at=T0 + timedelta(days=3),
        hours=2.0 * len(members.split()),
        credits=2.0 * len(members.split()),
        status=status,
    )


def test_ring_ids_depend_on_kind_and_member_set_only() -> None:
    assert ring_id_for("loop", ["m2", "m1", "m3"]) == ring_id_for("loop", ["m3", "m1", "m2"])
    assert ring_id_for("loop", ["m1", "m2"]) != ring_id_for("pair", ["m1", "m2"])
    assert ring_id_for("loop", ["m1", "m2"]) != ring_id_for("loop", ["m1", "m2", "m3"])
    # Ids are not split on a separator: "a b" + "c" is not "a" + "b c".
    assert ring_id_for("loop", ["a b", "c"]) != ring_id_for("loop", ["a", "b c"])
    assert ring_id_for("dense", ["m1"]).startswith("dense-")


def test_a_new_ring_gets_its_content_id_and_is_open() -> None:
    detected = ring("m1 m2 m3", ring_id="whatever-detection-said", status="confirmed")
    rings, reviews = reconcile([detected], [], now=NOW)
    content_id = ring_id_for("loop", ["m1", "m2", "m3"])
    assert rings == [replace(detected, ring_id=content_id, status="open")]
    assert reviews == []


@pytest.mark.parametrize("status", ["open", "confirmed"])
def test_a_ring_that_gained_members_keeps_its_id_and_decision(status: RingStatus) -> None:
    stored = ring("m1 m2 m3", ring_id="loop-first", status=status, score=0.6)
    grown = ring("m1 m2 m3 m4", score=0.9)
    rings, reviews = reconcile([grown], [stored], now=NOW)
    assert [(r.ring_id, r.status) for r in rings] == [("loop-first", status)]
    # The evidence is this run's.
    assert rings[0].members == ("m1", "m2", "m3", "m4")
    assert (rings[0].score, rings[0].hours) == (0.9, 8.0)
    assert reviews == []


def test_a_dismissed_ring_that_grew_reopens_saying_who_joined() -> None:
    stored = ring("m1 m2 m3", ring_id="loop-first", status="dismissed")
    rings, reviews = reconcile([ring("m18 m1 m2 m3 m17")], [stored], now=NOW)
    assert [(r.ring_id, r.status) for r in rings] == [("loop-first", "open")]
    assert reviews == [
        RingReview(
            ring_id="loop-first",
            status="open",
            reviewer="system",
            note="grew by 2 members since dismissed: m17, m18",
            reviewed_at=NOW,
        )
    ]


def test_a_dismissed_ring_found_again_unchanged_or_smaller_stays_dismissed() -> None:
    stored = ring("m1 m2 m3 m4", ring_id="loop-first", status="dismissed")
    for again in ("m1 m2 m3 m4", "m4 m3 m2 m1", "m1 m2 m3"):
        rings, reviews = reconcile([ring(again)], [stored], now=NOW)
        assert [(r.ring_id, r.status) for r in rings] == [("loop-first", "dismissed")]
        assert reviews == []


def test_a_reopening_note_names_one_member_or_counts_many() -> None:
    stored = ring("m1 m2", ring_id="loop-a", status="dismissed")
    _, one = reconcile([ring("m1 m2 m3")], [stored], now=NOW)
    assert one[0].note == "grew by 1 member since dismissed: m3"
    many = " ".join(f"n{i:03d}" for i in range(45))
    _, reviews = reconcile([ring(f"m1 m2 {many}")], [stored], now=NOW)
    note = reviews[0].note
    assert note.startswith("grew by 45 members since dismissed: n000, n001, ")
    assert note.endswith("n019 and 25 more")
    long_ids = " ".join(f"{'x' * 150}{i}" for i in range(30))
    _, reviews = reconcile([ring(f"m1 m2 {long_ids}")], [stored], now=NOW)
    assert len(reviews[0].note) == MAX_NOTE_CHARS


def test_stored_rings_not_found_again_are_kept_as_they_are() -> None:
    confirmed = ring("m7 m8", ring_id="pair-old", kind="pair", status="confirmed", score=0.4)
    dismissed = ring("m1 m2 m3", ring_id="loop-old", status="dismissed")
    rings, reviews = reconcile([ring("m4 m5 m6")], [confirmed, dismissed], now=NOW)
    assert [r.ring_id for r in rings] == [
        ring_id_for("loop", ["m4", "m5", "m6"]),
        "pair-old",
        "loop-old",
    ]
    assert rings[1:] == [confirmed, dismissed]
    assert reviews == []
    assert reconcile([], [confirmed, dismissed], now=NOW) == ([confirmed, dismissed], [])


@pytest.mark.parametrize(
    ("stored_members", "detected_members", "continues"),
    [
        ("a b c d", "a b c e f", True),  # 3 shared of 6: Jaccard exactly 0.5
        ("a b c d", "a b c e f g", False),  # 3 of 7: just below
        ("a b", "a b c d e", True),  # 2 of 5, but it holds every stored member: it grew
        ("a b c", "a b", True),  # 2 of 3: it lost a member
        ("a b c d e", "a b", False),  # 2 of 5 and smaller: a different, smaller group
    ],
)
def test_a_detected_ring_continues_a_stored_one_from_half_overlap_or_growth(
    stored_members: str, detected_members: str, continues: bool
) -> None:
    stored = ring(stored_members, ring_id="loop-kept")
    rings, _ = reconcile([ring(detected_members)], [stored], now=NOW)
    if continues:
        assert [r.ring_id for r in rings] == ["loop-kept"]
    else:
        assert [r.ring_id for r in rings] == [
            ring_id_for("loop", detected_members.split()),
            "loop-kept",
        ]


def test_only_a_ring_of_the_same_kind_continues() -> None:
    stored = ring("m1 m2", ring_id="pair-kept", kind="pair", status="dismissed")
    rings, reviews = reconcile([ring("m1 m2", kind="loop")], [stored], now=NOW)
    assert [r.ring_id for r in rings] == [ring_id_for("loop", ["m1", "m2"]), "pair-kept"]
    assert reviews == []


def test_the_best_match_wins_and_each_ring_is_matched_once() -> None:
    near = ring("a b c d", ring_id="loop-near", status="confirmed")
    far = ring("a b c d x", ring_id="loop-far", status="dismissed")
    # "a b c d e" continues near (4 of 5 members) better than far (4 of 6): far is kept as is.
    rings, _ = reconcile([ring("a b c d e")], [far, near], now=NOW)
    assert [(r.ring_id, r.status) for r in rings] == [
        ("loop-near", "confirmed"),
        ("loop-far", "dismissed"),
    ]
    assert rings[1] == far
    # Two detected rings continue the same stored one: the closer takes its id.
    rings, _ = reconcile([ring("a b c d e f"), ring("a b c d e")], [near], now=NOW)
    assert [r.ring_id for r in rings] == [ring_id_for("loop", list("abcdef")), "loop-near"]


def test_a_new_ring_whose_content_id_is_taken_gets_a_suffix() -> None:
    taken = ring_id_for("pair", ["m1", "m2"])
    # A stored ring kept the id its first members gave it while its members changed since.
    drifted = ring("m8 m9", ring_id=taken, kind="pair")
    rings, _ = reconcile(
        [ring("m1 m2", kind="pair"), ring("m2 m1", kind="pair", score=0.5)], [drifted], now=NOW
    )
    assert [r.ring_id for r in rings] == [f"{taken}-2", f"{taken}-3", taken]


def test_reconcile_is_deterministic() -> None:
    rng = random.Random(5)
    people = [f"m{i}" for i in range(30)]
    statuses: list[RingStatus] = ["open", "confirmed", "dismissed"]
    stored = [
        ring(
            " ".join(rng.sample(people, rng.randint(2, 6))),
            ring_id=f"loop-{i}",
            status=rng.choice(statuses),
        )
        for i in range(25)
    ]
    detected = [ring(" ".join(rng.sample(people, rng.randint(2, 8)))) for _ in range(25)]
    first = reconcile(detected, stored, now=NOW)
    assert reconcile(detected, stored, now=NOW) == first
    # The stored rings' order (a store's listing order) does not matter to what continues what.
    shuffled = reconcile(detected, list(reversed(stored)), now=NOW)
    assert shuffled[0][: len(detected)] == first[0][: len(detected)]
    assert shuffled[1] == first[1]
    assert {r.ring_id for r in shuffled[0]} == {r.ring_id for r in first[0]}
    # And every ring keeps a distinct id.
    assert len({r.ring_id for r in first[0]}) == len(first[0])


def test_a_review_is_checked_and_timed_to_the_second_in_utc() -> None:
    at = datetime(2025, 3, 1, 10, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=8)))
    entry = ring_review("loop-a", "confirmed", reviewer="王芳", note="same device", at=at)
    assert entry.reviewed_at == datetime(2025, 3, 1, 2, 0, 0, tzinfo=UTC)
    naive = ring_review("loop-a", "dismissed", reviewer="ann", note="n", at=datetime(2025, 3, 1))
    assert naive.reviewed_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert ring_review("loop-a", "open", reviewer="a" * 200, note="n" * 2000).reviewed_at.tzinfo
    with pytest.raises(ReviewError, match="one of open, confirmed, dismissed, not 'closed'"):
        ring_review("loop-a", "closed", reviewer="ann", note="n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="note is 2,001 characters; at most 2,000"):
        ring_review("loop-a", "open", reviewer="ann", note="n" * 2001)
    with pytest.raises(ValueError, match="reviewer is 201 characters"):
        ring_review("loop-a", "open", reviewer="a" * 201, note="n")
    with pytest.raises(ReviewError, match="needs a reviewer"):
        ring_review("loop-a", "open", reviewer="  ", note="n")
    with pytest.raises(ReviewError, match="needs a note"):
        ring_review("loop-a", "open", reviewer="ann", note="")
