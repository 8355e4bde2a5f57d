"""Assemble a :class:`~graph.model.Snapshot` from the columns a store streams out.

Stores refer to members by their own integer keys (SQLite row ids, Neo4j ids). This module turns
those into the snapshot's store-independent numbering (members in ``member_id`` order), applies
``as_of``, and gives every column its analytic dtype — one code path for every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.model import SESSION_STATUSES, Snapshot

__all__ = ["StoreColumns", "build_snapshot"]


@dataclass(frozen=True)
class StoreColumns:
    """Raw columns from a store (name → array-like, not DataFrames: no block copies).

    Times are Unix seconds, a missing time ``NaT``'s int64.

    - members: ``key``, ``member_id``, ``joined_at``, ``activated_at``, ``community_id``,
      ``display_name``, ``phone_hash``, ``device_id``
    - sessions: ``session_id``, ``helper_key``, ``recipient_key``, ``started_at``, ``hours``,
      ``service`` (categorical), ``rating`` (float, NaN = none), ``status_code`` (index into
      :data:`~graph.model.SESSION_STATUSES`)
    - referrals: ``referrer_key``, ``referee_key``, ``referred_at``
    - redemptions: ``redemption_id``, ``member_key``, ``merchant_id``, ``credits``, ``redeemed_at``
    """

    members: Mapping[str, Any]
    sessions: Mapping[str, Any]
    referrals: Mapping[str, Any]
    redemptions: Mapping[str, Any]


def _seconds(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype("datetime64[s]")


def build_snapshot(columns: StoreColumns, *, as_of: pd.Timestamp | None = None) -> Snapshot:
    """Build the snapshot, keeping only what existed at ``as_of`` (UTC) when given."""
    limit = None
    if as_of is not None:
        as_of = pd.Timestamp(as_of)
        as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
        limit = np.datetime64(as_of.tz_localize(None).floor("s"), "s")

    raw = columns.members
    joined = _seconds(raw["joined_at"])
    keep = joined <= limit if limit is not None else np.ones(len(joined), dtype=bool)
    order = np.flatnonzero(keep)[np.argsort(np.asarray(raw["member_id"])[keep], kind="stable")]
    activated = _seconds(raw["activated_at"])[order]
    if limit is not None:
        activated[activated > limit] = np.datetime64("NaT")
    members = pd.DataFrame(
        {
            "member_id": pd.array(np.asarray(raw["member_id"])[order], dtype="str"),
            "joined_at": joined[order],
            "activated_at": activated,
            "community_id": pd.Categorical(np.asarray(raw["community_id"])[order]),
            "display_name": pd.array(np.asarray(raw["display_name"])[order], dtype="str"),
            "phone_hash": pd.Categorical(np.asarray(raw["phone_hash"])[order]),
            "device_id": pd.Categorical(np.asarray(raw["device_id"])[order]),
        }
    )
    number = pd.Index(np.asarray(raw["key"], dtype=np.int64)[order])

    def members_of(keys: Any) -> np.ndarray:
        positions: np.ndarray = number.get_indexer(
            pd.Index(np.asarray(keys, dtype=np.int64))
        ).astype(np.int32)
        return positions

    def present(times: np.ndarray, *member_columns: np.ndarray) -> np.ndarray:
        mask = np.ones(len(times), dtype=bool) if limit is None else times <= limit
        for column in member_columns:
            mask &= column >= 0
        return mask

    raw_sessions = columns.sessions
    helper = members_of(raw_sessions["helper_key"])
    recipient = members_of(raw_sessions["recipient_key"])
    started = _seconds(raw_sessions["started_at"])
    kept = present(started, helper, recipient)
    by_time = _time_then_id(started, raw_sessions["session_id"], kept)
    sessions = pd.DataFrame(
        {
            "session_id": pd.array(np.asarray(raw_sessions["session_id"])[by_time], dtype="str"),
            "helper": helper[by_time],
            "recipient": recipient[by_time],
            "started_at": started[by_time],
            "hours": np.asarray(raw_sessions["hours"], dtype=np.float64)[by_time],
            "service": pd.Categorical(raw_sessions["service"])[by_time],
            "rating": np.asarray(raw_sessions["rating"], dtype=np.float32)[by_time],
            "status": pd.Categorical.from_codes(
                np.asarray(raw_sessions["status_code"], dtype=np.int8)[by_time],
                categories=pd.Index(SESSION_STATUSES),
            ),
        }
    )

    raw_referrals = columns.referrals
    referrer = members_of(raw_referrals["referrer_key"])
    referee = members_of(raw_referrals["referee_key"])
    referred = _seconds(raw_referrals["referred_at"])
    kept = present(referred, referrer, referee)
    referrals = pd.DataFrame(
        {"referrer": referrer[kept], "referee": referee[kept], "referred_at": referred[kept]}
    ).sort_values("referee", ignore_index=True)

    raw_redemptions = columns.redemptions
    member = members_of(raw_redemptions["member_key"])
    redeemed = _seconds(raw_redemptions["redeemed_at"])
    kept = present(redeemed, member)
    by_time = _time_then_id(redeemed, raw_redemptions["redemption_id"], kept)
    redemptions = pd.DataFrame(
        {
            "redemption_id": pd.array(
                np.asarray(raw_redemptions["redemption_id"])[by_time], dtype="str"
            ),
            "member": member[by_time],
            "merchant_id": pd.Categorical(np.asarray(raw_redemptions["merchant_id"])[by_time]),
            "credits": np.asarray(raw_redemptions["credits"], dtype=np.float64)[by_time],
            "redeemed_at": redeemed[by_time],
        }
    )
    return Snapshot(members, sessions, referrals, redemptions, as_of=as_of)


def _time_then_id(times: np.ndarray, ids: object, kept: np.ndarray) -> np.ndarray:
    """Positions of the ``kept`` rows ordered by time, then id.

    Stores return rows of the same second in their own order; ordering those by id as well
    makes every sum over the snapshot's rows add in the same order whichever store it came
    from, so results agree to the last bit (Arrow sorts 10M rows in about 0.4 s).
    """
    positions = np.flatnonzero(kept)
    table = pa.table(
        {
            "time": pa.array(np.asarray(times)[positions]),
            "id": pa.array(np.asarray(ids, dtype=object)[positions], type=pa.string()),
        }
    )
    order = pc.sort_indices(table, sort_keys=[("time", "ascending"), ("id", "ascending")])
    return np.asarray(positions[order.to_numpy()])
