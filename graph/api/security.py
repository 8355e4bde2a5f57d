"""Who may call: API keys (``X-API-Key``) looked up by digest, roles, and a rate limit per key."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from graph.config import ApiKey, hash_key

__all__ = ["KeyRing", "RateLimiter"]


class KeyRing:
    """The configured keys, found by the SHA-256 digest of what a caller presents."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_digest = {key.sha256: key for key in keys}

    def find(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, or None. Only digests are compared, so the time taken
        tells an attacker nothing about any stored key."""
        return self._by_digest.get(hash_key(presented))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute on average, ``burst`` at once.

    ``per_minute = 0`` admits everything.
    """

    def __init__(self, *, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, name: str) -> float:
        """Take a token for key ``name``: 0 when admitted, else the seconds until it would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(name, _Bucket(self.burst, now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``wait`` seconds as a Retry-After header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
