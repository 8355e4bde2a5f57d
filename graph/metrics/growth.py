"""Growth of the network month by month, overall and per community.

A member counts in their own community. A session counts in its helper's community and in the
month it started; only confirmed sessions count, since only they earn credits. ``credits_minted``
is the hours helpers earned: under a minting ledger (the 同壹 model) that is new credit, under a
classic ledger the same figure is credit moved from recipients to helpers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.model import Snapshot

__all__ = ["GROWTH_COLUMNS", "growth"]

#: Columns of :func:`growth`'s result, in order.
GROWTH_COLUMNS = [
    "month",
    "scope",
    "community_id",
    "new_members",
    "members_total",
    "activated",
    "active_members",
    "sessions",
    "hours",
    "credits_minted",
    "credits_redeemed",
]


def _months(times: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(times, dtype="datetime64[s]").astype("datetime64[M]")


def growth(snapshot: Snapshot) -> pd.DataFrame:
    """Monthly growth series, one row per (month, community) plus one per month overall.

    Parameters
    ----------
    snapshot
        The network.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`GROWTH_COLUMNS`. ``month`` is the first day of the month (UTC);
        ``scope`` is ``"all"`` (``community_id`` empty) or ``"community"``. Counts are members
        or sessions; ``hours`` and the credit columns are hours (one credit per hour).
        ``active_members``: members who gave or received a confirmed session that month.
        Every month from the first to the last event appears, with zeros where nothing happened.

    Examples
    --------
    >>> from graph.store import SqliteStore
    >>> from graph.ingest import ingest
    >>> import pandas as pd
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["a", "b"], "joined_at": ["2025-01-05", "2025-02-01"],
    ...                         "community_id": ["c1", "c1"]})
    >>> sessions = pd.DataFrame({"session_id": ["s1"], "helper_id": ["a"], "recipient_id": ["b"],
    ...                          "started_at": ["2025-02-03"], "hours": [2.0]})
    >>> report = ingest({"members": members, "sessions": sessions}, store)
    >>> table = growth(store.snapshot())
    >>> table.loc[table.scope == "all", ["new_members", "active_members", "sessions"]].to_numpy().tolist()
    [[1, 0, 0], [1, 2, 1]]
    """
    members = snapshot.members
    community = members["community_id"].cat.codes.to_numpy().astype(np.int64)
    communities = members["community_id"].cat.categories
    sessions = snapshot.sessions
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    helper = sessions["helper"].to_numpy()[confirmed]
    recipient = sessions["recipient"].to_numpy()[confirmed]
    session_month = _months(sessions["started_at"].to_numpy()[confirmed])
    hours = sessions["hours"].to_numpy()[confirmed]
    redemptions = snapshot.redemptions
    redeemed_month = _months(redemptions["redeemed_at"])

    joined_month = _months(members["joined_at"])
    activated = members["activated_at"].notna().to_numpy()
    activated_month = _months(members["activated_at"].to_numpy()[activated])
    event_months = np.concatenate([joined_month, activated_month, session_month, redeemed_month])
    if not len(event_months):
        return pd.DataFrame(columns=GROWTH_COLUMNS)
    first, last = event_months.min(), event_months.max()
    months = np.arange(first, last + 1)
    n_months, n_groups = len(months), len(communities) + 1
    # Members without a community go to the last group; it is kept only if it has members.
    community[community < 0] = len(communities)

    def tally(
        month: np.ndarray, group: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        cell = group * n_months + (month - first).astype(np.int64)
        counts = np.bincount(cell, weights=weights, minlength=n_groups * n_months)
        return counts.reshape(n_groups, n_months)

    active_pairs = np.unique(
        np.concatenate([helper, recipient]).astype(np.int64) * n_months
        + np.tile((session_month - first).astype(np.int64), 2)
    )
    active_member = active_pairs // n_months
    table = {
        "new_members": tally(joined_month, community),
        "activated": tally(activated_month, community[activated]),
        "active_members": tally(
            first + (active_pairs % n_months).astype("timedelta64[M]"), community[active_member]
        ),
        "sessions": tally(session_month, community[helper]),
        "hours": tally(session_month, community[helper], hours),
        "credits_redeemed": tally(
            redeemed_month,
            community[redemptions["member"].to_numpy()],
            redemptions["credits"].to_numpy(),
        ),
    }
    table["members_total"] = np.cumsum(table["new_members"], axis=1)
    table["credits_minted"] = table["hours"]
    for name in ("new_members", "activated", "active_members", "sessions", "members_total"):
        table[name] = table[name].astype(np.int64)

    labels = [*communities.astype(str), None]
    used = np.flatnonzero(table["members_total"][:, -1] > 0)
    per_community = pd.DataFrame(
        {
            "month": np.tile(months, len(used)).astype("datetime64[s]"),
            "scope": "community",
            "community_id": np.repeat(np.array(labels, dtype=object)[used], n_months),
            **{name: values[used].ravel() for name, values in table.items()},
        }
    )
    overall = pd.DataFrame(
        {
            "month": months.astype("datetime64[s]"),
            "scope": "all",
            "community_id": None,
            **{name: values.sum(axis=0) for name, values in table.items()},
        }
    )
    result = pd.concat([overall, per_community], ignore_index=True)[GROWTH_COLUMNS]
    return result.sort_values(
        ["month", "scope", "community_id"], ignore_index=True, na_position="first"
    )
