"""What the API accepts and returns: one pydantic model per shape, documented in the OpenAPI
schema. Times are ISO 8601 in UTC; scores, shares and risks in [0, 1]; hours and credits as
numbers; a value that does not exist (the trust of nobody's partner, a rating never given) is
null."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graph.metrics.tiers import TIER_LEVELS
from graph.model import RING_KINDS, RING_STATUSES
from graph.rings import MAX_NOTE_CHARS

TierName = Literal["none", "time_volunteer", "community_head", "symbiotic_member", "city_partner"]
#: Every kind a stored ring may have: "implausible" only on rings earlier versions stored
#: (graph.schema.LEGACY_RING_KINDS), which still list and take reviews.
RingKindName = Literal["loop", "pair", "sybil_farm", "implausible", "dense"]
RingStatusName = Literal["open", "confirmed", "dismissed"]
assert set(TierName.__args__) == set(TIER_LEVELS)  # type: ignore[attr-defined]
assert set(RingKindName.__args__) == set(RING_KINDS)  # type: ignore[attr-defined]
assert set(RingStatusName.__args__) == set(RING_STATUSES)  # type: ignore[attr-defined]

Score = Field(ge=0.0, le=1.0)

#: A date or an ISO 8601 date-time, as query parameters take moments: ``2025-01-31``,
#: ``2025-01-31T08:00``, ``2025-01-31T08:00:00+08:00`` (without an offset: UTC).
MOMENT_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


class Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageInfo(Public):
    total: int = Field(ge=0, description="How many items match, over all pages.")
    limit: int
    offset: int


# Members ---------------------------------------------------------------------------------


class MemberSummary(Public):
    member_id: str
    display_name: str | None
    community_id: str | None
    joined_at: datetime
    activated_at: datetime | None
    trust_score: float = Score
    trust_rank: int
    trust_percentile: float
    tier: TierName
    next_tier: TierName | None
    fraud_risk: float = Score
    direct_referrals: int
    active_referrals: int
    downline_size: int
    downline_depth: int
    balance: float = Field(description="Time credits held: earned − paid − redeemed.")


class MemberPage(PageInfo):
    items: list[MemberSummary]


class Account(Public):
    credits_earned: float
    credits_paid: float
    credits_redeemed: float
    balance: float


class ExplanationTerm(Public):
    kind: Literal["seed", "vouch", "insular_vouch", "complaint", "insular_hours"]
    partner_id: str
    share: float | None
    strength: float | None
    partner_trust: float | None
    sessions: float | None
    hours: float | None
    mean_rating: float | None
    first_at: datetime | None
    last_at: datetime | None
    session_ids: str | None


class TrustDetail(Public):
    trust_score: float = Score
    trust_rank: int
    trust_percentile: float
    low_reason: str | None = Field(
        description="What weighs most against a member scoring below 0.5: complaints, "
        "insular_help or self_conferred_trust; null for the others."
    )
    positive_trust: float
    self_conferred_trust: float
    distrust: float
    insular_share: float
    insular_evidence: float
    goodness: float
    seed: bool
    vouchers: int
    complainants: int
    top_voucher: str | None
    top_voucher_share: float
    top_complainant: str | None
    top_complainant_share: float
    explanation: list[ExplanationTerm]


class TierStatus(Public):
    tier: TierName
    next_tier: TierName | None
    missing: str | None = Field(description="What the next tier still lacks, in words.")
    gaps: dict[str, float | bool | None]
    measures: dict[str, float | bool | None]


class ReferralStats(Public):
    direct_referrals: int
    active_referrals: int
    downline_size: int
    downline_depth: int
    generation: int
    tree_root: str | None
    refers_three: bool
    hours_given: float
    hours_to_downline: float
    hours_outside_downline: float
    people_helped_outside_downline: int
    recruitment_share: float | None
    activated_downline: int
    downline_at_regulatory_line: bool
    fees_outpace_service: bool


class Risk(Public):
    fraud_risk: float = Score
    ring_score: float = Score
    trust_doubt: float = Score
    claims_score: float = Field(
        ge=0.0,
        le=1.0,
        description="Implausible claims (more than 24 hours in a day, habitual overlapping "
        "sessions) that the data's time resolution lets stand; 0 when it cannot show them.",
    )
    ring_id: str | None
    ring_kind: str | None


class DownlineNode(Public):
    member_id: str
    children: list[DownlineNode]


class RingSummary(Public):
    ring_id: str
    kind: RingKindName
    status: RingStatusName
    score: float = Score
    members: int = Field(ge=0, description="How many members the ring has.")
    reasons: list[str]
    first_at: datetime
    last_at: datetime
    hours: float
    credits: float


class MemberProfile(Public):
    member_id: str
    display_name: str | None
    community_id: str | None
    joined_at: datetime
    activated_at: datetime | None
    account: Account
    trust: TrustDetail
    tier: TierStatus
    referrals: ReferralStats
    risk: Risk
    downline: DownlineNode
    downline_truncated: bool = Field(description="True when max_nodes cut the tree short.")
    rings: list[RingSummary]


# Trust -----------------------------------------------------------------------------------


class HistogramBin(Public):
    low: float
    high: float
    members: int


class TrustDistribution(Public):
    members: int
    mean: float | None
    unknown: int = Field(description="Members at exactly 0.5: nothing is known about them.")
    bins: list[HistogramBin]
    quantiles: dict[str, float | None]


# Tiers -----------------------------------------------------------------------------------


class TierCounts(Public):
    policy: str
    counts: dict[str, int]


class PromotionCandidate(Public):
    member_id: str
    tier: TierName
    next_tier: TierName
    unmet: int = Field(description="How many of the next tier's requirements are unmet.")
    shortfall: float = Field(
        ge=0,
        description="How far from the next tier: the share of each unmet requirement's "
        "threshold still missing, summed (0.125 = 2.5 of 20 hours; 1 = one whole requirement, "
        "e.g. an unpaid activation). The list is ordered by it, closest first.",
    )
    missing: str = Field(description="What the next tier still lacks, each gap in its unit.")


#: A complete policy in the what-if's format: every tier named, the first requiring activation.
_EXAMPLE_POLICY = """name = "lenient"
[tiers.time_volunteer]
activated = true
[tiers.community_head]
hours_given_outside_downline = 10
active_referrals = 1
[tiers.symbiotic_member]
hours_given_outside_downline = 40
[tiers.city_partner]
hours_given_outside_downline = 100
"""


class WhatIfRequest(Public):
    policy: str = Field(
        min_length=1,
        max_length=65_536,
        description="The policy to try, as TOML (the format of graph/policies/default.toml).",
        examples=[_EXAMPLE_POLICY],
    )
    current: str | None = Field(
        default=None,
        max_length=65_536,
        description="The policy to compare against (default: the one the server runs).",
    )


class TierChange(Public):
    current: int
    alternative: int
    change: int


class WhatIfResult(Public):
    policy: str
    current_policy: str
    moved_up: int
    moved_down: int
    unchanged: int
    counts: dict[str, TierChange]
    transitions: dict[str, dict[str, int]]


# Rings -----------------------------------------------------------------------------------


class RingPage(PageInfo):
    items: list[RingSummary]


class ReviewEntry(Public):
    status: RingStatusName
    reviewer: str
    note: str
    reviewed_at: datetime


class EvidenceMember(Public):
    member_id: str
    display_name: str | None
    community_id: str | None
    joined_at: datetime
    trust_score: float = Score
    fraud_risk: float = Score
    tier: TierName


class EvidenceEdge(Public):
    helper_id: str
    recipient_id: str
    sessions: int
    hours: float
    first_at: datetime
    last_at: datetime


class EvidenceSession(Public):
    session_id: str
    helper_id: str
    recipient_id: str
    started_at: datetime
    hours: float
    rating: float | None
    status: str


class EvidenceMissing(Public):
    members: int
    sessions: int


class Evidence(Public):
    nodes: list[EvidenceMember]
    edges: list[EvidenceEdge]
    sessions: list[EvidenceSession]
    missing: EvidenceMissing = Field(
        description="Members and sessions the ring names that the analysed snapshot lacks."
    )


class RingDetail(RingSummary):
    member_ids: list[str]
    session_ids: list[str]
    reviews: list[ReviewEntry]
    evidence: Evidence


#: "Has a character that is not white space" (Python's ``str.isspace``, which the store's
#: blank-note check uses), as a pattern JSON Schema, pydantic and Python read alike.
NOT_BLANK = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)


class ReviewRequest(Public):
    status: RingStatusName = Field(
        description="confirmed or dismissed; open reopens the ring.", examples=["confirmed"]
    )
    note: str = Field(
        min_length=1,
        max_length=MAX_NOTE_CHARS,
        pattern=NOT_BLANK,
        description="Why (not blank).",
        examples=["Same two accounts trade hours every night; device shared."],
    )


class ReviewResult(Public):
    ring: RingSummary
    review: ReviewEntry
    recompute: JobPublic = Field(description="The recompute the decision queued.")


# Growth ----------------------------------------------------------------------------------


class RecruitmentMonth(Public):
    """Recruiting against service in one month (the pyramid indicators)."""

    month: datetime
    new_members: int
    referred_members: int
    referral_share: float | None
    referrers: int
    referrals_per_referrer: float | None
    k_factor: float | None
    service_hours_per_new_member: float | None
    recruitment_balance: float | None
    recruitment_driven: bool


class GrowthMonth(RecruitmentMonth):
    """One month of the network or a community: members, activity, credits, and recruiting."""

    members_total: int
    activated: int
    active_members: int
    sessions: int
    hours: float
    credits_minted: float
    credits_redeemed: float
    credits_outstanding: float
    balance_gini: float | None
    velocity: float | None


class GrowthSeries(Public):
    community_id: str | None
    months: list[GrowthMonth]


class CohortCell(Public):
    cohort: datetime
    months_since_joining: int
    cohort_size: int
    active: int
    retention: float | None


class Cohorts(Public):
    community_id: str | None
    cells: list[CohortCell]


class Recruitment(Public):
    community_id: str | None
    warning: bool = Field(description="True when the latest month is recruitment-driven.")
    latest_k_factor: float | None
    months: list[RecruitmentMonth]


# Ingest, jobs, health --------------------------------------------------------------------


class JobPublic(Public):
    job_id: str
    kind: Literal["ingest", "recompute"]
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any]


class TableCounts(Public):
    read: int
    inserted: int
    unchanged: int
    duplicates: int
    rejected: int


class Reject(Public):
    file: str
    line: int
    column: str | None
    value: str | None
    reason: str


class IngestResult(Public):
    tables: dict[str, TableCounts]
    ignored_files: list[str]
    rejected_rows: int
    rejects: list[Reject] = Field(description="The rejected rows, at most the first 1,000.")
    rejects_truncated: bool
    recompute: JobPublic


class AnalysisInfo(Public):
    computed_at: datetime
    members: int
    sessions: int
    policy: str
    ledger: str
    seconds: dict[str, float]


class StoreHealth(Public):
    backend: str
    reachable: bool


class AnalyticsHealth(Public):
    ready: bool
    computed_at: datetime | None
    error: str | None


class Health(Public):
    status: Literal["ok", "degraded"]
    store: StoreHealth
    analytics: AnalyticsHealth
