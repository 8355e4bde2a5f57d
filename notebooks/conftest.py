"""The notebooks as tests: ``pytest --nbmake`` (on in ``pyproject.toml``) executes each one in a
fresh Jupyter kernel and fails on the first cell that raises.

A notebook lists the markers it needs in its metadata (``"timebank": {"pytest_markers":
["neo4j"]}``), so ``-m "not neo4j"`` leaves it out like any Neo4j test. A notebook marked
``neo4j`` gets the server the store tests use, found the same way: ``NEO4J_URI`` (with
``NEO4J_USER``/``NEO4J_PASSWORD``) when set; else the local server ``timebank neo4j start`` runs
(CI starts it before the tests), which the kernel finds by itself; else one started here by the
project's own launcher, in a temporary home, handed to the kernel through the ``NEO4J_*``
variables and stopped at the end of the run. Tests run one at a time in one process and the
notebooks after them (``testpaths``), so the notebook never shares the database with a test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from graph import neo4j_server
from graph.config import Settings
from graph.neo4j_server import Neo4jServerError

HERE = Path(__file__).resolve().parent

#: Not tests: copies executed with ``jupyter execute --output '{notebook_name}-run'``, and
#: jupytext-paired scripts, which --doctest-modules would import, i.e. run (see README.md).
collect_ignore_glob = ["*-run.ipynb", "[0-9][0-9]_*.py"]

#: ``NEO4J_*`` variables for the kernel when this run started its own server.
_started: dict[str, str] = {}
#: The environment a notebook's setup changed, restored at its teardown.
_saved: dict[str, str | None] = {}


def notebook_markers(path: Path) -> list[str]:
    """The pytest markers a notebook asks for in its metadata."""
    metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    markers: list[str] = metadata.get("timebank", {}).get("pytest_markers", [])
    return markers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb" and item.path.parent == HERE:
            for name in notebook_markers(item.path):
                item.add_marker(name)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("neo4j") is None:
        return
    variables = {} if Settings().neo4j_uri is not None else _local_or_started(item.config)
    # The server the test suite empties anyway: the notebook may empty it too, even when
    # NEO4J_URI names a server on another machine.
    variables["TIMEBANK_NEO4J_SCRATCH"] = "1"
    for name, value in variables.items():
        _saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value


def pytest_runtest_teardown(item: pytest.Item) -> None:
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved.clear()


def _local_or_started(config: pytest.Config) -> dict[str, str]:
    """Nothing when the local server runs (the kernel finds it as ``open_store`` does), else the
    ``NEO4J_*`` variables of a server started in a temporary home for the rest of the run."""
    try:
        neo4j_server.connection()
    except Neo4jServerError:
        pass
    else:
        return {}
    if not _started:
        home = Path(tempfile.mkdtemp(prefix="timebank-notebooks-neo4j-"))
        try:
            server = neo4j_server.start(home, bolt_port=_free_port())
        except Neo4jServerError as error:
            shutil.rmtree(home, ignore_errors=True)
            pytest.fail(f"the local Neo4j server could not start:\n{error}", pytrace=False)

        def stop() -> None:
            neo4j_server.stop(home)
            shutil.rmtree(home, ignore_errors=True)

        config.add_cleanup(stop)
        _started.update(
            NEO4J_URI=server.uri,
            NEO4J_USER=server.user,
            NEO4J_PASSWORD=server.password,
            NEO4J_DATABASE=server.database,
        )
    return dict(_started)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
