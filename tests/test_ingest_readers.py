"""Readers: physical line numbers, encodings, JSON Lines and odd files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.errors import DatasetError
from graph.ingest import ingest, read_dataset
from graph.store import GraphStore
from tests.conftest import GOOD, NOW, WriteDataset


def rejected_lines(folder: Path, store: GraphStore) -> list[tuple[str, int, str]]:
    report = ingest(folder, store, now=NOW)
    return [(Path(r.file).name, int(r.line), r.column) for r in report.rejects.itertuples()]


def test_lines_are_physical_lines_despite_blank_lines_and_quoted_newlines(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    members = (
        "member_id,joined_at,community_id,activated_at,display_name\n"  # 1
        "m1,2025-01-03,c01,,王芳\n"  # 2
        "\n"  # 3
        'm2,2025-01-04,c01,,"two\n'  # 4
        'lines, and a ""quote"""\n'  # 5
        "m3,2025-01-05,c02,,\n"  # 6
        "m4,2025-02-01,c02,,\n"  # 7
        "\n"  # 8
        "m5,bad,c02,,\n"  # 9
    )
    assert rejected_lines(write_dataset(members=members), store) == [
        ("members.csv", 9, "joined_at")
    ]
    assert store.get_member("m2").display_name == 'two\nlines, and a "quote"'  # type: ignore[union-attr]


def test_crlf_and_byte_order_mark(write_dataset: WriteDataset, store: GraphStore) -> None:
    members = "\ufeff" + GOOD["members"].replace("\n", "\r\n") + "\r\nm9,never,c01,,,,\r\n"
    assert rejected_lines(write_dataset(members=members), store) == [
        ("members.csv", 7, "joined_at")
    ]
    assert store.counts()["members"] == 4


def test_a_gbk_file_is_reported_with_its_line_and_a_hint(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    folder = write_dataset(members=GOOD["members"], encoding="gbk")
    with pytest.raises(DatasetError) as raised:
        ingest(folder, store, now=NOW)
    message = str(raised.value)
    assert "members.csv, line 2: not valid utf-8" in message
    assert "GBK/GB18030" in message
    assert "--encoding gbk" in message
    assert store.counts() == {"members": 0, "sessions": 0, "referrals": 0, "redemptions": 0}


def test_a_declared_gbk_encoding_is_decoded(write_dataset: WriteDataset, store: GraphStore) -> None:
    folder = write_dataset(encoding="gbk")
    report = ingest(folder, store, encoding="gbk", now=NOW)
    assert report.all_accepted
    assert store.get_member("m1").display_name == "王芳"  # type: ignore[union-attr]


def test_undecodable_without_a_chinese_reading_suggests_the_option(
    write_dataset: WriteDataset, store: GraphStore, tmp_path: Path
) -> None:
    folder = write_dataset()
    (folder / "sessions.csv").write_bytes(
        GOOD["sessions"].encode() + b"s9,m1,m2,2025-01-01,1,\xff\xff\xff,,\n"
    )
    with pytest.raises(
        DatasetError, match=r"sessions\.csv, line 6: not valid utf-8.*declare the file.s encoding"
    ):
        ingest(folder, store, now=NOW)


def test_json_lines_use_the_same_validation(tmp_path: Path, store: GraphStore) -> None:
    folder = tmp_path / "jsonl"
    folder.mkdir()
    members = [
        {"member_id": "a", "joined_at": "2025-01-01", "community_id": "c1"},
        {"member_id": "b", "joined_at": "2025-01-02", "nickname": "老李"},
    ]
    lines = [json.dumps(row, ensure_ascii=False) for row in members]
    (folder / "members.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    (folder / "sessions.jsonl").write_text(
        '{"session_id": "s1", "helper_id": "a", "recipient_id": "b", "started_at": "2025-02-01", "hours": 2}\n'
        "{not json\n"
        '{"session_id": "s2", "helper_id": "a", "recipient_id": "b", "started_at": "2025-02-01", "hours": 99}\n'
        '["a list"]\n',
        encoding="utf-8",
    )
    report = ingest(folder, store, now=NOW)
    assert [
        (Path(r.file).name, r.line, r.column, r.reason[:12]) for r in report.rejects.itertuples()
    ] == [
        ("sessions.jsonl", 2, "(row)", "not valid JS"),
        ("sessions.jsonl", 3, "hours", "hours must b"),
        ("sessions.jsonl", 4, "(row)", "a JSON Lines"),
    ]
    assert store.counts()["sessions"] == 1
    assert store.get_member("b").properties == {"nickname": "老李"}  # type: ignore[union-attr]


def test_folder_problems(tmp_path: Path, write_dataset: WriteDataset) -> None:
    with pytest.raises(DatasetError, match=r"missing: no such folder$"):
        read_dataset(tmp_path / "missing")
    folder = write_dataset()
    with pytest.raises(DatasetError, match="a file, not a folder: pass the folder that holds it"):
        read_dataset(folder / "members.csv")
    (tmp_path / "otc.csv").write_text("1,2,3,4\n")
    with pytest.raises(DatasetError, match=r"a file, not a dataset folder .* --format snap"):
        read_dataset(tmp_path / "otc.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no dataset files found"):
        read_dataset(tmp_path / "empty")
    folder = write_dataset()
    (folder / "members.jsonl").write_text("")
    with pytest.raises(DatasetError, match=r"both members\.csv and members\.jsonl"):
        read_dataset(folder)
    folder = write_dataset()
    (folder / "Sessions.CSV").write_text("x")
    (folder / "truth.json").write_text("{}")
    assert read_dataset(folder).ignored_files == ["Sessions.CSV", "truth.json"]
    folder = write_dataset(members="")
    with pytest.raises(DatasetError, match=r"members\.csv: empty file"):
        read_dataset(folder)
    folder = write_dataset(members="member_id,joined_at,member_id\n")
    with pytest.raises(DatasetError, match="header repeats column"):
        read_dataset(folder)


def test_tables_may_arrive_in_separate_ingests(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    members_only = write_dataset(sessions=None, referrals=None, redemptions=None)
    sessions_only = write_dataset(members=None, referrals=None, redemptions=None)
    assert ingest(members_only, store, now=NOW).all_accepted
    report = ingest(sessions_only, store, now=NOW)
    assert report.all_accepted, "sessions may name members that are already stored"
    assert store.counts()["sessions"] == 4
