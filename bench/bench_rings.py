"""Benchmark: fraud-ring detection at scale, and bounded cycle enumeration against networkx.

Reports (issue #5):

- the time and peak RSS of :func:`graph.metrics.rings.detect_rings` on a generated network
  (goal ≤ 60 s and ≤ 8 GB at 1M members / 10M sessions), and the rings it flags;
- a same-process networkx reference: ``nx.simple_cycles(G, length_bound=6)`` on the same
  windowed graph our loop detector walks — nodes are (window, member), an edge per pair that
  traded in the window, for one of the two window grids — consumed until it finishes or
  ``--networkx-seconds`` pass (the ratio is then a lower bound). Like for like, our
  :func:`~graph.metrics.rings.bounded_cycles` on the same edge arrays; also the whole loop
  detector, over both grids and with each loop's evidence.

    python -m bench.bench_rings --members 1000000        # ≈ 10M sessions

How well rings are found — on Bitcoin OTC and on generated networks under each adversary
setting — is :mod:`bench.bench_fraud`'s.
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.metrics.rings import _Help, _loop_candidates, _windows, bounded_cycles, detect_rings
from graph.metrics.trust import trust_scores
from graph.store import SqliteStore

#: Window and loop bound of the comparison: the detector's defaults.
WINDOW_DAYS = 14
MAX_LOOP = 6


def windowed_edges(help_: _Help) -> np.ndarray:
    """The first window grid's graph: (window, member) nodes, one edge per pair per window,
    sorted by tail then head."""
    n = len(help_.joined)
    window = _windows(help_, WINDOW_DAYS)[0]
    tails = window * n + help_.helper
    heads = window * n + help_.recipient
    return np.unique(np.stack([tails, heads], axis=1), axis=0)


def networkx_cycles(graph: nx.DiGraph, seconds: float) -> tuple[int, float, bool]:
    """Cycles of 3..MAX_LOOP nodes networkx lists within ``seconds``: count, time, finished."""
    found = 0
    started = time.perf_counter()
    for cycle in nx.simple_cycles(graph, length_bound=MAX_LOOP):
        if len(cycle) >= 3:
            found += 1
        if time.perf_counter() - started > seconds:
            return found, time.perf_counter() - started, False
    return found, time.perf_counter() - started, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--networkx-seconds", type=float, default=240.0)
    args = parser.parse_args()

    with SqliteStore(prepared_store_path(args.members)) as store:
        snapshot = store.snapshot()
    seconds: dict[str, float] = {}
    trust = trust_scores(snapshot).set_index("member_id")["trust_percentile"]
    rss_before = peak_rss_gb()
    with timed(seconds, "detect"):
        rings = detect_rings(snapshot, trust_percentile=trust)
    rss = peak_rss_gb()
    help_ = _Help.of(snapshot)
    with timed(seconds, "loops"):
        loops = _loop_candidates(help_, window_days=WINDOW_DAYS, max_loop=MAX_LOOP)
    edges = windowed_edges(help_)
    with timed(seconds, "cycles"):
        cycles = sum(
            len(rows) for rows in bounded_cycles(edges[:, 0], edges[:, 1], MAX_LOOP).values()
        )
    with timed(seconds, "graph"):
        graph = nx.DiGraph()
        graph.add_edges_from(edges.tolist())
    found, networkx_seconds, finished = networkx_cycles(graph, args.networkx_seconds)
    bound = "" if finished else "≥ "
    flagged = rings[rings["score"] >= 0.5]

    print_table(
        [
            ("members / sessions", f"{snapshot.n_members:,} / {len(snapshot.sessions):,}"),
            ("detect_rings", f"{seconds['detect']:.1f} s (goal ≤ 60 s)"),
            ("  peak RSS", f"{rss:.2f} GB (before detection {rss_before:.2f} GB; goal ≤ 8 GB)"),
            ("  rings reported / flagged (score ≥ 0.5)", f"{len(rings):,} / {len(flagged):,}"),
            (
                "  flagged by kind",
                ", ".join(f"{k} {v}" for k, v in flagged["kind"].value_counts().items()),
            ),
            (
                "windowed graph, one grid (nodes / edges)",
                f"{graph.number_of_nodes():,} / {graph.number_of_edges():,}",
            ),
            ("  building it in networkx", f"{seconds['graph']:.1f} s"),
            (
                f"nx.simple_cycles(length_bound={MAX_LOOP}), cycles of 3+",
                f"{found:,} in {networkx_seconds:.1f} s"
                + ("" if finished else f" (stopped at {args.networkx_seconds:.0f} s)"),
            ),
            (
                f"our bounded_cycles on the same edges, 3..{MAX_LOOP}",
                f"{cycles:,} in {seconds['cycles']:.2f} s",
            ),
            (
                "  ratio networkx / ours (like for like)",
                f"{bound}{networkx_seconds / seconds['cycles']:.0f}x (goal ≥ 100x)",
            ),
            (
                "our whole loop detector, both grids, with evidence",
                f"{seconds['loops']:.2f} s, {len(loops):,} distinct loops",
            ),
            (
                "  ratio networkx (one grid) / whole detector",
                f"{bound}{networkx_seconds / seconds['loops']:.0f}x",
            ),
        ]
    )


if __name__ == "__main__":
    main()
