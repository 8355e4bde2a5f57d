"""Settings from the environment (pydantic-settings): where the Neo4j server is and how to log
in, and how the HTTP API admits callers.

``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE`` point the project at any
Neo4j 5 server; without ``NEO4J_URI``, ``--store neo4j`` means the local server that
``timebank neo4j start`` runs (see :mod:`graph.neo4j_server` for where it lives).

The API (``timebank serve``) reads ``TIMEBANK_API_*`` variables (:class:`ApiSettings`): its keys
come from a TOML file (``TIMEBANK_API_KEYS_FILE``, written by ``timebank keys add``) and/or
``TIMEBANK_API_KEYS`` (a JSON list), each key stored only as its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.errors import TimebankError

__all__ = [
    "ROLES",
    "ApiKey",
    "ApiSettings",
    "ConfigError",
    "Role",
    "Settings",
    "add_key",
    "hash_key",
    "new_key",
    "read_keys_file",
]

#: API roles, each allowed everything the ones before it are.
ROLES = ("viewer", "reviewer", "admin")
Role = Literal["viewer", "reviewer", "admin"]
#: New keys start with this, so a leaked one is recognisable in logs and secret scanners.
KEY_PREFIX = "tbk_"


class ConfigError(TimebankError):
    """The API's settings or keys file are missing or invalid."""


class Settings(BaseSettings):
    """Environment settings; secrets stay :class:`~pydantic.SecretStr` until used."""

    model_config = SettingsConfigDict(extra="ignore")

    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"


class ApiKey(BaseModel):
    """One caller of the API: who (``name``, recorded in audit trails), what it may do
    (``role``) and the SHA-256 hex digest of its key (the key itself is never stored)."""

    model_config = {"frozen": True, "extra": "forbid"}

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    def allows(self, role: Role) -> bool:
        """Whether this key may act in ``role`` (admin ⊇ reviewer ⊇ viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class ApiSettings(BaseSettings):
    """How ``timebank serve`` admits and limits callers (``TIMEBANK_API_*`` variables).

    ``rate_limit`` requests per minute per key (a burst of ``rate_burst`` at once; 0 turns
    limiting off); ``max_upload_mb`` bounds an ingest upload; ``ring_cache_seconds`` is how
    long the ring queue read from the store is served before it is read again (decisions
    made through this API show at once; others, e.g. from the CLI, within that time).
    """

    model_config = SettingsConfigDict(env_prefix="TIMEBANK_API_", extra="ignore")

    keys_file: Path | None = None
    keys: list[ApiKey] = Field(default_factory=list)
    rate_limit: int = Field(default=600, ge=0)
    rate_burst: int = Field(default=60, ge=1)
    max_upload_mb: int = Field(default=200, ge=1)
    ring_cache_seconds: float = Field(default=10.0, ge=0)

    def all_keys(self) -> list[ApiKey]:
        """The keys from the environment and the keys file, checked.

        Raises
        ------
        ConfigError
            No key at all (an API nobody may call is a misconfiguration), an unreadable or
            invalid keys file, or two keys with one name or one digest.
        """
        keys = list(self.keys)
        if self.keys_file is not None:
            keys += read_keys_file(self.keys_file)
        _check_unique(keys, source=str(self.keys_file or "TIMEBANK_API_KEYS"))
        if not keys:
            raise ConfigError(
                "no API keys: create one with `timebank keys add NAME --role viewer --file "
                "keys.toml` and pass --keys keys.toml (or set TIMEBANK_API_KEYS_FILE)"
            )
        return keys


def hash_key(key: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up by.

    A plain digest is enough for keys of 256 random bits (nobody can guess their way back);
    a slow password hash would cost every request milliseconds for nothing.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def read_keys_file(path: Path) -> list[ApiKey]:
    """The ``[[keys]]`` tables of a TOML keys file (``name``, ``role``, ``sha256``).

    Raises
    ------
    ConfigError
        The file cannot be read, is not TOML, or an entry is invalid (the message names it).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the keys file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a TOML keys file ({error})") from None
    entries = document.get("keys", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: keys: expected [[keys]] tables")
    keys = []
    for number, entry in enumerate(entries, start=1):
        try:
            keys.append(ApiKey.model_validate(entry))
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise ConfigError(f"{path}: keys[{number}].{where}: {problem['msg']}") from None
    return keys


def add_key(path: Path, *, name: str, role: Role) -> str:
    """Create a key for ``name`` in ``role``, append its digest to the keys file at ``path``
    (created if absent) and return the key: the only time it is ever shown.

    Raises
    ------
    ConfigError
        An invalid name or role, or a key of that name already in the file.
    """
    existing = read_keys_file(path) if path.exists() else []
    key = new_key()
    try:
        entry = ApiKey(name=name, role=role, sha256=hash_key(key))
    except ValidationError as error:
        problem = error.errors()[0]
        raise ConfigError(f"{problem['loc'][0]}: {problem['msg']}") from None
    _check_unique([*existing, entry], source=str(path))
    with path.open("a", encoding="utf-8") as file:
        file.write(f'\n[[keys]]\nname = "{entry.name}"\nrole = "{entry.role}"\n')
        file.write(f'sha256 = "{entry.sha256}"\n')
    return key


def _check_unique(keys: list[ApiKey], *, source: str) -> None:
    for field in ("name", "sha256"):
        seen: set[str] = set()
        for key in keys:
            value = getattr(key, field)
            if value in seen:
                shown = key.name if field == "name" else f"the key of {key.name!r}"
                raise ConfigError(f"{source}: {shown} appears twice")
            seen.add(value)
