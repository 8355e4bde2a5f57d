"""Dependencies the routers declare: the service, the analysis served, and the caller's key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from graph.api.problems import ProblemError, invalid
from graph.api.security import KeyRing, RateLimiter
from graph.api.service import ApiService
from graph.config import ApiKey, Role
from graph.views import AnalyticsView

__all__ = ["Admin", "Reviewer", "ServiceDep", "ViewDep", "Viewer"]

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key; its role (viewer, reviewer, admin) decides what it may do.",
)


def query_moment(name: str, text: str | None) -> datetime | None:
    """Query parameter ``name`` (shaped as :data:`~graph.api.schemas.MOMENT_PATTERN`) as a
    datetime, naive meaning UTC; a 422 naming it when the date does not exist (2025-02-30)."""
    try:
        return None if text is None else datetime.fromisoformat(text)
    except ValueError as error:
        raise invalid(f"query.{name}", f"not a date: {error}") from None


async def get_service(request: Request) -> ApiService:
    service: ApiService = request.app.state.service
    return service


ServiceDep = Annotated[ApiService, Depends(get_service)]


def over_limit(key: ApiKey, limiter: RateLimiter) -> ProblemError | None:
    """Count one request of ``key``: None when its rate limit admits it, else the 429 problem
    (with ``Retry-After``)."""
    wait = limiter.admit(key.name)
    if wait <= 0:
        return None
    return ProblemError(
        "rate-limited",
        f"key {key.name!r} is over its rate limit; retry later",
        headers={"Retry-After": limiter.retry_after(wait)},
    )


def short_of(key: ApiKey, role: Role) -> ProblemError | None:
    """The 403 problem when ``key``'s role does not allow ``role``, else None."""
    if key.allows(role):
        return None
    return ProblemError("forbidden", f"this needs the {role} role; key {key.name!r} is {key.role}")


def require(role: Role) -> Callable[[Request, str | None], Awaitable[ApiKey]]:
    """A dependency admitting callers whose key allows ``role``: 401 without a valid key,
    429 over the key's rate limit, 403 for a key whose role falls short."""

    async def admit(request: Request, presented: str | None = Security(_api_key)) -> ApiKey:
        keys: KeyRing = request.app.state.keys
        limiter: RateLimiter = request.app.state.limiter
        key = keys.find(presented) if presented else None
        if key is None:
            raise ProblemError(
                "unauthorized",
                "send a valid API key in the X-API-Key header"
                if presented
                else "this route needs an API key in the X-API-Key header",
                headers={"WWW-Authenticate": 'APIKey header="X-API-Key"'},
            )
        request.state.api_key_name = key.name
        refusal = over_limit(key, limiter) or short_of(key, role)
        if refusal is not None:
            raise refusal
        return key

    return admit


Viewer = Annotated[ApiKey, Depends(require("viewer"))]


async def get_view(service: ServiceDep, _: Viewer) -> AnalyticsView:
    """The analysis served, for a caller already admitted as a viewer: a caller without a
    valid key learns it (401) before learning whether an analysis is ready (503)."""
    return service.view


ViewDep = Annotated[AnalyticsView, Depends(get_view)]
Reviewer = Annotated[ApiKey, Depends(require("reviewer"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]
