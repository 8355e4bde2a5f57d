"""The ``timebank`` command end to end, through typer's runner (same process, real files)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from graph.analyze import RESULT_FILES
from graph.cli import app
from graph.config import add_key
from graph.metrics.tiers import TIERS
from graph.policy import default_policy_text
from graph.store import SqliteStore
from tests.conftest import GOOD, WriteDataset

runner = CliRunner()


def timebank(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under ``command``, as the words that invoke it."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


@pytest.mark.parametrize("path", list(command_paths(typer.main.get_command(app))), ids=" ".join)
def test_every_command_has_help_and_no_type_placeholders(path: tuple[str, ...]) -> None:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help
    code, output = timebank(*path, "--help")
    assert code == 0
    usage = output.splitlines()[0]
    assert usage.startswith("Usage: ")
    assert " ".join(path) in usage
    # Flags take no value, so they show no type; an option that takes one shows a metavar
    # saying what (FILE, DIR, STORE…) or its choices (<a|b>), not a bare `<str>` or `<int>`.
    assert "<bool>" not in output
    assert re.findall(r"--[\w-]+ <[^|>]*>", output) == []


def test_analyze_help_names_every_file_analyze_writes(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    sessions = GOOD["sessions"] + "s9,m1,m1,2025-02-01,1,,,\n"  # a rejected row: rejects.csv
    code, _ = timebank("analyze", write_dataset(sessions=sessions), "--out", tmp_path / "out")
    assert code == 1
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert {"rejects.csv", "risk.csv", "rings.json", "summary.json"} <= set(written)
    _, output = timebank("analyze", "--help")
    assert [name for name in written if name not in output] == []


def test_ingest_then_stats(write_dataset: WriteDataset, tmp_path: Path) -> None:
    store = tmp_path / "tb.db"
    code, output = timebank("ingest", write_dataset(), "--store", store)
    assert code == 0, output
    code, output = timebank("stats", "--store", store, "--json")
    assert code == 0
    assert json.loads(output) == {"members": 4, "sessions": 4, "referrals": 3, "redemptions": 1}
    code, _ = timebank("ingest", write_dataset(), "--store", store)
    assert code == 0, "re-ingesting the same data is not an error"
    _, again = timebank("stats", "--store", store, "--json")
    assert json.loads(again) == json.loads(output)


def test_rejected_rows_exit_1_and_are_written(write_dataset: WriteDataset, tmp_path: Path) -> None:
    sessions = GOOD["sessions"] + "s9,m1,m1,2025-02-01,1,,,\ns10,m1,m2,2025-02-01,30,,,\n"
    rejects = tmp_path / "rejects.csv"
    code, output = timebank(
        "ingest",
        write_dataset(sessions=sessions),
        "--store",
        tmp_path / "tb.db",
        "--rejects",
        rejects,
    )
    assert code == 1
    assert "2 rows rejected" in output
    table = pd.read_csv(rejects)
    assert list(table.columns) == ["file", "line", "column", "value", "reason"]
    assert table[["line", "column"]].to_numpy().tolist() == [[6, "recipient_id"], [7, "hours"]]
    _, stats = timebank("stats", "--store", tmp_path / "tb.db", "--json")
    assert json.loads(stats)["sessions"] == 4


def error_line(output: str) -> str:
    """The one line of ``output`` that says what went wrong (it must be exactly one)."""
    [line] = [line for line in output.splitlines() if line.startswith("error: ")]
    return line


def test_unreadable_input_exits_2_without_a_traceback(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    nowhere = tmp_path / "nowhere"
    code, output = timebank("ingest", nowhere, "--store", tmp_path / "tb.db")
    assert code == 2
    assert error_line(output) == f"error: {nowhere}: no such folder"
    assert "Traceback" not in output
    code, output = timebank("ingest", write_dataset(encoding="gbk"), "--store", tmp_path / "tb.db")
    assert code == 2
    assert error_line(output).endswith("declare the encoding gbk (--encoding gbk)")
    code, _ = timebank(
        "ingest", write_dataset(encoding="gbk"), "--store", tmp_path / "tb.db", "--encoding", "gbk"
    )
    assert code == 0
    code, output = timebank("ingest", "--store", tmp_path / "tb.db")
    assert code == 2, "a usage error"


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["analyze"],
        ["tiers"],
        ["report"],
        ["serve", "--keys", "{keys}"],
        ["rings", "list"],
        ["rings", "show", "loop-1"],
        ["rings", "review", "loop-1", "--status", "confirmed", "--note", "n", "--reviewer", "bo"],
    ],
    ids=" ".join,
)
def test_commands_that_read_refuse_a_store_that_does_not_exist(
    command: list[str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    add_key(keys, name="ann", role="admin")
    typo = tmp_path / "typo.db"
    arguments = [a.format(keys=keys) for a in command]
    code, output = timebank(*arguments, "--store", typo)
    assert code == 2
    assert error_line(output) == f"error: {typo}: no such store (ingesting into a path creates one)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.toml"], "nothing was created"


@pytest.mark.parametrize(
    ("tables", "pick", "message"),
    [
        ({}, lambda folder: folder / "nowhere", "nowhere: no such folder"),
        ({}, lambda folder: folder / "members.csv", "a file, not a folder: pass the folder"),
        ({"members": "member_id\nm1\n"}, lambda folder: folder, "missing required column"),
        ({"encoding": "gbk"}, lambda folder: folder, "not valid utf-8"),
    ],
    ids=["no such folder", "a file", "a missing column", "another encoding"],
)
def test_an_ingest_that_cannot_read_its_input_creates_no_store(
    tables: dict[str, str],
    pick: Callable[[Path], Path],
    message: str,
    write_dataset: WriteDataset,
    tmp_path: Path,
) -> None:
    stores = tmp_path / "stores"
    stores.mkdir()
    code, output = timebank("ingest", pick(write_dataset(**tables)), "--store", stores / "tb.db")
    assert code == 2
    assert message in error_line(output)
    assert list(stores.iterdir()) == [], "no store file (nor -wal, -shm) is left behind"


def test_a_misspelt_header_is_named_with_the_column_it_should_be(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    folder = write_dataset(members=GOOD["members"].replace("joined_at", "joined_on", 1))
    code, output = timebank("ingest", folder, "--store", tmp_path / "tb.db")
    assert code == 2
    assert error_line(output) == (
        f"error: {folder / 'members.csv'}, line 1: missing required column joined_at "
        "(found joined_on: a misspelling?)"
    )


def test_analyze_a_folder_and_a_store(write_dataset: WriteDataset, tmp_path: Path) -> None:
    folder = write_dataset()
    code, output = timebank("analyze", folder, "--out", tmp_path / "a")
    assert code == 0, output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["counts"] == {"members": 4, "sessions": 4, "referrals": 3, "redemptions": 1}
    assert set(summary["seconds"]) >= {
        "read",
        "ingest",
        "snapshot",
        "trust",
        "tiers",
        "growth",
        "write",
    }
    files = list(RESULT_FILES)
    assert "risk.csv" in files
    assert summary["files"] == [*files, "rings.json"]
    assert summary["member_results_stored"] == 0  # a folder is analysed in a scratch store
    assert summary["rings"] == {"open": 0, "confirmed": 0, "dismissed": 0}
    assert json.loads((tmp_path / "a" / "rings.json").read_text()) == {"rings": []}
    growth_from_folder = pd.read_csv(tmp_path / "a" / "growth.csv")

    store = tmp_path / "tb.db"
    timebank("ingest", folder, "--store", store)
    code, _ = timebank("analyze", "--store", store, "--out", tmp_path / "b")
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b" / "growth.csv"), growth_from_folder)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # Analysing a store keeps each member's trust and tier on the member.
    stored = SqliteStore(store).member_results().set_index("member_id")
    trust = pd.read_csv(tmp_path / "b" / "trust.csv", index_col="member_id")
    tiers = pd.read_csv(tmp_path / "b" / "tiers.csv", index_col="member_id")
    assert stored["trust_score"].to_dict() == pytest.approx(trust["trust_score"].to_dict())
    assert stored["tier"].to_dict() == tiers["tier"].to_dict()

    code, _ = timebank(
        "analyze", "--store", store, "--out", tmp_path / "c", "--as-of", "2025-01-31"
    )
    assert code == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["counts"]["members"] == 3
    assert summary["as_of"].startswith("2025-01-31")

    assert timebank("analyze", folder, "--store", store)[0] == 2
    assert timebank("analyze", "--out", tmp_path / "d")[0] == 2
    assert timebank("analyze", "--store", store, "--as-of", "someday")[0] == 2


def test_tiers_counts_and_what_if(tmp_path: Path) -> None:
    folder, store = tmp_path / "data", tmp_path / "tb.db"
    assert timebank("generate", "--members", "600", "--seed", "3", "--out", folder)[0] == 0
    assert timebank("ingest", folder, "--store", store)[0] == 0
    code, output = timebank("tiers", "--store", store, "--json")
    assert code == 0, output
    counts = json.loads(output)
    assert list(counts) == ["none", *TIERS]
    assert sum(counts.values()) == 600

    # Dropping the referral ask of community heads can only move members up.
    looser = default_policy_text().replace("active_referrals = 1", "active_referrals = 0", 1)
    assert looser != default_policy_text()
    (tmp_path / "looser.toml").write_text(looser)
    code, output = timebank(
        "tiers", "--store", store, "--policy", tmp_path / "looser.toml", "--compare", "--json"
    )
    assert code == 0, output
    change = json.loads(output)
    assert change["moved_down"] == 0
    assert change["moved_up"] + change["unchanged"] == 600
    assert change["counts"]["community_head"]["alternative"] >= counts["community_head"]

    (tmp_path / "bad.toml").write_text(
        looser.replace("active_referrals = 0", 'active_referrals = "x"', 1)
    )
    code, output = timebank("tiers", "--store", store, "--policy", tmp_path / "bad.toml")
    assert code == 2
    assert "tiers.community_head.active_referrals" in output
    assert timebank("tiers", "--store", store, "--current", tmp_path / "looser.toml")[0] == 2


def test_analyze_takes_a_ledger_and_a_policy(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    assert timebank("generate", "--members", "400", "--seed", "5", "--out", folder)[0] == 0
    outstanding = {}
    for ledger in ("minting", "classic"):
        code, output = timebank("analyze", folder, "--out", tmp_path / ledger, "--ledger", ledger)
        assert code == 0, output
        growth = pd.read_csv(tmp_path / ledger / "growth.csv")
        outstanding[ledger] = growth.loc[growth["scope"] == "all", "credits_outstanding"]
    # Minting: every credit earned is new; classic: recipients pay, so far fewer are held.
    assert outstanding["classic"].iloc[-1] < outstanding["minting"].iloc[-1]

    strict = default_policy_text()
    for days in (90, 180, 365):  # higher tiers may not ask less than lower ones
        strict = strict.replace(f"tenure_days = {days}\n", f"tenure_days = {days + 100_000}\n", 1)
    assert strict != default_policy_text()
    (tmp_path / "strict.toml").write_text(strict)
    code, _ = timebank(
        "analyze", folder, "--out", tmp_path / "s", "--policy", tmp_path / "strict.toml"
    )
    assert code == 0
    tiers = pd.read_csv(tmp_path / "s" / "tiers.csv")
    assert not tiers["tier"].isin(["community_head", "symbiotic_member", "city_partner"]).any()
    assert timebank("analyze", folder, "--out", tmp_path / "x", "--ledger", "barter")[0] == 2


def test_analyze_reports_rejects_but_still_writes(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    sessions = GOOD["sessions"] + "s9,m1,m1,2025-02-01,1,,,\n"
    code, _ = timebank("analyze", write_dataset(sessions=sessions), "--out", tmp_path / "a")
    assert code == 1
    assert (tmp_path / "a" / "growth.csv").exists()
    assert len(pd.read_csv(tmp_path / "a" / "rejects.csv")) == 1


def test_generate_is_reproducible(tmp_path: Path) -> None:
    for name in ("one", "two"):
        code, output = timebank("generate", "--members", 800, "--seed", 3, "--out", tmp_path / name)
        assert code == 0, output
    for file in ("members.csv", "sessions.csv", "referrals.csv", "redemptions.csv", "truth.json"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes()
    code, _ = timebank("ingest", tmp_path / "one", "--store", tmp_path / "tb.db")
    assert code == 0, "generated data passes validation"


def test_demo_writes_an_offline_report(tmp_path: Path) -> None:
    code, output = timebank("demo", "--out", tmp_path / "demo", "--members", 600)
    assert code == 0, output
    # The planted fraud's answer key sits beside the ingested folder, not in it.
    assert "ignored" not in output
    assert (tmp_path / "demo" / "truth.json").is_file()
    assert sorted(p.name for p in (tmp_path / "demo" / "data").iterdir()) == [
        f"{name}.csv" for name in ("members", "redemptions", "referrals", "sessions")
    ]
    page = Path(re.search(r"Report: (\S+)", output).group(1))  # type: ignore[union-attr]
    html = page.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html
    assert "Referral fan-out" in (page.parent / "referrals.html").read_text(encoding="utf-8")
    # The only script fetched is the bundle's own copy of plotly.js.
    assert re.findall(r"<script[^>]+src=([^>]+)>", html) == ["'plotly.min.js'"]
    assert (page.parent / "plotly.min.js").exists()
    assert (tmp_path / "demo" / "analysis" / "growth.csv").exists()
