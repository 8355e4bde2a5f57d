"""Helpers shared by the benchmarks: data on demand, peak memory, a printed table."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

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


def prepared_store_path(members: int) -> Path:
    """An embedded store holding the generated dataset of ``members``, built once and reused.

    It is built in a child process, so that ingest's memory does not count in the caller's
    peak RSS.
    """
    path = Path(tempfile.gettempdir()) / f"timebank-bench-{members}.db"
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "bench.common", "--prepare", str(members), str(path)], check=True
        )
    return path


def _prepare(members: int, path: Path) -> None:
    from graph.ingest import ingest
    from graph.store import SqliteStore

    folder = dataset(Path(tempfile.gettempdir()) / f"timebank-bench-{members}", members)
    with SqliteStore(path) as store:
        report = ingest(folder, store)
    if not report.all_accepted:
        raise SystemExit(f"generated data had rejects: {report.rejects.head()}")


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in seconds: the least disturbed by the shared machine."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def otc_labels(folder: Path) -> pd.Series:
    """REV2's labels of Bitcoin OTC users (``ground_truth.csv``: ``node,label``, ``-1`` fraud,
    ``+1`` benign): True for fraud, indexed by member id. ``folder`` is
    :func:`graph.shared_data.bitcoin_otc_folder`'s."""
    labels = pd.read_csv(
        folder / "ground_truth.csv", header=None, names=["node", "label"], dtype=str
    )
    return pd.Series((labels["label"].str.strip() == "-1").to_numpy(), index=labels["node"])


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        _prepare(int(sys.argv[2]), Path(sys.argv[3]))
