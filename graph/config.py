"""Settings from the environment (pydantic-settings): where the Neo4j server is and how to log in.

``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE`` point the project at any
Neo4j 5 server; without ``NEO4J_URI``, ``--store neo4j`` means the local server that
``timebank neo4j start`` runs (see :mod:`graph.neo4j_server` for where it lives).
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Environment settings; secrets stay :class:`~pydantic.SecretStr` until used."""

    model_config = SettingsConfigDict(extra="ignore")

    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"
