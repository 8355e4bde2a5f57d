"""Benchmark: trust scores — accuracy on Bitcoin OTC, speed against memory bandwidth and networkx.

Reports (issue #4):

- the unsupervised AUC of low trust against REV2's fraud labels on Bitcoin OTC (goal ≥ 0.97);
- the time of :func:`graph.metrics.trust.trust_model` on a generated network, against the
  memory-bandwidth bound of its sparse iterations (goal: within 3×). The bound: every power
  iteration streams the CSR matrix once (8-byte value + 4-byte column per entry, 4-byte row
  pointers) and reads or writes a handful of member vectors (8 bytes each); the bandwidth is
  measured here with a large numpy copy;
- a same-process networkx reference: ``nx.pagerank`` (networkx's own scipy kernel) on the same
  vouch graph with the same seeds, plus the time to build that graph as researchers would.

    python -m bench.bench_trust --members 1000000        # ≈ 10M sessions
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.ingest import ingest, read_snap
from graph.metrics.centrality import power_iteration
from graph.metrics.trust import TrustModel, trust_model
from graph.store import SqliteStore

#: SNAP Bitcoin OTC and REV2's labels: ``shared/`` beside the checkout, or TIMEBANK_SHARED.
OTC = (
    Path(os.environ.get("TIMEBANK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "bitcoin-otc"
)
#: Member vectors each power iteration reads or writes: scores, previous scores, the product,
#: the inverse out-weights, the teleport vector and the L1 difference.
VECTORS_PER_ITERATION = 6


def otc_auc() -> tuple[float, float]:
    """AUC of low trust against the OTC fraud labels, and the seconds trust took."""
    store = SqliteStore(":memory:")
    ingest(read_snap(OTC / "network.csv"), store)
    snapshot = store.snapshot()
    started = time.perf_counter()
    table = trust_model(snapshot).scores().set_index("member_id")
    seconds = time.perf_counter() - started
    labels = pd.read_csv(OTC / "ground_truth.csv", header=None, names=["node", "label"], dtype=str)
    trust = table.loc[labels["node"], "trust_score"].to_numpy()
    fraudulent = (labels["label"].str.strip() == "-1").to_numpy()
    ranks = rankdata(-trust)
    p, q = fraudulent.sum(), (~fraudulent).sum()
    return float((ranks[fraudulent].sum() - p * (p + 1) / 2) / (p * q)), seconds


def vouch_graph(model: TrustModel) -> nx.DiGraph:
    """The networkx reference graph: members 0..n-1, an edge voucher → helper per vouching
    pair, weighted by the pair's mean strength (what trust's first round walks)."""
    vouches = model.vouches.tocoo()
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(model.trust)))
    graph.add_weighted_edges_from(
        zip(vouches.col.tolist(), vouches.row.tolist(), vouches.data.tolist(), strict=True)
    )
    return graph


def networkx_pagerank(model: TrustModel, graph: nx.DiGraph) -> dict[int, float]:
    """``nx.pagerank`` from the model's seeds, to the same L1 tolerance as trust."""
    seeds = dict.fromkeys(np.flatnonzero(model.seeds).tolist(), 1.0)
    ranks: dict[int, float] = nx.pagerank(
        graph,
        alpha=model.damping,
        personalization=seeds,
        tol=1e-10 / len(model.trust),
        max_iter=1000,
    )
    return ranks


def bandwidth_gb_s() -> float:
    """Sustained memory bandwidth: bytes read + written by a 400 MB copy, best of five."""
    source = np.ones(50_000_000)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()

    auc, otc_seconds = otc_auc()
    with SqliteStore(prepared_store_path(args.members)) as store:
        snapshot = store.snapshot()
    seconds: dict[str, float] = {}
    rss_before = peak_rss_gb()
    with timed(seconds, "trust"):
        model = trust_model(snapshot)
    with timed(seconds, "scores"):
        model.scores()
    rss_trust = peak_rss_gb()

    # The sparse iterations alone: one round's power iteration on the final matrix, from the
    # seeds, timed per iteration against the bytes each must move.
    n, entries = snapshot.n_members, model.vouches.nnz
    inflow = (model.vouches @ sparse.diags_array(model.passed)).tocsr()
    with timed(seconds, "iterations"):
        _, iterations = power_iteration(
            inflow,
            model.teleport,
            damping=model.damping,
            tol=1e-10,
            max_iter=1000,
            out_weight=model.out_weight,
        )
    per_iteration = entries * 12 + (n + 1) * 4 + VECTORS_PER_ITERATION * n * 8
    bandwidth = bandwidth_gb_s()
    bound = per_iteration / (bandwidth * 1e9)
    actual = seconds["iterations"] / iterations

    with timed(seconds, "networkx graph"):
        graph = vouch_graph(model)
    with timed(seconds, "networkx pagerank"):
        reference = networkx_pagerank(model, graph)
    # The same computation: the first round of trust is exactly this PageRank.
    first_round = trust_model(snapshot, rounds=1).trust
    difference = float(np.abs(first_round - np.array([reference[i] for i in range(n)])).sum())

    print_table(
        [
            ("Bitcoin OTC: AUC of low trust → fraudulent", f"{auc:.4f} (goal ≥ 0.97)"),
            ("Bitcoin OTC: trust time", f"{otc_seconds:.2f} s"),
            ("generated members / sessions", f"{n:,} / {len(snapshot.sessions):,}"),
            ("vouch pairs (matrix entries)", f"{entries:,}"),
            ("trust_model (2 rounds, all iterations)", f"{seconds['trust']:.2f} s"),
            ("  power iterations in both rounds", str(model.iterations)),
            ("  scores table (ranks, top partners)", f"{seconds['scores']:.2f} s"),
            ("  peak RSS", f"{rss_trust:.2f} GB (snapshot alone {rss_before:.2f} GB)"),
            ("one round from the seeds", f"{iterations} iterations, {seconds['iterations']:.2f} s"),
            ("  per iteration", f"{actual * 1e3:.1f} ms"),
            ("measured bandwidth (numpy copy)", f"{bandwidth:.1f} GB/s"),
            ("bytes per iteration", f"{per_iteration / 1e6:.0f} MB"),
            ("bandwidth bound per iteration", f"{bound * 1e3:.1f} ms"),
            ("ratio iteration / bound", f"{actual / bound:.2f}x (goal ≤ 3x)"),
            ("networkx: build DiGraph", f"{seconds['networkx graph']:.2f} s"),
            ("networkx: nx.pagerank", f"{seconds['networkx pagerank']:.2f} s"),
            (
                "ratio networkx (build + pagerank) / trust_model",
                f"{(seconds['networkx graph'] + seconds['networkx pagerank']) / seconds['trust']:.1f}x",
            ),
            ("L1 distance first round vs networkx", f"{difference:.2e}"),
        ]
    )


if __name__ == "__main__":
    main()
