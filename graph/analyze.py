"""``timebank analyze``: snapshot a store, run every analytic, write the result files.

This module is an edge (it writes files); the analytics themselves stay pure in
:mod:`graph.metrics`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from graph.metrics import growth
from graph.model import Snapshot
from graph.store.base import COUNTED_TABLES, GraphStore

__all__ = ["ANALYTICS", "Analysis", "AnalysisRun", "analyze", "run_analytics"]

#: Output file → analytic. Each later analytic adds itself here and so to ``timebank analyze``.
ANALYTICS: dict[str, Callable[[Snapshot], pd.DataFrame]] = {
    "growth.csv": growth.growth,
}


@dataclass
class Analysis:
    """Results of every analytic, keyed by output file name, and seconds per step."""

    tables: dict[str, pd.DataFrame]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class AnalysisRun:
    """What :func:`analyze` produced: the snapshot, every result table and the summary."""

    snapshot: Snapshot
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]


def run_analytics(snapshot: Snapshot) -> Analysis:
    """Run every analytic in :data:`ANALYTICS` on ``snapshot``, timing each."""
    analysis = Analysis({})
    for name, analytic in ANALYTICS.items():
        started = time.perf_counter()
        analysis.tables[name] = analytic(snapshot)
        analysis.seconds[name.removesuffix(".csv")] = time.perf_counter() - started
    return analysis


def analyze(
    store: GraphStore,
    out_dir: Path,
    *,
    as_of: pd.Timestamp | None = None,
    seconds: dict[str, float] | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> AnalysisRun:
    """Snapshot ``store`` (at ``as_of``), run the analytics and write them into ``out_dir``.

    Writes one CSV per analytic and ``summary.json`` (counts, as_of, seconds per step, plus
    ``extra_summary``). ``seconds`` carries timings of steps done before (e.g. ingest).
    """
    steps = dict(seconds or {})
    started = time.perf_counter()
    snapshot = store.snapshot(as_of=as_of)
    steps["snapshot"] = time.perf_counter() - started
    analysis = run_analytics(snapshot)
    steps.update(analysis.seconds)

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in analysis.tables.items():
        table.to_csv(out_dir / name, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    steps["write"] = time.perf_counter() - started
    summary = {
        "store": store.location,
        "as_of": None if snapshot.as_of is None else snapshot.as_of.isoformat(),
        "counts": {table: len(getattr(snapshot, table)) for table in COUNTED_TABLES},
        "files": sorted(analysis.tables),
        "seconds": {step: round(value, 4) for step, value in steps.items()},
        **(extra_summary or {}),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return AnalysisRun(snapshot, analysis.tables, summary)
