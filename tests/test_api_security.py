"""Who may call the API: keys (files, environment, ``timebank keys add``), the rate limit, the
request log, failures that must not leak, and ``timebank serve`` as a real process."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from graph.api.main import create_app
from graph.api.service import ApiService
from graph.cli import app as cli
from graph.config import (
    ApiKey,
    ApiSettings,
    ConfigError,
    add_key,
    hash_key,
    read_keys_file,
)
from graph.ingest import ingest
from graph.policy import load_policy
from graph.store import GraphStore, open_store
from tests.conftest import GOOD, free_port
from tests.test_api import (
    BACKENDS,
    Gate,
    Served,
    assert_clean,
    assert_problem,
    backend_connection,
    make_keys,
    serving,
    wait_until,
)
from tests.test_api_writes import good_dataset, serving_good

# Keys ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys come only from what each test gives."""
    for name in list(os.environ):
        if name.upper().startswith("TIMEBANK_API_"):
            monkeypatch.delenv(name)


def test_keys_file_holds_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    alice = add_key(path, name="alice", role="viewer")
    bob = add_key(path, name="bob.ops", role="admin")
    assert alice != bob
    assert alice.startswith("tbk_")
    assert len(alice) > 40
    text = path.read_text(encoding="utf-8")
    assert alice not in text
    assert bob not in text
    assert hash_key(alice) in text
    assert read_keys_file(path) == [
        ApiKey(name="alice", role="viewer", sha256=hash_key(alice)),
        ApiKey(name="bob.ops", role="admin", sha256=hash_key(bob)),
    ]
    assert ApiSettings(keys_file=path).all_keys() == read_keys_file(path)


def test_a_second_key_of_one_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    add_key(path, name="alice", role="viewer")
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="alice") as refused:
        add_key(path, name="alice", role="admin")
    assert str(path) in str(refused.value)
    assert path.read_text(encoding="utf-8") == before
    for name, role in (("two words", "viewer"), ("", "viewer"), ("carol", "root")):
        with pytest.raises(ConfigError):
            add_key(path, name=name, role=role)  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[keys]]\nname = "a"\nrole = "viewer"\nsha256 = "{digest}"\n'
         '[[keys]]\nname = "b"\nrole = "root"\nsha256 = "{digest2}"\n', "keys[2].role"),
        ('[[keys]]\nname = "a"\nrole = "viewer"\nsha256 = "not-hex"\n', "keys[1].sha256"),
        ('[[keys]]\nrole = "viewer"\nsha256 = "{digest}"\n', "keys[1].name"),
        ('[[keys]]\nname = "a"\nrole = "viewer"\nsha256 = "{digest}"\nkey = "plain"\n',
         "keys[1].key"),
        ('keys = "everyone"\n', "keys"),
        ("[[keys]\nname=", "not a TOML keys file"),
        ('[[keys]]\nname = "a"\nrole = "viewer"\nsha256 = "{digest}"\n'
         '[[keys]]\nname = "a"\nrole = "admin"\nsha256 = "{digest2}"\n', "a appears twice"),
    ],
)  # fmt: skip
def test_an_invalid_keys_file_names_the_file_and_entry(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(
        text.replace("{digest}", hash_key("one")).replace("{digest2}", hash_key("two")),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        ApiSettings(keys_file=path).all_keys()
    assert str(path) in str(refused.value)
    assert named in str(refused.value)


def test_a_missing_keys_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        ApiSettings(keys_file=path).all_keys()


def test_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.toml"
    add_key(path, name="alice", role="viewer")
    entry = {"name": "ci", "role": "admin", "sha256": hash_key("ci-key")}
    monkeypatch.setenv("TIMEBANK_API_KEYS", json.dumps([entry]))
    monkeypatch.setenv("TIMEBANK_API_KEYS_FILE", str(path))
    monkeypatch.setenv("TIMEBANK_API_RATE_LIMIT", "7")
    settings = ApiSettings()
    assert settings.rate_limit == 7
    assert [(k.name, k.role) for k in settings.all_keys()] == [("ci", "admin"), ("alice", "viewer")]
    entry["name"] = "alice"
    monkeypatch.setenv("TIMEBANK_API_KEYS", json.dumps([entry]))
    with pytest.raises(ConfigError, match="alice"):
        ApiSettings().all_keys()


def test_no_keys_at_all_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API keys"):
        ApiSettings().all_keys()
    empty = tmp_path / "keys.toml"
    empty.write_text("# nobody yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no API keys"):
        ApiSettings(keys_file=empty).all_keys()
    service = ApiService(str(good_store(tmp_path)), policy=load_policy())
    try:
        with pytest.raises(ConfigError, match="no API keys"):
            create_app(service, ApiSettings())
    finally:
        service.close()


def good_store(folder: Path) -> Path:
    """An embedded store holding the GOOD dataset."""
    data = folder / "data"
    data.mkdir()
    for name, text in GOOD.items():
        (data / f"{name}.csv").write_text(text, encoding="utf-8")
    path = folder / "store.db"
    with open_store(path, create=True) as store:
        assert ingest(data, store).all_accepted
    return path


def test_keys_add_prints_the_key_once_and_it_then_authenticates(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    runner = CliRunner()
    added = runner.invoke(
        cli, ["keys", "add", "rev.alice", "--role", "reviewer", "--file", str(path)]
    )
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("tbk_")
    assert added.output.count(key) == 1
    assert key not in path.read_text(encoding="utf-8")
    again = runner.invoke(cli, ["keys", "add", "rev.alice", "--role", "admin", "--file", str(path)])
    assert again.exit_code == 2
    assert "rev.alice" in again.output
    wrong = runner.invoke(cli, ["keys", "add", "carol", "--role", "root", "--file", str(path)])
    assert wrong.exit_code == 2
    assert [k.name for k in read_keys_file(path)] == ["rev.alice"]

    service = ApiService(str(good_store(tmp_path)), policy=load_policy())
    app = create_app(service, ApiSettings(keys_file=path, rate_limit=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_until(lambda: service.ready, what="the first analysis")
        members = client.get("/v1/members", headers={"X-API-Key": key})
        assert members.status_code == 200, members.text
        assert members.json()["total"] == 4
        refused = client.post("/v1/analysis/recompute", headers={"X-API-Key": key})
        assert "reviewer" in assert_problem(refused, 403, "forbidden")["detail"]
        digest = client.get("/v1/members", headers={"X-API-Key": hash_key(key)})
        assert_problem(digest, 401, "unauthorized")  # the stored digest is not a key


# Rate limit and request log ------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Served]:
    with serving_good(tmp_path, ApiSettings(rate_limit=60, rate_burst=3)) as app:
        yield app


def test_rate_limit_per_key(limited: Served) -> None:
    viewer = limited.as_("viewer")
    for _ in range(3):
        assert limited.client.get("/v1/tiers", headers=viewer).status_code == 200
    over = limited.client.get("/v1/tiers", headers=viewer)
    body = assert_problem(over, 429, "rate-limited")
    assert "viewer" in body["detail"]
    assert limited.keys["viewer"] not in over.text
    assert 1 <= int(over.headers["retry-after"]) <= 60
    # Other keys have buckets of their own; /health and unknown keys are not counted.
    assert limited.client.get("/v1/tiers", headers=limited.as_("admin")).status_code == 200
    assert limited.client.get("/v1/tiers", headers=limited.as_("reviewer")).status_code == 200
    for _ in range(5):
        assert limited.client.get("/health").status_code == 200
    assert_problem(limited.client.get("/v1/tiers"), 401, "unauthorized")
    # The bucket refills at 60 a minute: one request a second.
    time.sleep(float(over.headers["retry-after"]) + 0.05)
    assert limited.client.get("/v1/tiers", headers=viewer).status_code == 200


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Served]:
    with serving("sqlite", tmp_path, None, good_dataset(tmp_path)) as app:
        yield app


def test_request_log_names_the_key_never_shows_it(
    small: Served, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = "tbk_not-a-key-of-ours-0123456789"
    with caplog.at_level(logging.INFO, logger="graph.api.access"):
        assert small.client.get("/v1/members?limit=3", headers=small.as_("viewer")).is_success
        assert small.client.get("/v1/members", headers={"X-API-Key": stranger}).status_code == 401
        assert (
            small.client.post("/v1/analysis/recompute", headers=small.as_("viewer")).status_code
            == 403
        )
        assert small.client.get("/health").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "graph.api.access"]
    latency = r"\d+\.\dms"
    expected = [
        rf"GET /v1/members 200 {latency} key=viewer",
        rf"GET /v1/members 401 {latency} key=-",
        rf"POST /v1/analysis/recompute 403 {latency} key=viewer",
        rf"GET /health 200 {latency} key=-",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    everything = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in (*small.keys.values(), stranger):
        assert secret not in everything


# Failures ------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def failing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A served store whose request connection is then closed under the app."""
    with serving(
        request.param, tmp_path, backend_connection(request), good_dataset(tmp_path)
    ) as app:
        app.service.store.close()
        yield app


def test_a_store_failure_is_a_500_problem_without_a_trace(
    failing: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="graph.api"):
        answer = failing.client.post(
            "/v1/rings/loop-000000000000/review",
            json={"status": "confirmed", "note": "x"},
            headers=failing.as_("reviewer"),
        )
    body = assert_problem(answer, 500, "internal")
    assert body["detail"] == "internal error; it has been logged"
    assert_clean(answer)
    if failing.backend == "sqlite":
        assert failing.service.location not in answer.text
    logged = [r for r in caplog.records if r.name == "graph.api" and r.exc_info]
    assert logged, "the operator's log keeps the trace"
    health = failing.client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["store"]["reachable"] is False
    assert_clean(health)


def test_before_the_first_analysis_keys_are_still_checked_first(tmp_path: Path) -> None:
    """Until the first analysis is ready, keyed routes answer 503 not-ready, but only to
    callers with a key: without one the answer is 401, as always."""
    path = good_store(tmp_path)
    gate = Gate()
    gate.hold()
    opened = []

    def gated(location: str) -> GraphStore:
        opened.append(location)
        if len(opened) > 1:
            gate.open.wait(timeout=60)
        return open_store(location)

    keys, records = make_keys(("viewer", "viewer"))
    service = ApiService(str(path), policy=load_policy(), open_store=gated)
    app = create_app(service, ApiSettings(rate_limit=0), keys=records)
    with TestClient(app, raise_server_exceptions=False) as client:
        try:
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["analytics"]["ready"] is False
            waiting = client.get("/v1/members", headers={"X-API-Key": keys["viewer"]})
            assert_problem(waiting, 503, "not-ready")
            assert waiting.headers["retry-after"]
            for route in ("/v1/members", "/v1/members/m1", "/v1/trust/ranking", "/v1/growth"):
                assert_problem(client.get(route), 401, "unauthorized")
        finally:
            gate.release()  # lets the app's shutdown finish the held analysis


# timebank serve ------------------------------------------------------------------------------


def timebank() -> list[str]:
    """The console script installed beside this Python (else on PATH)."""
    beside = Path(sys.executable).with_name("timebank")
    found = str(beside) if beside.exists() else shutil.which("timebank")
    assert found, "the timebank console script is not installed"
    return [found]


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("TIMEBANK_API_")}


@dataclass(frozen=True)
class Server:
    base: str
    log: Path


@contextmanager
def serve(store: Path, keys: Path, log: Path, *, log_level: str = "info") -> Iterator[Server]:
    """``timebank serve`` over ``store`` on a free port, answering /health; stopped after."""
    port = free_port()
    command = [*timebank(), "serve", "--store", str(store), "--port", str(port)]
    command += ["--keys", str(keys), "--log-level", log_level]
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=clean_environment()
        )
        try:

            def healthy() -> bool:
                assert server.poll() is None, log.read_text(encoding="utf-8", errors="replace")
                try:
                    return httpx2.get(f"{base}/health", timeout=2).status_code == 200
                except httpx2.TransportError:
                    return False

            wait_until(healthy, seconds=60, what="timebank serve to answer /health")
            yield Server(base, log)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def test_serve_answers_keyed_requests(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    key = add_key(keys, name="alice", role="viewer")
    log = tmp_path / "serve.log"
    with serve(good_store(tmp_path), keys, log) as server:
        base = server.base
        members = httpx2.get(f"{base}/v1/members", headers={"X-API-Key": key}, timeout=10)
        assert members.status_code == 200, members.text
        assert members.json()["total"] == 4
        anonymous = httpx2.get(f"{base}/v1/members", timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
    text = log.read_text(encoding="utf-8", errors="replace")
    assert re.search(r"GET /v1/members 200 \d+\.\dms key=alice", text), text
    assert key not in text


@pytest.mark.parametrize("keys_file", [None, "broken"])
def test_serve_without_valid_keys_exits_2(tmp_path: Path, keys_file: str | None) -> None:
    store = good_store(tmp_path)
    command = [*timebank(), "serve", "--store", str(store), "--port", str(free_port())]
    if keys_file is not None:
        broken = tmp_path / "keys.toml"
        broken.write_text('[[keys]]\nname = "a"\nrole = "root"\n', encoding="utf-8")
        command += ["--keys", str(broken)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=clean_environment()
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    if keys_file is None:
        assert "no API keys" in done.stderr
        assert "timebank keys add" in done.stderr
    else:
        assert str(tmp_path / "keys.toml") in done.stderr
        assert "keys[1]" in done.stderr
    assert "Traceback" not in done.stderr
