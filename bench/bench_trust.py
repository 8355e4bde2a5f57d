"""Benchmark: trust scores — accuracy on Bitcoin OTC and generated fraud, speed against memory
bandwidth and networkx.

Reports (issue #4):

- the unsupervised AUC of low trust against REV2's fraud labels on Bitcoin OTC (goal ≥ 0.97),
  and against the planted fraud of three generated time banks (goal ≥ 0.95);
- the time of :func:`graph.metrics.trust.trust_model` on a generated network, and of its sparse
  iterations against their memory-bandwidth bound (goal: within 3×). The bound: every power
  iteration streams the CSR matrix once (8-byte value + 4-byte column per entry, 4-byte row
  pointers) and reads or writes a handful of member vectors (8 bytes each); the bandwidth is
  measured here with a large numpy copy;
- a same-process networkx reference: ``nx.pagerank`` (networkx's own scipy kernel) on the vouch
  graph with the same seeds and L1 tolerance, including building its DiGraph from the vouch
  pairs, against the whole of trust and, like for like from the same pairs, against our
  PageRank kernel (goal ≥ 50×).

Timings on these shared 2-core machines vary by up to ~1.6× from run to run, so every timing is
repeated in ``--rounds`` interleaved rounds and reported as median (range).

    python -m bench.bench_trust --members 1000000        # ≈ 10M sessions
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.errors import DatasetError
from graph.generate import GeneratorParams, generate
from graph.ingest import ingest, read_snap
from graph.metrics.centrality import power_iteration
from graph.metrics.evaluation import auc
from graph.metrics.trust import TrustModel, _discounted, _in_order, _locality_order, trust_model
from graph.shared_data import bitcoin_otc_folder
from graph.store import SqliteStore

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
    """AUC of low trust against the OTC fraud labels, and the seconds trust took.

    The data is ``shared/data/bitcoin-otc/`` beside the checkout, or under ``TIMEBANK_SHARED``
    (:func:`graph.shared_data.bitcoin_otc_folder`).
    """
    otc = bitcoin_otc_folder()
    store = SqliteStore(":memory:")
    ingest(read_snap(otc / "network.csv"), store)
    snapshot = store.snapshot()
    started = time.perf_counter()
    table = trust_model(snapshot).scores().set_index("member_id")
    seconds = time.perf_counter() - started
    labels = pd.read_csv(otc / "ground_truth.csv", header=None, names=["node", "label"], dtype=str)
    trust = table.loc[labels["node"], "trust_score"].to_numpy()
    return auc(-trust, labels["label"].str.strip() == "-1"), seconds


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


def planted_fraud_auc(members: int, seed: int) -> float:
    """AUC of low trust against the planted fraud accounts of one generated time bank."""
    data = generate(GeneratorParams(members=members, seed=seed))
    store = SqliteStore(":memory:")
    ingest({"members": data.members, "sessions": data.sessions, "referrals": data.referrals}, store)
    table = trust_model(store.snapshot()).scores()
    fraud = {m for g in data.truth if g.kind != "honest_circle" for m in g.members}
    return auc(-table["trust_score"], table["member_id"].isin(fraud))


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    """Median and range of one figure over the rounds."""
    low, mid, high = min(values), float(np.median(values)), max(values)
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    args = parser.parse_args()

    try:
        otc, otc_seconds = otc_auc()
    except DatasetError as error:
        parser.exit(2, f"bench_trust: {error}\n")
    planted = [planted_fraud_auc(3000, seed) for seed in (1, 2, 3)]
    with SqliteStore(prepared_store_path(args.members)) as store:
        snapshot = store.snapshot()
    rss_before = peak_rss_gb()
    model = trust_model(snapshot)
    rss_trust = peak_rss_gb()
    n, entries = snapshot.n_members, model.vouches.nnz
    # The sparse iterations alone: one round's power iteration on the final matrix, from the
    # seeds, timed per iteration against the bytes each must move; members in the locality
    # order trust_model iterates in.
    order = _locality_order(snapshot)
    inflow = _discounted(_in_order(model.vouches, order), model.passed[order])
    per_iteration = entries * 12 + (n + 1) * 4 + VECTORS_PER_ITERATION * n * 8
    edges = vouch_edges(model)

    # Rounds interleave every timing, so a slow spell of this shared machine spreads over all.
    figures: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        seconds: dict[str, float] = {}
        with timed(seconds, "trust"):
            trust_model(snapshot)
        with timed(seconds, "scores"):
            model.scores()
        with timed(seconds, "iterations"):
            _, iterations = power_iteration(
                inflow,
                model.teleport[order],
                damping=model.damping,
                tol=1e-10,
                max_iter=1000,
                out_weight=model.out_weight[order],
            )
        bandwidth = bandwidth_gb_s()
        with timed(seconds, "kernel"):
            kernel, _ = kernel_pagerank(model, edges)
        with timed(seconds, "networkx"):
            reference = networkx_pagerank(model, graph_from_edges(n, edges))
        bound = per_iteration / (bandwidth * 1e9)
        actual = seconds["iterations"] / iterations
        for name, value in (
            ("trust", seconds["trust"]),
            ("scores", seconds["scores"]),
            ("iteration ms", actual * 1e3),
            ("bandwidth", bandwidth),
            ("bound ms", bound * 1e3),
            ("iteration / bound", actual / bound),
            ("kernel", seconds["kernel"]),
            ("networkx", seconds["networkx"]),
            ("networkx / trust", seconds["networkx"] / seconds["trust"]),
            ("networkx / kernel", seconds["networkx"] / seconds["kernel"]),
        ):
            figures.setdefault(name, []).append(value)
    networkx_scores = np.array([reference[i] for i in range(n)])
    # The same computation: the first round of trust is exactly this PageRank.
    first_round = trust_model(snapshot, rounds=1).trust

    print_table(
        [
            ("Bitcoin OTC: AUC of low trust → fraudulent", f"{otc:.4f} (goal ≥ 0.97)"),
            ("Bitcoin OTC: trust time", f"{otc_seconds:.2f} s"),
            (
                "generated, 3k members, seeds 1-3: AUC of low trust → planted fraud",
                " ".join(f"{a:.4f}" for a in planted) + " (goal ≥ 0.95)",
            ),
            ("generated members / sessions", f"{n:,} / {len(snapshot.sessions):,}"),
            ("vouch pairs (matrix entries)", f"{entries:,}"),
            (f"median (range) of {args.rounds} interleaved rounds:", ""),
            ("trust_model (2 rounds, all iterations)", spread(figures["trust"], " s")),
            ("  power iterations in both rounds", str(model.iterations)),
            ("  scores table (ranks, top partners)", spread(figures["scores"], " s")),
            ("  peak RSS", f"{rss_trust:.2f} GB (snapshot alone {rss_before:.2f} GB)"),
            ("one round from the seeds: iterations", str(iterations)),
            ("  per iteration", spread(figures["iteration ms"], " ms")),
            ("measured bandwidth (numpy copy)", spread(figures["bandwidth"], " GB/s", 1)),
            ("bytes per iteration", f"{per_iteration / 1e6:.0f} MB"),
            ("bandwidth bound per iteration", spread(figures["bound ms"], " ms")),
            ("ratio iteration / bound", spread(figures["iteration / bound"], "x") + " (goal ≤ 3x)"),
            (
                "networkx: DiGraph from the vouch pairs + nx.pagerank",
                spread(figures["networkx"], " s"),
            ),
            ("ratio networkx / trust_model", spread(figures["networkx / trust"], "x", 1)),
            (
                "our kernel from the same pairs: CSR + power_iteration",
                spread(figures["kernel"], " s"),
            ),
            (
                "ratio networkx / our kernel (like for like)",
                spread(figures["networkx / kernel"], "x", 1) + " (goal ≥ 50x)",
            ),
            (
                "L1 distance kernel vs networkx",
                f"{float(np.abs(kernel - networkx_scores).sum()):.2e}",
            ),
            (
                "L1 distance trust's first round vs networkx",
                f"{float(np.abs(first_round - networkx_scores).sum()):.2e}",
            ),
        ]
    )


if __name__ == "__main__":
    main()
