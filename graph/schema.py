"""The input schema (``shared/SCHEMA.md``) as data: which tables, columns and kinds of value.

This is the *what* of validation; :mod:`graph.ingest.validate` is the *how*. Stores receive the
validated tables in the canonical column order given here, with times as Unix seconds (UTC).
The values stores keep for fraud rings (kinds, review statuses) are here too, re-exported by
:mod:`graph.model`: this module imports nothing heavy, so the command line can offer them as
choices without loading pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DETECTED_RING_KINDS",
    "LEGACY_RING_KINDS",
    "MEMBER_REFERENCES",
    "PROPERTIES_COLUMN",
    "RING_KINDS",
    "RING_STATUSES",
    "TABLES",
    "ColumnSpec",
    "DetectedRingKind",
    "RingKind",
    "RingStatus",
    "TableName",
    "TableSpec",
    "canonical_columns",
]

TableName = Literal["members", "sessions", "referrals", "redemptions"]

#: How a column's text is parsed and checked.
ValueKind = Literal["id", "text", "time", "hours", "rating", "status", "credits"]


@dataclass(frozen=True)
class ColumnSpec:
    """One schema column: its name, how to parse it, and whether a value is required."""

    name: str
    kind: ValueKind
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One input table: its name (also the file stem), key column and columns."""

    name: TableName
    key: str
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


TABLES: dict[TableName, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "members",
            key="member_id",
            columns=(
                ColumnSpec("member_id", "id", required=True),
                ColumnSpec("joined_at", "time", required=True),
                ColumnSpec("community_id", "id"),
                ColumnSpec("activated_at", "time"),
                ColumnSpec("display_name", "text"),
                ColumnSpec("phone_hash", "text"),
                ColumnSpec("device_id", "text"),
            ),
        ),
        TableSpec(
            "sessions",
            key="session_id",
            columns=(
                ColumnSpec("session_id", "id", required=True),
                ColumnSpec("helper_id", "id", required=True),
                ColumnSpec("recipient_id", "id", required=True),
                ColumnSpec("started_at", "time", required=True),
                ColumnSpec("hours", "hours", required=True),
                ColumnSpec("service", "text"),
                ColumnSpec("rating", "rating"),
                ColumnSpec("status", "status"),
            ),
        ),
        TableSpec(
            "referrals",
            # One referrer per member: the referee is what identifies a referral.
            key="referee_id",
            columns=(
                ColumnSpec("referrer_id", "id", required=True),
                ColumnSpec("referee_id", "id", required=True),
                ColumnSpec("referred_at", "time", required=True),
            ),
        ),
        TableSpec(
            "redemptions",
            key="redemption_id",
            columns=(
                ColumnSpec("redemption_id", "id", required=True),
                ColumnSpec("member_id", "id", required=True),
                ColumnSpec("merchant_id", "id", required=True),
                ColumnSpec("credits", "credits", required=True),
                ColumnSpec("redeemed_at", "time", required=True),
            ),
        ),
    )
}

#: Columns that name a member, per table; ingest checks each against the known members.
MEMBER_REFERENCES: dict[TableName, tuple[str, ...]] = {
    "members": (),
    "sessions": ("helper_id", "recipient_id"),
    "referrals": ("referrer_id", "referee_id"),
    "redemptions": ("member_id",),
}

#: Extra (unknown) input columns travel to the store as one JSON object in this column.
PROPERTIES_COLUMN = "properties"


def canonical_columns(table: TableName) -> list[str]:
    """Columns of a validated table as stores receive it: the schema's, then properties."""
    return [*TABLES[table].column_names, PROPERTIES_COLUMN]


DetectedRingKind = Literal["loop", "pair", "sybil_farm", "dense"]
#: What fraud-ring detection looks for (:mod:`graph.metrics.rings`), most specific first.
DETECTED_RING_KINDS: tuple[DetectedRingKind, ...] = ("loop", "pair", "sybil_farm", "dense")
#: Kinds earlier versions detected, which stores may still hold: "implausible" (claims that
#: cannot be true) is a data-quality finding per member now (:mod:`graph.metrics.claims`),
#: not a ring, but rings stored with it still load, list and can be reviewed.
LEGACY_RING_KINDS: tuple[Literal["implausible"], ...] = ("implausible",)
RingKind = Literal["loop", "pair", "sybil_farm", "implausible", "dense"]
#: Every kind a stored ring may have: the detected kinds and the legacy ones.
RING_KINDS: tuple[RingKind, ...] = ("loop", "pair", "sybil_farm", "implausible", "dense")
RingStatus = Literal["open", "confirmed", "dismissed"]
#: A ring is open until a reviewer confirms or dismisses it.
RING_STATUSES: tuple[RingStatus, ...] = ("open", "confirmed", "dismissed")
