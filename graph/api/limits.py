"""Request bodies bounded before anything reads them.

FastAPI reads (and spools to disk) a multipart body before any dependency runs, so the size
limit cannot wait for the route: this ASGI middleware refuses a body whose declared length is
over the limit at once, and stops reading one that grows past it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.api.problems import problem_response

__all__ = ["BodyLimit"]


class _TooLargeError(HTTPException):
    """Raised from ``receive``: FastAPI passes HTTP exceptions from body parsing through (any
    other error there becomes a 400), so the problem handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies here are limited to {_shown(limit)}")


def _shown(limit: int) -> str:
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"


class BodyLimit:
    """At most ``upload_bytes`` for ``upload_paths``, at most ``other_bytes`` elsewhere."""

    def __init__(
        self, app: ASGIApp, *, upload_paths: frozenset[str], upload_bytes: int, other_bytes: int
    ) -> None:
        self.app = app
        self.upload_paths = upload_paths
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"] in self.upload_paths else self.other_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLargeError(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except _TooLargeError:
            if not started:
                await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        shown = f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"
        response = problem_response(
            Request(scope, receive),
            "payload-too-large",
            f"request bodies here are limited to {shown}",
        )
        await response(scope, receive, send)
