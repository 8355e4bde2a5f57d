"""One exception hierarchy for the whole package.

Library code raises these; only the edges (CLI, API) turn them into exit codes or HTTP problems.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConvergenceError",
    "DatasetError",
    "PolicyError",
    "ReviewError",
    "RingNotFoundError",
    "StoreError",
    "StoreNotFoundError",
    "TimebankError",
]


class TimebankError(Exception):
    """Base class of every error timebank-graph raises on purpose."""


class DatasetError(TimebankError):
    """A dataset cannot be read at all (missing file or column, undecodable bytes).

    Row-level problems never raise: they become rejects in the ingest report.
    """

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.reason = message
        self.path = None if path is None else Path(path)
        self.line = line


class ConvergenceError(TimebankError):
    """An iterative analytic did not reach its tolerance within its iteration budget."""


class StoreError(TimebankError):
    """The store cannot be opened, is of an unknown schema version, or refused a write."""


class PolicyError(TimebankError):
    """A tier policy is invalid, or its file cannot be read (see :mod:`graph.policy`).

    The message reads ``source: key: reason``, e.g. ``policy.toml:
    tiers.community_head.active_referrals: expected a non-negative integer, got 'three'``;
    ``source`` (the file) and ``key`` (the dotted TOML key) are left out when unknown.
    """

    def __init__(self, reason: str, *, source: str | None = None, key: str | None = None):
        super().__init__(": ".join(part for part in (source, key, reason) if part))
        self.reason = reason
        self.source = source
        self.key = key


class StoreNotFoundError(StoreError):
    """No store at this path: only writing data (an ingest) creates one, so that a mistyped
    path is refused rather than read as an empty network."""

    def __init__(self, path: Path | str):
        super().__init__(f"{path}: no such store (ingesting into a path creates one)")
        self.path = Path(path)


class RingNotFoundError(StoreError):
    """The store holds no fraud ring with this id."""

    def __init__(self, ring_id: str, *, location: str):
        super().__init__(f"{location}: no fraud ring {ring_id!r}")
        self.ring_id = ring_id


class ReviewError(TimebankError, ValueError):
    """A ring review is refused: an unknown status, or a blank or over-long reviewer or note."""
