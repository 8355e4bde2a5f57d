"""Fraud rings: the review queue, one ring's evidence, and review decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from graph.api.deps import Reviewer, ServiceDep, ViewDep, Viewer
from graph.api.problems import ProblemError
from graph.api.routes.admin import job_public
from graph.api.schemas import (
    ReviewEntry,
    ReviewRequest,
    ReviewResult,
    RingDetail,
    RingKindName,
    RingPage,
    RingStatusName,
    RingSummary,
)
from graph.model import RingReview
from graph.rings import ring_summary

router = APIRouter(prefix="/v1/rings", tags=["rings"])

RingIdPath = Annotated[str, Path(min_length=1, max_length=200, description="The ring's id.")]


def review_entry(review: RingReview) -> ReviewEntry:
    return ReviewEntry(
        status=review.status,
        reviewer=review.reviewer,
        note=review.note,
        reviewed_at=review.reviewed_at,
    )


@router.get("", summary="The review queue", response_model=RingPage)
async def list_rings(
    service: ServiceDep,
    _: Viewer,
    status: RingStatusName | None = None,
    kind: RingKindName | None = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    member_id: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Rings with this member.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RingPage:
    """Stored rings, most suspicious first, filtered by status, kind, score and member."""
    queue = await service.ring_queue()
    rings = queue.rings if member_id is None else queue.by_member.get(member_id, ())
    chosen = [
        ring
        for ring in rings
        if (status is None or ring.status == status)
        and (kind is None or ring.kind == kind)
        and (min_score is None or ring.score >= min_score)
        and (max_score is None or ring.score <= max_score)
    ]
    items = [ring_summary(ring) for ring in chosen[offset : offset + limit]]
    return RingPage.model_validate(
        {"total": len(chosen), "limit": limit, "offset": offset, "items": items}
    )


@router.get("/{ring_id}", summary="One ring with its evidence", response_model=RingDetail)
async def ring_detail(
    ring_id: RingIdPath, service: ServiceDep, view: ViewDep, _: Viewer
) -> RingDetail:
    """The ring, its audit trail, and its evidence as a graph ready to draw: members
    (nodes), helper → recipient pairs (edges) and each session."""
    queue = await service.ring_queue()
    ring = queue.by_id.get(ring_id)
    if ring is None:
        raise ProblemError("not-found", f"no fraud ring {ring_id!r}")
    reviews = await run_in_threadpool(service.ring_reviews, ring_id)
    return RingDetail.model_validate(
        {
            **ring_summary(ring),
            "member_ids": list(ring.members),
            "session_ids": list(ring.session_ids),
            "reviews": [review_entry(review) for review in reviews],
            "evidence": view.ring_evidence(ring),
        }
    )


@router.post(
    "/{ring_id}/review",
    summary="Record a review decision",
    response_model=ReviewResult,
    status_code=201,
)
def review_ring(
    ring_id: RingIdPath, decision: ReviewRequest, service: ServiceDep, key: Reviewer
) -> ReviewResult:
    """Confirm, dismiss or reopen a ring. The decision is recorded in the ring's audit trail
    under the API key's name, and the analytics are recomputed in the background (members of
    confirmed rings lose their vouching power and fail the tier rule)."""
    ring, entry, job = service.review_ring(
        ring_id, decision.status, reviewer=key.name, note=decision.note
    )
    return ReviewResult(
        ring=RingSummary.model_validate(ring_summary(ring)),
        review=review_entry(entry),
        recompute=job_public(job),
    )
