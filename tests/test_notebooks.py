"""The researcher notebooks as stored: clean, linted, and run by the normal test command.

Executing them is nbmake's part (``--nbmake`` in ``pyproject.toml``, ``notebooks/conftest.py``);
these tests keep what is committed reviewable and make sure that execution is not switched off.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    path for path in (ROOT / "notebooks").glob("*.ipynb") if not path.name.endswith("-run.ipynb")
)


def test_the_three_notebooks_are_there() -> None:
    names = {path.stem for path in NOTEBOOKS}
    assert {"01_quickstart", "02_fraud_investigation", "03_growth_study"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), (
        f"{path.name}: clear its outputs before committing (see notebooks/README.md)"
    )
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_reads_as_a_walkthrough(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    words = {
        kind: sum(len(c.source.split()) for c in notebook.cells if c.cell_type == kind)
        for kind in ("markdown", "code")
    }
    # Explanations, not just code: at least half as many words of prose as of code.
    assert words["markdown"] >= words["code"] / 2, words


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebooks_that_use_neo4j_are_marked(path: Path) -> None:
    """So ``-m "not neo4j"`` leaves them out and they get the store tests' server."""
    notebook = nbformat.read(path, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    markers = notebook.metadata.get("timebank", {}).get("pytest_markers", [])
    uses_neo4j = re.search(r"""open_store\(["']neo4j["']""", source) is not None
    assert ("neo4j" in markers) == uses_neo4j


def test_the_test_command_executes_the_notebooks() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = settings["ini_options"]
    assert "notebooks" in options["testpaths"]
    assert "--nbmake" in options["addopts"].split()


@pytest.mark.parametrize("command", ["check", "format --check"])
def test_notebooks_pass_ruff(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command.split(), "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
