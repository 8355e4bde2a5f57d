"""Who may see the dashboards: a login page taking an API key, server-side sessions, and the
gate every request under ``/dashboards`` passes.

The dashboards honour the API's keys and roles (:class:`graph.api.security.KeyRing`,
:meth:`graph.config.ApiKey.allows`). A browser cannot send ``X-API-Key`` on its own, so a person
pastes their key once into ``/dashboards/login``; the server answers with a cookie holding a
random session token (HttpOnly, SameSite=Strict, path ``/dashboards``) and keeps the map
token → :class:`~graph.config.ApiKey` in memory. The key itself is never put in a cookie, a
page or a log, and the server keeps only the SHA-256 digest of each token. Sessions end on
logout, after :data:`SESSION_SECONDS`, or when the server stops.

:class:`DashboardGate` (ASGI middleware on the API app) then decides for each request under
``/dashboards``:

- the login and logout pages and Dash's static files (``_dash-component-suites/``, ``assets/``,
  ``_favicon.ico``: the JavaScript of installed packages, nothing about the network) pass;
- without a valid session, a page is redirected to the login page (303) and anything else — the
  layout, the callbacks, the dependency list — is refused with a 401 problem (RFC 9457, like
  the API's);
- with one, the key's name is logged as the API logs it, the key's rate limit applies (429), a
  page path (``/dashboards/rings``) is served Dash's page shell, and a callback that records a
  review decision is refused with a 403 problem unless the key is a reviewer's or an admin's;
- WebSocket connections are refused: the dashboards make no WebSocket callbacks.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.api.deps import over_limit, short_of
from graph.api.problems import problem_response
from graph.api.security import KeyRing, RateLimiter
from graph.config import ApiKey, Role, hash_key

__all__ = [
    "COOKIE",
    "PREFIX",
    "SESSION_SECONDS",
    "DashboardGate",
    "Sessions",
    "add_login_routes",
    "output_ids",
]

#: Where the dashboards live (no trailing slash).
PREFIX = "/dashboards"
#: The session cookie's name.
COOKIE = "timebank_dashboards"
#: How long a session lasts after login (seconds).
SESSION_SECONDS = 12 * 3600
#: Sessions kept at most; the oldest are dropped first.
MAX_SESSIONS = 10_000
#: Paths under the prefix anyone may fetch: Dash's JavaScript bundles, assets and favicon.
PUBLIC_PREFIXES = (f"{PREFIX}/_dash-component-suites/", f"{PREFIX}/assets/")
PUBLIC_PATHS = frozenset({f"{PREFIX}/_favicon.ico", f"{PREFIX}/login", f"{PREFIX}/logout"})
#: The callback endpoint, whose body names the outputs it would update.
CALLBACK_PATH = f"{PREFIX}/_dash-update-component"
#: Headers on every dashboard response: no page of ours may be framed (a framed confirm button
#: could be clicked by a reviewer who does not see it).
FRAMING_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass(frozen=True)
class _Session:
    key: ApiKey
    expires: float


class Sessions:
    """Session tokens handed to browsers, each standing for one API key until it expires.

    Tokens are 256 random bits; only their SHA-256 digests are kept. Safe to use from several
    threads.
    """

    def __init__(self, *, seconds: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.seconds = seconds
        self.limit = limit
        self._by_digest: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, key: ApiKey) -> str:
        """A new session for ``key``; returns its token (for the cookie, and nowhere else)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._by_digest[hash_key(token)] = _Session(key, time.monotonic() + self.seconds)
            while len(self._by_digest) > self.limit:
                self._by_digest.popitem(last=False)
        return token

    def key(self, token: str | None) -> ApiKey | None:
        """The key ``token``'s session stands for, or None (no such session, or expired)."""
        if not token:
            return None
        digest = hash_key(token)
        with self._lock:
            session = self._by_digest.get(digest)
            if session is None:
                return None
            if session.expires <= time.monotonic():
                del self._by_digest[digest]
                return None
            return session.key

    def close(self, token: str | None) -> None:
        """End ``token``'s session (nothing happens for an unknown one)."""
        if token:
            with self._lock:
                self._by_digest.pop(hash_key(token), None)

    def __len__(self) -> int:
        return len(self._by_digest)


# The login page ----------------------------------------------------------------------------

_LOGIN_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f6f8; color: #222; margin: 0; }
main { max-width: 26rem; margin: 12vh auto; background: #fff; border-radius: 8px;
       padding: 2rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { font-size: 1.3rem; margin-top: 0; } label { display: block; margin: 1rem 0 .3rem; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font-family: monospace; }
button { margin-top: 1rem; padding: .5rem 1.2rem; background: #1565c0; color: #fff;
         border: 0; border-radius: 4px; cursor: pointer; }
#login-error { color: #b71c1c; } #login-note { color: #555; font-size: .9rem; }
"""


def login_page(*, error: str | None = None, next_path: str = f"{PREFIX}/") -> str:
    """The login form (self-contained: no script, no external stylesheet or font)."""
    shown = f'<p id="login-error" role="alert">{html.escape(error)}</p>' if error else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Log in · timebank-graph dashboards</title>"
        f"<link rel='icon' type='image/x-icon' href='{PREFIX}/_favicon.ico'>"
        f"<style>{_LOGIN_STYLE}</style></head><body><main>"
        "<h1>timebank-graph dashboards</h1>"
        f"{shown}"
        f"<form id='login-form' method='post' action='{PREFIX}/login'>"
        "<label for='login-key'>API key</label>"
        "<input id='login-key' name='key' type='password' autocomplete='off' required "
        "maxlength='512' autofocus>"
        f"<input type='hidden' name='next' value='{html.escape(next_path, quote=True)}'>"
        "<button id='login-submit' type='submit'>Log in</button></form>"
        "<p id='login-note'>Paste the key <code>timebank keys add</code> printed for you. "
        "Viewers see every dashboard; reviewers and admins can also confirm or dismiss "
        "fraud rings.</p></main></body></html>"
    )


def _safe_next(candidate: object) -> str:
    """Where to go after logging in: a dashboard path, never another site."""
    if (
        isinstance(candidate, str)
        and candidate.startswith(f"{PREFIX}/")
        and "//" not in candidate
        and "\\" not in candidate
        and not candidate.startswith(f"{PREFIX}/log")
        and len(candidate) <= 200
    ):
        return candidate
    return f"{PREFIX}/"


def add_login_routes(app: FastAPI, *, sessions: Sessions, keys: KeyRing) -> None:
    """``GET``/``POST /dashboards/login`` and ``/dashboards/logout`` on ``app`` (left out of
    the OpenAPI schema: they are pages, not API)."""

    async def show_login(request: Request) -> Response:
        if sessions.key(request.cookies.get(COOKIE)) is not None:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        next_path = _safe_next(request.query_params.get("next"))
        return HTMLResponse(login_page(next_path=next_path), headers={"Cache-Control": "no-store"})

    async def log_in(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        presented = form.get("key")
        next_path = _safe_next(form.get("next"))
        key = (
            keys.find(presented.strip())
            if isinstance(presented, str) and 0 < len(presented) <= 512
            else None
        )
        if key is None:
            page = login_page(error="That is not a valid API key.", next_path=next_path)
            return HTMLResponse(page, status_code=401, headers={"Cache-Control": "no-store"})
        sessions.close(request.cookies.get(COOKIE))
        request.state.api_key_name = key.name
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.open(key),
            max_age=int(sessions.seconds),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def log_out(request: Request) -> Response:
        sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(
            COOKIE,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    app.add_route(f"{PREFIX}/login", show_login, methods=["GET"], include_in_schema=False)
    app.add_route(f"{PREFIX}/login", log_in, methods=["POST"], include_in_schema=False)
    app.add_route(f"{PREFIX}/logout", log_out, methods=["GET", "POST"], include_in_schema=False)


# The gate ----------------------------------------------------------------------------------


def output_ids(output: object) -> set[str]:
    """The component ids a Dash callback request's ``output`` names.

    ``output`` reads ``id.prop`` for one output, ``..id.prop...id.prop..`` for several, each
    prop possibly followed by ``@hash`` (outputs shared by several callbacks).

    Examples
    --------
    >>> sorted(output_ids("..review-result.children...audit-trail.children@1a2b.."))
    ['audit-trail', 'review-result']
    >>> output_ids("page.children")
    {'page'}
    """
    if not isinstance(output, str):
        return set()
    parts = output.removeprefix("..").removesuffix("..").split("...")
    return {part.rsplit(".", 1)[0] for part in parts if "." in part}


class DashboardGate:
    """ASGI middleware admitting requests under :data:`PREFIX` (see the module docstring).

    Parameters
    ----------
    app
        The application it wraps.
    sessions
        The open sessions.
    limiter
        The API's rate limiter (one budget per key name, shared with the API).
    pages
        Page names served as Dash's page shell (``rings`` for ``/dashboards/rings``).
    needs_role
        Component id → the role a callback updating it needs (the review decision's outputs).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Sessions,
        limiter: RateLimiter,
        pages: Collection[str],
        needs_role: dict[str, Role],
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.limiter = limiter
        self.pages = frozenset(f"{PREFIX}/{page}" for page in pages)
        self.needs_role = needs_role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not (
            path == PREFIX or path.startswith(f"{PREFIX}/")
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return

        async def framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *FRAMING_HEADERS]}
            await send(message)

        if path == PREFIX:
            await RedirectResponse(f"{PREFIX}/", status_code=307)(scope, receive, framed)
            return
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, framed)
            return
        request = Request(scope, receive)
        key = self.sessions.key(request.cookies.get(COOKIE))
        page = scope["method"] in ("GET", "HEAD") and (path == f"{PREFIX}/" or path in self.pages)
        if key is None:
            if page:
                target = f"{PREFIX}/login" + ("" if path == f"{PREFIX}/" else f"?next={path}")
                await RedirectResponse(target, status_code=303)(scope, receive, framed)
            else:
                refused = problem_response(
                    request,
                    "unauthorized",
                    f"log in at {PREFIX}/login first: the dashboards need a session",
                    headers={
                        "WWW-Authenticate": f'Cookie realm="dashboards" login="{PREFIX}/login"'
                    },
                )
                await refused(scope, receive, framed)
            return
        scope.setdefault("state", {})["api_key_name"] = key.name
        limited = over_limit(key, self.limiter)
        if limited is not None:
            await limited.response(request)(scope, receive, framed)
            return
        if page and path != f"{PREFIX}/":
            # Every page is the same Dash shell; the browser's path picks what it shows.
            scope = {**scope, "path": f"{PREFIX}/", "raw_path": f"{PREFIX}/".encode()}
        if path == CALLBACK_PATH and scope["method"] == "POST":
            body = await _read_body(receive)
            needed = self._role_needed(body)
            forbidden = None if needed is None else short_of(key, needed)
            if forbidden is not None:
                await forbidden.response(request)(scope, receive, framed)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, framed)

    def _role_needed(self, body: bytes) -> Role | None:
        """The highest role the callback in ``body`` needs (None: any session will do)."""
        try:
            request: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None  # Dash itself refuses what it cannot read
        named = output_ids(request.get("output") if isinstance(request, dict) else None)
        roles = [self.needs_role[name] for name in named if name in self.needs_role]
        order = ("viewer", "reviewer", "admin")
        return max(roles, key=order.index) if roles else None


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (its size is already bounded by the API's body limit)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving ``body`` once, then what the client sends next (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
