"""Benchmark: fraud review as a reviewer meets it, on real data and against fraud that adapts.

Issue #14, point 5b. Each network goes through the pipeline a user runs — validated ingest into
an in-memory embedded store, then :func:`graph.analyze.analyze_store` — and is judged from its
trust table, its review queue (the flagged rings) and its risk table
(:func:`graph.metrics.evaluation.fraud_figures`):

- **Bitcoin OTC** with REV2's labels (``shared/data/bitcoin-otc/``, or ``--otc FOLDER``);
- **generated time banks** (``--members``, seeds ``--seeds``) under each adversary setting of
  :mod:`graph.generate` — ``none``, each adaptation alone (``slow``, ``aged``, ``recruited``,
  ``padded``) and ``all`` combined, or any ``a+b`` mix — each with ``--cohorts`` groups of
  honest friends joining together (the generator's ``honest_cohorts``).

For each it prints ring member precision and recall; honest-circle and honest-cohort members in
flagged rings and at ``fraud_risk ≥ 0.5``; trust and ``fraud_risk`` AUC; the queue's size; the
honest newcomers' place in the lowest 5% of trust; and the seconds of the rings step and of the
whole analysis — the range over seeds (min–max), next to issue #14's goal
(:data:`~graph.metrics.evaluation.OTC_GOALS`, :data:`~graph.metrics.evaluation.GENERATED_GOALS`)
with pass or FAIL (FAIL when any seed misses it), and the rings step on OTC against its 5 s. ``--json FILE`` writes every run's figures.

    python -m bench.bench_fraud                                 # OTC + 6 settings x 3 seeds
    python -m bench.bench_fraud --members 400 --seeds 1 --no-otc --json figures.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import otc_labels
from graph.analyze import StoreAnalysis, analyze_store
from graph.errors import DatasetError
from graph.generate import ADAPTATIONS, FRAUD_KINDS, GeneratorParams, generate
from graph.ingest import ingest, read_snap
from graph.metrics.evaluation import (
    FIGURES,
    GENERATED_GOALS,
    HARD_NEGATIVE_KINDS,
    OTC_GOALS,
    Figures,
    Goal,
    fraud_figures,
)
from graph.shared_data import bitcoin_otc_folder
from graph.store import SqliteStore
from graph.store.base import COUNTED_TABLES

#: The settings run by default: no adaptation, each alone, all combined.
SETTINGS = ("none", *ADAPTATIONS, "all")
#: The times measured besides :data:`~graph.metrics.evaluation.FIGURES`, in seconds.
TIMES = {
    "rings_seconds": "time: rings step (s)",
    "analysis_seconds": "time: whole analysis, snapshot to risk and tiers (s)",
}
LABELS = FIGURES | TIMES
#: Issue #14's speed goal for the rings step on Bitcoin OTC (point 6); the fraud goals are
#: :data:`~graph.metrics.evaluation.OTC_GOALS`.
OTC_RINGS_SECONDS = Goal("rings_seconds", "<=", 5)
_PERCENT = {"queue_share", "circle_at_risk", "cohort_at_risk", "benign_at_risk", "members_at_risk"}
_COUNTS = {
    "ring_judged",
    "circle_flagged",
    "cohort_flagged",
    "queue_rings",
    "queue_members",
    "newcomers",
}


def adaptations_of(setting: str) -> tuple[str, ...]:
    """The adaptations a setting names: ``none``, ``all``, one name or ``a+b`` mixes.

    >>> adaptations_of("none"), adaptations_of("slow+padded")
    ((), ('slow', 'padded'))
    """
    if setting == "none":
        return ()
    if setting == "all":
        return ADAPTATIONS
    names = tuple(setting.split("+"))
    unknown = [name for name in names if name not in ADAPTATIONS]
    if unknown:
        raise ValueError(
            f"unknown setting {setting!r}: use none, all, or a +-joined mix of "
            + ", ".join(ADAPTATIONS)
        )
    return names


def _setting(value: str) -> str:
    try:
        adaptations_of(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def generator_params(
    adaptations: tuple[str, ...], *, members: int, seed: int, cohorts: int
) -> GeneratorParams:
    """The generator's parameters for one run: ``adaptations`` and ``cohorts`` groups of honest
    friends; every other setting the generator's default."""
    return GeneratorParams(
        members=members, seed=seed, adaptations=adaptations, honest_cohorts=cohorts
    )


def figures_of(
    done: StoreAnalysis,
    seconds: float,
    *,
    fraud: set[str],
    benign: set[str] | None = None,
    hard_negatives: dict[str, set[str] | None] | None = None,
    fraud_groups: list[tuple[str, ...]] | None = None,
) -> Figures:
    """The figures of one analysis, judged against the truth, and its times."""
    tables, snapshot = done.analysis.tables, done.snapshot
    figures = fraud_figures(
        rings=[ring.members for ring in done.analysis.rings],
        trust_score=tables["trust.csv"].set_index("member_id")["trust_score"],
        fraud_risk=tables["risk.csv"].set_index("member_id")["fraud_risk"],
        joined_at=snapshot.members.set_index("member_id")["joined_at"],
        now=pd.Timestamp(snapshot.reference_time),
        fraud=fraud,
        benign=benign,
        hard_negatives=hard_negatives,
        fraud_groups=fraud_groups or [],
    )
    return figures | {"rings_seconds": done.seconds["rings"], "analysis_seconds": seconds}


def _analysed(store: SqliteStore) -> tuple[StoreAnalysis, float]:
    started = time.perf_counter()
    done = analyze_store(store, write_back=False)
    return done, time.perf_counter() - started


def generated_run(params: GeneratorParams) -> tuple[Figures, int]:
    """Generate, ingest and analyse one network; its figures against the planted truth, and
    its member count."""
    data = generate(params)
    store = SqliteStore(":memory:")
    # The generator's data ends at params.end: accept everything up to the day after.
    now = pd.Timestamp(params.end, tz="UTC") + pd.Timedelta(days=1)
    report = ingest({table: getattr(data, table) for table in COUNTED_TABLES}, store, now=now)
    if not report.all_accepted:
        raise RuntimeError(f"generated data had rejects: {report.rejects.head()}")
    done, seconds = _analysed(store)
    kinds = {group.kind for group in data.truth}

    def members_of(kind: str) -> set[str]:
        return {m for group in data.truth if group.kind == kind for m in group.members}

    return figures_of(
        done,
        seconds,
        fraud={m for kind in FRAUD_KINDS for m in members_of(kind)},
        hard_negatives={
            name: members_of(kind) if kind in kinds else None
            for name, kind in HARD_NEGATIVE_KINDS.items()
        },
        fraud_groups=[group.members for group in data.truth if group.kind in FRAUD_KINDS],
    ), done.snapshot.n_members


def otc_run(folder: Path) -> tuple[Figures, int]:
    """Bitcoin OTC through the SNAP reader; its figures against REV2's labels, and its member
    count."""
    store = SqliteStore(":memory:")
    ingest(read_snap(folder / "network.csv"), store)
    done, seconds = _analysed(store)
    labels = otc_labels(folder)
    return figures_of(
        done,
        seconds,
        fraud=set(labels.index[labels]),
        benign=set(labels.index[~labels]),
    ), done.snapshot.n_members


def _format(figure: str, value: float | None) -> str:
    if value is None:
        return "—"
    if figure in _PERCENT:
        return f"{value:.1%}"
    if figure in _COUNTS:
        return f"{value:,.0f}"
    if figure in TIMES:
        return f"{value:.2f}"
    return f"{value:.3f}"


def value_range(figure: str, runs: Sequence[Figures]) -> tuple[float, float] | None:
    """The least and greatest value of ``figure`` over ``runs`` (None when none has one)."""
    values = [float(v) for run in runs if (v := run.get(figure)) is not None]
    return (min(values), max(values)) if values else None


def range_text(figure: str, runs: Sequence[Figures]) -> str:
    """``min–max`` of one figure over the runs, one value when they agree, ``—`` for none."""
    span = value_range(figure, runs)
    if span is None:
        return "—"
    low, high = (_format(figure, value) for value in span)
    return low if low == high else f"{low}–{high}"


def verdict(goal: Goal, runs: Sequence[Figures]) -> str:
    """``pass`` when every run that can be judged meets ``goal``, ``FAIL`` when any misses it
    (``FAIL k/n`` when only some do), ``n/a`` when none can be judged."""
    verdicts = [goal.verdict(run) for run in runs]
    failed = verdicts.count("fail")
    if failed:
        return "FAIL" if failed == len(runs) else f"FAIL {failed}/{len(runs)}"
    return "pass" if "pass" in verdicts else "n/a"


def report(
    title: str, runs: Sequence[Figures], goals: Sequence[Goal]
) -> tuple[list[str], dict[str, Any]]:
    """The printed block of one dataset and its JSON: ranges and verdicts of every figure."""
    by_figure = {goal.figure: goal for goal in goals}
    rows = []
    for figure, label in LABELS.items():
        goal = by_figure.get(figure)
        rows.append(
            (
                label,
                range_text(figure, runs),
                goal.describe() if goal else "",
                verdict(goal, runs) if goal else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [title]
    lines += [
        f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip()
        for a, b, c, d in rows
    ]
    data = {
        "runs": list(runs),
        "range": {figure: value_range(figure, runs) for figure in LABELS},
        "goals": {
            goal.figure: {"goal": goal.describe(), "verdict": verdict(goal, runs)} for goal in goals
        },
    }
    return lines, data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000, help="members per generated network")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--settings",
        type=_setting,
        nargs="+",
        default=list(SETTINGS),
        help="none, all, or adaptations joined by + (" + ", ".join(ADAPTATIONS) + ")",
    )
    parser.add_argument(
        "--cohorts", type=int, default=25, help="groups of honest friends per network (0: none)"
    )
    parser.add_argument("--otc", type=Path, help="the Bitcoin OTC folder (default: shared data)")
    parser.add_argument("--no-otc", action="store_true", help="generated networks only")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    datasets: dict[str, Any] = {}
    verdicts: list[str] = []

    def show(
        key: str, title: str, runs: list[Figures], goals: Sequence[Goal], **extra: Any
    ) -> None:
        lines, data = report(title, runs, goals)
        print("\n".join(lines), flush=True)
        datasets[key] = {"title": title, **extra, **data}
        verdicts.extend(item["verdict"] for item in data["goals"].values())

    if not args.no_otc:
        try:
            folder = args.otc or bitcoin_otc_folder()
            figures, members = otc_run(folder)
        except DatasetError as error:
            parser.exit(2, f"bench_fraud: {error} (or run with --no-otc)\n")
        show(
            "otc",
            f"Bitcoin OTC, REV2 labels ({members:,} members)",
            [figures],
            (*OTC_GOALS, OTC_RINGS_SECONDS),
        )

    for setting in args.settings:
        adaptations = adaptations_of(setting)
        runs, sizes = [], set()
        for seed in args.seeds:
            params = generator_params(
                adaptations, members=args.members, seed=seed, cohorts=args.cohorts
            )
            figures, members = generated_run(params)
            runs.append({"seed": seed, **figures})
            sizes.add(members)
        show(
            setting,
            f"generated, setting {setting} ({'+'.join(adaptations) or 'no adaptation'}; "
            f"{args.cohorts} honest cohorts; {'/'.join(f'{n:,}' for n in sorted(sizes))} "
            f"members; seeds {', '.join(map(str, args.seeds))})",
            runs,
            GENERATED_GOALS,
            adaptations=list(adaptations),
            cohorts=args.cohorts,
        )

    seconds = time.perf_counter() - started
    judged = [v for v in verdicts if v != "n/a"]
    passed = judged.count("pass")
    print(
        f"goals met: {passed} of {len(judged)} judged ({len(verdicts) - len(judged)} n/a); "
        f"{seconds:.0f} s in all"
    )
    if args.json:
        command = shlex.join(
            ["python", "-m", "bench.bench_fraud", *(sys.argv[1:] if argv is None else argv)]
        )
        output = {
            "command": command,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "members": args.members,
            "seeds": args.seeds,
            "cohorts": args.cohorts,
            "seconds": round(seconds, 2),
            "figures": LABELS,
            "datasets": datasets,
        }
        args.json.write_text(json.dumps(output, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
