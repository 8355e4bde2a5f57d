"""Members: a filtered, sorted, paginated listing and one member's profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from graph.api.deps import ServiceDep, ViewDep, Viewer, query_moment
from graph.api.problems import ProblemError
from graph.api.schemas import MOMENT_PATTERN, MemberPage, MemberProfile, TierName
from graph.rings import ring_summary
from graph.views import MEMBER_SORT_KEYS, MemberFilter

router = APIRouter(prefix="/v1/members", tags=["members"])

SORT_PATTERN = f"^-?({'|'.join(MEMBER_SORT_KEYS)})$"
MemberIdPath = Annotated[str, Path(min_length=1, max_length=100, description="The member's id.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=100_000_000, description="Items to skip.")]


@router.get("", summary="List members", response_model=MemberPage)
async def list_members(
    view: ViewDep,
    _: Viewer,
    community_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    tier: TierName | None = None,
    trust_min: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    trust_max: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    joined_from: Annotated[
        str | None,
        Query(
            pattern=MOMENT_PATTERN,
            description="Joined at or after (a date or date-time, UTC by default).",
        ),
    ] = None,
    joined_before: Annotated[
        str | None,
        Query(
            pattern=MOMENT_PATTERN,
            description="Joined before (a date or date-time, UTC by default).",
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(
            pattern=SORT_PATTERN,
            description=f"One of {', '.join(MEMBER_SORT_KEYS)}; a leading '-' sorts descending.",
        ),
    ] = "member_id",
    limit: Limit = 50,
    offset: Offset = 0,
) -> MemberPage:
    """Members matching every filter given, sorted (ties by member id), one page at a time,
    with the total that match."""
    where = MemberFilter(
        community_id,
        tier,
        trust_min,
        trust_max,
        query_moment("joined_from", joined_from),
        query_moment("joined_before", joined_before),
    )
    total, items = view.member_records(where, sort=sort, limit=limit, offset=offset)
    return MemberPage.model_validate(
        {"total": total, "limit": limit, "offset": offset, "items": items}
    )


@router.get("/{member_id}", summary="One member's profile", response_model=MemberProfile)
async def member_profile(
    member_id: MemberIdPath,
    view: ViewDep,
    service: ServiceDep,
    _: Viewer,
    depth: Annotated[int, Query(ge=0, le=6, description="Downline levels to include.")] = 2,
    max_nodes: Annotated[int, Query(ge=1, le=2000, description="Downline members at most.")] = 200,
    explain_top: Annotated[
        int, Query(ge=1, le=50, description="Largest trust terms of each kind to list.")
    ] = 10,
) -> MemberProfile:
    """Balance, trust score and rank with the explanation, tier with what the next tier
    lacks, referral stats with the downline tree, fraud risk and the rings the member is in."""
    try:
        profile = view.profile(member_id, explain_top=explain_top)
        downline, truncated = view.downline(member_id, depth=depth, max_nodes=max_nodes)
    except KeyError:
        raise ProblemError("not-found", f"no member {member_id!r}") from None
    queue = await service.ring_queue()
    rings = [ring_summary(ring) for ring in queue.by_member.get(member_id, ())]
    return MemberProfile.model_validate(
        {**profile, "downline": downline, "downline_truncated": truncated, "rings": rings}
    )
