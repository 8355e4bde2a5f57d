"""Errors as RFC 9457 problem details (``application/problem+json``), never stack traces.

Every problem has a stable ``type`` (``urn:timebank:problem:<slug>``, listed in
:data:`PROBLEM_TYPES`) that clients can switch on, a ``title`` for that type, the HTTP
``status`` and a ``detail`` for this occurrence. Validation problems add ``errors``, each naming
the field (``query.limit``, ``body.note``) and what is wrong with it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph.api.service import NotReadyError
from graph.errors import DatasetError, PolicyError, ReviewError, RingNotFoundError

__all__ = [
    "PROBLEM_TYPES",
    "FieldError",
    "Problem",
    "ProblemError",
    "install_problem_handlers",
    "invalid",
]

log = logging.getLogger("graph.api")

MEDIA_TYPE = "application/problem+json"
#: slug → (status, title): every problem the API returns.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request is malformed"),
    "unauthorized": (401, "An API key is required"),
    "forbidden": (403, "The API key's role does not allow this"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation": (422, "The request is invalid"),
    "invalid-dataset": (422, "The uploaded dataset cannot be read"),
    "invalid-policy": (422, "The tier policy is invalid"),
    "rate-limited": (429, "Too many requests for this API key"),
    "internal": (500, "Internal error"),
    "not-ready": (503, "The analysis is not ready yet"),
}
_BY_STATUS = {status: slug for slug, (status, _) in reversed(PROBLEM_TYPES.items())}


class FieldError(BaseModel):
    """One invalid input: where (``query.limit``, ``body.note``) and what is wrong."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=["urn:timebank:problem:not-found"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise in a route to answer with the problem ``slug`` (and extra headers)."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug, self.detail, self.errors, self.headers = slug, detail, errors, headers

    def response(self, request: Request) -> JSONResponse:
        """This problem as the response to ``request``."""
        return problem_response(
            request, self.slug, self.detail, errors=self.errors, headers=self.headers
        )


def invalid(field: str, message: str) -> ProblemError:
    """A validation problem about one field (``body.files``), named in detail and errors."""
    return ProblemError(
        "validation", f"{field}: {message}", errors=[FieldError(field=field, message=message)]
    )


def problem_response(
    request: Request,
    slug: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    status, title = PROBLEM_TYPES[slug]
    problem = Problem(
        type=f"urn:timebank:problem:{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _field_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every error the app can meet into a problem response."""

    @app.exception_handler(ProblemError)
    async def api_problem(request: Request, error: ProblemError) -> JSONResponse:
        return error.response(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(
                # A body that is not JSON at all is located by character offset: name the body.
                field="body" if item["type"] == "json_invalid" else _field_name(tuple(item["loc"])),
                message=item["msg"],
            )
            for item in error.errors()
        ]
        named = ", ".join(sorted({e.field for e in errors}))
        return problem_response(request, "validation", f"invalid input: {named}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = _BY_STATUS.get(
            error.status_code, "bad-request" if error.status_code < 500 else "internal"
        )
        detail = error.detail if isinstance(error.detail, str) else PROBLEM_TYPES[slug][1]
        return problem_response(request, slug, detail, headers=getattr(error, "headers", None))

    @app.exception_handler(RingNotFoundError)
    async def ring_not_found(request: Request, error: RingNotFoundError) -> JSONResponse:
        return problem_response(request, "not-found", f"no fraud ring {error.ring_id!r}")

    @app.exception_handler(ReviewError)
    async def review_refused(request: Request, error: ReviewError) -> JSONResponse:
        return problem_response(request, "validation", str(error))

    @app.exception_handler(PolicyError)
    async def invalid_policy(request: Request, error: PolicyError) -> JSONResponse:
        # Routes parse body fields with the field's name as the source ("policy", "current").
        field = ".".join(part for part in ("body", error.source or "policy", error.key) if part)
        errors = [FieldError(field=field, message=error.reason)]
        return problem_response(request, "invalid-policy", str(error), errors=errors)

    @app.exception_handler(DatasetError)
    async def invalid_dataset(request: Request, error: DatasetError) -> JSONResponse:
        return problem_response(request, "invalid-dataset", str(error))

    @app.exception_handler(NotReadyError)
    async def not_ready(request: Request, error: NotReadyError) -> JSONResponse:
        return problem_response(request, "not-ready", str(error), headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        # The trace is for the operator's log, never for the caller.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem_response(request, "internal", "internal error; it has been logged")
