"""Typed domain records and the in-memory graph snapshot analytics run on.

Records (:class:`Member`, :class:`HelpSession`, …) mirror one row of the input schema
(``shared/SCHEMA.md``) and are what stores return for single lookups. Bulk data never travels as
records: it travels as columns inside a :class:`Snapshot`.

Times are UTC, second resolution. A time without an offset in the input is taken as UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from graph.schema import (
    DETECTED_RING_KINDS,
    LEGACY_RING_KINDS,
    PROPERTIES_COLUMN,
    RING_KINDS,
    RING_STATUSES,
    DetectedRingKind,
    RingKind,
    RingStatus,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "DETECTED_RING_KINDS",
    "LEGACY_RING_KINDS",
    "RING_KINDS",
    "RING_STATUSES",
    "SESSION_STATUSES",
    "Community",
    "DetectedRingKind",
    "HelpSession",
    "Member",
    "Merchant",
    "Redemption",
    "Referral",
    "Ring",
    "RingKind",
    "RingReview",
    "RingStatus",
    "SessionStatus",
    "Snapshot",
]

SessionStatus = Literal["confirmed", "pending", "disputed"]
#: Order matters: the snapshot stores a status as its position in this tuple.
SESSION_STATUSES: tuple[SessionStatus, ...] = ("confirmed", "pending", "disputed")


@dataclass(frozen=True, slots=True)
class Member:
    """A time-bank member; ``activated_at`` is when the 1-yuan trust account was opened."""

    member_id: str
    joined_at: datetime
    community_id: str | None = None
    activated_at: datetime | None = None
    display_name: str | None = None
    phone_hash: str | None = None
    device_id: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, record: Mapping[str, Any]) -> Member:
        """A member from a store's canonical record: times in Unix seconds (UTC), missing
        values absent or None, extra columns as a JSON object in ``properties``."""

        def when(seconds: int | None) -> datetime | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

        joined_at = when(record["joined_at"])
        assert joined_at is not None, "joined_at is required"
        return cls(
            member_id=record["member_id"],
            joined_at=joined_at,
            community_id=record.get("community_id"),
            activated_at=when(record.get("activated_at")),
            display_name=record.get("display_name"),
            phone_hash=record.get("phone_hash"),
            device_id=record.get("device_id"),
            properties=json.loads(record[PROPERTIES_COLUMN])
            if record.get(PROPERTIES_COLUMN)
            else {},
        )


@dataclass(frozen=True, slots=True)
class HelpSession:
    """``hours`` (0 < h ≤ 24) of help given by ``helper_id`` to ``recipient_id``.

    ``rating`` (−10..10) is the recipient's; a negative rating is a complaint.
    """

    session_id: str
    helper_id: str
    recipient_id: str
    started_at: datetime
    hours: float
    service: str | None = None
    rating: int | None = None
    status: SessionStatus = "confirmed"
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Referral:
    """``referrer_id`` brought ``referee_id`` into the network; a member has one referrer at most."""

    referrer_id: str
    referee_id: str
    referred_at: datetime
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Redemption:
    """``credits`` spent by ``member_id`` with partner merchant ``merchant_id``."""

    redemption_id: str
    member_id: str
    merchant_id: str
    credits: float
    redeemed_at: datetime
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Community:
    """A neighbourhood community members belong to (known through ``members.community_id``)."""

    community_id: str
    members: int


@dataclass(frozen=True, slots=True)
class Merchant:
    """A partner merchant that accepts credits (known through ``redemptions.merchant_id``)."""

    merchant_id: str
    redemptions: int
    credits: float


@dataclass(frozen=True, slots=True)
class Ring:
    """A suspected fraud ring, with the evidence a reviewer decides on.

    ``members`` are member ids (a loop's in cycle order, a sybil farm's recruiter first);
    ``session_ids`` the sessions that make the case; ``score`` in [0, 1] (higher = more
    suspicious) and ``reasons`` say why, in words; ``first_at`` / ``last_at`` bound those
    sessions; ``hours`` are their hours and ``credits`` the time credits they minted.
    ``status`` is the review state a store keeps for it (``"open"`` for a new detection).
    """

    ring_id: str
    kind: RingKind
    members: tuple[str, ...]
    session_ids: tuple[str, ...]
    score: float
    reasons: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    hours: float
    credits: float
    status: RingStatus = "open"


@dataclass(frozen=True, slots=True)
class RingReview:
    """One entry of a ring's audit trail: a status it was given, by whom, when and why.

    The store writes one when a reviewer decides, and one with reviewer ``"system"`` when a
    ring changes on its own (a dismissed ring that grew reopens, with the reason as ``note``).
    """

    ring_id: str
    status: RingStatus
    reviewer: str
    note: str
    reviewed_at: datetime


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The network at one moment, as columns: what every analytic in :mod:`graph.metrics` reads.

    Members are numbered ``0..n-1`` in ``member_id`` order, so the same data gives the same
    snapshot whichever store it came from. Sessions, referrals and redemptions refer to members by
    that number (int32 columns ``helper``, ``recipient``, ``referrer``, ``referee``, ``member``).

    Attributes
    ----------
    members
        ``member_id`` (str), ``joined_at``, ``activated_at`` (datetime64[s], NaT = not activated),
        ``community_id``, ``phone_hash``, ``device_id`` (categorical, NaN = unknown),
        ``display_name`` (str).
    sessions
        In ``started_at`` order, sessions of the same second by ``session_id``: the same order
        from every store.
        ``session_id`` (str), ``helper``, ``recipient`` (int32), ``started_at`` (datetime64[s]),
        ``hours`` (float64), ``service`` (categorical), ``rating`` (float32, NaN = not rated),
        ``status`` (categorical over :data:`SESSION_STATUSES`).
    referrals
        ``referrer``, ``referee`` (int32), ``referred_at`` (datetime64[s]).
    redemptions
        ``redemption_id`` (str), ``member`` (int32), ``merchant_id`` (categorical),
        ``credits`` (float64), ``redeemed_at`` (datetime64[s]).
    as_of
        The moment the snapshot shows (UTC), or None for everything in the store.
    """

    members: pd.DataFrame
    sessions: pd.DataFrame
    referrals: pd.DataFrame
    redemptions: pd.DataFrame
    as_of: pd.Timestamp | None = None

    @property
    def n_members(self) -> int:
        """Number of members (the order of every member-indexed array)."""
        return len(self.members)

    @cached_property
    def reference_time(self) -> np.datetime64:
        """The moment ages and tenures are measured at (datetime64[s], UTC): ``as_of``, or for a
        snapshot of everything the latest event in it (a join, activation, session, referral or
        redemption); the Unix epoch for an empty snapshot."""
        if self.as_of is not None:
            as_of = pd.Timestamp(self.as_of)
            if as_of.tzinfo is not None:
                as_of = as_of.tz_convert("UTC").tz_localize(None)
            return np.datetime64(as_of.floor("s").isoformat(), "s")
        events = [
            self.members["joined_at"],
            self.members["activated_at"],
            self.sessions["started_at"],
            self.referrals["referred_at"],
            self.redemptions["redeemed_at"],
        ]
        latest = [np.datetime64(t.max().to_datetime64(), "s") for t in events if t.notna().any()]
        return max(latest) if latest else np.datetime64(0, "s")

    @cached_property
    def member_ids(self) -> np.ndarray:
        """Member ids by member number, as an object array (one id per number)."""
        return self.members["member_id"].to_numpy(dtype=object)

    @cached_property
    def member_positions(self) -> dict[str, int]:
        """Member id → member number, for finding one member at a time."""
        return {member: position for position, member in enumerate(self.member_ids)}

    @cached_property
    def confirmed_by_helper(self) -> npt.NDArray[np.int64]:
        """Rows of the confirmed sessions in helper order, each helper's in time order: one
        sort shared by the analytics that walk each helper's sessions in turn."""
        sessions = self.sessions
        confirmed = np.flatnonzero((sessions["status"] == "confirmed").to_numpy())
        # Sessions come in time order, so a stable sort by helper keeps each helper's in time.
        return confirmed[_stable_order(sessions["helper"].to_numpy()[confirmed])]

    @cached_property
    def referrer(self) -> np.ndarray:
        """Member number of each member's referrer, −1 for members nobody referred (int32)."""
        parent = np.full(self.n_members, -1, dtype=np.int32)
        parent[self.referrals["referee"].to_numpy()] = self.referrals["referrer"].to_numpy()
        return parent

    def help_matrix(
        self,
        *,
        weight: Literal["hours", "sessions"] = "hours",
        statuses: tuple[SessionStatus, ...] = ("confirmed",),
    ) -> sparse.csr_array:
        """Helper × recipient CSR matrix summing ``weight`` over sessions with these statuses.

        Entry ``[h, r]`` is the hours (or the number of sessions) member ``h`` gave member ``r``.
        """
        sessions = self.sessions
        keep = sessions["status"].isin(statuses).to_numpy()
        values = (
            sessions["hours"].to_numpy()[keep]
            if weight == "hours"
            else np.ones(int(keep.sum()), dtype=np.float64)
        )
        n = self.n_members
        matrix = sparse.coo_array(
            (
                values,
                (sessions["helper"].to_numpy()[keep], sessions["recipient"].to_numpy()[keep]),
            ),
            shape=(n, n),
        ).tocsr()
        matrix.sum_duplicates()
        return matrix

    def help_graph(self) -> nx.DiGraph:
        """Confirmed help as a networkx DiGraph for researchers (not for hot paths).

        Nodes are ``member_id`` with the member columns as attributes; an edge helper → recipient
        carries ``hours`` and ``sessions`` summed over confirmed sessions.
        """
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(_node_rows(self.members))
        hours = self.help_matrix(weight="hours").tocoo()
        counts = self.help_matrix(weight="sessions").tocoo()
        ids = self.members["member_id"].to_numpy()
        graph.add_edges_from(
            (ids[h], ids[r], {"hours": float(w), "sessions": int(c)})
            for h, r, w, c in zip(hours.row, hours.col, hours.data, counts.data, strict=True)
        )
        return graph

    def referral_graph(self) -> nx.DiGraph:
        """The referral forest as a networkx DiGraph, edges referrer → referee."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(_node_rows(self.members))
        ids = self.members["member_id"].to_numpy()
        graph.add_edges_from(
            (ids[a], ids[b], {"referred_at": t})
            for a, b, t in zip(
                self.referrals["referrer"].to_numpy(),
                self.referrals["referee"].to_numpy(),
                self.referrals["referred_at"],
                strict=True,
            )
        )
        return graph


def _stable_order(keys: np.ndarray) -> npt.NDArray[np.int64]:
    """The stable sort order of integers in [0, 2³²), by two 16-bit passes: numpy radix-sorts
    16-bit keys, in half the time of a merge sort of 10M member numbers."""
    keys = keys.astype(np.int64, copy=False)
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = (keys >> 16).astype(np.uint16)[order]
    return np.asarray(order[np.argsort(high, kind="stable")], dtype=np.int64)


def _node_rows(members: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    attributes = cast(
        "list[dict[str, Any]]", members.drop(columns="member_id").to_dict(orient="records")
    )
    return list(zip(members["member_id"].tolist(), attributes, strict=True))
