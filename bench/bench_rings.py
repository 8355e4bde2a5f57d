"""Benchmark: fraud-ring detection at scale, and bounded cycle enumeration against networkx.

Reports (issue #5):

- accuracy on generated networks with planted fraud (``--accuracy`` sizes, seeds 1 and 2):
  member precision and recall of flagged rings, the worst planted group's best Jaccard, honest
  circle members flagged, and the AUC of ``fraud_risk``; and on Bitcoin OTC the AUC of
  ``fraud_risk`` against REV2's fraud labels;
- the time and peak RSS of :func:`graph.metrics.rings.detect_rings` on a generated network
  (goal ≤ 60 s and ≤ 8 GB at 1M members / 10M sessions), and the rings it flags;
- a same-process networkx reference: ``nx.simple_cycles(G, length_bound=6)`` on the same
  windowed graph our loop detector walks — nodes are (window, member), an edge per pair that
  traded in the window, for one of the two window grids — consumed until it finishes or
  ``--networkx-seconds`` pass (the ratio is then a lower bound). Like for like, our
  :func:`~graph.metrics.rings.bounded_cycles` on the same edge arrays; also the whole loop
  detector, over both grids and with each loop's evidence.

    python -m bench.bench_rings --members 1000000        # ≈ 10M sessions
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from bench.bench_trust import OTC
from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.generate import GeneratorParams, generate
from graph.ingest import ingest, read_snap
from graph.metrics.evaluation import auc
from graph.metrics.rings import (
    FLAG_SCORE,
    _Help,
    _loop_candidates,
    _windows,
    bounded_cycles,
    detect_rings,
    risk_table,
)
from graph.metrics.trust import trust_scores
from graph.model import Snapshot
from graph.store import SqliteStore

#: Window and loop bound of the comparison: the detector's defaults.
WINDOW_DAYS = 14
MAX_LOOP = 6


def _risk(snapshot: Snapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    trust = trust_scores(snapshot).set_index("member_id")
    rings = detect_rings(snapshot, trust_percentile=trust["trust_percentile"])
    return rings, risk_table(snapshot, rings, trust_score=trust["trust_score"])


def accuracy(members: int, seed: int) -> str:
    """Detection against the planted truth of one generated network, as one line."""
    data = generate(GeneratorParams(members=members, seed=seed))
    store = SqliteStore(":memory:")
    ingest({"members": data.members, "sessions": data.sessions, "referrals": data.referrals}, store)
    rings, risk = _risk(store.snapshot())
    flagged_rings = rings[rings["score"] >= FLAG_SCORE]
    flagged = {m for found in flagged_rings["members"] for m in found}
    planted = [g for g in data.truth if g.kind != "honest_circle"]
    fraud = {m for g in planted for m in g.members}
    circles = {m for g in data.truth if g.kind == "honest_circle" for m in g.members}
    worst = min(
        max(
            (
                len(set(g.members) & set(r)) / len(set(g.members) | set(r))
                for r in flagged_rings["members"]
            ),
            default=0.0,
        )
        for g in planted
    )
    risk_auc = auc(risk["fraud_risk"], risk["member_id"].isin(fraud))
    return (
        f"precision {len(flagged & fraud) / max(len(flagged), 1):.3f}, "
        f"recall {len(flagged & fraud) / len(fraud):.3f}, worst Jaccard {worst:.2f}, "
        f"circle members flagged {len(flagged & circles)}, risk AUC {risk_auc:.3f}"
    )


def otc_auc(path: Path = OTC) -> float:
    """AUC of ``fraud_risk`` against REV2's labels on Bitcoin OTC."""
    store = SqliteStore(":memory:")
    ingest(read_snap(path / "network.csv"), store)
    _, risk = _risk(store.snapshot())
    labels = pd.read_csv(path / "ground_truth.csv", header=None, names=["node", "label"], dtype=str)
    risk = risk.set_index("member_id").loc[labels["node"]]
    return auc(risk["fraud_risk"], labels["label"].str.strip() == "-1")


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
    parser.add_argument(
        "--accuracy", type=int, nargs="*", default=[3000, 20000, 100000], help="sizes to check"
    )
    args = parser.parse_args()

    quality = [
        (f"generated {size:,} members, seed {seed}", accuracy(size, seed))
        for size in args.accuracy
        for seed in (1, 2)
    ]
    quality.append(("Bitcoin OTC: AUC of fraud_risk → fraudulent", f"{otc_auc():.4f}"))

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
            *quality,
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
