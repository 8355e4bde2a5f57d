"""Benchmark: trust scores — accuracy on Bitcoin OTC, speed against memory bandwidth and networkx.

Reports (issue #4):

- the unsupervised AUC of low trust against REV2's fraud labels on Bitcoin OTC (goal ≥ 0.97);
- the time of :func:`graph.metrics.trust.trust_model` on a generated network, against the
  memory-bandwidth bound of its sparse iterations (goal: within 3×). The bound: every power
  iteration streams the CSR matrix once (8-byte value + 4-byte column per entry, 4-byte row
  pointers) and reads or writes a handful of member vectors (8 bytes each); the bandwidth is
  measured here with a large numpy copy;
- a same-process networkx reference: ``nx.pagerank`` (networkx's own scipy kernel) on the same
  vouch graph with the same seeds, plus the time to build that graph as researchers would,
  against the whole trust computation (both rounds, from the snapshot);
- like for like, from the same vouch edge arrays: our first-round kernel (a CSR matrix built
  from the arrays + :func:`graph.metrics.centrality.power_iteration`) against networkx (a
  DiGraph built from the arrays + ``nx.pagerank``).

    python -m bench.bench_trust --members 1000000        # ≈ 10M sessions
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.ingest import ingest, read_snap
from graph.metrics.centrality import power_iteration
from graph.metrics.trust import TrustModel, _discounted, _in_order, _locality_order, trust_model
from graph.store import SqliteStore

#: SNAP Bitcoin OTC and REV2's labels: ``shared/`` beside the checkout, or TIMEBANK_SHARED.
OTC = (
    Path(os.environ.get("TIMEBANK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "bitcoin-otc"
)
#: Member vectors each power iteration reads or writes: the scaled scores the product reads,
#: the product (the next scores), the previous scores, the inverse out-weights, the next scaled
#: scores and the L1 difference.
VECTORS_PER_ITERATION = 6


class VouchEdges(NamedTuple):
    """The vouching pairs as edge arrays: an edge voucher → vouched-for member per pair,
    weighted by the pair's mean strength (what trust's first round walks)."""

    voucher: np.ndarray
    vouched: np.ndarray
    strength: np.ndarray


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


def vouch_edges(model: TrustModel) -> VouchEdges:
    """The model's vouching pairs (``vouches[helper, recipient]``: the recipient vouches)."""
    vouches = model.vouches.tocoo()
    return VouchEdges(vouches.col, vouches.row, vouches.data)


def graph_from_edges(members: int, edges: VouchEdges) -> nx.DiGraph:
    """The networkx reference graph: members 0..n-1 and the weighted vouch edges."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(members))
    graph.add_weighted_edges_from(
        zip(edges.voucher.tolist(), edges.vouched.tolist(), edges.strength.tolist(), strict=True)
    )
    return graph


def vouch_graph(model: TrustModel) -> nx.DiGraph:
    """The networkx reference graph of the model's vouches."""
    return graph_from_edges(len(model.trust), vouch_edges(model))


def kernel_pagerank(model: TrustModel, edges: VouchEdges) -> tuple[np.ndarray, int]:
    """Our first-round kernel from edge arrays: a CSR matrix (``inflow[vouched, voucher]``) and
    :func:`power_iteration` from the model's seeds, to the same L1 tolerance as trust."""
    members = len(model.trust)
    inflow = sparse.csr_array(
        (edges.strength, (edges.vouched, edges.voucher)), shape=(members, members)
    )
    return power_iteration(inflow, model.teleport, damping=model.damping, tol=1e-10, max_iter=1000)


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
    # seeds, timed per iteration against the bytes each must move; members in the locality
    # order trust_model iterates in.
    n, entries = snapshot.n_members, model.vouches.nnz
    order = _locality_order(snapshot)
    inflow = _discounted(_in_order(model.vouches, order), model.passed[order])
    with timed(seconds, "iterations"):
        _, iterations = power_iteration(
            inflow,
            model.teleport[order],
            damping=model.damping,
            tol=1e-10,
            max_iter=1000,
            out_weight=model.out_weight[order],
        )
    per_iteration = entries * 12 + (n + 1) * 4 + VECTORS_PER_ITERATION * n * 8
    bandwidth = bandwidth_gb_s()
    bound = per_iteration / (bandwidth * 1e9)
    actual = seconds["iterations"] / iterations

    edges = vouch_edges(model)
    with timed(seconds, "networkx graph"):
        graph = graph_from_edges(n, edges)
    with timed(seconds, "networkx pagerank"):
        reference = networkx_pagerank(model, graph)
    with timed(seconds, "kernel"):
        kernel, _ = kernel_pagerank(model, edges)
    networkx_seconds = seconds["networkx graph"] + seconds["networkx pagerank"]
    networkx_scores = np.array([reference[i] for i in range(n)])
    # The same computation: the first round of trust is exactly this PageRank.
    first_round = trust_model(snapshot, rounds=1).trust
    difference = float(np.abs(first_round - networkx_scores).sum())

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
                f"{networkx_seconds / seconds['trust']:.1f}x (goal ≥ 50x)",
            ),
            ("L1 distance first round vs networkx", f"{difference:.2e}"),
            ("like for like, from the same edge arrays:", ""),
            ("  our kernel: CSR + power_iteration", f"{seconds['kernel']:.2f} s"),
            ("  networkx: DiGraph + nx.pagerank", f"{networkx_seconds:.2f} s"),
            ("  ratio networkx / our kernel", f"{networkx_seconds / seconds['kernel']:.1f}x"),
            ("  L1 distance", f"{float(np.abs(kernel - networkx_scores).sum()):.2e}"),
        ]
    )


if __name__ == "__main__":
    main()
