"""The installed ``timebank`` executable as people and scripts run it: in a pipe, from a long
path, at any terminal width, and quick to answer ``--help``.

Each test runs the entry point in a subprocess, in an environment without the variables that
would tie a result to the machine (terminal width, login name).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WriteDataset

#: The console script pip installed beside this interpreter.
TIMEBANK = Path(sys.executable).with_name("timebank")
#: What would make an outcome depend on the machine: the terminal's width, the login name.
MACHINE_VARIABLES = ("COLUMNS", "LINES", "LOGNAME", "USER", "LNAME", "USERNAME")


def run(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``timebank *args`` with stdout and stderr as pipes, ``env`` added to a neutral one."""
    neutral = {k: v for k, v in os.environ.items() if k not in MACHINE_VARIABLES}
    return subprocess.run(
        [str(TIMEBANK), *map(str, args)],
        env={**neutral, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    """A folder whose path is far wider than a terminal (as under a long --basetemp)."""
    folder = tmp_path.joinpath(*["a-folder-with-a-long-name"] * 6)
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("columns", [None, "40"], ids=["COLUMNS unset", "COLUMNS=40"])
def test_an_error_is_one_line_whatever_the_width_and_the_path(
    columns: str | None, deep: Path, write_dataset: WriteDataset
) -> None:
    width = {} if columns is None else {"COLUMNS": columns}
    missing = deep / "no such data"
    done = run("ingest", missing, "--store", deep / "tb.db", **width)
    assert (done.returncode, done.stderr) == (2, f"error: {missing}: no such folder\n")
    done = run("stats", "--store", deep / "typo.db", **width)
    assert (
        done.stderr
        == f"error: {deep / 'typo.db'}: no such store (ingesting into a path creates one)\n"
    )
    members = "member_id,joined_on\nm1,2025-01-03\n"
    folder = write_dataset(members=members)
    done = run("ingest", folder, "--store", deep / "tb.db", **width)
    assert done.stderr == (
        f"error: {folder / 'members.csv'}, line 1: missing required column joined_at "
        "(found joined_on: a misspelling?)\n"
    )
    # Usage errors too: click's own message, never folded inside a box.
    review = ("rings", "review", "loop-1", "--store", deep / "tb.db", "--note", "n")
    done = run(*review, "--status", "closed", **width)
    assert done.returncode == 2
    error = done.stderr.splitlines()[-1]
    assert error.startswith("Error: Invalid value for '--status': ")
    assert error.endswith("'closed' is not one of 'open', 'confirmed', 'dismissed'.")


def test_help_loads_no_analytics_driver_or_dataframes() -> None:
    """``--help`` of every command imports neither pandas nor the analytics nor the driver,
    which is what kept it from answering at once (seconds, not a fraction of one)."""
    script = """
import contextlib, io, sys
import typer
from graph.cli import app

def paths(command, path):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from paths(sub, [*path, name])

for path in paths(typer.main.get_command(app), []):
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        try:
            app([*path, "--help"], prog_name="timebank")
        except SystemExit as done:
            assert done.code == 0, path
    assert "Usage: timebank" in shown.getvalue(), path
heavy = ("pandas", "numpy", "scipy", "networkx", "neo4j", "pyarrow", "plotly", "graph.analyze")
print(" ".join(name for name in heavy if name in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "\n", f"imported for --help: {done.stdout}"
