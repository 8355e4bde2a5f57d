"""Ingest, background jobs and the analysis being served."""

from __future__ import annotations

import codecs
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile

from graph.api.deps import Admin, ServiceDep, ViewDep, Viewer
from graph.api.problems import ProblemError, invalid
from graph.api.schemas import AnalysisInfo, IngestResult, JobPublic
from graph.api.service import Job
from graph.ingest import DATASET_FILES
from graph.views import records

router = APIRouter(tags=["admin"])

#: Rejected rows returned in an ingest's answer; the counts cover them all.
SHOWN_REJECTS = 1000


def job_public(job: Job) -> JobPublic:
    """A job's public view: every field of :class:`~graph.api.service.Job`."""
    return JobPublic.model_validate(vars(job))


@router.post("/v1/ingest", summary="Ingest a dataset", response_model=IngestResult)
async def ingest_upload(
    service: ServiceDep,
    _: Admin,
    files: Annotated[
        list[UploadFile],
        File(
            description="Dataset files named as in a dataset folder: members.csv, sessions.csv, …"
        ),
    ],
    encoding: Annotated[
        str,
        Form(min_length=1, max_length=40, description="The files' encoding, e.g. gbk."),
    ] = "utf-8",
) -> IngestResult:
    """Validate the uploaded files and add their good rows to the store (idempotent), then
    recompute the analytics in the background: reads go on serving the previous analysis
    until the new one is ready. Returns per-table counts, the rejected rows (file, line,
    column, value, reason) and the recompute job."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise invalid("body.encoding", f"unknown encoding {encoding!r}") from None
    contents: dict[str, bytes] = {}
    for upload in files:
        name = upload.filename or ""
        problem: str | None = None
        if name not in DATASET_FILES:
            problem = f"file {name!r}: not a dataset file ({', '.join(sorted(DATASET_FILES))})"
        elif name in contents:
            problem = f"file {name!r} uploaded twice"
        if problem is not None:
            raise invalid("body.files", problem)
        # The body's size was bounded before parsing (graph.api.limits).
        contents[name] = await upload.read()
    report, job = await service.ingest(contents, encoding=encoding)
    summary = report.to_dict()
    return IngestResult.model_validate(
        {
            "tables": summary["tables"],
            "ignored_files": summary["ignored_files"],
            "rejected_rows": summary["rejected_rows"],
            "rejects": records(report.rejects.head(SHOWN_REJECTS)),
            "rejects_truncated": len(report.rejects) > SHOWN_REJECTS,
            "recompute": job_public(job),
        }
    )


@router.post(
    "/v1/analysis/recompute",
    summary="Recompute the analytics",
    response_model=JobPublic,
    status_code=202,
)
async def recompute(service: ServiceDep, _: Admin) -> JobPublic:
    """Queue a recompute of every analytic from the store (coalesced with one already
    waiting)."""
    return job_public(service.recompute())


@router.get("/v1/jobs/{job_id}", summary="A background job's status", response_model=JobPublic)
async def job_status(
    service: ServiceDep,
    _: Admin,
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> JobPublic:
    """Queued, running, succeeded (with its result) or failed (with the reason)."""
    job = service.job(job_id)
    if job is None:
        raise ProblemError("not-found", f"no job {job_id!r}")
    return job_public(job)


@router.get("/v1/analysis", summary="The analysis being served", response_model=AnalysisInfo)
async def analysis(view: ViewDep, _: Viewer) -> AnalysisInfo:
    """When it was computed, on how many members and sessions, under which policy and
    ledger, and the seconds each step took."""
    return AnalysisInfo(
        computed_at=view.computed_at,
        members=view.snapshot.n_members,
        sessions=len(view.snapshot.sessions),
        policy=view.policy.name,
        ledger=view.ledger,
        seconds={step: round(value, 3) for step, value in view.analysis.seconds.items()},
    )
