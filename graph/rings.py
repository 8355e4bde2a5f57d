"""Fraud-ring review: stable ring ids across re-runs, and the entries of a ring's audit trail.

Detection (:mod:`graph.metrics.rings`) finds rings afresh on every run; reviewers' decisions
must outlive those runs. :func:`reconcile` carries each stored ring's id and decision over to the
ring detected again in its place, so a ring that gained a member keeps its id and its decision —
except that a *dismissed* ring that grew is reopened, with a ``"system"`` audit entry naming the
new members, since the dismissal was about the smaller group.

Pure functions: no store, no clock (the caller passes ``now``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from graph.errors import ReviewError
from graph.model import RING_STATUSES, Ring, RingKind, RingReview, RingStatus

__all__ = [
    "MATCH_JACCARD",
    "MAX_NOTE_CHARS",
    "MAX_REVIEWER_CHARS",
    "SYSTEM_REVIEWER",
    "reconcile",
    "review_as_dict",
    "ring_as_dict",
    "ring_id_for",
    "ring_review",
    "ring_summary",
]

#: A detected ring continues a stored ring of its kind when their member sets overlap at least
#: this much (Jaccard: shared members / all members), or when it holds every stored member.
MATCH_JACCARD = 0.5
#: Longest reviewer name and note an audit entry keeps (characters).
MAX_REVIEWER_CHARS = 200
MAX_NOTE_CHARS = 2_000
#: The reviewer of audit entries written by timebank-graph itself.
SYSTEM_REVIEWER = "system"
#: New members a reopening note names before it only counts the rest.
_NAMED_MEMBERS = 20


def ring_id_for(kind: RingKind, members: Iterable[str]) -> str:
    """The content id of a newly found ring: its kind and a digest of its member set.

    The same kind and members give the same id in any order, on any machine.

    Examples
    --------
    >>> ring_id_for("pair", ["m2", "m1"]) == ring_id_for("pair", ["m1", "m2"])
    True
    >>> ring_id_for("pair", ["m1", "m2"]).startswith("pair-")
    True
    """
    digest = hashlib.sha1("\x1f".join(sorted(set(members))).encode(), usedforsecurity=False)
    return f"{kind}-{digest.hexdigest()[:12]}"


def reconcile(
    detected: Sequence[Ring], stored: Sequence[Ring], *, now: datetime
) -> tuple[list[Ring], list[RingReview]]:
    """Give each detected ring its stable id and review status, given the rings already stored.

    A detected ring *continues* a stored ring of the same kind when it has the same members,
    holds all of the stored ring's members (it grew), or their member sets have a Jaccard
    overlap of at least :data:`MATCH_JACCARD`. Pairs are matched best overlap first (ties: the
    earlier detected ring, then the smaller stored ``ring_id``); each ring is matched once.

    Parameters
    ----------
    detected
        This run's rings, with their evidence; their ``ring_id`` and ``status`` are ignored.
    stored
        The rings the store holds, with their ids and review status.
    now
        When this run happened: the time of any audit entry it writes.

    Returns
    -------
    rings
        Every ring the store should hold after this run. First the detected rings, one for one
        in ``detected`` order, with this run's evidence and: a continued ring's id and status,
        except that a dismissed ring that gained members is ``"open"`` again; a new ring
        :func:`ring_id_for` its kind and members (suffixed ``-2``, ``-3``… if another ring holds
        that id) and ``"open"``. Then the stored rings not detected again, unchanged: decisions
        stick, and nothing is forgotten.
    reviews
        A ``"system"`` entry reopening each dismissed ring that grew, its note naming the new
        members.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t = datetime(2025, 3, 1, tzinfo=UTC)
    >>> def loop(ring_id, members, status="open"):
    ...     return Ring(ring_id, "loop", members, (), 0.9, (), t, t, 6.0, 6.0, status)
    >>> rings, reviews = reconcile(
    ...     [loop("", ("m1", "m2", "m3", "m4"))], [loop("loop-1", ("m1", "m2", "m3"), "dismissed")],
    ...     now=t)
    >>> rings[0].ring_id, rings[0].status, reviews[0].note
    ('loop-1', 'open', 'grew by 1 member since dismissed: m4')
    """
    continued = _continued(detected, stored)
    taken = {ring.ring_id for ring in stored}
    rings: list[Ring] = []
    reviews: list[RingReview] = []
    for position, ring in enumerate(detected):
        if position not in continued:
            ring_id = _unused(ring_id_for(ring.kind, ring.members), taken)
            taken.add(ring_id)
            rings.append(replace(ring, ring_id=ring_id, status="open"))
            continue
        previous = stored[continued[position]]
        added = sorted(set(ring.members) - set(previous.members))
        status = previous.status
        if status == "dismissed" and added:
            status = "open"
            note = _grew_note(added)
            reviews.append(
                ring_review(previous.ring_id, "open", reviewer=SYSTEM_REVIEWER, note=note, at=now)
            )
        rings.append(replace(ring, ring_id=previous.ring_id, status=status))
    matched = set(continued.values())
    rings.extend(ring for index, ring in enumerate(stored) if index not in matched)
    return rings, reviews


def _continued(detected: Sequence[Ring], stored: Sequence[Ring]) -> dict[int, int]:
    """Position in ``detected`` → position in ``stored`` of the ring it continues."""
    # Only rings sharing a member can match, so candidates come from a member index instead of
    # comparing every detected ring with every stored one.
    holding: dict[tuple[str, str], list[int]] = {}
    stored_sets = [frozenset(ring.members) for ring in stored]
    for index, ring in enumerate(stored):
        for member in stored_sets[index]:
            holding.setdefault((ring.kind, member), []).append(index)
    candidates: list[tuple[float, int, str, int]] = []
    for position, ring in enumerate(detected):
        members = frozenset(ring.members)
        sharing = {index for member in members for index in holding.get((ring.kind, member), ())}
        for index in sharing:
            old = stored_sets[index]
            shared, union = len(members & old), len(members | old)
            if old <= members or shared >= MATCH_JACCARD * union:
                candidates.append((-shared / union, position, stored[index].ring_id, index))
    continued: dict[int, int] = {}
    used: set[int] = set()
    for _, position, _, index in sorted(candidates):
        if position not in continued and index not in used:
            continued[position] = index
            used.add(index)
    return continued


def _unused(ring_id: str, taken: set[str]) -> str:
    """``ring_id``, or the first of ``ring_id-2``, ``ring_id-3``… no other ring holds."""
    suffix = 1
    candidate = ring_id
    while candidate in taken:
        suffix += 1
        candidate = f"{ring_id}-{suffix}"
    return candidate


def _grew_note(added: Sequence[str]) -> str:
    """Why a dismissed ring reopened: the members it gained (sorted), within the note limit."""
    count = f"{len(added)} member{'' if len(added) == 1 else 's'}"
    named = ", ".join(added[:_NAMED_MEMBERS])
    rest = len(added) - _NAMED_MEMBERS
    note = f"grew by {count} since dismissed: {named}" + (f" and {rest} more" if rest > 0 else "")
    return note if len(note) <= MAX_NOTE_CHARS else note[: MAX_NOTE_CHARS - 1] + "…"


def ring_review(
    ring_id: str, status: RingStatus, *, reviewer: str, note: str, at: datetime | None = None
) -> RingReview:
    """A reviewer's decision on a ring as an audit entry, checked and timed to the second (UTC).

    Parameters
    ----------
    status
        One of :data:`~graph.model.RING_STATUSES` (checked: callers may be untyped).
    reviewer, note
        Who decided and why: not blank, at most :data:`MAX_REVIEWER_CHARS` and
        :data:`MAX_NOTE_CHARS` characters.
    at
        When (default: now); a time without an offset is UTC.

    Raises
    ------
    ReviewError
        For an unknown status or a blank or over-long reviewer or note.
    """
    if status not in RING_STATUSES:
        raise ReviewError(f"ring status must be one of {', '.join(RING_STATUSES)}, not {status!r}")
    for field, text, limit in (
        ("reviewer", reviewer, MAX_REVIEWER_CHARS),
        ("note", note, MAX_NOTE_CHARS),
    ):
        if not text.strip():
            raise ReviewError(f"a ring review needs a {field}")
        if len(text) > limit:
            raise ReviewError(f"{field} is {len(text):,} characters; at most {limit:,} are kept")
    moment = datetime.now(UTC) if at is None else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return RingReview(
        ring_id, status, reviewer, note, moment.astimezone(UTC).replace(microsecond=0)
    )


def ring_as_dict(ring: Ring) -> dict[str, Any]:
    """A ring as JSON-ready values (times ISO 8601 UTC), fields in :class:`Ring` order."""
    return {
        "ring_id": ring.ring_id,
        "kind": ring.kind,
        "members": list(ring.members),
        "session_ids": list(ring.session_ids),
        "score": ring.score,
        "reasons": list(ring.reasons),
        "first_at": ring.first_at.isoformat(),
        "last_at": ring.last_at.isoformat(),
        "hours": ring.hours,
        "credits": ring.credits,
        "status": ring.status,
    }


def ring_summary(ring: Ring) -> dict[str, Any]:
    """A ring as the review queue lists it: :func:`ring_as_dict` with the number of
    ``members`` instead of their ids, no session ids, and times as datetimes."""
    return {
        "ring_id": ring.ring_id,
        "kind": ring.kind,
        "status": ring.status,
        "score": ring.score,
        "members": len(ring.members),
        "reasons": list(ring.reasons),
        "first_at": ring.first_at,
        "last_at": ring.last_at,
        "hours": ring.hours,
        "credits": ring.credits,
    }


def review_as_dict(review: RingReview) -> dict[str, Any]:
    """An audit entry as JSON-ready values (``reviewed_at`` ISO 8601 UTC)."""
    return {
        "ring_id": review.ring_id,
        "status": review.status,
        "reviewer": review.reviewer,
        "note": review.note,
        "reviewed_at": review.reviewed_at.isoformat(),
    }
