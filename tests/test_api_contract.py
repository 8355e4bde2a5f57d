"""Property-based contract fuzzing of the HTTP API with schemathesis, on both stores.

The OpenAPI document is loaded from the app itself (``/openapi.json`` over ASGI) and every
operation is fuzzed through schemathesis's phases — the documented examples, the coverage
phase (boundaries and one-violation-at-a-time negative cases) and random fuzzing of valid and
invalid inputs — with every built-in check on: no server error, every status documented, the
content type and the body as documented (problem+json for errors), authentication enforced,
schema-valid input accepted and schema-violating input rejected.

Each store (the embedded SQLite file and the real Neo4j server) serves a generated network big
enough to flag rings. Reads run first with an admin key and again with a viewer key; then the
state-changing operations (ingest, recompute, ring reviews) are fuzzed, and a last test checks the
service still answers after them. Runs are reproducible: a fixed seed, no example database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from graph.api.main import create_app
from graph.api.service import ApiService
from graph.config import ApiKey, ApiSettings, Settings, hash_key
from graph.policy import load_policy
from graph.store import SqliteStore, open_store
from graph.store.neo4j import Neo4jStore
from tests.conftest import ingest_generated

#: One key per role; the apps here admit these and no others.
KEYS = {role: f"contract-{role}-key" for role in ("viewer", "reviewer", "admin")}
#: The generated network each store serves: big enough for flagged rings of every kind.
MEMBERS, NETWORK_SEED = 1500, 11
#: Schemathesis's seed: the same cases on every run, locally and in CI.
SEED = 20_260_601
#: Random cases per operation, on top of the documented examples and the coverage phase.
ADMIN_EXAMPLES, VIEWER_EXAMPLES, KNOWN_EXAMPLES = 40, 10, 25
#: Hypothesis settings of the tests that fuzz around real ids (reproducible, no database).
KNOWN_IDS = settings(
    max_examples=KNOWN_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: The state-changing operations, fuzzed after every read.
WRITES = {"/v1/ingest", "/v1/analysis/recompute", "/v1/rings/{ring_id}/review"}
#: Inputs whose validity JSON Schema cannot state: a policy is TOML in a string, an upload is CSV
#: files whose *names* matter. A schema-valid one may still be refused (422, documented).
OPAQUE_DOCUMENTS = ["/v1/tiers/what-if", "/v1/ingest"]
#: Operations taking dates (MOMENT_PATTERN): a string of the pattern's shape may name no day
#: (2025-02-30), which is refused with a 422 naming the parameter.
DATED = ["/v1/members", "/v1/growth"]


#: How invalid input may be refused: schemathesis's list, with 413 (a body over its size limit
#: is refused before it is read; documented on every operation that takes a body).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
#: How valid input may be answered: schemathesis's list, with 413 (schema limits count characters,
#: the body limit bytes: a what-if policy and current of 65,536 emoji each are valid, and 1.5 MB
#: of escaped JSON).
ACCEPTANCES = ["2xx", "401", "403", "404", "409", "413", "429"]


class Forward:
    """An ASGI app handing HTTP requests to ``target`` and ignoring lifespan events.

    Schemathesis starts an app's lifespan on its first request and ends it after each test
    item; the served app's lifespan belongs to the module's fixture instead, so schemathesis
    talks to this forwarder.
    """

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            assert self.target is not None, "no app is being served"
            await self.target(scope, receive, send)


APP = Forward()


def build_app(service: ApiService) -> Any:
    keys = [ApiKey(name=role, role=role, sha256=hash_key(key)) for role, key in KEYS.items()]  # type: ignore[arg-type]
    return create_app(service, ApiSettings(rate_limit=0), keys=keys)


def config(*, max_examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": "http://testserver",
            "generation": {
                "max-examples": max_examples,
                "database": "none",
                # Explicitly off, so Hypothesis's CI profile (derandomize) does not replace the
                # seed: CI runs the very cases a local run does.
                "deterministic": False,
                # The key goes in explicitly with each call; a generated one would be a 401.
                "with-security-parameters": False,
            },
            "checks": {
                "negative_data_rejection": {"expected-statuses": REFUSALS},
                "positive_data_acceptance": {"expected-statuses": ACCEPTANCES},
            },
            "operations": [
                {
                    "include-path": [*OPAQUE_DOCUMENTS, *DATED],
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTANCES, "422"]}
                    },
                }
            ],
        }
    )


def load_schema(*, max_examples: int) -> Any:
    """The OpenAPI document as the app serves it. It depends on the routes, not on the store,
    so an app over an empty in-memory store answers for all of them."""
    service = ApiService(":memory:", policy=load_policy())
    APP.target = build_app(service)
    try:
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", APP, config=config(max_examples=max_examples)
        )
    finally:
        APP.target = None
        service.close()
    return schema


ADMIN = load_schema(max_examples=ADMIN_EXAMPLES)
VIEWER = load_schema(max_examples=VIEWER_EXAMPLES)


# Filters by exclusion only: the per-operation config above adds an include filter of its own,
# and include filters add up (any one admits an operation).
def is_write(context: Any) -> bool:
    return bool(context.operation.method.upper() == "POST" and context.operation.path in WRITES)


def is_read(context: Any) -> bool:
    return not is_write(context)


#: The checks of a response the test did not generate (no positive/negative expectation).
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def key(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


class Served:
    """One store behind a running app (lifespan entered, first analysis done), with real ids
    to put into requests."""

    def __init__(self, service: ApiService, app: Any, client: TestClient) -> None:
        self.service, self.app, self.client = service, app, client
        wait_until(lambda: service.ready or service.last_error is not None)
        assert service.ready, service.last_error
        view = service.view
        rings = client.get("/v1/rings", params={"limit": 200}, headers=key("viewer")).json()
        self.ring_ids: list[str] = [ring["ring_id"] for ring in rings["items"]]
        assert {ring["kind"] for ring in rings["items"]} >= {"pair", "loop", "sybil_farm"}, rings
        self.ring_member_ids = sorted(
            {
                member
                for ring_id in self.ring_ids
                for member in client.get(f"/v1/rings/{ring_id}", headers=key("viewer")).json()[
                    "member_ids"
                ]
            }
        )
        # Members in rings (risk, rings and evidence filled in) and a spread of the others.
        everyone = view.snapshot.members["member_id"].astype(str).tolist()
        self.member_ids = self.ring_member_ids + everyone[::10]
        self.communities: list[str] = view.communities
        # A finished job for the job route (recomputing changes nothing the store holds).
        job = client.post("/v1/analysis/recompute", headers=key("admin")).json()
        wait_until(lambda: service.job(job["job_id"]).status in ("succeeded", "failed"))
        self.job_ids = [job["job_id"]]


def wait_until(done: Callable[[], bool], *, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The app over each store in turn, reached by schemathesis through :data:`APP`."""
    if request.param == "sqlite":
        location = str(tmp_path_factory.mktemp("contract") / "store.db")
        with SqliteStore(location) as store:
            ingest_generated(store, members=MEMBERS, seed=NETWORK_SEED)
        service = ApiService(location, policy=load_policy())
    else:
        connection: Settings = request.getfixturevalue("neo4j_connection")
        with open_store("neo4j", settings=connection) as store:
            assert isinstance(store, Neo4jStore)
            store.clear()
            ingest_generated(store, members=MEMBERS, seed=NETWORK_SEED)
        service = ApiService(
            "neo4j",
            policy=load_policy(),
            open_store=lambda location: open_store(location, settings=connection),
        )
    app = build_app(service)
    # Entering the client runs the app's lifespan: the first analysis now, the service closed
    # (jobs awaited, store closed) at the end.
    with TestClient(app) as client:
        served = Served(service, app, client)
        APP.target = app
        try:
            yield served
        finally:
            APP.target = None


# Reads -----------------------------------------------------------------------------------


@ADMIN.exclude(is_write).parametrize()
def test_reads_keep_the_contract(case: Any, served: Served) -> None:
    case.call_and_validate(headers=key("admin"))


@VIEWER.exclude(is_write).parametrize()
def test_reads_keep_the_contract_for_viewers(case: Any, served: Served) -> None:
    case.call_and_validate(headers=key("viewer"))


#: Inputs naming things that exist, each with the fixture's list of real values: random ids are
#: nearly always 404s, so here the id is real and every other input is fuzzed.
KNOWN_INPUTS = [
    ("/v1/members/{member_id}", "path", "member_id", "member_ids"),
    ("/v1/rings/{ring_id}", "path", "ring_id", "ring_ids"),
    ("/v1/jobs/{job_id}", "path", "job_id", "job_ids"),
    ("/v1/rings", "query", "member_id", "ring_member_ids"),
    ("/v1/members", "query", "community_id", "communities"),
    ("/v1/growth", "query", "community_id", "communities"),
    ("/v1/growth/cohorts", "query", "community_id", "communities"),
    ("/v1/growth/recruitment", "query", "community_id", "communities"),
]


@pytest.mark.parametrize(
    ("path", "location", "name", "values"),
    KNOWN_INPUTS,
    ids=[f"{path}:{name}" for path, _, name, _ in KNOWN_INPUTS],
)
def test_real_ids_keep_the_contract(
    path: str, location: str, name: str, values: str, served: Served
) -> None:
    operation = ADMIN[path]["GET"]
    real = getattr(served, values)
    assert real, values

    @KNOWN_IDS
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        value = data.draw(st.sampled_from(real), label=name)
        fixed = {"path_parameters" if location == "path" else "query": {name: value}}
        case = data.draw(operation.as_strategy(**fixed))
        response = case.call_and_validate(headers=key("admin"))
        assert response.status_code in (200, 422), response.text

    fuzz()


def example_of(model: str, field: str) -> Any:
    """The first example the OpenAPI document gives for ``model.field``."""
    return ADMIN.raw_schema["components"]["schemas"][model]["properties"][field]["examples"][0]


def test_the_documented_what_if_example_works(served: Served) -> None:
    """The policy the schema shows is one a client can copy: it is evaluated (200)."""
    case = ADMIN["/v1/tiers/what-if"]["POST"].Case(
        body={"policy": example_of("WhatIfRequest", "policy")}
    )
    response = case.call_and_validate(headers=key("viewer"))
    assert response.status_code == 200, response.text
    assert response.json()["policy"] == "lenient"


# Writes, last: they change what later reads see -------------------------------------------


@ADMIN.exclude(is_read).parametrize()
def test_writes_keep_the_contract(case: Any, served: Served) -> None:
    case.call_and_validate(headers=key("admin"))


@VIEWER.exclude(is_read).parametrize()
def test_writes_are_refused_to_viewers(case: Any, served: Served) -> None:
    response = case.call_and_validate(headers=key("viewer"))
    assert not 200 <= response.status_code < 300, response.text


def test_reviews_of_real_rings_keep_the_contract(served: Served) -> None:
    """Decisions on rings that exist: recorded (201) or refused (4xx), never a 5xx."""
    operation = ADMIN["/v1/rings/{ring_id}/review"]["POST"]
    example = {
        "status": example_of("ReviewRequest", "status"),
        "note": example_of("ReviewRequest", "note"),
    }
    documented = operation.Case(path_parameters={"ring_id": served.ring_ids[0]}, body=example)
    response = documented.call_and_validate(headers=key("reviewer"))
    assert response.status_code == 201, response.text

    @KNOWN_IDS
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        ring_id = data.draw(st.sampled_from(served.ring_ids), label="ring_id")
        case = data.draw(operation.as_strategy(path_parameters={"ring_id": ring_id}))
        case.call_and_validate(headers=key("reviewer"))

    fuzz()


def test_limits_answer_as_documented(served: Served) -> None:
    """A key over its rate (429) and bodies over their size limit (413) get the problems the
    schema documents, on an app with tight limits over the same service."""
    settings = ApiSettings(rate_limit=1, rate_burst=1, max_upload_mb=1)
    keys = [ApiKey(name="admin", role="admin", sha256=hash_key(KEYS["admin"]))]
    tight = TestClient(create_app(served.service, settings, keys=keys))  # no lifespan of its own
    over = b"x" * (2**20 + 1)
    answers = [
        ("GET", "/v1/tiers", 200, {}),
        ("GET", "/v1/tiers", 429, {}),
        ("POST", "/v1/ingest", 413, {"files": [("files", ("members.csv", over, "text/csv"))]}),
        ("POST", "/v1/tiers/what-if", 413, {"json": {"policy": over.decode()}}),
    ]
    for method, path, status, content in answers:
        response = tight.request(method, path, headers=key("admin"), **content)
        assert response.status_code == status, response.text
        if status == 429:
            assert int(response.headers["Retry-After"]) >= 1
        response.request.read()  # a streamed multipart body, for the report of a failure
        ADMIN[path][method].Case().validate_response(response, checks=RESPONSE_CHECKS)


def test_uploads_keep_the_contract(served: Served) -> None:
    """A real upload (dataset file names, rows good and bad) answers as documented."""
    operation = ADMIN["/v1/ingest"]["POST"]
    members = "member_id,joined_at,community_id\nx-new-1,2025-01-03T10:00:00,c001\nbad,,\n"
    sessions = "session_id,helper_id,recipient_id,started_at,hours\ns-x,nobody,x-new-1,junk,-1\n"
    response = served.client.post(
        "/v1/ingest",
        files=[
            ("files", ("members.csv", members.encode(), "text/csv")),
            ("files", ("sessions.csv", sessions.encode(), "text/csv")),
        ],
        headers=key("admin"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected_rows"] >= 2
    operation.Case().validate_response(response, checks=RESPONSE_CHECKS)
    twice = served.client.post(
        "/v1/ingest",
        files=[("files", ("members.csv", b"", "text/csv"))] * 2,
        headers=key("admin"),
    )
    assert twice.status_code == 422, twice.text
    operation.Case().validate_response(twice, checks=RESPONSE_CHECKS)


def test_the_service_still_serves_after_the_writes(served: Served) -> None:
    """After every write fuzzed above, a recompute succeeds and reads answer as documented."""
    job = served.client.post("/v1/analysis/recompute", headers=key("admin")).json()

    def finished() -> bool:
        status = served.client.get(f"/v1/jobs/{job['job_id']}", headers=key("admin")).json()
        return bool(status["status"] in ("succeeded", "failed"))

    wait_until(finished)
    status = served.client.get(f"/v1/jobs/{job['job_id']}", headers=key("admin")).json()
    assert status["status"] == "succeeded", status
    operation = ADMIN["/v1/jobs/{job_id}"]["GET"]
    operation.Case(path_parameters={"job_id": job["job_id"]}).call_and_validate(
        headers=key("admin")
    )
    health = served.client.get("/health")
    assert health.status_code == 200, health.text
    for path in ("/v1/members", "/v1/rings", "/v1/trust/distribution", "/v1/growth", "/v1/tiers"):
        ADMIN[path]["GET"].Case().call_and_validate(headers=key("viewer"))
