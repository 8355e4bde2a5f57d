"""The snapshot: store-independent numbering, as-of views, matrix and networkx views."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.ingest import ingest
from graph.store import GraphStore, SqliteStore
from tests.conftest import GOOD, NOW, WriteDataset


def test_snapshot_columns_and_numbering(write_dataset: WriteDataset, store: GraphStore) -> None:
    ingest(write_dataset(), store, now=NOW)
    snapshot = store.snapshot()
    assert snapshot.members["member_id"].tolist() == ["m1", "m2", "m3", "m4"]
    # m3 joined at 08:00 in UTC+8, which is midnight UTC.
    assert snapshot.members["joined_at"].iloc[2] == pd.Timestamp("2025-01-05T00:00:00")
    assert snapshot.members["activated_at"].isna().tolist() == [False, True, False, False]
    sessions = snapshot.sessions.set_index("session_id")
    assert sessions.loc["s3", ["helper", "recipient"]].tolist() == [2, 3]
    assert sessions["status"].tolist() == ["confirmed", "confirmed", "disputed", "pending"]
    assert np.isnan(sessions.loc["s2", "rating"])
    assert sessions.loc["s3", "rating"] == -3
    assert snapshot.referrer.tolist() == [-1, 0, 0, 2]
    assert snapshot.redemptions["member"].tolist() == [0]


def test_numbering_does_not_depend_on_ingest_order(
    write_dataset: WriteDataset, tmp_path: object
) -> None:
    lines = GOOD["members"].splitlines()
    reversed_members = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    with SqliteStore(":memory:") as forward, SqliteStore(":memory:") as backward:
        ingest(write_dataset(), forward, now=NOW)
        ingest(write_dataset(members=reversed_members), backward, now=NOW)
        one, other = forward.snapshot(), backward.snapshot()
    pd.testing.assert_frame_equal(one.members, other.members)
    pd.testing.assert_frame_equal(one.sessions, other.sessions)
    pd.testing.assert_frame_equal(one.referrals, other.referrals)


def test_rows_of_the_same_second_come_in_one_order_whatever_the_store_order(
    write_dataset: WriteDataset,
) -> None:
    # Sessions and redemptions of one second, written in opposite orders: sums over them must
    # add in the same order (float addition is not associative), so the snapshots must agree.
    header = GOOD["sessions"].splitlines()[0]
    rows = [f"x{i},m1,m2,2025-03-01T10:00:00,{0.1 * (i + 1):.1f},,," for i in range(6)]
    redemption_rows = [f"r{i},m1,shop,{0.1 * (i + 1):.1f},2025-03-02T10:00:00" for i in range(4)]
    redemption_header = GOOD["redemptions"].splitlines()[0]
    snapshots = []
    for order in (list, lambda xs: list(reversed(xs))):
        with SqliteStore(":memory:") as store:
            ingest(
                write_dataset(
                    sessions="\n".join([header, *order(rows)]) + "\n",
                    redemptions="\n".join([redemption_header, *order(redemption_rows)]) + "\n",
                ),
                store,
                now=NOW,
            )
            snapshots.append(store.snapshot())
    one, other = snapshots
    assert one.sessions["session_id"].tolist() == [f"x{i}" for i in range(6)]
    pd.testing.assert_frame_equal(one.sessions, other.sessions)
    pd.testing.assert_frame_equal(one.redemptions, other.redemptions)
    assert one.sessions["hours"].sum() == other.sessions["hours"].sum()


def test_as_of_shows_the_network_as_it_stood(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    ingest(write_dataset(), store, now=NOW)
    snapshot = store.snapshot(as_of=pd.Timestamp("2025-01-31"))
    assert snapshot.members["member_id"].tolist() == ["m1", "m2", "m3"]
    assert snapshot.sessions.empty
    assert snapshot.redemptions.empty
    assert len(snapshot.referrals) == 2
    early = store.snapshot(as_of=pd.Timestamp("2025-01-05T12:00:00"))
    assert early.members["activated_at"].isna().tolist() == [False, True, True]
    assert store.snapshot(as_of=pd.Timestamp("2024-01-01")).n_members == 0


def test_help_matrix_and_networkx_views(write_dataset: WriteDataset, store: GraphStore) -> None:
    ingest(write_dataset(), store, now=NOW)
    snapshot = store.snapshot()
    hours = snapshot.help_matrix().toarray()
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 0] = 1.5, 2.0
    np.testing.assert_array_equal(hours, expected)
    every = snapshot.help_matrix(weight="sessions", statuses=("confirmed", "pending", "disputed"))
    assert every.sum() == 4
    graph = snapshot.help_graph()
    assert sorted(graph.edges(data=True)) == [
        ("m1", "m2", {"hours": 1.5, "sessions": 1}),
        ("m2", "m1", {"hours": 2.0, "sessions": 1}),
    ]
    assert graph.nodes["m3"]["community_id"] == "c02"
    referrals = snapshot.referral_graph()
    assert sorted(referrals.edges()) == [("m1", "m2"), ("m1", "m3"), ("m3", "m4")]
