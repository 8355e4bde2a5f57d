"""Growth: the monthly series, cohort retention, and recruitment against service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from graph.api.deps import ViewDep, Viewer, query_moment
from graph.api.problems import ProblemError
from graph.api.schemas import MOMENT_PATTERN, Cohorts, GrowthSeries, Recruitment
from graph.views import AnalyticsView, records

router = APIRouter(prefix="/v1/growth", tags=["growth"])

CommunityQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="One community (default: the network)."),
]


def _known(view: AnalyticsView, community_id: str | None) -> str | None:
    if community_id is not None and community_id not in view.communities:
        raise ProblemError("not-found", f"no community {community_id!r}")
    return community_id


@router.get("", summary="Monthly growth", response_model=GrowthSeries)
async def growth_series(
    view: ViewDep,
    _: Viewer,
    community_id: CommunityQuery = None,
    start: Annotated[
        str | None, Query(pattern=MOMENT_PATTERN, description="From this month on (a date).")
    ] = None,
    end: Annotated[
        str | None, Query(pattern=MOMENT_PATTERN, description="Up to this month (a date).")
    ] = None,
) -> GrowthSeries:
    """Members, activations, active members, sessions, hours, credits minted, redeemed and
    outstanding, K-factor and the recruitment warning, month by month."""
    community_id = _known(view, community_id)
    table = view.growth(
        community_id=community_id,
        start=query_moment("start", start),
        end=query_moment("end", end),
    )
    months = records(table.drop(columns=["scope", "community_id"]))
    return GrowthSeries.model_validate({"community_id": community_id, "months": months})


@router.get("/communities", summary="Community ids", response_model=list[str])
async def communities(view: ViewDep, _: Viewer) -> list[str]:
    """The communities growth can be broken down by."""
    return view.communities


@router.get("/cohorts", summary="Cohort retention", response_model=Cohorts)
async def cohorts(view: ViewDep, _: Viewer, community_id: CommunityQuery = None) -> Cohorts:
    """Per joining month and months since: cohort size, members active, retention."""
    community_id = _known(view, community_id)
    table = view.cohorts(community_id=community_id)
    cells = records(table.drop(columns=["scope", "community_id"]))
    return Cohorts.model_validate({"community_id": community_id, "cells": cells})


@router.get(
    "/recruitment", summary="K-factor and recruitment vs service", response_model=Recruitment
)
async def recruitment(view: ViewDep, _: Viewer, community_id: CommunityQuery = None) -> Recruitment:
    """Month by month: members referred, K-factor, service hours per newcomer, the
    recruitment-vs-service balance and the warning that growth is turning recruitment-driven."""
    community_id = _known(view, community_id)
    months = records(view.recruitment(community_id=community_id))
    latest = months[-1] if months else None
    return Recruitment.model_validate(
        {
            "community_id": community_id,
            "warning": bool(latest and latest["recruitment_driven"]),
            "latest_k_factor": latest["k_factor"] if latest else None,
            "months": months,
        }
    )
