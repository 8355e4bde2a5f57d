"""Benchmark: building the in-memory snapshot from the embedded store.

Target: 10M sessions in ≤ 30 s and ≤ 4 GB RSS. The store is prepared in a child process (so its
memory does not count), then this process opens it, builds the snapshot, and reports time and
peak RSS. Same-process reference: the plain networkx way — read the same sessions from SQLite
with pandas and build an ``nx.DiGraph`` of helper → recipient hours.

    python bench/bench_snapshot.py --members 1000000     # ≈ 10M sessions
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import networkx as nx
import pandas as pd

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.store import SqliteStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, default=None, help="store to reuse (built if absent)")
    args = parser.parse_args()
    store_path = args.store or prepared_store_path(args.members)

    seconds: dict[str, float] = {}
    baseline_rss = peak_rss_gb()
    with SqliteStore(store_path) as store, timed(seconds, "snapshot"):
        snapshot = store.snapshot()
    snapshot_rss = peak_rss_gb()
    with timed(seconds, "help_matrix"):
        snapshot.help_matrix()

    with timed(seconds, "networkx"):
        db = sqlite3.connect(store_path)
        sessions = pd.read_sql_query(
            "SELECT helper_id, recipient_id, hours FROM sessions_v WHERE status = 'confirmed'", db
        )
        db.close()
        edges = sessions.groupby(["helper_id", "recipient_id"], as_index=False)["hours"].sum()
        graph = nx.from_pandas_edgelist(
            edges, "helper_id", "recipient_id", edge_attr="hours", create_using=nx.DiGraph
        )
    assert graph.number_of_edges() == snapshot.help_matrix().nnz

    print_table(
        [
            ("store", str(store_path)),
            ("members / sessions", f"{snapshot.n_members:,} / {len(snapshot.sessions):,}"),
            ("snapshot build", f"{seconds['snapshot']:.2f} s"),
            ("peak RSS with snapshot", f"{snapshot_rss:.2f} GB (before: {baseline_rss:.2f} GB)"),
            ("help_matrix (CSR)", f"{seconds['help_matrix']:.2f} s"),
            ("networkx reference (read_sql + DiGraph)", f"{seconds['networkx']:.2f} s"),
            (
                "ratio networkx / (snapshot + CSR)",
                f"{seconds['networkx'] / (seconds['snapshot'] + seconds['help_matrix']):.2f}x",
            ),
        ]
    )


if __name__ == "__main__":
    main()
