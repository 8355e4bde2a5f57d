"""growth(): a known answer by hand, and agreement with a plain pandas reference on generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.ingest import ingest
from graph.metrics.growth import GROWTH_COLUMNS, growth
from graph.model import Snapshot
from graph.store import GraphStore, SqliteStore
from tests.conftest import NOW, WriteDataset, ingest_generated


def test_known_answer(write_dataset: WriteDataset, store: GraphStore) -> None:
    ingest(write_dataset(), store, now=NOW)
    table = growth(store.snapshot())
    assert list(table.columns) == GROWTH_COLUMNS
    overall = table[table["scope"] == "all"].set_index("month")
    assert overall.index.tolist() == [
        pd.Timestamp("2025-01-01"),
        pd.Timestamp("2025-02-01"),
        pd.Timestamp("2025-03-01"),
    ]
    assert overall["new_members"].tolist() == [3, 1, 0]
    assert overall["members_total"].tolist() == [3, 4, 4]
    assert overall["activated"].tolist() == [2, 1, 0]
    # s1 and s2 (February) are confirmed; s3 is disputed and s4 pending: they earn nothing.
    assert overall["sessions"].tolist() == [0, 2, 0]
    assert overall["hours"].tolist() == [0.0, 3.5, 0.0]
    assert overall["active_members"].tolist() == [0, 2, 0]
    assert overall["credits_redeemed"].tolist() == [0.0, 0.0, 1.0]
    c02 = table[(table["scope"] == "community") & (table["community_id"] == "c02")]
    assert c02["new_members"].tolist() == [1, 1, 0]


def reference_growth(snapshot: Snapshot) -> pd.DataFrame:
    """The same figures, computed the obvious (slow) way with groupby over ids."""
    members = snapshot.members.assign(number=np.arange(snapshot.n_members))
    community = members["community_id"].astype(object)
    month = lambda t: pd.Series(t).dt.to_period("M").dt.to_timestamp()  # noqa: E731
    sessions = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    frames = {
        "new_members": pd.DataFrame({"c": community, "m": month(members["joined_at"]), "v": 1}),
        "activated": pd.DataFrame(
            {"c": community, "m": month(members["activated_at"]), "v": 1}
        ).dropna(subset=["m"]),
        "sessions": pd.DataFrame(
            {
                "c": community.iloc[sessions["helper"]].to_numpy(),
                "m": month(sessions["started_at"]).to_numpy(),
                "v": 1,
            }
        ),
        "hours": pd.DataFrame(
            {
                "c": community.iloc[sessions["helper"]].to_numpy(),
                "m": month(sessions["started_at"]).to_numpy(),
                "v": sessions["hours"].to_numpy(),
            }
        ),
        "credits_redeemed": pd.DataFrame(
            {
                "c": community.iloc[snapshot.redemptions["member"]].to_numpy(),
                "m": month(snapshot.redemptions["redeemed_at"]).to_numpy(),
                "v": snapshot.redemptions["credits"].to_numpy(),
            }
        ),
    }
    pairs = pd.concat(
        [
            pd.DataFrame(
                {
                    "who": sessions["helper"].to_numpy(),
                    "m": month(sessions["started_at"]).to_numpy(),
                }
            ),
            pd.DataFrame(
                {
                    "who": sessions["recipient"].to_numpy(),
                    "m": month(sessions["started_at"]).to_numpy(),
                }
            ),
        ]
    ).drop_duplicates()
    frames["active_members"] = pd.DataFrame(
        {"c": community.iloc[pairs["who"]].to_numpy(), "m": pairs["m"].to_numpy(), "v": 1}
    )
    result = {
        name: frame.groupby(["c", "m"], dropna=False)["v"].sum() for name, frame in frames.items()
    }
    return pd.DataFrame(result).fillna(0)


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_a_plain_pandas_reference(seed: int) -> None:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=1500, seed=seed)
        snapshot = store.snapshot()
    ours = growth(snapshot)
    expected = reference_growth(snapshot)
    per_community = ours[ours["scope"] == "community"].set_index(["community_id", "month"])
    for column in expected.columns:
        got = per_community[column].rename_axis(["c", "m"])
        got = got[got != 0]
        want = expected[column][expected[column] != 0]
        pd.testing.assert_series_equal(
            got.sort_index(),
            want.sort_index().rename(column),
            check_dtype=False,
            check_exact=False,
            check_index_type=False,
        )
    overall = ours[ours["scope"] == "all"]
    assert overall["new_members"].sum() == snapshot.n_members
    assert overall["members_total"].iloc[-1] == snapshot.n_members
    np.testing.assert_allclose(
        overall["hours"].sum(),
        snapshot.sessions.loc[snapshot.sessions["status"] == "confirmed", "hours"].sum(),
    )
    months = overall["month"].to_numpy()
    assert (np.diff(months.astype("datetime64[M]")).astype(int) == 1).all(), "no month is missing"
