"""The embedded store: idempotent, durable, transactional, and honest about what it holds."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import StoreError, StoreNotFoundError
from graph.ingest import ingest
from graph.store import GraphStore, SqliteStore, open_store
from tests.conftest import NOW, WriteDataset


def dump(path: Path) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of every table, to compare whole stores."""
    db = sqlite3.connect(path)
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    content = [(t, db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()) for t in sorted(tables)]
    db.close()
    return content


def test_reingesting_the_same_folder_changes_nothing(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    folder = write_dataset()
    path = tmp_path / "twice.db"
    with SqliteStore(path) as store:
        first = ingest(folder, store, now=NOW)
    before = dump(path)
    with SqliteStore(path) as store:
        second = ingest(folder, store, now=NOW)
    assert dump(path) == before
    assert all(t.inserted == 0 for t in second.tables.values())
    assert {n: t.unchanged for n, t in second.tables.items()} == {
        n: t.inserted for n, t in first.tables.items()
    }
    assert second.all_accepted


def test_the_store_is_durable_and_reopens(write_dataset: WriteDataset, tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    with open_store(path, create=True) as store:
        ingest(write_dataset(), store, now=NOW)
        counts = store.counts()
    with open_store(path) as store:
        assert store.counts() == counts
        member = store.get_member("m3")
    assert member is not None
    assert member.joined_at == pd.Timestamp("2025-01-05T00:00:00Z").to_pydatetime()
    assert member.community_id == "c02"
    assert member.display_name == "张伟"


def test_a_failed_write_leaves_nothing_behind(write_dataset: WriteDataset, tmp_path: Path) -> None:
    path = tmp_path / "atomic.db"
    with SqliteStore(path) as store:

        def fail_in_sessions(table: str, done: int, total: int) -> None:
            if table == "sessions":
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            ingest(write_dataset(), store, now=NOW, progress=fail_in_sessions)
        assert store.counts() == {"members": 0, "sessions": 0, "referrals": 0, "redemptions": 0}


def test_other_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE accounts (id)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a timebank store"):
        SqliteStore(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all " * 100)
    with pytest.raises(StoreError, match="not a timebank store"):
        SqliteStore(text)
    with pytest.raises(StoreError, match="is a folder"):
        open_store(tmp_path)


def test_only_create_makes_a_store_where_there_was_none(tmp_path: Path) -> None:
    """A mistyped path is refused, not read as an empty network; writers ask to create."""
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreNotFoundError, match=f"^{re.escape(str(missing))}: no such store"):
        open_store(missing)
    with pytest.raises(StoreNotFoundError):
        SqliteStore(missing, create=False)
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreError, match="an empty file, not a timebank store"):
        open_store(tmp_path / "empty.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"], "nothing was created"
    assert (tmp_path / "empty.db").stat().st_size == 0
    with pytest.raises(StoreError, match=r"no folder .*nowhere to create the store in"):
        open_store(tmp_path / "nowhere" / "tb.db", create=True)
    with open_store(missing, create=True) as store:
        assert store.counts()["members"] == 0
    with open_store(missing) as store:  # now it exists
        assert store.location == str(missing)


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(path)


def test_missing_member_is_none(store: GraphStore) -> None:
    assert store.get_member("nobody") is None


def test_every_store_reingests_without_change(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    folder = write_dataset()
    first = ingest(folder, store, now=NOW)
    snapshot = store.snapshot()
    again = ingest(folder, store, now=NOW)
    assert again.all_accepted
    assert {n: t.unchanged for n, t in again.tables.items()} == {
        n: t.inserted for n, t in first.tables.items()
    }
    assert store.counts() == {"members": 4, "sessions": 4, "referrals": 3, "redemptions": 1}
    for table in ("members", "sessions", "referrals", "redemptions"):
        pd.testing.assert_frame_equal(getattr(store.snapshot(), table), getattr(snapshot, table))


ids = st.sampled_from(["a", "b", "c", "d", "e"])
session_rows = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2", "s3", "s4"]),
        ids,
        ids,
        st.sampled_from([0.5, 1.0, 2.0, 30.0]),
        st.one_of(st.none(), st.integers(-12, 12)),
    ),
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=session_rows, second=session_rows)
def test_ingest_is_idempotent_and_never_overwrites(
    first: list[tuple[str, str, str, float, int | None]],
    second: list[tuple[str, str, str, float, int | None]],
) -> None:
    members = pd.DataFrame({"member_id": list("abcde"), "joined_at": ["2025-01-01"] * 5})

    def sessions(rows: list[tuple[str, str, str, float, int | None]]) -> pd.DataFrame:
        return pd.DataFrame(
            rows, columns=["session_id", "helper_id", "recipient_id", "hours", "rating"]
        ).assign(started_at="2025-02-01")

    with SqliteStore(":memory:") as store:
        ingest({"members": members, "sessions": sessions(first)}, store, now=NOW)
        stored_first = store.snapshot().sessions.copy()
        ingest({"members": members, "sessions": sessions(second)}, store, now=NOW)
        after_second = store.snapshot().sessions
        again = ingest({"members": members, "sessions": sessions(second)}, store, now=NOW)
        assert again.tables["sessions"].inserted == 0
        pd.testing.assert_frame_equal(store.snapshot().sessions, after_second)
    # Whatever the first ingest stored is still there, unchanged.
    kept = after_second.set_index("session_id").loc[stored_first["session_id"]]
    np.testing.assert_array_equal(kept["hours"].to_numpy(), stored_first["hours"].to_numpy())
    assert set(after_second["session_id"]) >= set(stored_first["session_id"])


def test_member_results_are_kept_and_replaced(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    ingest(write_dataset(), store, now=NOW)
    first = pd.DataFrame(
        {"member_id": ["m1", "m3"], "trust_score": [0.9, 0.2], "tier": ["city partner", None]}
    )
    assert store.write_member_results(first) == 2
    later = pd.DataFrame(
        {"member_id": ["m3", "m4"], "trust_score": [0.4, 0.5], "fraud_risk": [0.7, 0.1]}
    )
    assert store.write_member_results(later) == 2
    results = store.member_results().set_index("member_id")
    assert results.index.tolist() == ["m1", "m3", "m4"]
    assert results["trust_score"].tolist() == [0.9, 0.4, 0.5]
    assert results.loc["m1", "tier"] == "city partner"
    assert pd.isna(results.loc["m3", "tier"])
    assert results.loc["m3", "fraud_risk"] == 0.7
    with pytest.raises(ValueError, match="member results take"):
        store.write_member_results(pd.DataFrame({"member_id": ["m1"], "password": ["x"]}))
