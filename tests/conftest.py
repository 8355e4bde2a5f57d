"""Shared fixtures: small datasets written as real files, and stores to ingest them into."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import SecretStr

from graph import neo4j_server
from graph.config import Settings
from graph.generate import GeneratedDataset, GeneratorParams, generate
from graph.ingest import ingest
from graph.model import Snapshot
from graph.neo4j_server import Neo4jServerError, ServerInfo
from graph.store import GraphStore, SqliteStore, open_store
from graph.store.base import COUNTED_TABLES
from graph.store.neo4j import Neo4jStore

#: A small valid dataset; tests copy it and break one thing at a time.
GOOD = {
    "members": """member_id,joined_at,community_id,activated_at,display_name,phone_hash,device_id
m1,2025-01-03T10:00:00,c01,2025-01-03T10:05:00,王芳,p1,d1
m2,2025-01-04,c01,,李雷,p2,d2
m3,2025-01-05T08:00:00+08:00,c02,2025-01-06,张伟,p3,d3
m4,2025-02-01,c02,2025-02-01T12:00:00,刘洋,p4,d4
""",
    "sessions": """session_id,helper_id,recipient_id,started_at,hours,service,rating,status
s1,m1,m2,2025-02-01T09:30:00,1.5,eldercare,9,confirmed
s2,m2,m1,2025-02-03T10:00:00,2,repair,,
s3,m3,m4,2025-03-01T10:00:00,1,tutoring,-3,disputed
s4,m1,m3,2025-03-02T10:00:00,0.5,shopping,8,pending
""",
    "referrals": """referrer_id,referee_id,referred_at
m1,m2,2025-01-04T08:00:00
m1,m3,2025-01-05
m3,m4,2025-02-01
""",
    "redemptions": """redemption_id,member_id,merchant_id,credits,redeemed_at
r1,m1,mer01,1,2025-03-05
""",
}

#: Analyses run "now" at a fixed moment so "in the future" checks are reproducible.
NOW = pd.Timestamp("2026-11-01T00:00:00Z")

WriteDataset = Callable[..., Path]

#: helper, recipient, started_at, hours, rating (None = unrated).
SessionRow = tuple[str, str, str, float, int | None]


def snapshot_of(
    members: dict[str, str],
    sessions: list[SessionRow],
    *,
    status: list[str] | None = None,
    referrals: list[tuple[str, str]] = [],  # noqa: B006 - read only
    now: str = "2026-06-01",
) -> Snapshot:
    """A snapshot of ``members`` (id → joined_at), ``sessions`` and referrals (referrer,
    referee — referred when the referee joined), through a validated in-memory ingest."""
    store = SqliteStore(":memory:")
    frame = pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(len(sessions))],
            "helper_id": [s[0] for s in sessions],
            "recipient_id": [s[1] for s in sessions],
            "started_at": [s[2] for s in sessions],
            "hours": [s[3] for s in sessions],
            "rating": pd.array([s[4] for s in sessions], dtype="Int64"),
            "status": status or ["confirmed"] * len(sessions),
        }
    )
    tables = {
        "members": pd.DataFrame({"member_id": list(members), "joined_at": list(members.values())}),
        "sessions": frame,
        "referrals": pd.DataFrame(
            {
                "referrer_id": [a for a, _ in referrals],
                "referee_id": [b for _, b in referrals],
                "referred_at": [members[b] for _, b in referrals],
            }
        ),
    }
    report = ingest(tables, store, now=pd.Timestamp(now))
    assert report.all_accepted, report.rejects
    return store.snapshot()


@pytest.fixture
def write_dataset(tmp_path: Path) -> WriteDataset:
    """``write_dataset(sessions=..., encoding=...)``: GOOD with some tables replaced, as files.

    A table given as None is left out. Returns the folder.
    """
    counter = iter(range(1_000_000))

    def write(*, encoding: str = "utf-8", **tables: str | None) -> Path:
        folder = tmp_path / f"dataset{next(counter)}"
        folder.mkdir()
        for name, text in {**GOOD, **tables}.items():
            if text is not None:
                (folder / f"{name}.csv").write_bytes(text.encode(encoding))
        return folder

    return write


def ingest_generated(
    store: GraphStore, *, members: int, seed: int, **settings: Any
) -> GeneratedDataset:
    """A generated network (further :class:`GeneratorParams` as ``settings``), ingested through
    validation into ``store`` (every row accepted)."""
    data = generate(GeneratorParams(members=members, seed=seed, **settings))
    tables = {name: getattr(data, name) for name in COUNTED_TABLES}
    report = ingest(tables, store, now=NOW)
    assert report.all_accepted, report.rejects.head()
    return data


@contextmanager
def private_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A server of its own in a temporary home on a free port, stopped at the end.

    For tests that stop or kill their server: the store tests' server is never touched.
    """
    home = tmp_path_factory.mktemp(name)
    try:
        neo4j_server.start(home, bolt_port=free_port())
    except Neo4jServerError as error:
        pytest.fail(f"the local Neo4j server could not start:\n{error}", pytrace=False)
    try:
        yield home
    finally:
        neo4j_server.stop(home)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def neo4j_connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The Neo4j server the store tests use, as settings.

    ``NEO4J_URI`` (with ``NEO4J_USER``/``NEO4J_PASSWORD``) when set; else the local server
    ``timebank neo4j start`` runs (CI starts it before the tests); else one started here, by the
    project's own launcher, in a temporary home, and stopped at the end. Never skipped.
    """
    settings = Settings()
    if settings.neo4j_uri is not None:
        yield settings
        return
    started_home = None
    try:
        server: ServerInfo = neo4j_server.connection()
    except Neo4jServerError:
        started_home = tmp_path_factory.mktemp("neo4j-store-home")
        try:
            server = neo4j_server.start(started_home, bolt_port=free_port())
        except Neo4jServerError as error:
            pytest.fail(f"the local Neo4j server could not start:\n{error}", pytrace=False)
    yield Settings(
        neo4j_uri=server.uri,
        neo4j_user=server.user,
        neo4j_password=SecretStr(server.password),
        neo4j_database=server.database,
    )
    if started_home is not None:
        neo4j_server.stop(started_home)


@pytest.fixture
def neo4j_store(neo4j_connection: Settings) -> Iterator[Neo4jStore]:
    """An emptied Neo4j store (Community edition has one database: tests take turns)."""
    store = open_store("neo4j", settings=neo4j_connection)
    assert isinstance(store, Neo4jStore)
    store.clear()
    with store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "store.db") as opened:
        yield opened


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest) -> GraphStore:
    """Each store in turn: the contract every backend keeps."""
    fixture = "sqlite_store" if request.param == "sqlite" else "neo4j_store"
    opened: GraphStore = request.getfixturevalue(fixture)
    return opened
