"""The storage interface every backend implements (embedded SQLite, Neo4j).

A store keeps what was ingested, durably, and hands analytics a :class:`~graph.model.Snapshot`.
Validation happens before a store sees a row; a store only adds rows, and reports (never
overwrites) a row whose key it already holds with other content.

A store also keeps the fraud rings detection found (:class:`~graph.model.Ring`) with their
review status and audit trail (:class:`~graph.model.RingReview`): rings are updated in place and
never deleted, audit entries only appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from graph.model import RING_KINDS, RING_STATUSES, Member, Ring, RingReview, RingStatus, Snapshot
from graph.rings import review_as_dict, ring_as_dict, ring_review
from graph.schema import TableName

__all__ = [
    "COUNTED_TABLES",
    "MEMBER_RESULTS",
    "GraphStore",
    "Progress",
    "StoredState",
    "WriteResult",
    "checked_reviews",
    "find_conflicts",
    "result_columns",
    "review_from_record",
    "review_record",
    "ring_from_record",
    "ring_record",
    "rings_in_order",
]

#: ``progress(table, rows_done, rows_total)``, called as batches are written.
Progress = Callable[[str, int, int], None]

#: Per-member analytic results a store keeps on its members (``write_member_results``), with
#: their types: what analysts query in Cypher (``m.trust_score``) or SQL.
MEMBER_RESULTS: dict[str, type] = {
    "trust_score": float,
    "trust_rank": int,
    "tier": str,
    "fraud_risk": float,
}

#: What ``timebank stats`` counts, in this order and with these names.
COUNTED_TABLES: tuple[TableName, ...] = ("members", "sessions", "referrals", "redemptions")


@dataclass(frozen=True)
class StoredState:
    """What a store already holds that validating new rows depends on."""

    member_ids: pd.Index
    #: referee_id → referrer_id for every stored referral.
    referrer_of: pd.Series

    @classmethod
    def empty(cls) -> StoredState:
        return cls(
            pd.Index([], dtype="str"), pd.Series([], index=pd.Index([], dtype="str"), dtype="str")
        )


@dataclass(frozen=True)
class WriteResult:
    """What a store did with one validated table.

    ``conflicts`` has one row per incoming row whose key was already stored with other content:
    ``position`` (row in the written frame), ``column`` (first column that differs) and
    ``stored`` (the stored value, as text).
    """

    inserted: int
    unchanged: int
    conflicts: pd.DataFrame


CONFLICT_COLUMNS = ["position", "column", "stored"]


def _comparable(values: pd.Series) -> np.ndarray:
    """Values as Python objects with None for missing, so 9 (Int64) equals 9 (int)."""
    as_objects: np.ndarray = values.to_numpy(dtype=object, copy=True)
    as_objects[pd.isna(as_objects)] = None
    return as_objects


def result_columns(results: pd.DataFrame) -> list[str]:
    """The :data:`MEMBER_RESULTS` columns of ``results``; anything else is a programming error."""
    unknown = sorted(set(results.columns) - {"member_id", *MEMBER_RESULTS})
    if unknown or "member_id" not in results.columns:
        raise ValueError(
            f"member results take member_id and {', '.join(MEMBER_RESULTS)}; got {unknown or 'no member_id'}"
        )
    return [column for column in MEMBER_RESULTS if column in results.columns]


def find_conflicts(
    incoming: pd.DataFrame, stored: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """Incoming rows whose key is stored with other content, for :attr:`WriteResult.conflicts`.

    Every backend finds the stored rows its own way and hands them here, so "the same row"
    means the same thing in every store.

    Parameters
    ----------
    incoming
        The canonical rows being written.
    stored
        For incoming rows whose key is already stored: ``position`` (row in ``incoming``) and
        the stored canonical ``columns``.
    """
    if stored.empty:
        return pd.DataFrame(columns=CONFLICT_COLUMNS)
    positions = stored["position"].to_numpy(dtype=np.int64)
    first_column = np.full(len(stored), None, dtype=object)
    stored_value = np.full(len(stored), None, dtype=object)
    for column in columns:
        new = _comparable(incoming[column].iloc[positions])
        old = _comparable(stored[column])
        same = np.array([a == b for a, b in zip(new, old, strict=True)], dtype=bool)
        differs = ~same & (first_column == None)  # noqa: E711 - elementwise on an object array
        first_column[differs] = column
        stored_value[differs] = [None if v is None else str(v) for v in old[differs]]
    conflicting = first_column != None  # noqa: E711
    return (
        pd.DataFrame(
            {
                "position": positions[conflicting],
                "column": first_column[conflicting],
                "stored": stored_value[conflicting],
            }
        )
        .sort_values("position")
        .reset_index(drop=True)
    )


def _seconds(moment: datetime) -> int:
    """Unix seconds (UTC; a time without an offset is UTC), as both stores keep times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.replace(microsecond=0).timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def ring_record(ring: Ring) -> dict[str, Any]:
    """A ring as stores keep it: times in Unix seconds (UTC), sequences as lists.

    Raises
    ------
    ValueError
        For a ring no detector could have produced: unknown kind or status, no members, a
        member or session named twice.
    """
    if ring.kind not in RING_KINDS or ring.status not in RING_STATUSES:
        raise ValueError(
            f"ring {ring.ring_id!r}: unknown kind {ring.kind!r} or status {ring.status!r}"
        )
    if not ring.members or len(set(ring.members)) < len(ring.members):
        raise ValueError(f"ring {ring.ring_id!r}: needs at least one member, each named once")
    if len(set(ring.session_ids)) < len(ring.session_ids):
        raise ValueError(f"ring {ring.ring_id!r}: a session is named twice")
    return {
        **ring_as_dict(ring),
        "score": float(ring.score),
        "first_at": _seconds(ring.first_at),
        "last_at": _seconds(ring.last_at),
        "hours": float(ring.hours),
        "credits": float(ring.credits),
    }


def ring_from_record(record: Mapping[str, Any]) -> Ring:
    """The inverse of :func:`ring_record`, from a store's row."""
    return Ring(
        ring_id=record["ring_id"],
        kind=record["kind"],
        members=tuple(record["members"]),
        session_ids=tuple(record["session_ids"]),
        score=record["score"],
        reasons=tuple(record["reasons"]),
        first_at=_moment(record["first_at"]),
        last_at=_moment(record["last_at"]),
        hours=record["hours"],
        credits=record["credits"],
        status=record["status"],
    )


def review_record(review: RingReview) -> dict[str, Any]:
    """An audit entry as stores keep it: ``reviewed_at`` in Unix seconds (UTC)."""
    return {**review_as_dict(review), "reviewed_at": _seconds(review.reviewed_at)}


def review_from_record(record: Mapping[str, Any]) -> RingReview:
    """The inverse of :func:`review_record`, from a store's row."""
    return RingReview(
        ring_id=record["ring_id"],
        status=record["status"],
        reviewer=record["reviewer"],
        note=record["note"],
        reviewed_at=_moment(record["reviewed_at"]),
    )


def checked_reviews(reviews: Iterable[RingReview]) -> list[RingReview]:
    """Audit entries checked as :func:`graph.rings.ring_review` checks a new one.

    Raises
    ------
    ReviewError
        For an unknown status or a blank or over-long reviewer or note.
    """
    return [
        ring_review(r.ring_id, r.status, reviewer=r.reviewer, note=r.note, at=r.reviewed_at)
        for r in reviews
    ]


def rings_in_order(rings: Iterable[Ring]) -> list[Ring]:
    """Rings as stores list them: highest score first, then by ``ring_id``."""
    return sorted(rings, key=lambda ring: (-ring.score, ring.ring_id))


@runtime_checkable
class GraphStore(Protocol):
    """A durable home for one time-bank network."""

    @property
    def location(self) -> str:
        """Where the store lives (a file path or a server URI, never a password)."""
        ...

    def stored_state(self) -> StoredState:
        """Member ids and referrer links already stored, for validating new rows."""
        ...

    def write(
        self, tables: Mapping[TableName, pd.DataFrame], *, progress: Progress | None = None
    ) -> dict[TableName, WriteResult]:
        """Add validated canonical tables (members first); identical rows change nothing."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows stored per table in :data:`COUNTED_TABLES`."""
        ...

    def get_member(self, member_id: str) -> Member | None:
        """One member's record, or None."""
        ...

    def write_member_results(self, results: pd.DataFrame) -> int:
        """Keep analytic results on members: ``member_id`` plus any :data:`MEMBER_RESULTS`
        columns (a later write replaces a member's value). Returns members updated."""
        ...

    def member_results(self) -> pd.DataFrame:
        """``member_id`` and every :data:`MEMBER_RESULTS` column, for members with results."""
        ...

    def snapshot(self, *, as_of: pd.Timestamp | None = None) -> Snapshot:
        """The network (as it stood at ``as_of``, UTC) as an in-memory snapshot."""
        ...

    def save_rings(self, rings: Sequence[Ring], reviews: Sequence[RingReview] = ()) -> None:
        """Keep ``rings`` (by ``ring_id``: a stored ring's evidence, score, reasons, members,
        sessions and status are replaced) and append ``reviews`` to their audit trails, all at
        once. Saving the same rings and reviews again changes nothing (an audit entry equal to
        one of its ring's entries is not added twice). Rings are never deleted.

        Raises
        ------
        StoreError
            When a ring names a member or session the store does not hold.
        RingNotFoundError
            When a review is for a ring neither saved now nor stored.
        ValueError
            For a malformed ring (see :func:`ring_record`) or review (:class:`ReviewError`).
        """
        ...

    def rings(self, *, status: RingStatus | None = None) -> list[Ring]:
        """Stored rings (with ``status`` only, if given), highest score first, then by id."""
        ...

    def ring(self, ring_id: str) -> Ring | None:
        """One stored ring, or None."""
        ...

    def review_ring(
        self,
        ring_id: str,
        status: RingStatus,
        *,
        reviewer: str,
        note: str,
        at: datetime | None = None,
    ) -> RingReview:
        """Give a ring a status, recording who did it, why and when (default: now) in its
        audit trail; returns that entry (timed to the second, UTC).

        Raises
        ------
        RingNotFoundError
            For an id the store holds no ring under.
        ReviewError
            For an unknown status or a blank or over-long reviewer or note
            (see :func:`graph.rings.ring_review`).
        """
        ...

    def ring_reviews(self, ring_id: str) -> list[RingReview]:
        """A ring's audit trail, oldest first (entries of the same second in the order written).

        Raises
        ------
        RingNotFoundError
            For an id the store holds no ring under.
        """
        ...

    def close(self) -> None:
        """Release connections; the store stays on disk."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
