"""Stores: where ingested networks live. :func:`open_store` picks the backend from a location."""

from __future__ import annotations

from pathlib import Path

from graph.config import Settings
from graph.errors import StoreError
from graph.store.base import GraphStore, WriteResult
from graph.store.sqlite import SqliteStore

__all__ = ["NEO4J_SCHEMES", "GraphStore", "SqliteStore", "WriteResult", "open_store"]

#: URI schemes of the Neo4j driver: direct (bolt), routed (neo4j, for clusters and Aura), with
#: TLS (+s) or TLS trusting self-signed certificates (+ssc).
NEO4J_SCHEMES = tuple(
    f"{scheme}{tls}://" for scheme in ("bolt", "neo4j") for tls in ("", "+s", "+ssc")
)


def open_store(
    location: Path | str, *, create: bool = False, settings: Settings | None = None
) -> GraphStore:
    """Open the store at ``location``.

    Parameters
    ----------
    location
        A file path (the embedded SQLite store); ``"neo4j"`` — the server ``NEO4J_URI`` names,
        else the local one ``timebank neo4j start`` runs; or a Neo4j URI (``bolt://``,
        ``neo4j://``, ``neo4j+s://`` …) with ``NEO4J_USER``/``NEO4J_PASSWORD``.
    create
        Create a missing store file. Off by default: reading a mistyped path must fail, not
        show an empty network, so only what writes data (an ingest) passes True. A Neo4j
        database always exists.
    settings
        Environment settings (read from the environment when omitted).

    Raises
    ------
    StoreNotFoundError
        For a store file that does not exist, unless ``create``.
    StoreError
        For a location that cannot be opened.
    """
    text = str(location)
    settings = Settings() if settings is None else settings
    if text == "neo4j" and settings.neo4j_uri is None:
        from graph import neo4j_server
        from graph.store.neo4j import Neo4jStore

        server = neo4j_server.connection()
        return Neo4jStore(
            server.uri, user=server.user, password=server.password, database=server.database
        )
    if text == "neo4j" or text.startswith(NEO4J_SCHEMES):
        from graph.store.neo4j import Neo4jStore

        uri = settings.neo4j_uri if text == "neo4j" else text
        assert uri is not None
        if settings.neo4j_password is None:
            raise StoreError(f"{uri}: set NEO4J_PASSWORD (and NEO4J_USER) to log in")
        return Neo4jStore(
            uri,
            user=settings.neo4j_user,
            password=settings.neo4j_password.get_secret_value(),
            database=settings.neo4j_database,
        )
    if "://" in text:
        raise StoreError(f"{text}: not a Neo4j URI ({', '.join(NEO4J_SCHEMES)}) nor a file path")
    return SqliteStore(text, create=create)
