"""Benchmark: the HTTP API under load, served by a second process on loopback.

Goal (issue #6): p99 ≤ 50 ms at 50 concurrent clients for a member's profile and the ring list
at 100k members on the embedded store; the same run against Neo4j (a private server of its own,
never the shared one, holding the same generated dataset).

The server is ``timebank serve`` (uvicorn with uvloop and httptools) in a child process on
127.0.0.1 and a free port, with a viewer key passed in ``TIMEBANK_API_KEYS`` and the rate limit
off (``TIMEBANK_API_RATE_LIMIT=0``): the limiter would otherwise answer 429 to a load test. The
embedded store is a private copy of the cached benchmark store (the server writes its analysis
back into the store it serves). The load comes from this process: ``--clients`` closed-loop
clients, each on a keep-alive connection of its own opened once and kept across a warm-up (not
measured) and every scenario, each scenario bounded by ``--requests`` and ``--seconds``. The
default client is a minimal HTTP/1.1 client on raw asyncio streams (uvloop): about 0.03-0.07 ms
of CPU per request, against 0.4-0.55 ms for ``--client httpx2`` (the project's HTTP client, kept
for comparison), which would take half a core of the 2 the server shares with it. The client's
and the server's CPU per request are reported, so that the client is seen not to be the
bottleneck. For Neo4j, a private server is started in a temporary home on a free port
(:func:`graph.neo4j_server.start`), the generated dataset ingested into it, and the server
stopped and removed at the end.

    python -m bench.bench_api --members 100000 --store both
    python -m bench.bench_api --members 100000 --store sqlite --clients 50 --requests 20000

Exits non-zero when a request fails (not 200, or no answer) or a server does not start; missing
the latency goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import uvloop

from bench.common import dataset, prepared_store_path, print_table
from graph.config import hash_key, new_key

#: Goal of issue #6: p99 at 50 concurrent clients on the embedded store.
GOAL_P99_MS = 50.0
#: A request not answered in this time counts as an error (and its connection is replaced).
REQUEST_TIMEOUT = 30.0
#: Share of each kind of request in the mixed scenario.
MIX = {"profile": 0.8, "rings": 0.1, "rings_open": 0.1}
RINGS_PATH = "/v1/rings?limit=50"
RINGS_OPEN_PATH = "/v1/rings?status=open&limit=50"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def code_state() -> str:
    """The commit measured, and whether graph/ had uncommitted changes (timings move with
    them)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "graph"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return head + (" + uncommitted changes in graph/" if dirty else "")


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


# --- the load generator -----------------------------------------------------------------------


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: GET only, body read and dropped.

    Answers must carry ``Content-Length`` or be chunked (uvicorn sends the former for JSON).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.head += f"Host: {host}:{port}\r\n\r\n"
        self.requests: dict[str, bytes] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def request(self, path: str) -> bytes:
        encoded = self.requests.get(path)
        if encoded is None:
            encoded = self.requests[path] = f"GET {path} HTTP/1.1\r\n{self.head}".encode()
        return encoded

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(self.request(path))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"not an HTTP status line: {lines[0][:80]!r}") from None
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if length is not None:
            body = await self.reader.readexactly(length)
        elif chunked:
            body = await self._chunks()
        else:
            raise HttpError("an answer with neither Content-Length nor chunks")
        if close:
            await self.close()
        return status, body

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers from uvicorn
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class Clients:
    """``n`` closed-loop clients, each with a keep-alive connection of its own, opened once
    per server and kept across the warm-up and every scenario: each connection is accepted
    and warm before anything is measured (a saturated server accepts new connections slowly,
    which would otherwise show as the first requests' latency).

    ``kind`` ``"raw"``: :class:`RawConnection` per client; ``"httpx2"``: one
    ``httpx2.AsyncClient`` with a pool of ``n`` connections.
    """

    def __init__(self, kind: str, port: int, key: str, n: int) -> None:
        self.kind, self.port, self.n = kind, port, n
        self.headers = {"X-API-Key": key, "Accept": "application/json"}
        self.connections: list[RawConnection] = []
        self.session: Any = None
        self.http_error: type[Exception] = OSError

    async def open(self) -> None:
        if self.kind == "raw":
            self.connections = [
                RawConnection("127.0.0.1", self.port, self.headers) for _ in range(self.n)
            ]
            await asyncio.gather(*(connection.connect() for connection in self.connections))
        else:
            import httpx2

            self.http_error = httpx2.HTTPError
            self.session = httpx2.AsyncClient(
                base_url=f"http://127.0.0.1:{self.port}",
                headers=self.headers,
                limits=httpx2.Limits(max_connections=self.n, max_keepalive_connections=self.n),
                timeout=REQUEST_TIMEOUT,
            )

    async def get(self, client: int, path: str) -> str:
        """GET ``path`` as client number ``client``: the status code, or the error's name
        when no answer came (the connection is then replaced)."""
        if self.kind != "raw":
            try:
                response = await self.session.get(path)
                await response.aread()
            except self.http_error as error:
                return type(error).__name__
            return str(response.status_code)
        connection = self.connections[client]
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, _ = await connection.get(path)
        except (OSError, TimeoutError, HttpError, asyncio.IncompleteReadError) as error:
            await connection.close()
            return type(error).__name__
        return str(status)

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()
        if self.session is not None:
            await self.session.aclose()


@dataclass
class Load:
    """What one bounded run of the closed-loop clients measured."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != "200")


async def run_load(
    clients: Clients, paths: list[str], *, max_requests: int, seconds: float
) -> Load:
    """Every client sends ``paths`` in turn (shared, cycling), one request at a time, until
    ``max_requests`` were sent or ``seconds`` passed; each request's latency is recorded."""
    load = Load()
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            path = paths[sent % len(paths)]
            sent += 1
            started = time.perf_counter()
            status = await clients.get(number, path)
            load.latencies.append(time.perf_counter() - started)
            load.statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(clients.n)))
    load.seconds = time.perf_counter() - started
    return load


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    started_in: float


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def api_server(
    store: str, key: str, log: Path, *, env: dict[str, str], start_timeout: float
) -> Iterator[Server]:
    """``timebank serve`` over ``store`` in a child process, ready (``/health`` 200) when
    yielded; stopped with SIGTERM (uvicorn's clean shutdown) at the end."""
    port = free_port()
    script = Path(sys.executable).with_name("timebank")
    command = [str(script) if script.exists() else "timebank", "serve", "--store", store]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBANK_API_")}
    environment |= {
        "TIMEBANK_API_KEYS": json.dumps(
            [{"name": "bench", "role": "viewer", "sha256": hash_key(key)}]
        ),
        "TIMEBANK_API_RATE_LIMIT": "0",
        **env,
    }
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited ({process.returncode}):\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the server was not healthy in {start_timeout:.0f} s:\n{_tail(log)}"
                )
            with contextlib.suppress(OSError):
                if _get(f"http://127.0.0.1:{port}/health")[0] == 200:
                    break
            time.sleep(0.5)
        yield Server(process, port, log, time.perf_counter() - started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                print(f"the server did not stop in 60 s; killed. Log:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- scenarios ----------------------------------------------------------------------------------


def scenarios(member_ids: list[str], requests: int, seed: int) -> dict[str, list[str]]:
    """Each scenario's request paths, in order (fixed seed)."""
    rng = random.Random(seed)
    profiles = [f"/v1/members/{m}" for m in rng.sample(member_ids, min(requests, len(member_ids)))]
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=requests)
    fixed = {"rings": RINGS_PATH, "rings_open": RINGS_OPEN_PATH}
    mixed = [
        profiles[i % len(profiles)] if kind == "profile" else fixed[kind]
        for i, kind in enumerate(kinds)
    ]
    return {
        "member profile": profiles,
        "ring list (limit 50)": [RINGS_PATH],
        "ring list, status=open": [RINGS_OPEN_PATH],
        "mixed": mixed,
    }


def check_answers(port: int, key: str, member_id: str) -> None:
    """One answer of each kind, read as JSON: the load then only checks status codes."""
    headers = {"X-API-Key": key}
    for path, expect in (
        (f"/v1/members/{member_id}", "member_id"),
        (RINGS_PATH, "items"),
        (RINGS_OPEN_PATH, "items"),
    ):
        status, body = _get(f"http://127.0.0.1:{port}{path}", headers)
        if status != 200 or expect not in json.loads(body):
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")


@dataclass
class Measured:
    store: str
    scenario: str
    load: Load
    server_cpu: float
    client_cpu: float
    neo4j_cpu: float | None


def measure_store(
    label: str,
    location: str,
    args: argparse.Namespace,
    member_ids: list[str],
    *,
    env: dict[str, str] | None = None,
    neo4j_pid: int | None = None,
) -> tuple[list[Measured], list[tuple[str, str]]]:
    """Serve ``location``, warm up, run every scenario; the measurements and notes."""
    key = new_key()
    notes: list[tuple[str, str]] = []
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    log = Path(tempfile.gettempdir()) / f"timebank-bench-api-{label}.log"
    measured = []
    with (
        runner,
        api_server(location, key, log, env=env or {}, start_timeout=args.start_timeout) as server,
    ):
        notes.append(
            (f"{label}: server ready (start + first analysis)", f"{server.started_in:.1f} s")
        )
        check_answers(server.port, key, member_ids[0])
        clients = Clients(args.client, server.port, key, args.clients)
        runner.run(clients.open())
        try:
            warm = runner.run(
                run_load(
                    clients,
                    scenarios(member_ids, args.warmup_requests, args.seed + 1)["mixed"],
                    max_requests=args.warmup_requests,
                    seconds=args.warmup_seconds,
                )
            )
            notes.append(
                (
                    f"{label}: warm-up (mixed, not measured)",
                    f"{len(warm.latencies):,} requests, {warm.errors} errors",
                )
            )
            for name, paths in scenarios(member_ids, args.requests, args.seed).items():
                server_before, client_before = process_cpu(server.process.pid), own_cpu()
                neo4j_before = process_cpu(neo4j_pid) if neo4j_pid else 0.0
                load = runner.run(
                    run_load(clients, paths, max_requests=args.requests, seconds=args.seconds)
                )
                measured.append(
                    Measured(
                        label,
                        name,
                        load,
                        process_cpu(server.process.pid) - server_before,
                        own_cpu() - client_before,
                        process_cpu(neo4j_pid) - neo4j_before if neo4j_pid else None,
                    )
                )
                print(
                    f"  {label} · {name}: {len(load.latencies):,} requests in {load.seconds:.1f} s",
                    flush=True,
                )
        finally:
            runner.run(clients.close())
        rss = next(
            (
                line.split(":")[1].strip()
                for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            ),
            "?",
        )
        notes.append((f"{label}: server RSS after the load", rss))
    code = server.process.returncode
    # uvicorn shuts down cleanly on SIGTERM, then raises it again: -15 is the clean exit.
    stopped = "clean" if code in (0, -signal.SIGTERM) else "NOT clean: see the log"
    notes.append((f"{label}: server stopped", f"{stopped} (exit {code}; log {log})"))
    return measured, notes


def prepare_neo4j(folder: Path, home: Path) -> tuple[str, dict[str, str], int, float]:
    """A private Neo4j server in ``home`` on a free port holding the dataset of ``folder``:
    its URI, the environment ``timebank serve`` logs in with, its pid and the ingest time."""
    from pydantic import SecretStr

    from graph import neo4j_server
    from graph.config import Settings
    from graph.ingest import ingest
    from graph.store import open_store

    info = neo4j_server.start(home, bolt_port=free_port())
    settings = Settings(
        neo4j_user=info.user,
        neo4j_password=SecretStr(info.password),
        neo4j_database=info.database,
    )
    started = time.perf_counter()
    with open_store(info.uri, settings=settings) as store:
        report = ingest(folder, store)
    if not report.all_accepted:
        raise SystemExit(f"generated data had rejects: {report.rejects.head()}")
    env = {
        "NEO4J_USER": info.user,
        "NEO4J_PASSWORD": info.password,
        "NEO4J_DATABASE": info.database,
    }
    return info.uri, env, info.pid, time.perf_counter() - started


# --- the report ---------------------------------------------------------------------------------


def rows_of(measured: Measured) -> list[tuple[str, str]]:
    load = measured.load
    n = len(load.latencies)
    if n == 0:
        return [(f"{measured.store} · {measured.scenario}", "no requests")]
    p50, p90, p99 = np.percentile(np.asarray(load.latencies) * 1000, [50, 90, 99])
    worst = max(load.latencies) * 1000
    errors = ", ".join(f"{s}: {c}" for s, c in sorted(load.statuses.items()) if s != "200")
    cpu = (
        f"server {measured.server_cpu / n * 1000:.2f} ms/req "
        f"({measured.server_cpu / load.seconds:.0%} of a core), "
        f"client {measured.client_cpu / n * 1000:.2f} ms/req "
        f"({measured.client_cpu / load.seconds:.0%})"
    )
    if measured.neo4j_cpu is not None:
        cpu += (
            f", Neo4j {measured.neo4j_cpu / n * 1000:.2f} ms/req "
            f"({measured.neo4j_cpu / load.seconds:.0%})"
        )
    return [
        (
            f"{measured.store} · {measured.scenario}",
            f"{n:,} req in {load.seconds:.1f} s, {load.errors} errors"
            + (f" ({errors})" if errors else "")
            + f", {n / load.seconds:,.0f} req/s; ms: p50 {p50:.1f}, p90 {p90:.1f}, "
            f"p99 {p99:.1f}, max {worst:.1f}",
        ),
        ("  CPU", cpu),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--store", choices=("sqlite", "neo4j", "both"), default="both")
    parser.add_argument("--clients", type=int, default=50, help="concurrent closed-loop clients")
    parser.add_argument("--requests", type=int, default=20_000, help="per scenario, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="per scenario, at most")
    parser.add_argument("--warmup-requests", type=int, default=3_000)
    parser.add_argument("--warmup-seconds", type=float, default=10.0)
    parser.add_argument(
        "--client",
        choices=("raw", "httpx2"),
        default="raw",
        help="raw asyncio streams (default: lightest) or the httpx2 async client",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start-timeout", type=float, default=600.0, help="seconds")
    args = parser.parse_args()

    folder = dataset(Path(tempfile.gettempdir()) / f"timebank-bench-{args.members}", args.members)
    member_ids = pd.read_csv(folder / "members.csv", usecols=["member_id"])["member_id"].tolist()
    notes: list[tuple[str, str]] = [
        ("dataset", f"{folder} ({len(member_ids):,} members)"),
        ("clients / client", f"{args.clients} closed-loop, keep-alive / {args.client}"),
        ("bounds per scenario", f"{args.requests:,} requests or {args.seconds:.0f} s"),
        ("mixed scenario", ", ".join(f"{name} {weight:.0%}" for name, weight in MIX.items())),
        ("rate limit", "off (TIMEBANK_API_RATE_LIMIT=0)"),
        ("cores", str(os.cpu_count())),
        ("code", code_state()),
    ]
    measured: list[Measured] = []
    loads: list[tuple[str, str]] = []

    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="timebank-bench-api-") as scratch:
            # A private copy: the server writes its analysis back into the store it serves.
            copy = Path(scratch) / "store.db"
            shutil.copyfile(prepared_store_path(args.members), copy)
            loads.append(("load average before sqlite (1/5/15 min)", load_average()))
            done, more = measure_store("sqlite", str(copy), args, member_ids)
            measured += done
            notes += more
            loads.append(("load average after sqlite", load_average()))

    if args.store in ("neo4j", "both"):
        from graph import neo4j_server

        home = Path(tempfile.mkdtemp(prefix="timebank-bench-api-neo4j-"))
        try:
            uri, env, pid, ingested = prepare_neo4j(folder, home)
            notes.append(("neo4j: private server, ingest of the dataset", f"{ingested:.1f} s"))
            loads.append(("load average before neo4j", load_average()))
            done, more = measure_store("neo4j", uri, args, member_ids, env=env, neo4j_pid=pid)
            measured += done
            notes += more
            loads.append(("load average after neo4j", load_average()))
        finally:
            neo4j_server.stop(home)
            shutil.rmtree(home, ignore_errors=True)

    rows = notes + loads
    for one in measured:
        rows += rows_of(one)
    goal = [one for one in measured if one.store == "sqlite" and one.load.latencies]
    for one in goal:
        p99 = float(np.percentile(one.load.latencies, 99)) * 1000
        rows.append(
            (
                f"goal p99 ≤ {GOAL_P99_MS:.0f} ms, sqlite · {one.scenario}",
                f"{'met' if p99 <= GOAL_P99_MS else 'missed'} (p99 {p99:.1f} ms)",
            )
        )
    print()
    print_table(rows)
    failed = sum(one.load.errors for one in measured)
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
