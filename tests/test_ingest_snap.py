"""The SNAP signed edge-list reader: mapping, first appearances, bad lines, idempotence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from graph.cli import app
from graph.errors import DatasetError
from graph.ingest import ingest, read_snap
from graph.store import SqliteStore

LINES = [
    "6,2,4,1289241911.72836",  # 1: 6 rated 2 → 2 helped 6
    "6,5,2,1289241941.53378",  # 2
    "1,15,1,1289243140.39049",  # 3
    "4,3,-12,1289245000",  # 4: rating out of range (validation)
    "7,8,2",  # 5: three fields
    "x,8,2,1289246000",  # 6: source not an integer
    "7,8,two,1289246000",  # 7: rating not an integer
    "7,8,2,yesterday",  # 8: time not a number
    "2,6,-3,1289247000.9",  # 9: a complaint back
]


@pytest.fixture
def edge_list(tmp_path: Path) -> Path:
    path = tmp_path / "otc.csv"
    path.write_text("\n".join(LINES) + "\n")
    return path


def test_ratings_become_one_hour_sessions_helped_by_the_rated(edge_list: Path) -> None:
    store = SqliteStore(":memory:")
    report = ingest(read_snap(edge_list), store)
    snapshot = store.snapshot()
    ids = snapshot.members["member_id"].to_numpy()
    sessions = snapshot.sessions.assign(
        helper_id=ids[snapshot.sessions["helper"]], recipient_id=ids[snapshot.sessions["recipient"]]
    ).set_index("session_id")
    assert sorted(sessions.index) == ["otc-1", "otc-2", "otc-3", "otc-9"]
    first = sessions.loc["otc-1"]
    assert (first["helper_id"], first["recipient_id"], first["hours"]) == ("2", "6", 1.0)
    assert first["rating"] == 4
    assert first["status"] == "confirmed"
    assert first["started_at"] == pd.Timestamp("2010-11-08T18:45:11")
    assert sessions.loc["otc-9", "rating"] == -3
    assert report.tables["sessions"].inserted == 4


def test_members_join_at_their_first_appearance(edge_list: Path) -> None:
    store = SqliteStore(":memory:")
    ingest(read_snap(edge_list), store)
    members = store.snapshot().members.set_index("member_id")
    assert members.loc["6", "joined_at"] == pd.Timestamp("2010-11-08T18:45:11")
    assert members.loc["5", "joined_at"] == pd.Timestamp("2010-11-08T18:45:41")
    # Nodes seen only on lines the reader rejects are not members; a rating out of range
    # rejects the session, but its two nodes did appear, at a valid time.
    assert not {"7", "8"} & set(members.index)
    assert {"3", "4"} <= set(members.index)


def test_bad_lines_are_reported_with_line_and_field(edge_list: Path) -> None:
    report = ingest(read_snap(edge_list), SqliteStore(":memory:"))
    rejects = report.rejects[["file", "line", "column", "reason"]]
    assert set(rejects["file"]) == {str(edge_list)}
    found = {(row.line, row.column) for row in rejects.itertuples()}
    assert found == {(4, "rating"), (5, "(row)"), (6, "source"), (7, "rating"), (8, "time")}
    reasons = dict(zip(rejects["line"], rejects["reason"], strict=True))
    assert reasons[5] == "row has 3 fields, a SNAP edge list has 4"
    assert reasons[8] == "not a Unix time in seconds"
    assert report.tables["sessions"].rejected == 5


def test_reingest_changes_nothing(edge_list: Path) -> None:
    store = SqliteStore(":memory:")
    ingest(read_snap(edge_list), store)
    before = store.snapshot()
    again = ingest(read_snap(edge_list), store)
    assert again.tables["sessions"].inserted == 0
    assert again.tables["sessions"].unchanged == 4
    pd.testing.assert_frame_equal(before.sessions, store.snapshot().sessions)


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_snap(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(DatasetError, match="empty"):
        read_snap(tmp_path / "empty.csv")


def test_cli_ingests_snap_files(edge_list: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(edge_list),
            "--format",
            "snap",
            "--store",
            str(tmp_path / "s.db"),
            "--rejects",
            str(rejects),
        ],
    )
    assert result.exit_code == 1, result.output  # some lines rejected, good ones kept
    assert SqliteStore(tmp_path / "s.db").counts()["sessions"] == 4
    assert len(pd.read_csv(rejects)) == 5


def test_times_outside_what_a_date_can_hold_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "far.csv"
    path.write_text("1,2,3,-99999999999999\n1,2,3,1e20\n1,2,3,1289241911\n")
    report = ingest(read_snap(path), SqliteStore(":memory:"))
    rejects = report.rejects[["line", "column", "reason"]].to_numpy().tolist()
    assert rejects == [
        [1, "time", "not a Unix time in seconds"],
        [2, "time", "not a Unix time in seconds"],
    ]
    assert report.tables["sessions"].inserted == 1


def test_cli_reads_snap_files_in_the_encoding_given(edge_list: Path, tmp_path: Path) -> None:
    utf16 = tmp_path / "otc-utf16.csv"
    utf16.write_text(edge_list.read_text(), encoding="utf-16")
    arguments = ["ingest", str(utf16), "--format", "snap", "--store", str(tmp_path / "s.db")]
    misread = CliRunner().invoke(app, arguments)
    assert SqliteStore(tmp_path / "s.db").counts()["sessions"] == 0, misread.output
    result = CliRunner().invoke(app, [*arguments, "--encoding", "utf-16"])
    assert result.exit_code == 1, result.output
    assert SqliteStore(tmp_path / "s.db").counts()["sessions"] == 4
