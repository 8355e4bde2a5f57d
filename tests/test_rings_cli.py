"""``timebank rings list|show|review`` end to end on an embedded store file."""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graph.cli import app, rings_app
from graph.ingest import ingest
from graph.rings import ring_as_dict, ring_id_for
from graph.store import SqliteStore
from tests.conftest import NOW, WriteDataset
from tests.test_cli_process import run
from tests.test_rings_store import FARM, LEGACY, LOOP, PAIR, T0

runner = CliRunner()


def timebank(*args: str | Path, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def review(store: Path, ring_id: str, status: str, note: str, *more: str) -> tuple[int, str]:
    """``timebank rings review`` as user ``bo`` ($USER; $LOGNAME, which comes first, unset)."""
    arguments = ("rings", "review", ring_id, "--store", store, "--status", status, "--note", note)
    return timebank(*arguments, *more, env={"LOGNAME": None, "USER": "bo"})


@pytest.fixture
def ring_store(write_dataset: WriteDataset, tmp_path: Path) -> Path:
    """A store file with GOOD, the rings LOOP (open), PAIR (confirmed), FARM (dismissed)."""
    path = tmp_path / "rings.db"
    with SqliteStore(path) as store:
        ingest(write_dataset(), store, now=NOW)
        store.save_rings([LOOP, PAIR, FARM])
        store.review_ring("pair-1", "confirmed", reviewer="ann", note="sock puppets", at=T0)
    return path


@pytest.mark.parametrize("command", ["list", "show", "review"])
def test_every_rings_command_has_help(command: str) -> None:
    code, output = timebank("rings", command, "--help")
    assert code == 0
    assert "--store" in output
    commands = {c.name: c for c in rings_app.registered_commands}
    assert commands[command].callback.__doc__  # type: ignore[union-attr]


def test_list_shows_the_queue_most_suspicious_first(ring_store: Path) -> None:
    code, output = timebank("rings", "list", "--store", ring_store)
    assert code == 0
    rows = [line for line in output.splitlines() if "-1 " in line]
    assert [row.split()[1] for row in rows] == ["pair-1", "farm-1", "loop-1"]
    assert "3 rings" in output
    code, output = timebank("rings", "list", "--store", ring_store, "--status", "open", "--json")
    assert code == 0
    assert json.loads(output) == [ring_as_dict(LOOP)]
    code, output = timebank("rings", "list", "--store", ring_store, "--json")
    assert [ring["ring_id"] for ring in json.loads(output)] == ["pair-1", "farm-1", "loop-1"]


def test_show_gives_the_evidence_and_the_audit_trail(ring_store: Path) -> None:
    code, output = timebank("rings", "show", "pair-1", "--store", ring_store)
    assert code == 0
    assert "pair-1: pair, confirmed, score 0.90" in output
    assert "members (2): m3, m4" in output
    assert "sessions (1): s3" in output
    assert output.splitlines()[-2:] == [
        "audit trail (1):",
        "  2025-02-01T09:30:00+00:00 confirmed by ann: sock puppets",
    ]
    code, output = timebank("rings", "show", "loop-1", "--store", ring_store, "--json")
    shown = json.loads(output)
    assert shown == {**ring_as_dict(LOOP), "reviews": []}
    assert shown["first_at"] == "2025-02-01T09:30:00+00:00"
    code, output = timebank("rings", "show", "loop-1", "--store", ring_store)
    assert "3.5 hours per member-day" in output
    assert output.splitlines()[-1] == "audit trail: no decisions yet"


def test_review_records_the_decision_by_the_user(ring_store: Path) -> None:
    code, output = review(ring_store, "loop-1", "dismissed", "neighbours, long-standing")
    assert code == 0, output
    assert output.startswith("loop-1: dismissed by bo at ")
    code, _ = review(ring_store, "loop-1", "open", "second look", "--reviewer", "王芳")
    assert code == 0
    with SqliteStore(ring_store) as store:
        trail = store.ring_reviews("loop-1")
        ring = store.ring("loop-1")
    assert [(r.status, r.reviewer, r.note) for r in trail] == [
        ("dismissed", "bo", "neighbours, long-standing"),
        ("open", "王芳", "second look"),
    ]
    assert ring is not None
    assert ring.status == "open"


def test_without_a_login_variable_the_reviewer_is_the_account_name(ring_store: Path) -> None:
    """No $LOGNAME, $USER, $LNAME nor $USERNAME (as in many containers): the account's name."""
    done = run(
        "rings", "review", "loop-1", "--store", ring_store, "--status", "dismissed", "--note", "n"
    )
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry: nobody to name, so the command says so
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            "error: no login name to record as the reviewer (no $USER, no account name): "
            "pass --reviewer"
        ]
        return
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"loop-1: dismissed by {account} at ")
    done = run(
        *("rings", "review", "loop-1", "--store", ring_store),
        "--status",
        "open",
        "--note",
        "again",
        LOGNAME="ann",
    )
    assert done.stdout.startswith("loop-1: open by ann at ")


@pytest.mark.parametrize("columns", [None, "40"], ids=["COLUMNS unset", "COLUMNS=40"])
def test_list_never_cuts_a_ring_id(
    columns: str | None, write_dataset: WriteDataset, tmp_path: Path
) -> None:
    # The longest ids: the longest kind's, suffixed as when a second ring has the same members.
    longest = f"{ring_id_for('sybil_farm', FARM.members)}-2"
    path = tmp_path / "rings.db"
    with SqliteStore(path) as store:
        ingest(write_dataset(), store, now=NOW)
        store.save_rings([replace(FARM, ring_id=longest), LOOP])
    done = run(
        "rings", "list", "--store", path, **({} if columns is None else {"COLUMNS": columns})
    )
    assert done.returncode == 0, done.stderr
    listed = [line.split()[1] for line in done.stdout.splitlines() if "│" in line]
    assert sorted(listed) == sorted([longest, "loop-1"])


def test_a_legacy_implausible_ring_lists_shows_and_takes_a_review(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    """Rings of the kind earlier versions found ("implausible") stay workable, their ids (the
    longest kind's, suffixed) never cut."""
    legacy = replace(LEGACY, ring_id=f"{ring_id_for('implausible', LEGACY.members)}-2")
    path = tmp_path / "rings.db"
    with SqliteStore(path) as store:
        ingest(write_dataset(), store, now=NOW)
        store.save_rings([legacy, LOOP])
    done = run("rings", "list", "--store", path, COLUMNS="80")
    assert done.returncode == 0, done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines() if "│" in line] == [
        legacy.ring_id,
        "loop-1",
    ]
    code, output = timebank("rings", "show", legacy.ring_id, "--store", path)
    assert code == 0
    assert f"{legacy.ring_id}: implausible, open, score 0.93" in output
    code, output = review(path, legacy.ring_id, "dismissed", "one-hour ratings, not fraud")
    assert code == 0, output
    with SqliteStore(path) as store:
        assert store.ring(legacy.ring_id) == replace(legacy, status="dismissed")


def test_unknown_rings_and_bad_reviews_exit_2_with_a_message(ring_store: Path) -> None:
    code, output = timebank("rings", "show", "loop-404", "--store", ring_store)
    assert (code, "no fraud ring 'loop-404'" in output) == (2, True)
    code, output = review(ring_store, "loop-404", "confirmed", "n")
    assert (code, "no fraud ring 'loop-404'" in output) == (2, True)
    code, output = review(ring_store, "loop-1", "closed", "n")
    assert code == 2
    assert "'closed' is not one of" in output
    code, output = review(ring_store, "loop-1", "confirmed", "x" * 2001)
    assert code == 2
    assert "note is 2,001 characters; at most 2,000 are kept" in output
    code, output = timebank("rings", "review", "loop-1", "--store", ring_store, "--status", "open")
    assert code == 2
    assert "--note" in output
    with SqliteStore(ring_store) as store:
        assert store.ring_reviews("loop-1") == []
