"""Stores: where ingested networks live. :func:`open_store` picks the backend from a location."""

from __future__ import annotations

from pathlib import Path

from graph.errors import StoreError
from graph.store.base import GraphStore, WriteResult
from graph.store.sqlite import SqliteStore

__all__ = ["GraphStore", "SqliteStore", "WriteResult", "open_store"]


def open_store(location: Path | str) -> GraphStore:
    """Open the store at ``location``: a file path (embedded SQLite store, created if absent).

    Raises
    ------
    StoreError
        For a location this build cannot open.
    """
    text = str(location)
    if "://" in text or text == "neo4j":
        raise StoreError(f"{text}: no Neo4j backend in this build; use a file path")
    path = Path(text)
    if path.is_dir():
        raise StoreError(f"{path}: is a folder; a store is one file (e.g. {path / 'timebank.db'})")
    return SqliteStore(path)
