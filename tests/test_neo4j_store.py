"""The Neo4j store on a real server: parity with the embedded store, injection, opening."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr

from graph.analyze import analyze
from graph.config import Settings
from graph.errors import StoreError
from graph.generate import GeneratorParams, generate, write_dataset
from graph.ingest import ingest
from graph.store import SqliteStore, open_store
from graph.store.neo4j import Neo4jStore
from tests.conftest import NOW

pytestmark = pytest.mark.neo4j


@pytest.mark.parametrize("seed", [11, 12])
def test_parity_with_the_embedded_store(seed: int, neo4j_store: Neo4jStore, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write_dataset(generate(GeneratorParams(members=1200, seed=seed)), folder)
    with SqliteStore(tmp_path / "embedded.db") as embedded:
        for store in (embedded, neo4j_store):
            assert ingest(folder, store, now=NOW).all_accepted
        assert neo4j_store.counts() == embedded.counts()
        embedded_run = analyze(embedded, tmp_path / "embedded")
        neo4j_run = analyze(neo4j_store, tmp_path / "neo4j")
    assert embedded_run.summary["counts"] == neo4j_run.summary["counts"]
    assert embedded_run.summary["rings"] == neo4j_run.summary["rings"]
    for name in [*embedded_run.tables, "rings.json"]:
        assert (tmp_path / "embedded" / name).read_bytes() == (
            tmp_path / "neo4j" / name
        ).read_bytes()
    for table, key in [
        ("members", "member_id"),
        ("sessions", "session_id"),
        ("referrals", "referee"),
        ("redemptions", "redemption_id"),
    ]:
        # Sessions at the same second may come in either order: compare as sets of rows.
        one, other = (
            getattr(run.snapshot, table).sort_values(key, ignore_index=True)
            for run in (embedded_run, neo4j_run)
        )
        pd.testing.assert_frame_equal(one, other)


INJECTIONS = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n RETURN 1 //',
    "x` {a:1}) DETACH DELETE n //",
    "$rows; MATCH (n) DELETE n",
    "\\u0027 OR 1=1 --",
    "王芳'); DROP TABLE members; --",
]


def test_cypher_injection_strings_are_stored_verbatim(neo4j_store: Neo4jStore) -> None:
    n = len(INJECTIONS)
    members = pd.DataFrame(
        {
            "member_id": [*INJECTIONS, "plain"],
            "joined_at": ["2025-01-01"] * (n + 1),
            "community_id": [*INJECTIONS, "c1"],
            "display_name": [*INJECTIONS[::-1], "name"],
            "device_id": [*INJECTIONS, "d"],
        }
    )
    sessions = pd.DataFrame(
        {
            "session_id": [f"s{i}-{text}" for i, text in enumerate(INJECTIONS)],
            "helper_id": INJECTIONS,
            "recipient_id": ["plain"] * n,
            "started_at": ["2025-02-01"] * n,
            "hours": [1.0] * n,
            "service": INJECTIONS,
            "note": INJECTIONS,
        }
    )
    report = ingest({"members": members, "sessions": sessions}, neo4j_store, now=NOW)
    assert report.all_accepted
    assert neo4j_store.counts()["members"] == n + 1
    assert neo4j_store.counts()["sessions"] == n
    for text in INJECTIONS:
        member = neo4j_store.get_member(text)
        assert member is not None
        assert member.community_id == text
    snapshot = neo4j_store.snapshot()
    assert set(snapshot.sessions["service"].astype(str)) == set(INJECTIONS)
    assert sorted(snapshot.members["display_name"].dropna()) == sorted([*INJECTIONS, "name"])
    again = ingest({"members": members, "sessions": sessions}, neo4j_store, now=NOW)
    assert again.all_accepted
    assert neo4j_store.counts()["sessions"] == n


def test_opening_by_uri_and_settings(neo4j_connection: Settings) -> None:
    uri = neo4j_connection.neo4j_uri
    assert uri is not None
    with open_store(uri, settings=neo4j_connection) as store:
        assert store.location == uri
        assert set(store.counts()) == {"members", "sessions", "referrals", "redemptions"}
    wrong = neo4j_connection.model_copy(update={"neo4j_password": SecretStr("wrong")})
    with pytest.raises(StoreError, match="authentication failed") as raised:
        open_store(uri, settings=wrong)
    assert "wrong" not in str(raised.value)
    no_password = neo4j_connection.model_copy(update={"neo4j_password": None})
    with pytest.raises(StoreError, match="set NEO4J_PASSWORD"):
        open_store(uri, settings=no_password)
    with pytest.raises(StoreError, match="not reachable"):
        open_store("bolt://127.0.0.1:1", settings=neo4j_connection)
    with pytest.raises(StoreError, match="not a Neo4j URI"):
        open_store("http://127.0.0.1:7474", settings=neo4j_connection)


def test_summary_names_the_server_not_the_password(
    neo4j_store: Neo4jStore, neo4j_connection: Settings, tmp_path: Path
) -> None:
    run = analyze(neo4j_store, tmp_path)
    summary = (tmp_path / "summary.json").read_text()
    assert json.loads(summary)["store"] == neo4j_connection.neo4j_uri
    password = neo4j_connection.neo4j_password
    assert password is not None
    assert password.get_secret_value() not in summary
    assert run.summary["counts"]["members"] == 0


def test_the_cli_on_neo4j(
    neo4j_store: Neo4jStore,
    neo4j_connection: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from graph.cli import app
    from tests.conftest import GOOD

    password = neo4j_connection.neo4j_password
    assert password is not None
    assert neo4j_connection.neo4j_uri is not None
    monkeypatch.setenv("NEO4J_URI", neo4j_connection.neo4j_uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_connection.neo4j_user)
    monkeypatch.setenv("NEO4J_PASSWORD", password.get_secret_value())
    folder = tmp_path / "data"
    folder.mkdir()
    for name, text in GOOD.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(folder), "--store", "neo4j"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["stats", "--store", "neo4j", "--json"])
    assert json.loads(result.output) == {
        "members": 4,
        "sessions": 4,
        "referrals": 3,
        "redemptions": 1,
    }
    result = runner.invoke(app, ["analyze", "--store", "neo4j", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "growth.csv").exists()
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
    result = runner.invoke(app, ["stats", "--store", "neo4j"])
    assert result.exit_code == 2
    assert "authentication failed" in result.output
    assert "Traceback" not in result.output
