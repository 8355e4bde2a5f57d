"""Every class of bad input is rejected with its file, physical line, column and reason, and the
good rows around it are kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graph.ingest import IngestReport, ingest
from graph.store import GraphStore
from tests.conftest import GOOD, NOW, WriteDataset

SESSIONS_HEADER = "session_id,helper_id,recipient_id,started_at,hours,service,rating,status\n"
MEMBERS_HEADER = "member_id,joined_at,community_id,activated_at,display_name,phone_hash,device_id\n"


def run(folder: Path, store: GraphStore) -> IngestReport:
    return ingest(folder, store, now=NOW)


def problems(report: IngestReport) -> list[tuple[str, int, str, str, str]]:
    return [
        (Path(row.file).name, int(row.line), row.column, row.value, row.reason)
        for row in report.rejects.itertuples(index=False)
    ]


def test_good_dataset_is_accepted_entirely(write_dataset: WriteDataset, store: GraphStore) -> None:
    report = run(write_dataset(), store)
    assert report.all_accepted
    assert store.counts() == {"members": 4, "sessions": 4, "referrals": 3, "redemptions": 1}
    assert {name: t.inserted for name, t in report.tables.items()} == store.counts()


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("s9,m1,m2,2025-02-01,abc,,,", "hours", "not a number"),
        ("s9,m1,m2,2025-02-01,0,,,", "hours", "hours must be more than 0 and at most 24"),
        ("s9,m1,m2,2025-02-01,-1,,,", "hours", "hours must be more than 0 and at most 24"),
        ("s9,m1,m2,2025-02-01,24.5,,,", "hours", "hours must be more than 0 and at most 24"),
        ("s9,m1,m2,2025-02-01,inf,,,", "hours", "hours must be more than 0 and at most 24"),
        ("s9,m1,m2,2025-02-01,1,,11,", "rating", "rating must be a whole number from -10 to 10"),
        ("s9,m1,m2,2025-02-01,1,,-11,", "rating", "rating must be a whole number from -10 to 10"),
        ("s9,m1,m2,2025-02-01,1,,2.5,", "rating", "rating must be a whole number from -10 to 10"),
        ("s9,m1,m2,2025-02-01,1,,good,", "rating", "not a number"),
        ("s9,m1,m2,2025-02-01,1,,,done", "status", "unknown status"),
        ("s9,m1,m2,01/02/2025,1,,,", "started_at", "not an ISO 8601 time"),
        ("s9,m1,m2,2025-02-30,1,,,", "started_at", "not an ISO 8601 time"),
        ("s9,m1,m2,2026-12-01,1,,,", "started_at", "in the future"),
        (",m1,m2,2025-02-01,1,,,", "session_id", "missing required value"),
        ("s9,,m2,2025-02-01,1,,,", "helper_id", "missing required value"),
        ("s9,m1,m2,,1,,,", "started_at", "missing required value"),
        ("s9,m1,m2,2025-02-01,,,,", "hours", "missing required value"),
        ("s9,m1,m9,2025-02-01,1,,,", "recipient_id", "unknown member 'm9'"),
        ("s9,m1,m1,2025-02-01,1,,,", "recipient_id", "same member (no self-help)"),
        ("s9,m1,m2,2025-02-01,1,,,,", "(row)", "row has 9 fields, header has 8"),
        ("s9,m1,m2,2025-02-01,1", "(row)", "row has 5 fields, header has 8"),
    ],
)
def test_bad_session_rows_are_rejected_with_line_and_reason(
    write_dataset: WriteDataset, store: GraphStore, row: str, column: str, reason: str
) -> None:
    good_rows = GOOD["sessions"].splitlines()[1:]
    sessions = SESSIONS_HEADER + "\n".join([good_rows[0], good_rows[1], row, *good_rows[2:]]) + "\n"
    report = run(write_dataset(sessions=sessions), store)
    [(file, line, rejected_column, _, rejected_reason)] = problems(report)
    assert (file, line, rejected_column) == ("sessions.csv", 4, column)
    assert reason in rejected_reason
    assert report.tables["sessions"].rejected == 1
    assert report.tables["sessions"].inserted == 4, "the good rows around it are kept"
    assert store.counts()["sessions"] == 4


def test_every_problem_of_a_row_is_reported(write_dataset: WriteDataset, store: GraphStore) -> None:
    sessions = SESSIONS_HEADER + "s9,m1,m9,yesterday,99,,20,maybe\n"
    report = run(write_dataset(sessions=sessions), store)
    assert sorted(column for _, _, column, _, _ in problems(report)) == [
        "hours",
        "rating",
        "recipient_id",
        "started_at",
        "status",
    ]
    assert report.tables["sessions"].rejected == 1


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("m9,,c01,,,,", "joined_at", "missing required value"),
        ("m9,2025-13-01,c01,,,,", "joined_at", "not an ISO 8601 time"),
        ("m9,2025-01-10,c01,2025-01-09,,,", "activated_at", "activated before joining"),
        ("m9,2027-01-10,c01,,,,", "joined_at", "in the future"),
    ],
)
def test_bad_member_rows_are_rejected(
    write_dataset: WriteDataset, store: GraphStore, row: str, column: str, reason: str
) -> None:
    members = GOOD["members"] + row + "\n"
    report = run(write_dataset(members=members), store)
    [(file, line, rejected_column, _, rejected_reason)] = problems(report)
    assert (file, line, rejected_column) == ("members.csv", 6, column)
    assert reason in rejected_reason
    assert store.counts()["members"] == 4


def test_rows_naming_a_rejected_member_say_so(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    members = GOOD["members"] + "m9,someday,c01,,,,\n"
    sessions = GOOD["sessions"] + "s9,m9,m1,2025-03-01,1,,,\n"
    report = run(write_dataset(members=members, sessions=sessions), store)
    session_problem = [p for p in problems(report) if p[0] == "sessions.csv"]
    assert session_problem == [
        (
            "sessions.csv",
            6,
            "helper_id",
            "m9",
            f"member 'm9' was rejected ({report.rejects.file[0]} line 6)",
        )
    ]


def test_referral_checks(write_dataset: WriteDataset, store: GraphStore) -> None:
    referrals = (
        "referrer_id,referee_id,referred_at\n"
        "m1,m2,2025-01-04T08:00:00\n"
        "m4,m4,2025-02-02\n"
        "m2,m3,2025-01-05\n"
        "m3,m4,2025-02-01\n"
        "m4,m1,2025-02-03\n"
        "m9,m1,2025-02-03\n"
    )
    report = run(write_dataset(referrals=referrals), store)
    found = {(line, column): reason for _, line, column, _, reason in problems(report)}
    assert (
        found[(3, "referee_id")]
        == "referrer_id and referee_id are the same member (no self-referral)"
    )
    assert found[(7, "referrer_id")] == "unknown member 'm9'"
    # m2 referred m3 (line 4), m3 referred m4 (line 5), m4 → m1 (line 6), m1 → m2 (line 2):
    # the latest line of the loop, line 6, is the one rejected.
    assert found[(6, "referrer_id")] == "referral would close a cycle: m4 → m1 → m2 → m3 → m4"
    assert report.tables["referrals"].inserted == 3


def test_a_member_has_at_most_one_referrer(write_dataset: WriteDataset, store: GraphStore) -> None:
    referrals = GOOD["referrals"] + "m4,m2,2025-01-04T08:00:00\nm1,m2,2025-01-04T08:00:00\n"
    report = run(write_dataset(referrals=referrals), store)
    assert problems(report) == [
        (
            "referrals.csv",
            5,
            "referee_id",
            "m2",
            "member already has a different referrer (line 2); one referrer per member",
        )
    ]
    assert report.tables["referrals"].duplicates == 1, "the identical repeat on line 6 is no error"


def test_referrer_and_cycles_are_checked_against_the_store(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    assert run(write_dataset(), store).all_accepted
    later = "referrer_id,referee_id,referred_at\nm4,m2,2025-03-01\nm4,m1,2025-03-01\n"
    report = run(write_dataset(referrals=later), store)
    found = {(line, column): reason for _, line, column, _, reason in problems(report)}
    assert found[(2, "referee_id")] == "member already has referrer 'm1' in the store"
    assert found[(3, "referrer_id")] == "referral would close a cycle: m4 → m1 → m3 → m4"
    assert store.counts()["referrals"] == 3


def test_repeated_ids(write_dataset: WriteDataset, store: GraphStore) -> None:
    rows = GOOD["sessions"].splitlines()
    sessions = "\n".join([*rows, rows[1], rows[1].replace(",1.5,", ",3,")]) + "\n"
    report = run(write_dataset(sessions=sessions), store)
    assert problems(report) == [
        (
            "sessions.csv",
            7,
            "session_id",
            "s1",
            "session_id repeated with different content (first at line 2)",
        )
    ]
    assert report.tables["sessions"].duplicates == 1
    assert report.tables["sessions"].read == 6


def test_redemption_checks(write_dataset: WriteDataset, store: GraphStore) -> None:
    redemptions = (
        GOOD["redemptions"]
        + "r2,m1,mer01,0,2025-03-05\nr3,m8,mer01,2,2025-03-05\nr4,m2,,2,2025-03-05\n"
    )
    report = run(write_dataset(redemptions=redemptions), store)
    assert [(line, column, reason) for _, line, column, _, reason in problems(report)] == [
        (3, "credits", "credits must be more than 0"),
        (4, "member_id", "unknown member 'm8'"),
        (5, "merchant_id", "missing required value"),
    ]


def test_a_newer_row_conflicting_with_the_store_is_reported_not_overwritten(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    assert run(write_dataset(), store).all_accepted
    changed = GOOD["sessions"].replace(
        "s1,m1,m2,2025-02-01T09:30:00,1.5", "s1,m1,m2,2025-02-01T09:30:00,4"
    )
    members = GOOD["members"].replace("m2,2025-01-04,c01", "m2,2025-01-09,c01")
    report = run(write_dataset(sessions=changed, members=members), store)
    assert problems(report) == [
        (
            "members.csv",
            3,
            "joined_at",
            "2025-01-09T00:00:00",
            "member_id 'm2' is already stored with joined_at = '2025-01-04T00:00:00'; not overwritten",
        ),
        (
            "sessions.csv",
            2,
            "hours",
            "4.0",
            "session_id 's1' is already stored with hours = '1.5'; not overwritten",
        ),
    ]
    snapshot = store.snapshot()
    assert snapshot.sessions.set_index("session_id").loc["s1", "hours"] == 1.5


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            {"sessions": "session_id,helper_id,started_at,hours\ns1,m1,2025-02-01,1\n"},
            r"sessions\.csv, line 1: missing required column recipient_id \(sessions needs "
            r"session_id, helper_id, recipient_id, started_at, hours\)$",
        ),
        # Unknown columns are kept as properties, so a misspelt required one is named here with
        # the column it should be.
        (
            {"members": "member_id,joined_on,nickname\nm1,2025-01-03,老李\n"},
            r"members\.csv, line 1: missing required column joined_at "
            r"\(found joined_on: a misspelling\?\)$",
        ),
        (
            {
                "sessions": "session_id,Helper_ID,recipient,started_at,hours\ns1,m1,m2,2025-02-01,1\n"
            },
            r"sessions\.csv, line 1: missing required columns helper_id \(found Helper_ID: a "
            r"misspelling\?\), recipient_id \(found recipient: a misspelling\?\)$",
        ),
    ],
    ids=["missing", "misspelt", "two misspelt"],
)
def test_missing_required_header_column_is_a_dataset_error(
    tables: dict[str, str], message: str, write_dataset: WriteDataset, store: GraphStore
) -> None:
    from graph.errors import DatasetError

    with pytest.raises(DatasetError, match=message):
        run(write_dataset(**tables), store)
    assert store.counts()["members"] == 0, "nothing is written when a file cannot be read"


def test_unknown_columns_are_kept_as_properties(
    write_dataset: WriteDataset, store: GraphStore
) -> None:
    members = (
        "member_id,joined_at,street\n"
        "m1,2025-01-03T10:00:00,长安街\n"
        "m2,2025-01-04,\n"
        "m3,2025-01-05,\n"
        "m4,2025-02-01,\n"
    )
    report = run(write_dataset(members=members), store)
    assert report.all_accepted
    member = store.get_member("m1")
    assert member is not None
    assert member.properties == {"street": "长安街"}
    assert store.get_member("m2").properties == {}  # type: ignore[union-attr]


def test_dataframes_go_through_the_same_validation(store: GraphStore) -> None:
    members = pd.DataFrame(
        {"member_id": ["a", "b", "c"], "joined_at": ["2025-01-01", "2025-01-02", "bad"]}
    )
    sessions = pd.DataFrame(
        {
            "session_id": ["s1", "s2"],
            "helper_id": ["a", "a"],
            "recipient_id": ["b", "c"],
            "started_at": [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-02-01")],
            "hours": [1.5, 30.0],
        }
    )
    report = ingest({"members": members, "sessions": sessions}, store, now=NOW)
    assert [(r.file, r.line, r.column) for r in report.rejects.itertuples()] == [
        ("members (DataFrame)", 3, "joined_at"),
        ("sessions (DataFrame)", 2, "hours"),
        ("sessions (DataFrame)", 2, "recipient_id"),
    ]
    assert store.counts()["sessions"] == 1
