"""Benchmark: validated ingest of a generated dataset into the embedded store.

Reports validated-ingest throughput (target ≥ 100k sessions/s at 1M sessions), the time of an
idempotent re-ingest, and — as the same-process reference — loading the same sessions.csv into a
plain networkx MultiDiGraph with pandas and no validation at all.

    python bench/bench_ingest.py --members 100000      # ≈ 1M sessions
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import networkx as nx
import pandas as pd

from bench.common import dataset, peak_rss_gb, print_table, timed
from graph.ingest import ingest
from graph.store import SqliteStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder (generated if absent)"
    )
    args = parser.parse_args()
    folder = dataset(
        args.data or Path(tempfile.gettempdir()) / f"timebank-bench-{args.members}", args.members
    )

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        with SqliteStore(Path(scratch) / "bench.db") as store:
            with timed(seconds, "ingest"):
                report = ingest(folder, store)
            with timed(seconds, "re-ingest"):
                again = ingest(folder, store)
        store_mb = (Path(scratch) / "bench.db").stat().st_size / 1e6
    assert report.all_accepted
    assert all(t.inserted == 0 for t in again.tables.values())
    ingest_rss = peak_rss_gb()

    with timed(seconds, "networkx"):
        sessions = pd.read_csv(folder / "sessions.csv")
        graph = nx.from_pandas_edgelist(
            sessions,
            source="helper_id",
            target="recipient_id",
            edge_attr=["session_id", "hours", "started_at"],
            create_using=nx.MultiDiGraph,
        )
    assert graph.number_of_edges() == report.tables["sessions"].read

    n_sessions = report.tables["sessions"].inserted
    n_rows = sum(t.inserted for t in report.tables.values())
    print_table(
        [
            ("dataset", str(folder)),
            ("sessions / all rows", f"{n_sessions:,} / {n_rows:,}"),
            ("validated ingest", f"{seconds['ingest']:.2f} s"),
            ("  sessions/s", f"{n_sessions / seconds['ingest']:,.0f}"),
            ("  rows/s (all tables)", f"{n_rows / seconds['ingest']:,.0f}"),
            ("idempotent re-ingest", f"{seconds['re-ingest']:.2f} s"),
            ("store file", f"{store_mb:,.0f} MB"),
            ("peak RSS after ingest", f"{ingest_rss:.2f} GB"),
            ("networkx reference (read_csv + MultiDiGraph)", f"{seconds['networkx']:.2f} s"),
            ("ratio networkx / ingest", f"{seconds['networkx'] / seconds['ingest']:.2f}x"),
        ]
    )


if __name__ == "__main__":
    main()
