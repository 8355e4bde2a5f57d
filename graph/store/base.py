"""The storage interface every backend implements (embedded SQLite, Neo4j).

A store keeps what was ingested, durably, and hands analytics a :class:`~graph.model.Snapshot`.
Validation happens before a store sees a row; a store only adds rows, and reports (never
overwrites) a row whose key it already holds with other content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from graph.model import Member, Snapshot
from graph.schema import TableName

__all__ = [
    "COUNTED_TABLES",
    "MEMBER_RESULTS",
    "GraphStore",
    "Progress",
    "StoredState",
    "WriteResult",
    "find_conflicts",
    "result_columns",
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

    def close(self) -> None:
        """Release connections; the store stays on disk."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
