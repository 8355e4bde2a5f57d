"""The FastAPI app: ``create_app(service, settings)``; ``timebank serve`` runs it.

Routes are versioned under ``/v1``; ``/health`` needs no key, everything else an API key whose
role allows it (viewer: read; reviewer: also review rings; admin: also ingest and recompute).
OpenAPI is at ``/openapi.json``, interactive docs at ``/docs``. The dashboards
(:mod:`dashboards.app`) are served by the same app under ``/dashboards/``, with the same keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.api.limits import BodyLimit
from graph.api.problems import PROBLEM_TYPES, Problem, install_problem_handlers
from graph.api.routes import admin, growth, health, members, rings, tiers, trust
from graph.api.security import KeyRing, RateLimiter
from graph.api.service import ApiService
from graph.config import ApiKey, ApiSettings

__all__ = ["create_app"]

access_log = logging.getLogger("graph.api.access")
#: Request bodies other than uploads: a review note or a policy, with room to spare.
OTHER_BODY_BYTES = 2**20

_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
#: Problems any keyed route can answer with, documented on every route.
_KEYED_PROBLEMS: dict[int | str, dict[str, Any]] = {
    PROBLEM_TYPES[slug][0]: {"description": PROBLEM_TYPES[slug][1], "content": _PROBLEM_CONTENT}
    for slug in ("unauthorized", "forbidden", "validation", "rate-limited", "internal", "not-ready")
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such resource", "content": _PROBLEM_CONTENT}
}
#: Problems any operation taking a request body can answer with, though no route raises them:
#: a body over its size limit (graph.api.limits) and one that cannot be parsed at all (not
#: JSON, a broken multipart form) are refused before the route runs.
_BODY_PROBLEMS = ("bad-request", "payload-too-large")


def _document_body_problems(schema: dict[str, Any]) -> None:
    """Add :data:`_BODY_PROBLEMS` to the responses of every operation that takes a body."""
    for item in schema["paths"].values():
        for operation in item.values():
            if "requestBody" not in operation:
                continue
            for slug in _BODY_PROBLEMS:
                status, title = PROBLEM_TYPES[slug]
                operation["responses"].setdefault(
                    str(status), {"description": title, "content": _PROBLEM_CONTENT}
                )


class AccessLog:
    """Logs each request: method, path, status, latency and the caller's key *name* (a key
    itself never reaches a log)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            key = scope.get("state", {}).get("api_key_name", "-")
            access_log.info(
                "%s %s %d %.1fms key=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                key,
            )


def create_app(
    service: ApiService,
    settings: ApiSettings,
    *,
    keys: list[ApiKey] | None = None,
    dashboards: bool = True,
) -> FastAPI:
    """The API over ``service``, admitting the keys of ``settings`` (or ``keys``), with the
    dashboards under ``/dashboards/`` unless ``dashboards`` is false.

    Starting the app queues the first analysis of the store; until it is done, analytic
    routes answer 503 (``not-ready``) and ``/health`` says so.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not service.ready:
            service.recompute()
        yield
        service.close()

    app = FastAPI(
        title="timebank-graph",
        version="1",
        summary="Trust, referral fan-out, tiers, fraud rings and growth of a time-bank network.",
        lifespan=lifespan,
        responses=_KEYED_PROBLEMS,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.keys = KeyRing(settings.all_keys() if keys is None else keys)
    app.state.limiter = RateLimiter(per_minute=settings.rate_limit, burst=settings.rate_burst)
    install_problem_handlers(app)
    app.include_router(health.router)
    for router in (members.router, rings.router, growth.router, admin.router):
        app.include_router(router, responses=_NOT_FOUND)
    app.include_router(trust.router)
    app.include_router(tiers.router)
    if dashboards:
        # The dashboards (dashboards/app.py) under /dashboards/, on this app and behind the
        # same keys; mounted before the body limit and the access log so that those wrap
        # them too. Imported here: Dash is only loaded by apps that serve it.
        from dashboards.app import mount_dashboards

        mount_dashboards(app, service, keys=app.state.keys, limiter=app.state.limiter)
    app.add_middleware(
        BodyLimit,
        upload_paths=frozenset({"/v1/ingest"}),
        upload_bytes=settings.max_upload_mb * 2**20,
        other_bytes=OTHER_BODY_BYTES,
    )
    app.add_middleware(AccessLog)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema["components"]["schemas"]["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, sub in (
                Problem.model_json_schema(ref_template="#/components/schemas/{model}")
                .get("$defs", {})
                .items()
            ):
                schema["components"]["schemas"][name] = sub
            schema["components"]["schemas"]["Problem"].pop("$defs", None)
            _document_body_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
