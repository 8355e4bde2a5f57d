"""The local Neo4j 5.26 + GDS 2.13 server: install, start, stop, status, kill, auth, GDS.

These tests run a real server (installed by Maven into a temporary home, so a developer's own
server in ``.neo4j/`` is never touched) on free loopback ports. They fail, never skip, when the
server cannot start: the message carries the end of the server's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph import neo4j_server
from graph.neo4j_server import Neo4jServerError, ServerInfo
from tests.conftest import private_server
from tests.test_cli_process import run

# isort: split
# The driver in a block of its own: the `neo4j/` recipe folder at the repository root makes ruff
# count `neo4j` as first-party unless the config says otherwise; this block sorts either way.
import neo4j

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="session")
def neo4j_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A server home with a running server for the whole session; stopped at the end."""
    with private_server(tmp_path_factory, "neo4j-home") as home:
        yield home


@pytest.fixture
def server(neo4j_home: Path) -> ServerInfo:
    """The running server's info (started again if a test stopped or killed it)."""
    return neo4j_server.start(neo4j_home)


def _query(info: ServerInfo, cypher: str, **parameters: Any) -> list[dict[str, Any]]:
    with neo4j.GraphDatabase.driver(info.uri, auth=(info.user, info.password)) as driver:
        records = driver.execute_query(cypher, parameters, database_=info.database).records
    return [record.data() for record in records]


def test_bolt_answers_with_auth(server: ServerInfo) -> None:
    assert server.uri.startswith("bolt://127.0.0.1:")
    assert _query(server, "RETURN 1 + 1 AS two") == [{"two": 2}]


def test_wrong_password_is_refused(server: ServerInfo) -> None:
    with (
        neo4j.GraphDatabase.driver(server.uri, auth=(server.user, "not-the-password")) as driver,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        driver.verify_connectivity()


def test_default_password_was_replaced(server: ServerInfo) -> None:
    assert server.password != "neo4j"
    with (
        neo4j.GraphDatabase.driver(server.uri, auth=(server.user, "neo4j")) as driver,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        driver.verify_connectivity()


def test_versions_are_the_pinned_ones(server: ServerInfo) -> None:
    pinned = neo4j_server.recipe_versions()
    assert pinned["neo4j"].startswith("5.26.")
    assert pinned["gds"].startswith("2.13.")
    [kernel] = _query(server, "CALL dbms.components() YIELD name, versions, edition RETURN *")
    assert kernel == {"name": "Neo4j Kernel", "versions": [pinned["neo4j"]], "edition": "community"}
    assert _query(server, "RETURN gds.version() AS version") == [{"version": pinned["gds"]}]


def test_gds_algorithm_runs(server: ServerInfo) -> None:
    # A 4-cycle 0→1→2→3→0 plus 4→0. Every algorithm procedure goes through the OpenGDS
    # extension that neo4j/src adds, so this checks the wiring, not just gds.version().
    _query(server, "MATCH (n:ServerTestNode) DETACH DELETE n")
    _query(server, "UNWIND range(0, 4) AS i CREATE (:ServerTestNode {id: i})")
    _query(
        server,
        "UNWIND $pairs AS pair "
        "MATCH (a:ServerTestNode {id: pair[0]}), (b:ServerTestNode {id: pair[1]}) "
        "CREATE (a)-[:LINK]->(b)",
        pairs=[[0, 1], [1, 2], [2, 3], [3, 0], [4, 0]],
    )
    try:
        [projected] = _query(
            server,
            "CALL gds.graph.project('server-test', 'ServerTestNode', 'LINK') "
            "YIELD nodeCount, relationshipCount RETURN nodeCount, relationshipCount",
        )
        assert projected == {"nodeCount": 5, "relationshipCount": 5}
        ranks = _query(
            server,
            "CALL gds.pageRank.stream('server-test') YIELD nodeId, score "
            "RETURN gds.util.asNode(nodeId).id AS id, score ORDER BY id",
        )
        scores = {row["id"]: row["score"] for row in ranks}
        assert set(scores) == {0, 1, 2, 3, 4}
        # Damping 0.85 by hand: 0 ≈ 1.27 (two in-links), 1 ≈ 1.23, …, 4 = 0.15 (none).
        assert scores[0] == max(scores.values())
        assert scores[4] == pytest.approx(0.15)
    finally:
        _query(server, "CALL gds.graph.drop('server-test', false) YIELD graphName RETURN 1")
        _query(server, "MATCH (n:ServerTestNode) DETACH DELETE n")


def test_start_twice_returns_the_same_server(neo4j_home: Path, server: ServerInfo) -> None:
    again = neo4j_server.start(neo4j_home)
    assert again == server
    assert again.password == server.password


def test_credentials_are_private_and_never_logged(neo4j_home: Path, server: ServerInfo) -> None:
    credentials = neo4j_home / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert server.password not in repr(server)
    for path in [*(neo4j_home / "logs").iterdir(), neo4j_home / "conf" / "neo4j.conf"]:
        assert server.password not in path.read_text(errors="replace"), path


def test_server_listens_on_loopback_only(neo4j_home: Path) -> None:
    conf = (neo4j_home / "conf" / "neo4j.conf").read_text().splitlines()
    assert "server.default_listen_address=127.0.0.1" in conf
    assert "dbms.security.auth_enabled=true" in conf
    assert "dbms.security.procedures.unrestricted=gds.*" in conf


def test_bad_memory_size_is_refused_before_starting(neo4j_home: Path) -> None:
    with pytest.raises(Neo4jServerError, match="heap"):
        neo4j_server.start(neo4j_home, heap="lots")


def test_status_stop_start_transitions(neo4j_home: Path, server: ServerInfo) -> None:
    running = neo4j_server.status(neo4j_home)
    assert (running.running, running.pid, running.uri) == (True, server.pid, server.uri)
    assert running.rss_bytes is not None
    assert running.rss_bytes > 0
    assert (neo4j_home / "run" / "neo4j.pid").read_text().strip() == str(server.pid)

    assert neo4j_server.stop(neo4j_home) is True
    stopped = neo4j_server.status(neo4j_home)
    assert (stopped.running, stopped.pid, stopped.uri) == (False, None, server.uri)
    assert not (neo4j_home / "run" / "neo4j.pid").exists()
    assert neo4j_server.stop(neo4j_home) is False  # stopping twice is safe

    phases: list[str] = []
    restarted = neo4j_server.start(neo4j_home, progress=phases.append)
    assert restarted.pid != server.pid
    # Told as each phase began; installed already, so nothing was fetched.
    assert [phase.split(" ", 1)[0] for phase in phases] == ["starting", "waiting"]
    assert all(server.uri in phase for phase in phases)
    assert (restarted.uri, restarted.password) == (server.uri, server.password)
    assert neo4j_server.status(neo4j_home).running
    assert _query(restarted, "RETURN 1 AS one") == [{"one": 1}]


def test_kill_then_start_recovers_committed_data(neo4j_home: Path, server: ServerInfo) -> None:
    _query(server, "MERGE (:ServerTestMarker {name: 'survives a crash'})")
    assert neo4j_server.kill(neo4j_home) is True
    assert not neo4j_server.status(neo4j_home).running
    assert neo4j_server.kill(neo4j_home) is False

    recovered = neo4j_server.start(neo4j_home)
    rows = _query(recovered, "MATCH (m:ServerTestMarker) RETURN m.name AS name")
    assert rows == [{"name": "survives a crash"}]
    _query(recovered, "MATCH (m:ServerTestMarker) DELETE m")


def test_install_is_idempotent(neo4j_home: Path) -> None:
    marker = neo4j_home / ".install.json"
    before = marker.stat().st_mtime_ns
    phases: list[str] = []
    assert neo4j_server.install(neo4j_home, progress=phases.append) == neo4j_home.resolve()
    assert marker.stat().st_mtime_ns == before
    assert phases == [], "nothing to fetch"
    assert any((neo4j_home / "plugins").glob("proc-2.13.*.jar"))
    assert (neo4j_home / "plugins" / "timebank-opengds-extension.jar").is_file()


def test_a_fresh_install_says_it_is_fetching(tmp_path: Path) -> None:
    phases: list[str] = []
    home = neo4j_server.install(tmp_path / "home", progress=phases.append)
    versions = neo4j_server.recipe_versions()
    [fetching] = phases
    assert fetching.startswith(f"fetching Neo4j {versions['neo4j']} and GDS {versions['gds']}")
    assert str(home) in fetching
    assert any((home / "lib").glob("neo4j-*.jar"))


def test_the_cli_commands(
    neo4j_home: Path, server: ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from graph.cli import app

    monkeypatch.setenv("TIMEBANK_NEO4J_HOME", str(neo4j_home))
    runner = CliRunner()
    result = runner.invoke(app, ["neo4j", "status"])
    assert result.exit_code == 0, result.output
    assert server.uri in result.output
    assert server.password not in result.output
    # In a pipe, `start` says what it does one line per phase on stderr (a spinner on a terminal).
    started = run("neo4j", "start")
    assert started.returncode == 0, started.stderr
    assert started.stderr.splitlines() == [
        f"neo4j: already running (pid {server.pid}); waiting for Bolt at {server.uri}"
    ], "a second start leaves the server alone"
    assert (
        started.stdout
        == f"Neo4j is running at {server.uri} (pid {server.pid}); use --store neo4j\n"
    )
    result = runner.invoke(app, ["neo4j", "stop"])
    assert (result.exit_code, result.output.strip()) == (0, "Neo4j stopped")
    result = runner.invoke(app, ["neo4j", "stop"])
    assert (result.exit_code, result.output.strip()) == (0, "Neo4j was not running")
    result = runner.invoke(app, ["neo4j", "status"])
    assert result.exit_code == 1
    assert "not running" in result.output
    started = run("neo4j", "start")
    assert started.returncode == 0, started.stderr
    phases = started.stderr.splitlines()
    assert [phase.split(" ", 2)[1] for phase in phases] == ["starting", "waiting"]
    assert all(phase.startswith("neo4j: ") and server.uri in phase for phase in phases)
    assert neo4j_server.status(neo4j_home).running
