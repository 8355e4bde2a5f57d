"""Benchmark: trust scores — accuracy on Bitcoin OTC and generated fraud, speed against memory
bandwidth and networkx.

Reports (issues #4 and #14):

- the unsupervised AUC of low trust against REV2's fraud labels on Bitcoin OTC (goal ≥ 0.97),
  and how its bottom reads to a reviewer: members tied at the lowest score, members at 0, and
  how many of the lowest 100 anyone complained about;
- on generated time banks (``--accuracy-members``, seeds 1–3): the AUC of low trust against
  the planted fraud (goal ≥ 0.95); honest newcomers' (joined in the last 90 days) share of
  the lowest 5% of trust over their share of members (goal ≤ 1.5; ties shared fairly, see
  :func:`graph.metrics.evaluation.bottom_share`), without and with 25 cohorts of honest
  friends joining together (:class:`graph.generate.GeneratorParams` ``honest_cohorts``); and
  for those friends: how many are in the lowest 5%, how many score below 0.25 (trust alone
  then puts their ``fraud_risk`` at 0.5 or more; goal ≤ 5%), their median score against
  other newcomers';
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
    python -m bench.bench_trust --accuracy-only          # OTC and 5k-member figures, no timing
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse

from bench.common import peak_rss_gb, prepared_store_path, print_table, timed
from graph.errors import DatasetError
from graph.generate import FRAUD_KINDS, GeneratorParams, generate
from graph.ingest import ingest, read_snap
from graph.metrics.centrality import power_iteration
from graph.metrics.evaluation import auc, bottom_share, newcomer_bottom_ratio, newcomers
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


class OtcFigures(NamedTuple):
    """Trust on Bitcoin OTC: accuracy against REV2's labels, and its bottom as a reviewer
    opens it (the lowest scores, lowest first)."""

    auc: float
    seconds: float
    tied_at_lowest: int
    at_zero: int
    lowest_100_complained_about: int
    lowest_100_fraud: int
    lowest_100_benign: int
    newcomers: int
    newcomer_ratio: float | None


def otc_figures() -> OtcFigures:
    """:class:`OtcFigures` of the default trust settings.

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
    fraud = (labels["label"].str.strip() == "-1").to_numpy()
    trust = table.loc[labels["node"], "trust_score"].to_numpy()
    score = table["trust_score"]
    lowest = table.sort_values("trust_score", kind="stable").head(100)
    labelled = pd.Series(fraud, index=labels["node"])
    label = labelled.reindex(lowest.index)
    # Newcomers: first rated in the 90 days before the last rating, and not labelled fraud.
    joined = snapshot.members["joined_at"].reset_index(drop=True)
    recent = newcomers(joined, pd.Timestamp(snapshot.reference_time)).to_numpy()
    new = recent & ~labelled.reindex(table.index).eq(True).to_numpy()
    return OtcFigures(
        auc=auc(-trust, fraud),
        seconds=seconds,
        tied_at_lowest=int((score == score.min()).sum()),
        at_zero=int((score == 0).sum()),
        lowest_100_complained_about=int((lowest["complainants"] > 0).sum()),
        # Unlabelled members are missing: neither.
        lowest_100_fraud=int(label.eq(True).sum()),
        lowest_100_benign=int(label.eq(False).sum()),
        newcomers=int(new.sum()),
        newcomer_ratio=newcomer_bottom_ratio(score.to_numpy(), new),
    )


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


class GeneratedFigures(NamedTuple):
    """Trust on one generated time bank: accuracy against the planted fraud, honest newcomers'
    place at the bottom and, when it has some, the honest friend cohorts'."""

    auc: float
    newcomer_ratio: float | None
    cohort_members: int
    cohort_in_lowest_5pct: float
    cohort_below_quarter: int
    cohort_median: float | None
    other_newcomers_median: float | None


def generated_figures(members: int, seed: int, *, honest_cohorts: int = 0) -> GeneratedFigures:
    """:class:`GeneratedFigures` of the default trust settings on the default generator with
    ``honest_cohorts`` cohorts of four friends; "now" is the data's latest event."""
    data = generate(GeneratorParams(members=members, seed=seed, honest_cohorts=honest_cohorts))
    store = SqliteStore(":memory:")
    ingest({"members": data.members, "sessions": data.sessions, "referrals": data.referrals}, store)
    snapshot = store.snapshot()
    table = trust_model(snapshot).scores()
    ids = table["member_id"]
    score = table["trust_score"].to_numpy()
    fraud = ids.isin({m for g in data.truth if g.kind in FRAUD_KINDS for m in g.members})
    cohort = ids.isin({m for g in data.truth if g.kind == "honest_cohort" for m in g.members})
    joined = snapshot.members["joined_at"].reset_index(drop=True)
    new = (newcomers(joined, pd.Timestamp(snapshot.reference_time)) & ~fraud).to_numpy()
    others = new & ~cohort.to_numpy()
    in_cohort = cohort.to_numpy()
    return GeneratedFigures(
        auc=auc(-score, fraud),
        newcomer_ratio=newcomer_bottom_ratio(score, new),
        cohort_members=int(in_cohort.sum()),
        # Places of the lowest 5% the cohorts hold (ties shared fairly).
        cohort_in_lowest_5pct=bottom_share(score, in_cohort) * np.ceil(0.05 * len(score)),
        cohort_below_quarter=int((score[in_cohort] < 0.25).sum()),
        cohort_median=float(np.median(score[in_cohort])) if in_cohort.any() else None,
        other_newcomers_median=float(np.median(score[others])) if others.any() else None,
    )


def accuracy_rows(members: int, seeds: Sequence[int]) -> list[tuple[str, str]]:
    """The accuracy figures as printed rows: Bitcoin OTC, then the generated time banks."""
    otc = otc_figures()
    plain = [generated_figures(members, seed) for seed in seeds]
    cohorts = [generated_figures(members, seed, honest_cohorts=25) for seed in seeds]

    def each(values: Sequence[float | None], digits: int = 3) -> str:
        return " ".join("–" if v is None else f"{v:.{digits}f}" for v in values)

    on = f"generated, {members:,} members, seeds {'/'.join(map(str, seeds))}"
    return [
        ("Bitcoin OTC: AUC of low trust → fraudulent", f"{otc.auc:.4f} (goal ≥ 0.97)"),
        ("Bitcoin OTC: trust time", f"{otc.seconds:.2f} s"),
        ("Bitcoin OTC: members tied at the lowest score", str(otc.tied_at_lowest)),
        ("Bitcoin OTC: members scoring 0", str(otc.at_zero)),
        (
            "Bitcoin OTC: lowest 100 — complained about / REV2 fraud / REV2 benign",
            f"{otc.lowest_100_complained_about} / {otc.lowest_100_fraud} / {otc.lowest_100_benign}",
        ),
        (
            f"Bitcoin OTC: its {otc.newcomers} newcomers in the lowest 5% / their share",
            "–" if otc.newcomer_ratio is None else f"{otc.newcomer_ratio:.2f} (goal ≤ 1.5)",
        ),
        (f"{on}: AUC of low trust → planted fraud", each([f.auc for f in plain], 4)),
        (
            f"{on}: honest newcomers in the lowest 5% / their share",
            each([f.newcomer_ratio for f in plain], 2) + " (goal ≤ 1.5)",
        ),
        (f"{on} + 25 friend cohorts: AUC", each([f.auc for f in cohorts], 4)),
        (
            "  honest newcomers in the lowest 5% / their share",
            each([f.newcomer_ratio for f in cohorts], 2) + " (goal ≤ 1.5)",
        ),
        (
            "  cohort members (of 100) in the lowest 5%",
            each([f.cohort_in_lowest_5pct for f in cohorts], 0),
        ),
        (
            "  cohort members (of 100) below 0.25 (fraud_risk ≥ 0.5 by trust alone)",
            each([f.cohort_below_quarter for f in cohorts], 0) + " (goal ≤ 5)",
        ),
        (
            "  median trust: cohort members / other newcomers",
            " ".join(
                f"{f.cohort_median:.2f}/{f.other_newcomers_median:.2f}"
                for f in cohorts
                if f.cohort_median is not None and f.other_newcomers_median is not None
            ),
        ),
    ]


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    """Median and range of one figure over the rounds."""
    low, mid, high = min(values), float(np.median(values)), max(values)
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument(
        "--accuracy-members", type=int, default=5000, help="members of each generated bank"
    )
    parser.add_argument(
        "--accuracy-only", action="store_true", help="the accuracy figures, no timing run"
    )
    args = parser.parse_args()

    try:
        accuracy = accuracy_rows(args.accuracy_members, (1, 2, 3))
    except DatasetError as error:
        parser.exit(2, f"bench_trust: {error}\n")
    if args.accuracy_only:
        print_table(accuracy)
        return
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
            *accuracy,
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
