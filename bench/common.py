"""Helpers shared by the benchmarks: data on demand, peak memory, a printed table."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from graph.generate import GeneratorParams, generate, write_dataset


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


@contextmanager
def timed(into: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[name] = time.perf_counter() - started


def dataset(folder: Path, members: int, seed: int = 1) -> Path:
    """A generated dataset in ``folder``, generated once and reused by later runs."""
    if not (folder / "sessions.csv").exists():
        write_dataset(generate(GeneratorParams(members=members, seed=seed)), folder)
    return folder


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in seconds: the least disturbed by the shared machine."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
