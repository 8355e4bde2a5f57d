"""Trust: members ranked by trust score, and how scores are spread."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from graph.api.deps import ViewDep, Viewer
from graph.api.schemas import MemberPage, TrustDistribution

router = APIRouter(prefix="/v1/trust", tags=["trust"])


@router.get("/ranking", summary="Members ranked by trust", response_model=MemberPage)
async def trust_ranking(
    view: ViewDep,
    _: Viewer,
    order: Annotated[
        Literal["desc", "asc"], Query(description="desc: most trusted first; asc: least.")
    ] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> MemberPage:
    """Every member by trust score (ties by member id), one page at a time."""
    sort = "-trust_score" if order == "desc" else "trust_score"
    total, items = view.member_records(sort=sort, limit=limit, offset=offset)
    return MemberPage.model_validate(
        {"total": total, "limit": limit, "offset": offset, "items": items}
    )


@router.get(
    "/distribution", summary="How trust scores are spread", response_model=TrustDistribution
)
async def trust_distribution(
    view: ViewDep,
    _: Viewer,
    bins: Annotated[int, Query(ge=1, le=100, description="Histogram bins over [0, 1].")] = 20,
) -> TrustDistribution:
    """A histogram over [0, 1], quantiles, the mean, and how many members are unknown (0.5)."""
    return TrustDistribution.model_validate(view.trust_distribution(bins=bins))
