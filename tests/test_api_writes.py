"""The HTTP API's writes: ring review decisions, dataset uploads and background recomputes,
on the embedded store and on Neo4j."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from graph.config import ApiSettings
from graph.ingest import ingest
from graph.rings import MAX_NOTE_CHARS
from graph.store import GraphStore
from tests.conftest import GOOD, ingest_generated
from tests.test_api import (
    BACKENDS,
    Gate,
    Served,
    assert_clean,
    assert_problem,
    backend_connection,
    parse_time,
    serving,
    wait_for_job,
    wait_until,
)

#: Key names differ from role names, so an audit entry shows which of them was recorded.
PEOPLE = (("view.bob", "viewer"), ("rev.alice", "reviewer"), ("ops.admin", "admin"))


def computed_at(served: Served) -> pd.Timestamp:
    moment = parse_time(served.get("/v1/analysis")["computed_at"])
    assert moment is not None
    return moment


def wait_for_recompute(served: Served, after: pd.Timestamp) -> None:
    """Until an analysis computed after ``after`` is served."""
    wait_until(lambda: computed_at(served) > after, what="a recompute after the decision")


# Reviews -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def reviewed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A network with flagged rings, served with the keys of :data:`PEOPLE`."""
    with serving(
        request.param,
        tmp_path_factory.mktemp("api-review"),
        backend_connection(request),
        lambda store: ingest_generated(store, members=2500, seed=11),
        roles=PEOPLE,
    ) as app:
        yield app


def ring_ids(served: Served) -> list[str]:
    with served.open() as store:
        rings = store.rings()
    assert len(rings) >= 4
    return sorted(ring.ring_id for ring in rings)


def trail(served: Served, ring_id: str) -> list[Any]:
    with served.open() as store:
        return store.ring_reviews(ring_id)


def in_held_ring(served: Served, member_id: str) -> bool:
    """Whether the store holds an open or confirmed ring with this member."""
    with served.open() as store:
        return any(
            member_id in ring.members for ring in store.rings() if ring.status != "dismissed"
        )


def test_review_records_the_key_name_and_a_recompute_follows(reviewed: Served) -> None:
    ring_id = ring_ids(reviewed)[0]
    before = computed_at(reviewed)
    earlier = len(trail(reviewed, ring_id))
    answer = reviewed.client.post(
        f"/v1/rings/{ring_id}/review",
        json={"status": "confirmed", "note": "the same four phones 确认"},
        headers=reviewed.as_("rev.alice"),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["ring"]["ring_id"] == ring_id
    assert body["ring"]["status"] == "confirmed"
    assert body["review"]["reviewer"] == "rev.alice"
    assert body["review"]["status"] == "confirmed"
    assert body["review"]["note"] == "the same four phones 确认"
    stamped = parse_time(body["review"]["reviewed_at"])
    assert stamped is not None
    assert abs(stamped - pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))) < timedelta(
        minutes=1
    )
    # The store's audit trail, read over a connection of our own.
    stored = trail(reviewed, ring_id)
    assert len(stored) == earlier + 1
    assert (stored[-1].reviewer, stored[-1].status, stored[-1].note) == (
        "rev.alice",
        "confirmed",
        "the same four phones 确认",
    )
    # The queue and the ring's page show the decision at once.
    confirmed = reviewed.get("/v1/rings", status="confirmed")
    assert ring_id in [item["ring_id"] for item in confirmed["items"]]
    detail = reviewed.get(f"/v1/rings/{ring_id}")
    assert detail["status"] == "confirmed"
    assert detail["reviews"][-1]["reviewer"] == "rev.alice"
    assert detail["reviews"][-1]["note"] == "the same four phones 确认"
    assert len(detail["reviews"]) == len(stored)
    # A recompute follows, and the decision survives it.
    wait_for_recompute(reviewed, before)
    assert reviewed.get(f"/v1/rings/{ring_id}")["status"] == "confirmed"
    member = detail["member_ids"][0]
    profile = reviewed.get(f"/v1/members/{member}")
    assert profile["tier"]["measures"]["no_open_fraud_ring"] is False
    assert ring_id in [ring["ring_id"] for ring in profile["rings"]]


def test_dismissing_a_ring_lets_its_members_pass_the_ring_rule(reviewed: Served) -> None:
    ring_id = ring_ids(reviewed)[1]
    members = reviewed.get(f"/v1/rings/{ring_id}")["member_ids"]
    assert all(
        reviewed.get(f"/v1/members/{m}")["tier"]["measures"]["no_open_fraud_ring"] is False
        for m in members
    )
    before = computed_at(reviewed)
    answer = reviewed.client.post(
        f"/v1/rings/{ring_id}/review",
        json={"status": "dismissed", "note": "neighbours who help each other"},
        headers=reviewed.as_("ops.admin"),  # admins may review too
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["review"]["reviewer"] == "ops.admin"
    wait_for_recompute(reviewed, before)
    for member in members:
        measures = reviewed.get(f"/v1/members/{member}")["tier"]["measures"]
        assert measures["no_open_fraud_ring"] is not in_held_ring(reviewed, member), member
    assert any(not in_held_ring(reviewed, member) for member in members)
    # Reopening it is recorded too: the trail keeps every decision in order.
    reopened = reviewed.client.post(
        f"/v1/rings/{ring_id}/review",
        json={"status": "open", "note": "new evidence"},
        headers=reviewed.as_("rev.alice"),
    )
    assert reopened.status_code == 201, reopened.text
    entries = reviewed.get(f"/v1/rings/{ring_id}")["reviews"]
    assert [(e["status"], e["reviewer"]) for e in entries[-2:]] == [
        ("dismissed", "ops.admin"),
        ("open", "rev.alice"),
    ]


def test_review_refusals_change_nothing(reviewed: Served) -> None:
    ring_id = ring_ids(reviewed)[2]
    path = f"/v1/rings/{ring_id}/review"
    alice = reviewed.as_("rev.alice")
    earlier = trail(reviewed, ring_id)
    status = reviewed.get(f"/v1/rings/{ring_id}")["status"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": "approved", "note": "x"}, "body.status"),
        ({"status": "confirmed", "note": "x" * (MAX_NOTE_CHARS + 1)}, "body.note"),
        ({"status": "confirmed", "note": ""}, "body.note"),
        ({"status": "confirmed"}, "body.note"),
        ({"note": "why"}, "body.status"),
        ({"status": "confirmed", "note": "x", "reviewer": "someone.else"}, "body.reviewer"),
    ]
    for payload, field in cases:
        answer = reviewed.client.post(path, json=payload, headers=alice)
        assert_problem(answer, 422, "validation", fields=(field,))
    viewer = reviewed.client.post(
        path, json={"status": "confirmed", "note": "x"}, headers=reviewed.as_("view.bob")
    )
    assert_problem(viewer, 403, "forbidden")
    unknown = reviewed.client.post(
        "/v1/rings/loop-ffffffffffff/review",
        json={"status": "confirmed", "note": "x"},
        headers=alice,
    )
    assert "loop-ffffffffffff" in assert_problem(unknown, 404, "not-found")["detail"]
    assert trail(reviewed, ring_id) == earlier
    assert reviewed.get(f"/v1/rings/{ring_id}")["status"] == status


def test_a_blank_note_is_a_validation_problem_naming_the_note(reviewed: Served) -> None:
    """Validation problems list the fields they are about (graph/api/problems.py)."""
    ring_id = ring_ids(reviewed)[2]
    earlier = trail(reviewed, ring_id)
    answer = reviewed.client.post(
        f"/v1/rings/{ring_id}/review",
        json={"status": "confirmed", "note": "   "},
        headers=reviewed.as_("rev.alice"),
    )
    assert trail(reviewed, ring_id) == earlier
    assert_problem(answer, 422, "validation", fields=("body.note",))


def test_a_note_of_the_longest_length_is_kept(reviewed: Served) -> None:
    ring_id = ring_ids(reviewed)[3]
    note = "长" * MAX_NOTE_CHARS
    answer = reviewed.client.post(
        f"/v1/rings/{ring_id}/review",
        json={"status": "open", "note": note},
        headers=reviewed.as_("rev.alice"),
    )
    assert answer.status_code == 201, answer.text
    assert trail(reviewed, ring_id)[-1].note == note


# Ingest --------------------------------------------------------------------------------------


def good_dataset(tmp_path: Path) -> Callable[[GraphStore], None]:
    """Fills a store with the GOOD dataset, read from files like an upload would be."""
    folder = tmp_path / "good"
    folder.mkdir()
    for name, text in GOOD.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")

    def populate(store: GraphStore) -> None:
        assert ingest(folder, store).all_accepted

    return populate


@contextmanager
def serving_good(tmp_path: Path, settings: ApiSettings) -> Iterator[Served]:
    """An app over an embedded store holding GOOD, with ``settings``."""
    with serving("sqlite", tmp_path, None, good_dataset(tmp_path), settings=settings) as app:
        yield app


@pytest.fixture(params=BACKENDS)
def small(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The GOOD dataset (four members), served with a gate on the service's jobs."""
    with serving(
        request.param,
        tmp_path,
        backend_connection(request),
        good_dataset(tmp_path),
        gate=Gate(),
    ) as app:
        yield app


MEMBERS_HEADER = GOOD["members"].splitlines()[0]
SESSIONS_HEADER = GOOD["sessions"].splitlines()[0]
NEW_MEMBERS = (
    f"{MEMBERS_HEADER}\nm5,2025-03-01,c01,2025-03-01,赵敏,p5,d5\nm6,2025-03-02,c02,,钱多,p6,d6\n"
)
#: One good session and one whose hours cannot be read (line 3, column hours).
NEW_SESSIONS = (
    f"{SESSIONS_HEADER}\ns5,m5,m1,2025-03-05T10:00:00,2.5,gardening,9,confirmed\n"
    "s6,m6,m2,2025-03-06T10:00:00,lots,repair,8,confirmed\n"
)


def upload(served: Served, files: dict[str, str | bytes], *, role: str = "admin") -> Any:
    parts = [
        ("files", (name, text.encode("utf-8") if isinstance(text, str) else text, "text/csv"))
        for name, text in files.items()
    ]
    return served.client.post("/v1/ingest", files=parts, headers=served.as_(role))


def counts(served: Served) -> dict[str, int]:
    with served.open() as store:
        return store.counts()


def test_ingest_keeps_good_rows_reports_rejects_and_recomputes(small: Served) -> None:
    assert small.get("/v1/members")["total"] == 4
    answer = upload(small, {"members.csv": NEW_MEMBERS, "sessions.csv": NEW_SESSIONS})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tables"]["members"] == {
        "read": 2,
        "inserted": 2,
        "unchanged": 0,
        "duplicates": 0,
        "rejected": 0,
    }
    assert body["tables"]["sessions"] == {
        "read": 2,
        "inserted": 1,
        "unchanged": 0,
        "duplicates": 0,
        "rejected": 1,
    }
    assert body["rejected_rows"] == 1
    assert body["rejects_truncated"] is False
    [reject] = body["rejects"]
    assert (reject["file"], reject["line"], reject["column"], reject["value"]) == (
        "sessions.csv",
        3,
        "hours",
        "lots",
    )
    assert reject["reason"]
    assert_clean(answer)
    assert counts(small)["members"] == 6
    assert counts(small)["sessions"] == 5
    job = body["recompute"]
    assert job["kind"] == "recompute"
    assert job["status"] in ("queued", "running", "succeeded")
    done = wait_for_job(small.client, job["job_id"], small.as_("admin"))
    assert done["status"] == "succeeded", done
    assert done["result"]["members"] == 6
    assert parse_time(done["finished_at"]) >= parse_time(done["started_at"])
    page = small.get("/v1/members")
    assert page["total"] == 6
    assert {"m5", "m6"} <= {item["member_id"] for item in page["items"]}
    m5 = small.get("/v1/members/m5")
    assert m5["account"]["credits_earned"] == 2.5
    assert m5["display_name"] == "赵敏"
    assert small.get("/v1/analysis")["sessions"] == 5
    # The job route is the admin's.
    viewer = small.client.get(f"/v1/jobs/{job['job_id']}", headers=small.as_("viewer"))
    assert_problem(viewer, 403, "forbidden")


def test_ingest_is_idempotent(small: Served) -> None:
    first = upload(small, {"members.csv": NEW_MEMBERS, "sessions.csv": NEW_SESSIONS})
    assert first.status_code == 200, first.text
    wait_for_job(small.client, first.json()["recompute"]["job_id"], small.as_("admin"))
    stored = counts(small)
    again = upload(small, {"members.csv": NEW_MEMBERS, "sessions.csv": NEW_SESSIONS})
    assert again.status_code == 200, again.text
    tables = again.json()["tables"]
    assert tables["members"]["inserted"] == tables["sessions"]["inserted"] == 0
    assert tables["members"]["unchanged"] == 2
    assert tables["sessions"]["unchanged"] == 1
    assert again.json()["rejected_rows"] == 1
    whole = upload(small, {f"{name}.csv": text for name, text in GOOD.items()})
    assert whole.status_code == 200, whole.text
    for name, table in whole.json()["tables"].items():
        assert table["inserted"] == 0, name
        assert table["unchanged"] == table["read"] > 0, name
    assert counts(small) == stored
    job = wait_for_job(small.client, whole.json()["recompute"]["job_id"], small.as_("admin"))
    assert job["status"] == "succeeded"
    assert small.get("/v1/members")["total"] == 6


def test_ingest_refuses_files_outside_the_dataset(small: Served) -> None:
    stored = counts(small)
    for files in (
        {"payments.csv": "a,b\n1,2\n"},
        {"../members.csv": NEW_MEMBERS},
        {"members.csv": NEW_MEMBERS, "notes.txt": "hello"},
    ):
        answer = upload(small, files)
        body = assert_problem(answer, 422, "validation")
        assert any(name in body["detail"] for name in files if name != "members.csv")
    twice = small.client.post(
        "/v1/ingest",
        files=[
            ("files", ("members.csv", NEW_MEMBERS.encode(), "text/csv")),
            ("files", ("members.csv", NEW_MEMBERS.encode(), "text/csv")),
        ],
        headers=small.as_("admin"),
    )
    assert_problem(twice, 422, "validation")
    assert_problem(upload(small, {"members.csv": NEW_MEMBERS}, role="reviewer"), 403, "forbidden")
    assert counts(small) == stored


def test_ingest_problems_about_files_name_the_field(small: Served) -> None:
    """Validation problems list the fields they are about (graph/api/problems.py)."""
    answer = upload(small, {"payments.csv": "a,b\n1,2\n"})
    assert_problem(answer, 422, "validation", fields=("body.files",))


def test_unreadable_upload_is_an_invalid_dataset_problem(small: Served) -> None:
    stored = counts(small)
    no_joined = "member_id,community_id\nm9,c01\n"
    answer = upload(small, {"members.csv": no_joined})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["type"] == "urn:timebank:problem:invalid-dataset"
    assert "members.csv" in body["detail"]
    assert "joined_at" in body["detail"]
    assert counts(small) == stored
    # Where the server spooled the upload is none of the caller's business.
    assert_clean(answer)


def test_an_upload_in_another_encoding_is_an_invalid_dataset(small: Served) -> None:
    stored = counts(small)
    answer = upload(small, {"members.csv": NEW_MEMBERS.encode("gbk")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "urn:timebank:problem:invalid-dataset"
    assert counts(small) == stored


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[Served]:
    """An app over the embedded store that takes uploads of 1 MB at most."""
    with serving_good(tmp_path, ApiSettings(max_upload_mb=1, rate_limit=0)) as app:
        yield app


def test_an_upload_over_the_limit_is_413(tight: Served) -> None:
    stored = counts(tight)
    row = "s{},m1,m2,2025-02-01T09:30:00,1.5,eldercare,9,confirmed\n"
    big = SESSIONS_HEADER + "\n" + "".join(row.format(i) for i in range(20_000))
    assert 1024 * 1024 < len(big.encode()) < 2 * 1024 * 1024
    body = assert_problem(upload(tight, {"sessions.csv": big}), 413, "payload-too-large")
    assert "1 MB" in body["detail"]
    # Two files, each under the limit, over it together.
    half = SESSIONS_HEADER + "\n" + "".join(row.format(i) for i in range(12_000))
    other = MEMBERS_HEADER + "\n" + "".join(f"n{i},2025-03-01,c01,,x,,\n" for i in range(25_000))
    assert len(half.encode()) < 1024 * 1024
    assert len(other.encode()) < 1024 * 1024
    pair = upload(tight, {"sessions.csv": half, "members.csv": other})
    assert_problem(pair, 413, "payload-too-large")
    assert counts(tight) == stored
    assert upload(tight, {"members.csv": NEW_MEMBERS}).status_code == 200


# Reads during background work ----------------------------------------------------------------


def reads_answer(served: Served) -> None:
    for path in ("/v1/members", "/v1/members/m1", "/v1/rings", "/v1/tiers", "/v1/growth"):
        started = time.monotonic()
        answer = served.client.get(path, headers=served.as_("viewer"))
        assert answer.status_code == 200, (path, answer.text)
        assert time.monotonic() - started < 5
    assert served.client.get("/health").status_code == 200


def test_reads_go_on_while_a_recompute_runs(small: Served) -> None:
    gate = small.gate
    assert gate is not None
    admin = small.as_("admin")
    before = computed_at(small)
    gate.hold()
    try:
        answer = small.client.post("/v1/analysis/recompute", headers=admin)
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["kind"] == "recompute"

        def running() -> bool:
            status: str = small.client.get(f"/v1/jobs/{job['job_id']}", headers=admin).json()[
                "status"
            ]
            return status == "running"

        wait_until(running, what="the recompute to start")
        for _ in range(3):
            reads_answer(small)
        # Asking again while one waits to start does not pile up work.
        again = small.client.post("/v1/analysis/recompute", headers=admin).json()
        twice = small.client.post("/v1/analysis/recompute", headers=admin).json()
        assert again["job_id"] == twice["job_id"] != job["job_id"]
        assert running()
        assert computed_at(small) == before
    finally:
        gate.release()
    assert wait_for_job(small.client, job["job_id"], admin)["status"] == "succeeded"
    assert wait_for_job(small.client, again["job_id"], admin)["status"] == "succeeded"
    assert computed_at(small) > before


def test_reads_go_on_while_an_upload_is_ingested(small: Served) -> None:
    gate = small.gate
    assert gate is not None
    result: dict[str, Any] = {}

    def post() -> None:
        result["answer"] = upload(small, {"members.csv": NEW_MEMBERS})

    gate.hold()
    worker = threading.Thread(target=post)
    try:
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive()  # the upload waits on the store
        reads_answer(small)
        assert worker.is_alive()
        assert small.get("/v1/members")["total"] == 4
    finally:
        gate.release()
        worker.join(timeout=60)
    answer = result["answer"]
    assert answer.status_code == 200, answer.text
    job = wait_for_job(small.client, answer.json()["recompute"]["job_id"], small.as_("admin"))
    assert job["status"] == "succeeded"
    assert small.get("/v1/members")["total"] == 6


def test_unknown_job_is_a_404_problem(small: Served) -> None:
    answer = small.client.get("/v1/jobs/0123456789abcdef", headers=small.as_("admin"))
    assert "0123456789abcdef" in assert_problem(answer, 404, "not-found")["detail"]
