"""Tiers: members per tier, who is closest to promotion, and what-if under another policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from graph.api.deps import ViewDep, Viewer
from graph.api.schemas import PromotionCandidate, TierCounts, WhatIfRequest, WhatIfResult
from graph.policy import parse_policy
from graph.views import records

router = APIRouter(prefix="/v1/tiers", tags=["tiers"])


@router.get("", summary="Members per tier", response_model=TierCounts)
async def tier_counts(view: ViewDep, _: Viewer) -> TierCounts:
    """How many members hold each tier under the policy the server runs."""
    return TierCounts(policy=view.policy.name, counts=view.tier_counts())


@router.get(
    "/promotion",
    summary="Members closest to promotion",
    response_model=list[PromotionCandidate],
)
async def closest_to_promotion(
    view: ViewDep, _: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[PromotionCandidate]:
    """Members below the top tier closest to their next one, closest first (by
    ``shortfall``: the share of each unmet requirement still missing, summed), and what they
    lack."""
    return [
        PromotionCandidate.model_validate(row)
        for row in records(view.closest_to_promotion(limit=limit))
    ]


@router.post("/what-if", summary="Try another tier policy", response_model=WhatIfResult)
def what_if(request: WhatIfRequest, view: ViewDep, _: Viewer) -> WhatIfResult:
    """How many members would move up or down, per tier and tier to tier, under a posted
    policy (TOML, validated: an invalid one is a 422 naming the key) instead of the current
    one, judged on the same measures."""
    alternative = parse_policy(request.policy, source="policy")
    current = (
        view.policy if request.current is None else parse_policy(request.current, source="current")
    )
    comparison = view.tier_what_if(alternative, current=current)
    return WhatIfResult.model_validate(
        {"policy": alternative.name, "current_policy": current.name, **comparison.as_dict()}
    )
