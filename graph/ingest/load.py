"""Ingest: read → validate → write to a store, with a report of every row's fate."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graph.ingest.readers import RawDataset, read_dataset, read_frames, rejects_frame
from graph.ingest.validate import ValidTable, validate
from graph.schema import TableName
from graph.store.base import GraphStore, Progress, WriteResult

__all__ = ["IngestReport", "TableReport", "ingest"]


@dataclass(frozen=True)
class TableReport:
    """Rows of one table: ``read`` = ``inserted + unchanged + duplicates + rejected``."""

    read: int
    inserted: int
    unchanged: int
    duplicates: int
    rejected: int


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: per-table counts, the rejects report and ignored files."""

    tables: dict[TableName, TableReport]
    rejects: pd.DataFrame
    ignored_files: list[str]
    seconds: float

    @property
    def all_accepted(self) -> bool:
        """True when no row was rejected."""
        return self.rejects.empty

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": {name: vars(report) for name, report in self.tables.items()},
            "rejected_rows": sum(report.rejected for report in self.tables.values()),
            "ignored_files": self.ignored_files,
            "seconds": round(self.seconds, 3),
        }


def ingest(
    source: Path | str | RawDataset | Mapping[TableName, pd.DataFrame],
    store: GraphStore,
    *,
    encoding: str = "utf-8",
    now: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate ``source`` and add its good rows to ``store``; idempotent.

    Parameters
    ----------
    source
        A dataset folder (CSV or JSON Lines files), a mapping of table name to DataFrame, or an
        already-read :class:`RawDataset`.
    store
        Any :class:`~graph.store.base.GraphStore`.
    encoding
        Encoding of the files in a folder (e.g. ``"gbk"`` for Chinese spreadsheet exports).
    now
        Reject times after this (default: the current time).
    progress
        Called as ``progress(table, rows_done, rows_total)`` while rows are written.

    Raises
    ------
    graph.errors.DatasetError
        When the source cannot be read at all (nothing is written then).
    """
    started = time.perf_counter()
    if isinstance(source, RawDataset):
        raw = source
    elif isinstance(source, Mapping):
        raw = read_frames(source)
    else:
        raw = read_dataset(Path(source), encoding=encoding)
    validation = validate(raw, stored=store.stored_state(), now=now)
    written = store.write(
        {name: table.frame for name, table in validation.tables.items()}, progress=progress
    )
    conflict_rejects = [
        _conflict_rejects(validation.tables[name], result) for name, result in written.items()
    ]
    rejects = pd.concat([validation.rejects, *conflict_rejects], ignore_index=True)
    rejects = rejects.sort_values(["file", "line"], kind="stable", ignore_index=True)
    rejected_lines = rejects.groupby("file")["line"].nunique()
    tables = {}
    for name, table in validation.tables.items():
        result = written[name]
        rejected = int(rejected_lines.get(table.source, 0))
        tables[name] = TableReport(
            read=table.read + int((raw.rejects["file"] == table.source).sum()),
            inserted=result.inserted,
            unchanged=result.unchanged,
            duplicates=table.duplicates,
            rejected=rejected,
        )
    return IngestReport(tables, rejects, validation.ignored_files, time.perf_counter() - started)


def _conflict_rejects(table: ValidTable, result: WriteResult) -> pd.DataFrame:
    """Rows whose key the store already holds with other content: reported, not overwritten."""
    conflicts = result.conflicts
    if conflicts.empty:
        return rejects_frame(table.source, [], "", [], [])
    key = table.spec.key
    kinds = {column.name: column.kind for column in table.spec.columns}
    positions = conflicts["position"].to_numpy()
    values, reasons = [], []
    for position, column, stored in conflicts[["position", "column", "stored"]].itertuples(
        index=False
    ):
        value = table.frame[column].iloc[position]
        if kinds.get(column) == "time":
            value, stored = _iso(value), _iso(stored)
        values.append("" if pd.isna(value) else str(value))
        reasons.append(
            f"{key} {table.frame[key].iloc[position]!r} is already stored with {column} = "
            f"{'(empty)' if stored is None else repr(stored)}; not overwritten"
        )
    return rejects_frame(
        table.source,
        table.lines[positions],
        "",
        values,
        reasons,
    ).assign(column=conflicts["column"].to_numpy())


def _iso(seconds: object) -> str | None:
    """Unix seconds (a number, or text from the store) as ISO 8601; None stays None."""
    if seconds is None or seconds is pd.NA:
        return None
    return pd.Timestamp(int(str(seconds)), unit="s").isoformat()
