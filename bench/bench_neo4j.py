"""Benchmark: ingest into Neo4j against a LOAD CSV baseline, and snapshot load, on one server.

Goals (issue #3): ≥ 50k sessions/s and faster than ``LOAD CSV`` of the same file on the same
server; snapshot of 1M sessions in ≤ 10 s. The server is the one ``--store`` names (default:
the local ``timebank neo4j start`` server); the database is emptied first. Same-process
networkx reference for the snapshot: reading the same sessions through the store's query API
into an ``nx.DiGraph``.

    python -m bench.bench_neo4j --members 100000        # ≈ 1M sessions
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import networkx as nx

from bench.common import dataset, print_table, timed
from graph import neo4j_server
from graph.ingest import ingest
from graph.store import open_store
from graph.store.neo4j import Neo4jStore

#: The baseline: the same sessions.csv through LOAD CSV, typed and linked as our ingest does
#: (no validation at all), in transactions of the same size.
LOAD_CSV = """
LOAD CSV WITH HEADERS FROM $file AS row
CALL (row) {
  MATCH (h:Member {member_id: row.helper_id})
  MATCH (r:Member {member_id: row.recipient_id})
  CREATE (h)-[:HELPED {session_id: row.session_id,
                       started_at: datetime(row.started_at).epochSeconds,
                       hours: toFloat(row.hours), service: row.service,
                       rating: toInteger(row.rating),
                       status: coalesce(row.status, 'confirmed')}]->(r)
} IN TRANSACTIONS OF 10000 ROWS
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder (generated if absent)"
    )
    parser.add_argument("--store", default="neo4j")
    args = parser.parse_args()
    folder = dataset(
        args.data or Path(tempfile.gettempdir()) / f"timebank-bench-{args.members}", args.members
    )
    store = open_store(args.store)
    assert isinstance(store, Neo4jStore), "--store must name a Neo4j server"
    seconds: dict[str, float] = {}
    store.clear()

    phases: dict[str, list[float]] = {}

    def progress(table: str, done: int, total: int) -> None:
        phases.setdefault(table, []).append(time.perf_counter())

    with timed(seconds, "ingest"):
        started = time.perf_counter()
        report = ingest(folder, store, progress=progress)
    assert report.all_accepted
    n_sessions = report.tables["sessions"].inserted
    # The sessions write phase (validation of every table happens before any write): from the
    # last members batch to the last sessions batch, i.e. conflict check + writes.
    seconds["sessions phase"] = phases["sessions"][-1] - phases.get("members", [started])[-1]

    with timed(seconds, "snapshot"):
        snapshot = store.snapshot()
    assert len(snapshot.sessions) == n_sessions

    with timed(seconds, "networkx"):
        rows = store.query(
            "MATCH (h:Member)-[s:HELPED {status: 'confirmed'}]->(r:Member) "
            "RETURN h.member_id AS h, r.member_id AS r, sum(s.hours) AS hours"
        )
        graph = nx.DiGraph()
        graph.add_weighted_edges_from(((row["h"], row["r"], row["hours"]) for row in rows), "hours")
    assert graph.number_of_edges() == snapshot.help_matrix().nnz

    # Baseline: delete the sessions, then LOAD CSV the same file into the same server.
    store.run_batched("MATCH ()-[s:HELPED]->() CALL (s) { DELETE s } IN TRANSACTIONS OF 20000 ROWS")
    import_dir = neo4j_server.default_home() / "import"
    shutil.copyfile(folder / "sessions.csv", import_dir / "bench-sessions.csv")
    with timed(seconds, "load csv"):
        store.run_batched(LOAD_CSV, file="file:///bench-sessions.csv")
    assert store.counts()["sessions"] == n_sessions
    (import_dir / "bench-sessions.csv").unlink()

    print_table(
        [
            ("dataset", str(folder)),
            (
                "sessions / all rows",
                f"{n_sessions:,} / {sum(t.read for t in report.tables.values()):,}",
            ),
            ("validated ingest, all tables", f"{seconds['ingest']:.1f} s"),
            ("  sessions write phase (check + write)", f"{seconds['sessions phase']:.1f} s"),
            ("  sessions/s in the write phase", f"{n_sessions / seconds['sessions phase']:,.0f}"),
            ("  sessions/s over the whole ingest", f"{n_sessions / seconds['ingest']:,.0f}"),
            ("LOAD CSV of sessions.csv (no validation)", f"{seconds['load csv']:.1f} s"),
            ("  sessions/s", f"{n_sessions / seconds['load csv']:,.0f}"),
            (
                "ratio LOAD CSV / our write phase",
                f"{seconds['load csv'] / seconds['sessions phase']:.2f}x",
            ),
            ("snapshot load", f"{seconds['snapshot']:.1f} s"),
            ("networkx reference (query + DiGraph)", f"{seconds['networkx']:.1f} s"),
            ("ratio networkx / snapshot", f"{seconds['networkx'] / seconds['snapshot']:.2f}x"),
        ]
    )


if __name__ == "__main__":
    main()
