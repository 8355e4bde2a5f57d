"""Health: whether the store answers and the analysis is ready (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from graph.api.deps import ServiceDep
from graph.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Store connectivity and readiness", response_model=Health)
async def health(service: ServiceDep, response: Response) -> Health:
    """200 when the store answers and an analysis is being served; 503 otherwise. Says
    nothing about the store's location."""
    reachable = await run_in_threadpool(service.store_reachable)
    ready = service.ready
    ok = reachable and ready
    if not ok:
        response.status_code = 503
    return Health.model_validate(
        {
            "status": "ok" if ok else "degraded",
            "store": {"backend": service.backend, "reachable": reachable},
            "analytics": {
                "ready": ready,
                "computed_at": service.view.computed_at if ready else None,
                "error": service.last_error,
            },
        }
    )
