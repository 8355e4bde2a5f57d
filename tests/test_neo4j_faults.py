"""Faults during a Neo4j ingest: a server crash (SIGKILL) and cut connections.

These tests run their own server, in a temporary home on a free port (they kill it, so they
never use the developer's ``.neo4j/`` server nor the one the other Neo4j tests share). The
connection tests put a small TCP proxy (:class:`_BoltProxy`) between the store and that
server; it recognises the store's session-writing ``RUN`` by its Cypher text and a ``COMMIT`` by
its bytes, and resets the connection (RST both ways) at the moment a test asks for.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

from graph import neo4j_server
from graph.errors import StoreError
from graph.generate import GeneratedDataset, GeneratorParams, generate, write_dataset
from graph.ingest import IngestReport, ingest
from graph.neo4j_server import ServerInfo
from graph.schema import TableName
from graph.store.neo4j import BATCH_ROWS, Neo4jStore
from tests.conftest import NOW, private_server

# isort: split
# The driver in a block of its own (see tests/test_neo4j_server.py for why).
from neo4j.exceptions import IncompleteCommit, ServiceUnavailable

pytestmark = pytest.mark.neo4j

#: Members of the generated network: ~60 000 sessions, about thirty write batches of BATCH_ROWS.
MEMBERS = 6000
#: The driver's retry budget for a managed transaction in the crash test (its default is 30 s,
#: and after a crash every batch still in flight spends it: 30-100 s in all, measured).
CRASH_RETRY_SECONDS = 3.0
#: Cypher text that only the sessions write batch sends (the stored-rows read says `[s:HELPED`).
SESSIONS_WRITE = b"CREATE (h)-[:HELPED"
#: A Bolt COMMIT message as one chunk: size 2, struct of 0 fields (0xB0), signature 0x12, end.
#: The driver sends it alone, once it has read the results of the transaction's queries.
COMMIT = b"\x00\x02\xb0\x12\x00\x00"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with a server of its own for this module; stopped at the end."""
    with private_server(tmp_path_factory, "neo4j-faults-home") as home:
        yield home


@pytest.fixture
def server(fault_home: Path) -> ServerInfo:
    """The module's server, running (started again if a test left it killed)."""
    return neo4j_server.start(fault_home)


@dataclass(frozen=True)
class Dataset:
    folder: Path
    rows: dict[TableName, int]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    generated: GeneratedDataset = generate(GeneratorParams(members=MEMBERS, seed=29))
    folder = tmp_path_factory.mktemp("faults-data")
    write_dataset(generated, folder)
    rows: dict[TableName, int] = {
        "members": len(generated.members),
        "sessions": len(generated.sessions),
        "referrals": len(generated.referrals),
        "redemptions": len(generated.redemptions),
    }
    assert rows["sessions"] > 5 * BATCH_ROWS  # many batches, two writers
    return Dataset(folder, rows)


def _open(server: ServerInfo, uri: str | None = None, *, retry_seconds: float = 30.0) -> Neo4jStore:
    return Neo4jStore(
        uri or server.uri,
        user=server.user,
        password=server.password,
        database=server.database,
        retry_seconds=retry_seconds,
    )


def _empty(server: ServerInfo) -> None:
    with _open(server) as store:
        store.clear()


def _assert_exact(store: Neo4jStore, dataset: Dataset) -> None:
    """Every row stored once: counts equal the dataset's, no session id twice."""
    assert store.counts() == dataset.rows
    [distinct] = store.query("MATCH ()-[s:HELPED]->() RETURN count(DISTINCT s.session_id) AS n")
    assert distinct["n"] == dataset.rows["sessions"]


def _assert_report_complete(report: IngestReport, dataset: Dataset) -> None:
    assert report.all_accepted, report.rejects.head()
    for table, rows in dataset.rows.items():
        done = report.tables[table]
        assert (done.read, done.inserted + done.unchanged, done.rejected) == (rows, rows, 0), table


# --- a crash --------------------------------------------------------------------------------------


def test_sigkill_mid_ingest_fails_and_a_rerun_completes_exactly(
    fault_home: Path, server: ServerInfo, dataset: Dataset
) -> None:
    _empty(server)
    total = dataset.rows["sessions"]
    killed_after: list[int] = []
    failures: list[BaseException] = []

    def progress(table: str, done: int, of: int) -> None:
        # Called by the ingest thread once a batch has committed; the other writer's batch (and
        # the next ones) are still to come when the server dies.
        if table == "sessions" and not killed_after and done >= 0.3 * of:
            killed_after.append(done)
            neo4j_server.kill(fault_home)

    # A short retry budget only shortens the waiting: the store retries, gives up and raises.
    with _open(server, retry_seconds=CRASH_RETRY_SECONDS) as store:

        def run() -> None:
            try:
                ingest(dataset.folder, store, now=NOW, progress=progress)
            except BaseException as error:  # handed to the test's thread
                failures.append(error)

        ingester = threading.Thread(target=run, name="ingest-under-sigkill")
        started = time.monotonic()
        ingester.start()
        ingester.join(timeout=120)
        assert not ingester.is_alive(), "the ingest hung after the server died"
        failed_after = time.monotonic() - started

    assert len(killed_after) == 1
    assert 0.3 <= killed_after[0] / total <= 0.5
    assert not neo4j_server.status(fault_home).running
    assert len(failures) == 1, "the ingest reported success although the server was killed"
    [error] = failures
    # The library's own error, naming the server (not the password) and the driver's reason.
    assert isinstance(error, StoreError), repr(error)
    assert isinstance(error.__cause__, ServiceUnavailable)
    assert server.uri in str(error)
    assert server.password not in str(error)
    assert failed_after < 60

    # Same home, same data directory: the server recovers what had committed.
    recovered = neo4j_server.start(fault_home)
    assert recovered.pid != server.pid
    with _open(recovered) as store:
        partial = store.counts()
        assert partial["members"] == dataset.rows["members"]
        # Every batch reported done had committed, and a crash must not lose it.
        assert killed_after[0] <= partial["sessions"] < total
        assert partial["referrals"] == partial["redemptions"] == 0

        report = ingest(dataset.folder, store, now=NOW)

        _assert_report_complete(report, dataset)
        assert report.tables["sessions"].unchanged == partial["sessions"]
        assert report.tables["sessions"].inserted == total - partial["sessions"]
        _assert_exact(store, dataset)


# --- cut connections ------------------------------------------------------------------------------


class _Action(Enum):
    FORWARD = "forward"
    FORWARD_THEN_CUT = "forward, then reset the connection"
    DROP_THEN_CUT = "drop, then reset the connection"


class _Link:
    """One proxied connection: client socket, server socket and what was seen on them."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.tails = {id(client): b"", id(upstream): b""}
        #: Number (1, 2, …) of the sessions write batch whose transaction runs on this link.
        self.batch: int | None = None
        #: That batch sent its COMMIT; the next bytes from the server are the answer.
        self.committing = False


class _BoltProxy:
    """A TCP proxy to a Bolt server that resets one connection on cue, once.

    ``cut_run=n``: when the n-th sessions write batch sends its query, forward what was read
    and reset the connection (the server holds half a message; nothing can commit).
    ``drop_commit_ack=n``: when the server answers the COMMIT of the n-th sessions write batch
    (so the batch *has* committed), drop the answer and reset the connection.
    """

    def __init__(
        self, upstream_port: int, *, cut_run: int | None = None, drop_commit_ack: int | None = None
    ) -> None:
        self._upstream_port = upstream_port
        self._cut_run = cut_run
        self._drop_commit_ack = drop_commit_ack
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.write_runs = 0
        self.cuts = 0
        self.dropped_acks = 0
        self._acceptor = threading.Thread(target=self._accept, name="bolt-proxy", daemon=True)
        self._acceptor.start()

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def __enter__(self) -> _BoltProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            except OSError:
                client.close()  # the server is down: so is the proxied connection
                continue
            link = _Link(client, upstream)
            pump = threading.Thread(target=self._pump, args=(link,), name="bolt-proxy-link")
            self._threads.append(pump)
            pump.start()

    def _pump(self, link: _Link) -> None:
        ends = {id(link.client): link.upstream, id(link.upstream): link.client}
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select([link.client, link.upstream], [], [], 0.1)
                for source in readable:
                    data = source.recv(1 << 16)
                    if not data:
                        return  # one side closed: close the other
                    action = self._inspect(link, source, data)
                    if action is not _Action.DROP_THEN_CUT:
                        ends[id(source)].sendall(data)
                    if action is not _Action.FORWARD:
                        self._reset(link)
                        return
        except OSError:
            pass  # a side reset the connection: close the other
        finally:
            link.client.close()
            link.upstream.close()

    def _inspect(self, link: _Link, source: socket.socket, data: bytes) -> _Action:
        with self._lock:
            if source is link.upstream:
                if link.committing:
                    link.committing = False
                    if link.batch == self._drop_commit_ack and not self.cuts:
                        self.dropped_acks += 1
                        self._record_cut()
                        return _Action.DROP_THEN_CUT
                    link.batch = None
                return _Action.FORWARD
            # The marker may straddle two reads: look at the end of the previous one too.
            seen = link.tails[id(source)] + data
            link.tails[id(source)] = data[-len(SESSIONS_WRITE) :]
            if SESSIONS_WRITE in seen:
                self.write_runs += 1
                link.batch = self.write_runs
                if link.batch == self._cut_run and not self.cuts:
                    self._record_cut()
                    return _Action.FORWARD_THEN_CUT
            elif data == COMMIT and link.batch is not None:
                link.committing = True
            return _Action.FORWARD

    def _record_cut(self) -> None:
        self.cuts += 1

    @staticmethod
    def _reset(link: _Link) -> None:
        """Close both sides with a TCP reset (SO_LINGER 0), as a dropped network would."""
        for end in (link.client, link.upstream):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            end.close()


def _port(server: ServerInfo) -> int:
    return int(server.uri.rsplit(":", 1)[1])


def _batches(dataset: Dataset) -> int:
    return math.ceil(dataset.rows["sessions"] / BATCH_ROWS)


def test_connection_reset_mid_batch_is_retried_and_ingest_completes(
    server: ServerInfo, dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    _empty(server)
    with (
        _BoltProxy(_port(server), cut_run=3) as proxy,
        _open(server, proxy.uri) as store,
        caplog.at_level(logging.WARNING, logger="neo4j"),
    ):
        report = ingest(dataset.folder, store, now=NOW)
        assert proxy.cuts == 1
        # The driver dropped the dead connection and sent the cut batch a second time, on a
        # new connection or on an idle one from its pool.
        assert proxy.write_runs == _batches(dataset) + 1
        retried = [
            record
            for record in caplog.records
            if record.name.startswith("neo4j")
            and record.getMessage().startswith("Transaction failed and will be retried")
        ]
        assert len(retried) >= 1
        _assert_report_complete(report, dataset)
        assert report.tables["sessions"].inserted == dataset.rows["sessions"]
        _assert_exact(store, dataset)


def test_commit_acknowledgement_lost_is_completed_from_stored_rows(
    server: ServerInfo, dataset: Dataset
) -> None:
    _empty(server)
    # The last batch: when ingest returns or raises, every earlier batch has committed too, so
    # the sessions count tells whether this one did.
    last = _batches(dataset)
    with (
        _BoltProxy(_port(server), drop_commit_ack=last) as proxy,
        _open(server, proxy.uri) as store,
    ):
        failure: StoreError | None = None
        try:
            report = ingest(dataset.folder, store, now=NOW)
        except StoreError as error:
            failure = error
        if failure is not None:
            # The fault happened where intended: the batch committed, its answer was lost.
            assert isinstance(failure.__cause__, IncompleteCommit), repr(failure)
            assert proxy.dropped_acks == 1
            with _open(server) as direct:
                assert direct.counts()["sessions"] == dataset.rows["sessions"]
            raise failure
        assert proxy.dropped_acks == 1
        _assert_report_complete(report, dataset)
        _assert_exact(store, dataset)
