"""What the API serves from: the current analysis, the ring review queue and background jobs.

One :class:`ApiService` per running app. Reads come from an :class:`~graph.views.AnalyticsView`
held in memory and swapped whole when a recompute finishes, so a recompute never blocks or
tears a read. Writes (ingest, recompute, reviews) go to the store; ingests and recomputes run
one at a time on a worker thread with their own store connection, so they never share a
connection with request handlers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from graph.analyze import analyze_store
from graph.errors import DatasetError, RingNotFoundError, TimebankError
from graph.ingest import IngestReport, ingest
from graph.metrics.growth import Ledger
from graph.metrics.tiers import Policy
from graph.model import Ring, RingReview, RingStatus
from graph.store import GraphStore, open_store
from graph.views import AnalyticsView

__all__ = ["ApiService", "Job", "RingQueue"]

log = logging.getLogger("graph.api")

JobKind = Literal["ingest", "recompute"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]
#: Finished jobs kept for the status route; older ones are forgotten first.
KEPT_JOBS = 200


class NotReadyError(TimebankError):
    """The first analysis has not finished yet (or failed): nothing to serve."""


@dataclass
class Job:
    """A background task and what became of it."""

    job_id: str
    kind: JobKind
    created_at: datetime
    status: JobStatus = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RingQueue:
    """The stored rings as read at one moment, indexed by id and by member."""

    rings: tuple[Ring, ...]
    read_at: float
    by_id: Mapping[str, Ring]
    by_member: Mapping[str, tuple[Ring, ...]]

    @classmethod
    def of(cls, rings: list[Ring]) -> RingQueue:
        by_member: dict[str, list[Ring]] = {}
        for ring in rings:
            for member in ring.members:
                by_member.setdefault(member, []).append(ring)
        return cls(
            tuple(rings),
            time.monotonic(),
            {ring.ring_id: ring for ring in rings},
            {member: tuple(found) for member, found in by_member.items()},
        )


class ApiService:
    """The store, the analysis served and the jobs of one running API.

    Parameters
    ----------
    location
        The store (as ``--store`` takes it). Request handlers share one connection (guarded
        by a lock); each job opens its own.
    policy, ledger
        How analyses are run (see :func:`graph.analyze.run_analytics`).
    ring_cache_seconds
        How long a read of the ring queue is served before the store is read again.
    """

    def __init__(
        self,
        location: str,
        *,
        policy: Policy,
        ledger: Ledger = "minting",
        ring_cache_seconds: float = 10.0,
        open_store: Callable[[str], GraphStore] = open_store,
    ) -> None:
        self.location = location
        self.policy = policy
        self.ledger = ledger
        self.ring_cache_seconds = ring_cache_seconds
        self._open = open_store
        self.store = open_store(location)
        self.backend = type(self.store).__name__.removesuffix("Store").lower()
        self._store_lock = threading.Lock()
        self._view: AnalyticsView | None = None
        self._queue: RingQueue | None = None
        self._queue_refresh: asyncio.Task[RingQueue] | None = None
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._jobs_lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timebank-job")
        self._pending_recompute: Job | None = None
        self.last_error: str | None = None

    def close(self) -> None:
        """Wait for running jobs, then close the store."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    # The analysis ------------------------------------------------------------------------

    @property
    def view(self) -> AnalyticsView:
        """The analysis being served.

        Raises
        ------
        NotReadyError
            Before the first analysis finished.
        """
        if self._view is None:
            raise NotReadyError(
                "the first analysis of the store is still running"
                if self.last_error is None
                else f"the analysis failed: {self.last_error}"
            )
        return self._view

    @property
    def ready(self) -> bool:
        return self._view is not None

    def recompute(self) -> Job:
        """Queue a recompute of every analytic (coalesced: while one waits to start, asking
        again returns that one). Returns the job."""
        with self._jobs_lock:
            if self._pending_recompute is not None:
                return self._pending_recompute
            job = self._new_job("recompute")
            self._pending_recompute = job
        self._worker.submit(self._run, job, self._recompute)
        return job

    def _recompute(self, job: Job) -> dict[str, Any]:
        with self._jobs_lock:
            if self._pending_recompute is job:
                self._pending_recompute = None
        with self._open(self.location) as store:
            done = analyze_store(store, policy=self.policy, ledger=self.ledger)
            rings = store.rings()
        view = AnalyticsView.of(
            done.snapshot, done.analysis, policy=self.policy, ledger=self.ledger
        )
        self._view = view
        self._queue = RingQueue.of(rings)
        self.last_error = None
        # The analysis lives until the next one: keep the collector from walking its (and the
        # libraries') long-lived objects on every full collection, which under load stalled
        # requests 50-100 ms at a time (bench/bench_api.py).
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return {
            "members": done.snapshot.n_members,
            "flagged_rings": len(done.analysis.rings),
            "seconds": {step: round(value, 3) for step, value in done.seconds.items()},
        }

    # Jobs ----------------------------------------------------------------------------------

    def _new_job(self, kind: JobKind) -> Job:
        job = Job(job_id=uuid.uuid4().hex, kind=kind, created_at=datetime.now(UTC))
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEPT_JOBS:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].status in ("queued", "running"):
                break
            del self._jobs[oldest]
        return job

    def job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        job.status, job.started_at = "running", datetime.now(UTC)
        try:
            job.result = work(job)
        except TimebankError as error:
            job.status, job.error = "failed", str(error)
        except Exception:
            # The trace goes to the server log only; callers learn that it failed, not how.
            log.exception("job %s (%s) failed", job.job_id, job.kind)
            job.status, job.error = "failed", "internal error; see the server log"
        else:
            job.status = "succeeded"
        job.finished_at = datetime.now(UTC)
        if job.kind == "recompute" and job.status == "failed":
            self.last_error = job.error

    async def ingest(
        self, files: Mapping[str, bytes], *, encoding: str = "utf-8"
    ) -> tuple[IngestReport, Job]:
        """Ingest uploaded dataset files (name → content, in ``encoding``) on the worker, then
        queue a recompute; returns the ingest report and the recompute job.

        Raises
        ------
        graph.errors.DatasetError
            When the upload cannot be read at all (nothing is written then).
        """
        with self._jobs_lock:
            job = self._new_job("ingest")
        outcome: Future[IngestReport] = Future()

        def work(job: Job) -> dict[str, Any]:
            try:
                report = self._ingest_files(files, encoding=encoding)
            except BaseException as error:
                outcome.set_exception(error)
                raise
            outcome.set_result(report)
            return report.to_dict()

        self._worker.submit(self._run, job, work)
        report = await asyncio.wrap_future(outcome)
        return report, self.recompute()

    def _ingest_files(self, files: Mapping[str, bytes], *, encoding: str) -> IngestReport:
        with tempfile.TemporaryDirectory(prefix="timebank-upload-") as folder:
            for name, content in files.items():
                (Path(folder) / name).write_bytes(content)
            try:
                with self._open(self.location) as store:
                    report = ingest(Path(folder), store, encoding=encoding)
            except DatasetError as error:
                # Name the upload, not the server's temporary folder.
                named = (
                    error.path.name if error.path and error.path.parent == Path(folder) else None
                )
                raise DatasetError(error.reason, path=named, line=error.line) from None
        # Rejects name the temporary file; the caller knows it by its upload name.
        report.rejects["file"] = report.rejects["file"].map(lambda path: Path(str(path)).name)
        return report

    # The ring queue ------------------------------------------------------------------------

    async def ring_queue(self) -> RingQueue:
        """The stored rings, read at most ``ring_cache_seconds`` ago.

        A stale queue is served while one refresh reads the store off the event loop, so a
        slow store read never stalls other requests.
        """
        queue = self._queue
        if queue is not None and time.monotonic() - queue.read_at <= self.ring_cache_seconds:
            return queue
        if self._queue_refresh is None or self._queue_refresh.done():
            self._queue_refresh = asyncio.create_task(self._refresh_queue())
        if queue is None:
            return await asyncio.shield(self._queue_refresh)
        return queue

    async def _refresh_queue(self) -> RingQueue:
        rings = await asyncio.to_thread(self._stored, lambda store: store.rings())
        self._queue = RingQueue.of(rings)
        return self._queue

    def _stored(self, read: Callable[[GraphStore], Any]) -> Any:
        with self._store_lock:
            return read(self.store)

    def ring_reviews(self, ring_id: str) -> list[RingReview]:
        """A ring's audit trail, oldest first (read from the store).

        Raises
        ------
        RingNotFoundError
            For an unknown ring.
        """
        reviews: list[RingReview] = self._stored(lambda store: store.ring_reviews(ring_id))
        return reviews

    def review_ring(
        self, ring_id: str, status: RingStatus, *, reviewer: str, note: str
    ) -> tuple[Ring, RingReview, Job]:
        """Record a decision on a ring and queue a recompute (confirmed rings discredit their
        members' vouches and fail the tier rule). Returns the ring as now stored, the audit
        entry and the recompute job.

        Raises
        ------
        RingNotFoundError, graph.errors.ReviewError
            See :meth:`graph.store.base.GraphStore.review_ring`.
        """

        def review(store: GraphStore) -> tuple[Ring | None, RingReview, list[Ring]]:
            entry = store.review_ring(ring_id, status, reviewer=reviewer, note=note)
            return store.ring(ring_id), entry, store.rings()

        ring, entry, rings = self._stored(review)
        if ring is None:
            raise RingNotFoundError(ring_id, location=self.location)
        self._queue = RingQueue.of(rings)
        return ring, entry, self.recompute()

    def store_reachable(self) -> bool:
        """Whether the store answers a query now."""
        try:
            self._stored(lambda store: store.counts())
        except Exception:
            log.warning("store health check failed", exc_info=True)
            return False
        return True
