"""Benchmark the synthetic time-bank generator: `generate` and `write_dataset` timed apart.

Usage::

    python bench/bench_generate.py --members 1000000 --out /tmp/gen1m
    python bench/bench_generate.py --members 100000 --adapt all   # fraud that adapts

Prints one row per stage with wall time, rows written and rows per second, then the peak
resident set size of the process (``resource.getrusage``) and the size of each written file.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from graph.generate import ADAPTATIONS, GeneratorParams, generate, write_dataset


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sessions-per-member", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/timebank-gen"))
    parser.add_argument(
        "--adapt",
        action="append",
        default=[],
        choices=[*ADAPTATIONS, "all"],
        help="an adaptation of the planted fraud (repeatable; all: every one)",
    )
    parser.add_argument("--honest-cohorts", type=int, default=None)
    args = parser.parse_args(argv)

    adaptations = ADAPTATIONS if "all" in args.adapt else tuple(args.adapt)
    params = GeneratorParams(
        members=args.members,
        seed=args.seed,
        sessions_per_member=args.sessions_per_member,
        adaptations=adaptations,
        honest_cohorts=args.honest_cohorts,
    )
    t = time.perf_counter()
    dataset = generate(params)
    t_generate = time.perf_counter() - t
    rss_generate = _peak_rss_mib()

    t = time.perf_counter()
    paths = write_dataset(dataset, args.out)
    t_write = time.perf_counter() - t

    counts = {
        "members": len(dataset.members),
        "sessions": len(dataset.sessions),
        "referrals": len(dataset.referrals),
        "redemptions": len(dataset.redemptions),
    }
    rows = sum(counts.values())
    adapted = ",".join(params.adaptations) or "none"
    print(f"members={args.members:,} seed={args.seed} adaptations={adapted} out={args.out}")
    print(f"{'stage':<10}{'seconds':>10}{'rows':>14}{'rows/s':>14}")
    for stage, seconds in (("generate", t_generate), ("write", t_write)):
        print(f"{stage:<10}{seconds:>10.1f}{rows:>14,}{rows / seconds:>14,.0f}")
    total = t_generate + t_write
    print(f"{'total':<10}{total:>10.1f}{rows:>14,}{rows / total:>14,.0f}")
    print(f"peak RSS: {rss_generate:,.0f} MiB after generate, {_peak_rss_mib():,.0f} MiB overall")
    for name, path in paths.items():
        n = counts.get(name)
        extra = f"{n:>12,} rows" if n is not None else f"{len(dataset.truth):>12,} groups"
        print(f"  {path.name:<16}{path.stat().st_size / 2**20:>9.1f} MiB{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
