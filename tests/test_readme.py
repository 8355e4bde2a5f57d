"""The README's examples, run as written, so the README cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import LiteralString, cast

import pandas as pd
import pytest

from graph.analyze import analyze_store
from graph.config import hash_key
from graph.store.neo4j import Neo4jStore
from tests.conftest import ingest_generated

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced(language: str) -> list[str]:
    """The README's code blocks fenced as ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)


def ring_queries() -> tuple[LiteralString, LiteralString]:
    """The README's two Cypher queries a reviewer runs on one ring (``$ring_id``): its members
    and its evidence sessions."""
    queries = [block for block in fenced("cypher") if "$ring_id" in block]
    members = [query for query in queries if "HELPED" not in query]
    sessions = [query for query in queries if "HELPED" in query]
    assert len(members) == len(sessions) == 1, queries
    # Text of this repository's own README, which Neo4jStore.query may run as written.
    return cast(LiteralString, members[0]), cast(LiteralString, sessions[0])


@pytest.mark.neo4j
def test_the_ring_queries_return_each_rings_members_and_evidence(
    neo4j_store: Neo4jStore,
) -> None:
    members_query, sessions_query = ring_queries()
    data = ingest_generated(neo4j_store, members=1500, seed=5)
    analyze_store(neo4j_store)  # what `timebank analyze --store neo4j` runs
    rings = neo4j_store.rings()
    assert rings, "the generated network's planted fraud should be flagged"
    results = neo4j_store.member_results().set_index("member_id")
    sessions = data.sessions.set_index("session_id")
    started = pd.to_datetime(sessions["started_at"], utc=True, format="ISO8601")
    for ring in rings:
        rows = neo4j_store.query(members_query, ring_id=ring.ring_id)
        assert [row["member_id"] for row in rows] == list(ring.members), ring.ring_id
        for row in rows:
            stored = results.loc[row["member_id"]]
            assert row["trust_score"] == stored["trust_score"]
            assert row["fraud_risk"] == stored["fraud_risk"]
            assert row["tier"] == stored["tier"]

        rows = neo4j_store.query(sessions_query, ring_id=ring.ring_id)
        evidence = sessions.loc[list(ring.session_ids)].assign(started_at=started)
        evidence = evidence.reset_index().sort_values(["started_at", "session_id"])
        expected = [
            (s.session_id, s.helper_id, s.recipient_id, s.hours, s.started_at)
            for s in evidence.itertuples()
        ]
        got = [
            (
                row["session_id"],
                row["helper"],
                row["recipient"],
                row["hours"],
                pd.Timestamp(row["started_at"].to_native()),
            )
            for row in rows
        ]
        assert got == expected, ring.ring_id
        assert sum(row["hours"] for row in rows) == pytest.approx(ring.hours)
    for query in (members_query, sessions_query):
        assert neo4j_store.query(query, ring_id="loop-nosuchring") == []


def test_the_key_command_puts_the_key_and_nothing_else_into_key(tmp_path: Path) -> None:
    """The README's ``KEY=$(timebank keys add …)`` line, run as written by a shell through the
    real entry point: ``$KEY`` is the key whose digest the keys file holds."""
    (line,) = [
        line
        for block in fenced("sh")
        for line in block.splitlines()
        if line.startswith("KEY=$(timebank keys add ")
    ]
    # The entry point installed beside this Python, as an activated environment would find it.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", f'set -e\n{line}\nprintf "%s" "$KEY"'],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout
    assert re.fullmatch(r"\S+", key), key
    file = re.search(r"--file (\S+)\)", line)
    assert file is not None
    keys = tomllib.loads((tmp_path / file[1]).read_text(encoding="utf-8"))["keys"]
    assert [entry["sha256"] for entry in keys] == [hash_key(key)]


def test_the_readme_keys_file_is_ignored_by_git() -> None:
    """Following the README in the checkout leaves no untracked keys file behind."""
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "keys.toml"], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0, "keys.toml is not in .gitignore"


def quick_start() -> str:
    """The README's quick start section."""
    found = re.search(r"^## Quick start.*?(?=^## )", README, flags=re.MULTILINE | re.DOTALL)
    assert found is not None
    return found[0]


def test_the_readme_test_command_is_what_ci_runs() -> None:
    """The README's two-line test command, and the system packages it names, are .ci/run's."""
    commands = re.findall(r"^```sh\n(.*?)^```$", quick_start(), flags=re.MULTILINE | re.DOTALL)
    assert "python3 -m pip install -e '.[test]' && python3 -m pytest\n" in commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\npython3 -m pip install --quiet -e '.[test]'\n" in ci
    assert ci.rstrip().splitlines()[-1] == "python3 -m pytest"
    (apt,) = [line for line in "".join(commands).splitlines() if "apt-get install" in line]
    installed_by_ci = set(re.findall(r"missing\+=\(([^)]+)\)", ci))
    assert {"chromium", "fonts-wqy-microhei"} <= installed_by_ci
    assert installed_by_ci <= set(apt.split())
