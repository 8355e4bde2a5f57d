"""The HTTP API's read routes, roles and errors, checked against the analysis it serves.

One generated network per store (embedded and Neo4j) is ingested and served for the whole
module; the app is only read here (decisions and ingests are in ``test_api_writes.py``).
Expected values are computed from the raw generated tables and the analysis tables with pandas,
not through the view the routes read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

import graph
from graph.api.main import create_app
from graph.api.service import ApiService
from graph.config import ApiKey, ApiSettings, Settings, hash_key, new_key
from graph.generate import GeneratedDataset
from graph.metrics import tiers as tier_metrics
from graph.metrics.tiers import REQUIREMENT_KINDS, TIER_LEVELS
from graph.policy import default_policy_text, load_policy, parse_policy
from graph.store import GraphStore, open_store
from graph.views import MEMBER_SORT_KEYS
from tests.conftest import ingest_generated
from tests.test_views import expected_promotion_order

ROLES = ("viewer", "reviewer", "admin")
#: Everything a problem body must never show: traces and where the code or data lives.
SOURCE_DIR = str(Path(graph.__file__).resolve().parent)
LEAKS = ("Traceback", 'File "', SOURCE_DIR, "site-packages", "/tmp/", "timebank-upload")


# Shared helpers (also imported by the other test_api_* modules) -----------------------------


def make_keys(*names_and_roles: tuple[str, str]) -> tuple[dict[str, str], list[ApiKey]]:
    """Fresh random keys: ``{name: key}`` and the ApiKey records (digests only)."""
    secrets = {name: new_key() for name, _ in names_and_roles}
    records = [
        ApiKey(name=name, role=role, sha256=hash_key(secrets[name]))  # type: ignore[arg-type]
        for name, role in names_and_roles
    ]
    return secrets, records


def wait_until(condition: Callable[[], bool], *, seconds: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.02)


def wait_for_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll ``/v1/jobs/{id}`` until the job has finished; its last status."""
    seen: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal seen
        answer = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        seen = answer.json()
        return seen["status"] in ("succeeded", "failed")

    wait_until(finished, what=f"job {job_id}")
    return seen


def assert_clean(response: Response) -> None:
    """No stack trace, source path or server file path in the body."""
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)


def assert_problem(
    response: Response, status: int, slug: str, *, fields: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An RFC 9457 problem with this status and stable type; ``fields`` named in ``errors``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:timebank:problem:{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert_clean(response)
    if fields:
        assert "errors" in body, body
        named = [error["field"] for error in body["errors"]]
        for field in fields:
            assert field in named, (field, body)
            assert field in body["detail"]
    return body


def parse_time(text: str | None) -> pd.Timestamp | None:
    """An API time (ISO 8601 with a zone) as naive UTC, like the raw generated tables."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return pd.Timestamp(moment.astimezone(UTC).replace(tzinfo=None))


def plain(value: Any) -> Any:
    """A table cell as JSON would carry it (NaN → None, numpy → Python)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def same(actual: Any, expected: Any) -> bool:
    expected = plain(expected)
    if isinstance(expected, float) and not isinstance(expected, bool):
        return actual is not None and actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
    return bool(actual == expected)


def assert_row(actual: dict[str, Any], expected: pd.Series, columns: list[str]) -> None:
    for column in columns:
        assert same(actual[column], expected[column]), (column, actual[column], expected[column])


class Gate:
    """Holds every store connection the service's jobs open until :meth:`release` (the
    service's own request connection, opened first, passes): a recompute that is running."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()


@dataclass
class Served:
    """An app serving one store, and what it was built from."""

    backend: str
    client: TestClient
    service: ApiService
    data: GeneratedDataset
    open: Callable[[], GraphStore]  # a fresh connection of our own to the same store
    keys: dict[str, str]
    app: FastAPI
    gate: Gate | None = None
    reader: str = "viewer"  # the name of a viewer key, for plain reads

    def as_(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        answer = self.client.get(path, params=params, headers=self.as_(self.reader))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        body: dict[str, Any] = answer.json()
        return body

    def tables(self) -> dict[str, pd.DataFrame]:
        return self.service.view.analysis.tables


def store_location(backend: str, folder: Path) -> str:
    return str(folder / "store.db") if backend == "sqlite" else "neo4j"


def store_opener(backend: str, connection: Settings | None) -> Callable[[str], GraphStore]:
    if backend == "sqlite":
        return open_store
    return lambda location: open_store(location, settings=connection)


@contextmanager
def serving(
    backend: str,
    folder: Path,
    connection: Settings | None,
    populate: Callable[[GraphStore], GeneratedDataset | None],
    *,
    settings: ApiSettings | None = None,
    roles: tuple[tuple[str, str], ...] = tuple((role, role) for role in ROLES),
    gate: Gate | None = None,
) -> Iterator[Served]:
    """A store of ``backend`` filled by ``populate``, served by an app whose first analysis
    has finished."""
    location = store_location(backend, folder)
    opener = store_opener(backend, connection)
    with open_store(location, create=True, settings=connection) as store:
        if backend == "neo4j":
            store.clear()  # type: ignore[attr-defined]
        data = populate(store)
    opened = 0

    def gated(where: str) -> GraphStore:
        nonlocal opened
        opened += 1
        if gate is not None and opened > 1:
            assert gate.open.wait(timeout=60), "the test never released the gate"
        return opener(where)

    keys, records = make_keys(*roles)
    service = ApiService(location, policy=load_policy(), open_store=gated)
    app = create_app(service, settings or ApiSettings(rate_limit=0), keys=records)
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_until(
            lambda: service.ready or service.last_error is not None, what="the first analysis"
        )
        assert service.ready, service.last_error
        yield Served(
            backend,
            client,
            service,
            data,  # type: ignore[arg-type]
            lambda: opener(location),
            keys,
            app,
            gate,
            next(name for name, role in roles if role == "viewer"),
        )


def backend_connection(request: pytest.FixtureRequest) -> Settings | None:
    """The Neo4j settings for the neo4j param (the server is only started when needed)."""
    if request.param == "neo4j":
        connection: Settings = request.getfixturevalue("neo4j_connection")
        return connection
    return None


BACKENDS = ["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)]


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A generated network with planted fraud rings, analysed and served."""
    with serving(
        request.param,
        tmp_path_factory.mktemp("api-read"),
        backend_connection(request),
        lambda store: ingest_generated(store, members=2500, seed=11),
    ) as app:
        yield app


# Expected values, computed from the raw tables and the analysis tables -----------------------


def expected_members(served: Served) -> pd.DataFrame:
    """The member listing's columns, joined by member id from the raw generated members and
    each analysis table; balances summed from the raw sessions and redemptions."""
    data, tables = served.data, served.tables()
    frame = data.members[
        ["member_id", "display_name", "community_id", "joined_at", "activated_at"]
    ].copy()
    frame["joined_at"] = pd.to_datetime(frame["joined_at"])
    frame["activated_at"] = pd.to_datetime(frame["activated_at"])
    for name, columns in (
        ("trust.csv", ["trust_score", "trust_rank", "trust_percentile"]),
        ("tiers.csv", ["tier", "next_tier"]),
        ("risk.csv", ["fraud_risk"]),
        ("fanout.csv", ["direct_referrals", "active_referrals", "downline_size", "downline_depth"]),
    ):
        table = tables[name][["member_id", *columns]].copy()
        for column in ("tier", "next_tier"):
            if column in table:
                table[column] = table[column].astype(object).where(table[column].notna(), None)
                table[column] = table[column].map(lambda v: None if v is None else str(v))
        frame = frame.merge(table, on="member_id", how="left", validate="one_to_one")
    confirmed = data.sessions[data.sessions["status"] == "confirmed"]
    earned = confirmed.groupby("helper_id")["hours"].sum()
    redeemed = data.redemptions.groupby("member_id")["credits"].sum()
    ids = frame["member_id"]
    frame["credits_earned"] = ids.map(earned).fillna(0.0).to_numpy()
    frame["credits_redeemed"] = ids.map(redeemed).fillna(0.0).to_numpy()
    frame["balance"] = frame["credits_earned"] - frame["credits_redeemed"]
    return frame.sort_values("member_id", ignore_index=True)


def sorted_ids(frame: pd.DataFrame, sort: str) -> list[str]:
    """Member ids ordered by ``sort`` (``-`` first: descending), ties by member id, missing
    values last."""
    name = sort.removeprefix("-")
    if name == "member_id":
        order = frame.sort_values("member_id", ascending=not sort.startswith("-"))
        return list(order["member_id"])
    order = frame.sort_values(
        [name, "member_id"],
        ascending=[not sort.startswith("-"), True],
        na_position="last",
        kind="stable",
    )
    return list(order["member_id"])


def matching(frame: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The members a listing filter admits (bounds inclusive, joined_before exclusive)."""
    keep = pd.Series(True, index=frame.index)
    if "community_id" in where:
        keep &= frame["community_id"] == where["community_id"]
    if "tier" in where:
        keep &= frame["tier"] == where["tier"]
    if "trust_min" in where:
        keep &= frame["trust_score"] >= where["trust_min"]
    if "trust_max" in where:
        keep &= frame["trust_score"] <= where["trust_max"]
    if "joined_from" in where:
        keep &= frame["joined_at"] >= parse_time(where["joined_from"])
    if "joined_before" in where:
        keep &= frame["joined_at"] < parse_time(where["joined_before"])
    return frame[keep]


def referees(data: GeneratedDataset) -> dict[str, list[str]]:
    """Each referrer's referees in member id order, from the raw referrals."""
    children: dict[str, list[str]] = {}
    for referrer, referee in zip(
        data.referrals["referrer_id"], data.referrals["referee_id"], strict=True
    ):
        children.setdefault(referrer, []).append(referee)
    return {parent: sorted(kids) for parent, kids in children.items()}


def expected_downline(
    data: GeneratedDataset, root: str, *, depth: int, max_nodes: int
) -> tuple[dict[str, Any], bool]:
    """The referral tree ``depth`` levels down, breadth first, at most ``max_nodes`` members."""
    children = referees(data)
    order, level = [root], [root]
    for _ in range(depth):
        level = [kid for parent in level for kid in children.get(parent, [])]
        order += level
    parent_of = {kid: parent for parent, kids in children.items() for kid in kids}
    kept = order[:max_nodes]
    nodes: dict[str, dict[str, Any]] = {m: {"member_id": m, "children": []} for m in kept}
    for member in kept[1:]:
        nodes[parent_of[member]]["children"].append(nodes[member])
    return nodes[root], len(order) > max_nodes


def count_nodes(tree: dict[str, Any]) -> int:
    return 1 + sum(count_nodes(child) for child in tree["children"])


def rings_of(served: Served) -> list[Any]:
    with served.open() as store:
        return store.rings()


# Health, OpenAPI, docs -----------------------------------------------------------------------


def test_health_needs_no_key_and_reports_the_store(served: Served) -> None:
    answer = served.client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["store"] == {"backend": served.backend, "reachable": True}
    assert body["analytics"]["ready"] is True
    assert body["analytics"]["error"] is None
    assert parse_time(body["analytics"]["computed_at"]) is not None
    assert "store.db" not in answer.text  # says nothing about where the store is


def test_openapi_and_docs_need_no_key(served: Served) -> None:
    schema = served.client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for method, template, _, _ in ROUTES:
        assert method.lower() in paths[template], (method, template)
    assert "get" in paths["/health"]
    assert "Problem" in schema.json()["components"]["schemas"]
    docs = served.client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


# Roles: the 401/403 matrix -------------------------------------------------------------------

#: Every keyed route: method, path, the least role allowed, and what an allowed call answers.
#: Writes are called with input that is refused after the role check, so nothing changes.
ROUTES: list[tuple[str, str, str, int]] = [
    ("GET", "/v1/members", "viewer", 200),
    ("GET", "/v1/members/{member_id}", "viewer", 200),
    ("GET", "/v1/trust/ranking", "viewer", 200),
    ("GET", "/v1/trust/distribution", "viewer", 200),
    ("GET", "/v1/tiers", "viewer", 200),
    ("GET", "/v1/tiers/promotion", "viewer", 200),
    ("POST", "/v1/tiers/what-if", "viewer", 200),
    ("GET", "/v1/rings", "viewer", 200),
    ("GET", "/v1/rings/{ring_id}", "viewer", 200),
    ("POST", "/v1/rings/{ring_id}/review", "reviewer", 422),
    ("GET", "/v1/growth", "viewer", 200),
    ("GET", "/v1/growth/communities", "viewer", 200),
    ("GET", "/v1/growth/cohorts", "viewer", 200),
    ("GET", "/v1/growth/recruitment", "viewer", 200),
    ("GET", "/v1/analysis", "viewer", 200),
    ("POST", "/v1/ingest", "admin", 422),
    ("POST", "/v1/analysis/recompute", "admin", 202),
    ("GET", "/v1/jobs/{job_id}", "admin", 404),
]
PUBLIC = {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc")}
PUBLIC |= {("GET", "/docs/oauth2-redirect")}


def call(served: Served, method: str, template: str, headers: dict[str, str]) -> Response:
    ring = rings_of(served)[0]
    path = template.format(member_id="m000002", ring_id=ring.ring_id, job_id="no-such-job")
    if template == "/v1/tiers/what-if":
        return served.client.post(path, json={"policy": default_policy_text()}, headers=headers)
    if template.endswith("/review"):
        # An unknown status: refused after the role check, so the ring is left alone.
        return served.client.post(
            path, json={"status": "approved", "note": "matrix"}, headers=headers
        )
    if template == "/v1/ingest":
        return served.client.post(path, headers=headers)  # no files: refused after the check
    return served.client.request(method, path, headers=headers)


def test_every_route_is_in_the_matrix(served: Served) -> None:
    """The matrix below covers every route the API documents (so a new one cannot slip by)."""
    paths = served.client.get("/openapi.json").json()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    keyed = {(method, template) for method, template, _, _ in ROUTES}
    assert documented - {("GET", "/health")} == keyed


@pytest.mark.parametrize(("method", "template", "least", "allowed"), ROUTES)
def test_roles(served: Served, method: str, template: str, least: str, allowed: int) -> None:
    no_key = call(served, method, template, {})
    assert_problem(no_key, 401, "unauthorized")
    assert no_key.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    unknown = call(served, method, template, {"X-API-Key": new_key()})
    assert_problem(unknown, 401, "unauthorized")
    assert "www-authenticate" in unknown.headers
    for role in ROLES:
        answer = call(served, method, template, served.as_(role))
        if ROLES.index(role) < ROLES.index(least):
            body = assert_problem(answer, 403, "forbidden")
            assert least in body["detail"]
        else:
            assert answer.status_code == allowed, (role, answer.text)
            if template == "/v1/analysis/recompute":
                job = wait_for_job(served.client, answer.json()["job_id"], served.as_("admin"))
                assert job["status"] == "succeeded", job


# Members -------------------------------------------------------------------------------------


def test_member_listing_defaults_to_every_member_by_id(served: Served) -> None:
    expected = expected_members(served)
    page = served.get("/v1/members")
    assert page["total"] == len(served.data.members) == len(expected)
    assert (page["limit"], page["offset"]) == (50, 0)
    assert [item["member_id"] for item in page["items"]] == list(expected["member_id"][:50])


def test_member_listing_values_agree_with_the_analysis(served: Served) -> None:
    expected = expected_members(served).set_index("member_id", drop=False)
    page = served.get("/v1/members", offset=1000, limit=200)
    assert len(page["items"]) == 200
    numbers = [
        "trust_score",
        "trust_rank",
        "trust_percentile",
        "tier",
        "next_tier",
        "fraud_risk",
        "direct_referrals",
        "active_referrals",
        "downline_size",
        "downline_depth",
        "balance",
        "display_name",
        "community_id",
    ]
    for item in page["items"]:
        row = expected.loc[item["member_id"]]
        assert_row(item, row, numbers)
        assert parse_time(item["joined_at"]) == row["joined_at"]
        activated = parse_time(item["activated_at"])
        assert activated == (None if pd.isna(row["activated_at"]) else row["activated_at"])


def filters(served: Served) -> list[dict[str, Any]]:
    members = expected_members(served)
    joined = members["joined_at"].sort_values(ignore_index=True)
    start = joined[len(joined) // 4].strftime("%Y-%m-%dT%H:%M:%SZ")
    # The same moment in another zone: filters are in UTC whatever the offset says.
    end = (joined[len(joined) // 2] + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    community = members["community_id"].value_counts().index[0]
    return [
        {"community_id": community},
        {"tier": "time_volunteer"},
        {"tier": "city_partner"},
        {"trust_min": 0.3, "trust_max": 0.6},
        {"trust_min": 0.5, "trust_max": 0.5},
        {"joined_from": start},
        {"joined_before": end},
        {"joined_from": start, "joined_before": end, "community_id": community},
        {"community_id": community, "tier": "community_head", "trust_min": 0.4},
        {"community_id": "no-such-community"},
        {"trust_min": 0.9, "trust_max": 0.1},
    ]


def test_member_listing_filters(served: Served) -> None:
    members = expected_members(served)
    for where in filters(served):
        expected = matching(members, **where)
        page = served.get("/v1/members", **where, limit=500)
        assert page["total"] == len(expected), where
        assert [i["member_id"] for i in page["items"]] == sorted(expected["member_id"])[:500]
    assert served.get("/v1/members", tier="time_volunteer")["total"] > 0


@pytest.mark.parametrize("sort", [f"{way}{key}" for key in MEMBER_SORT_KEYS for way in ("", "-")])
def test_member_listing_sorts(served: Served, sort: str) -> None:
    members = expected_members(served)
    community = members["community_id"].value_counts().index[1]
    expected = sorted_ids(matching(members, community_id=community), sort)
    page = served.get("/v1/members", community_id=community, sort=sort, limit=500)
    assert page["total"] == len(expected)
    assert [item["member_id"] for item in page["items"]] == expected[:500]
    top = served.get("/v1/members", sort=sort, limit=20, offset=7)
    assert [item["member_id"] for item in top["items"]] == sorted_ids(members, sort)[7:27]


def test_member_listing_pages_cover_the_matches_once(served: Served) -> None:
    members = expected_members(served)
    where = {"tier": "community_head"}
    expected = sorted_ids(matching(members, **where), "-trust_score")
    assert len(expected) > 30
    seen: list[str] = []
    for offset in range(0, len(expected) + 30, 30):
        page = served.get("/v1/members", **where, sort="-trust_score", limit=30, offset=offset)
        assert page["total"] == len(expected)
        assert (page["limit"], page["offset"]) == (30, offset)
        assert len(page["items"]) == max(0, min(30, len(expected) - offset))
        seen += [item["member_id"] for item in page["items"]]
    assert seen == expected
    beyond = served.get("/v1/members", offset=len(members) + 10)
    assert beyond["items"] == []
    assert beyond["total"] == len(members)


def profile_members(served: Served) -> list[str]:
    """A seed, the member with the largest downline, a ring member, one with complaints, and
    one nobody referred and who referred nobody."""
    tables = served.tables()
    trust, fanout = tables["trust.csv"], tables["fanout.csv"]
    chosen = [
        trust.loc[trust["seed"].astype(bool), "member_id"].iloc[0],
        fanout.sort_values("downline_size").iloc[-1]["member_id"],
        rings_of(served)[0].members[0],
        trust.loc[trust["complainants"] > 0, "member_id"].iloc[0],
        fanout.loc[(fanout["downline_size"] == 0) & (fanout["generation"] == 0), "member_id"].iloc[
            0
        ],
    ]
    return [str(member) for member in chosen]


def test_member_profile_agrees_with_every_table(served: Served) -> None:
    tables = served.tables()
    members = expected_members(served).set_index("member_id", drop=False)
    rings = rings_of(served)
    by_id = {
        name: table.set_index("member_id") for name, table in tables.items() if "member_id" in table
    }
    for member_id in profile_members(served):
        profile = served.get(f"/v1/members/{member_id}")
        row = members.loc[member_id]
        assert profile["member_id"] == member_id
        assert_row(profile, row, ["display_name", "community_id"])
        assert parse_time(profile["joined_at"]) == row["joined_at"]
        account = profile["account"]
        assert account["credits_earned"] == pytest.approx(row["credits_earned"])
        assert account["credits_redeemed"] == pytest.approx(row["credits_redeemed"])
        assert account["credits_paid"] == 0.0  # the minting ledger
        assert account["balance"] == pytest.approx(row["balance"])
        trust = by_id["trust.csv"].loc[member_id]
        assert_row(profile["trust"], trust, list(trust.index))
        tier = by_id["tiers.csv"].loc[member_id]
        assert profile["tier"]["tier"] == str(tier["tier"])
        assert profile["tier"]["next_tier"] == plain(
            None if pd.isna(tier["next_tier"]) else str(tier["next_tier"])
        )
        assert profile["tier"]["missing"] == plain(tier["missing"] or None)
        assert set(profile["tier"]["gaps"]) == set(REQUIREMENT_KINDS)
        for kind in REQUIREMENT_KINDS:
            assert same(profile["tier"]["gaps"][kind], tier[f"gap_{kind}"]), kind
            assert same(profile["tier"]["measures"][kind], tier[kind]), kind
        fanout = by_id["fanout.csv"].loc[member_id]
        assert_row(profile["referrals"], fanout, list(fanout.index))
        risk = by_id["risk.csv"].loc[member_id]
        for column in ("fraud_risk", "ring_score", "trust_doubt"):
            assert same(profile["risk"][column], risk[column]), column
        if risk["ring_score"] > 0:
            assert (profile["risk"]["ring_id"], profile["risk"]["ring_kind"]) == (
                risk["ring_id"],
                risk["ring_kind"],
            )
            assert profile["risk"]["ring_id"] in [ring.ring_id for ring in rings]
        expected_rings = [ring.ring_id for ring in rings if member_id in ring.members]
        assert [ring["ring_id"] for ring in profile["rings"]] == expected_rings
        for listed in profile["rings"]:
            ring = next(r for r in rings if r.ring_id == listed["ring_id"])
            assert listed["members"] == len(ring.members)
            assert listed["status"] == ring.status


def test_member_in_no_ring_has_a_null_ring(served: Served) -> None:
    """A value that does not exist is null (graph/api/schemas.py), not an empty string."""
    risk = served.tables()["risk.csv"]
    outside = str(risk.loc[risk["ring_score"] == 0, "member_id"].iloc[0])
    profile = served.get(f"/v1/members/{outside}")
    assert profile["rings"] == []
    assert profile["risk"]["ring_score"] == 0.0
    assert profile["risk"]["ring_id"] is None
    assert profile["risk"]["ring_kind"] is None


def test_member_profile_explains_trust(served: Served) -> None:
    trust = served.tables()["trust.csv"].set_index("member_id")
    for member_id in profile_members(served):
        full = served.get(f"/v1/members/{member_id}", explain_top=50)["trust"]["explanation"]
        one = served.get(f"/v1/members/{member_id}", explain_top=1)["trust"]["explanation"]
        kinds = pd.Series([term["kind"] for term in one], dtype=object)
        assert (kinds.value_counts() <= 1).all()
        vouchers = {t["partner_id"] for t in full if t["kind"] in ("vouch", "insular_vouch")}
        complainants = {t["partner_id"] for t in full if t["kind"] == "complaint"}
        row = trust.loc[member_id]
        if row["vouchers"] <= 50:
            assert len(vouchers) == row["vouchers"]
        if row["complainants"] <= 50:
            assert len(complainants) == row["complainants"]
        if not pd.isna(row["top_voucher"]):
            assert row["top_voucher"] in vouchers
        if not pd.isna(row["top_complainant"]):
            assert row["top_complainant"] in complainants
        assert any(t["kind"] == "seed" for t in full) == bool(row["seed"])


def test_member_downline_respects_depth_and_max_nodes(served: Served) -> None:
    fanout = served.tables()["fanout.csv"]
    root = str(fanout.sort_values("downline_size").iloc[-1]["member_id"])
    size = int(fanout.set_index("member_id").loc[root, "downline_size"])
    for depth, max_nodes in ((0, 200), (1, 200), (2, 200), (3, 5), (2, 2), (6, 2000), (4, 1)):
        profile = served.get(f"/v1/members/{root}", depth=depth, max_nodes=max_nodes)
        tree, truncated = expected_downline(served.data, root, depth=depth, max_nodes=max_nodes)
        assert profile["downline"] == tree, (depth, max_nodes)
        assert profile["downline_truncated"] is truncated, (depth, max_nodes)
        assert count_nodes(profile["downline"]) <= max_nodes
    deepest = int(fanout.set_index("member_id").loc[root, "downline_depth"])
    assert size > 20
    if deepest <= 6:
        whole = served.get(f"/v1/members/{root}", depth=6, max_nodes=2000)
        assert count_nodes(whole["downline"]) == size + 1
    capped = served.get(f"/v1/members/{root}", depth=6, max_nodes=size)
    assert capped["downline_truncated"] is (deepest <= 6)
    leaf = served.get(f"/v1/members/{profile_members(served)[-1]}")
    assert leaf["downline"]["children"] == []
    assert leaf["downline_truncated"] is False


def test_unknown_member_is_a_404_problem(served: Served) -> None:
    answer = served.client.get("/v1/members/nobody", headers=served.as_("viewer"))
    body = assert_problem(answer, 404, "not-found")
    assert "nobody" in body["detail"]


# Trust ---------------------------------------------------------------------------------------


def test_trust_ranking_orders_by_score(served: Served) -> None:
    members = expected_members(served)
    for order, sort in (("desc", "-trust_score"), ("asc", "trust_score")):
        expected = sorted_ids(members, sort)
        page = served.get("/v1/trust/ranking", order=order, limit=100, offset=40)
        assert page["total"] == len(members)
        assert [item["member_id"] for item in page["items"]] == expected[40:140]
    best = served.get("/v1/trust/ranking", limit=500)["items"]
    assert best[0]["trust_rank"] == 1
    assert [i["trust_rank"] for i in best] == sorted(i["trust_rank"] for i in best)
    assert [i["trust_score"] for i in best] == sorted(
        (i["trust_score"] for i in best), reverse=True
    )


@pytest.mark.parametrize("bins", [1, 7, 20, 100])
def test_trust_distribution(served: Served, bins: int) -> None:
    scores = served.tables()["trust.csv"]["trust_score"].to_numpy()
    body = served.get("/v1/trust/distribution", bins=bins)
    assert body["members"] == len(scores) == len(served.data.members)
    assert len(body["bins"]) == bins
    assert sum(b["members"] for b in body["bins"]) == len(scores)
    assert body["bins"][0]["low"] == 0.0
    assert body["bins"][-1]["high"] == 1.0
    for number, histogram_bin in enumerate(body["bins"]):
        low, high = histogram_bin["low"], histogram_bin["high"]
        assert high - low == pytest.approx(1.0 / bins)
        inside = (scores >= low) & ((scores < high) if number < bins - 1 else (scores <= high))
        assert histogram_bin["members"] == int(inside.sum()), (low, high)
    assert body["mean"] == pytest.approx(float(np.mean(scores)))
    assert body["unknown"] == int(np.sum(scores == 0.5))
    assert body["quantiles"]["p50"] == pytest.approx(float(np.median(scores)))
    assert body["quantiles"]["p1"] <= body["quantiles"]["p50"] <= body["quantiles"]["p99"]


# Tiers ---------------------------------------------------------------------------------------


def test_tier_counts(served: Served) -> None:
    body = served.get("/v1/tiers")
    tiers = served.tables()["tiers.csv"]["tier"].astype(str).value_counts()
    assert body["policy"] == "default"
    assert list(body["counts"]) == list(TIER_LEVELS)
    assert body["counts"] == {tier: int(tiers.get(tier, 0)) for tier in TIER_LEVELS}
    assert sum(body["counts"].values()) == len(served.data.members)


def test_closest_to_promotion(served: Served) -> None:
    table = served.tables()["tiers.csv"]
    expected = expected_promotion_order(table, load_policy()).head(40)
    answer = served.client.get(
        "/v1/tiers/promotion", params={"limit": 40}, headers=served.as_("viewer")
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert len(rows) == 40
    assert [row["member_id"] for row in rows] == list(expected["member_id"])
    tiers = table.set_index("member_id")
    for row, (_, want) in zip(rows, expected.iterrows(), strict=True):
        assert row["unmet"] == want["unmet"]
        assert row["shortfall"] == pytest.approx(want["shortfall"])
        assert row["tier"] == str(tiers.loc[row["member_id"], "tier"])
        assert row["next_tier"] == str(tiers.loc[row["member_id"], "next_tier"])
        assert row["missing"] == want["missing"]


def lax_policy() -> str:
    text = default_policy_text()
    lax = text.replace('name = "default"', 'name = "lax"')
    lax = lax.replace("hours_given_outside_downline = 20", "hours_given_outside_downline = 8")
    lax = lax.replace("trust_percentile = 50", "trust_percentile = 20")
    assert lax.count('"lax"') == 1
    assert "= 8" in lax
    assert "= 20\n" in lax
    return lax


def expected_what_if(served: Served, alternative: str, current: str | None) -> dict[str, Any]:
    """The comparison computed from a snapshot of our own and the analysis's trust and fan-out
    tables, with the members of the stored open or confirmed rings failing the ring rule."""
    tables = served.tables()
    with served.open() as store:
        snapshot = store.snapshot()
        held = {m for ring in store.rings() if ring.status != "dismissed" for m in ring.members}

    def judged(text: str | None) -> pd.DataFrame:
        policy = load_policy() if text is None else parse_policy(text)
        return tier_metrics.tiers(
            snapshot,
            policy=policy,
            trust=tables["trust.csv"],
            fanout=tables["fanout.csv"],
            ring_members=held,
        )

    before = judged(current)
    if current is None:
        assert list(before["tier"].astype(str)) == list(tables["tiers.csv"]["tier"].astype(str))
    return tier_metrics.compare_policies(before, judged(alternative)).as_dict()


def test_what_if_evaluates_a_posted_policy(served: Served) -> None:
    lax = lax_policy()
    answer = served.client.post(
        "/v1/tiers/what-if", json={"policy": lax}, headers=served.as_("viewer")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["policy"], body["current_policy"]) == ("lax", "default")
    expected = expected_what_if(served, lax, None)
    assert {k: body[k] for k in expected} == expected
    assert body["moved_up"] > 0
    assert body["moved_down"] == 0
    assert body["moved_up"] + body["unchanged"] == len(served.data.members)
    counts = served.get("/v1/tiers")["counts"]
    assert {tier: c["current"] for tier, c in body["counts"].items()} == counts
    # Against a posted current policy: the same policy on both sides moves nobody.
    same_policy = served.client.post(
        "/v1/tiers/what-if", json={"policy": lax, "current": lax}, headers=served.as_("viewer")
    ).json()
    assert (same_policy["moved_up"], same_policy["moved_down"]) == (0, 0)
    assert same_policy["unchanged"] == len(served.data.members)
    reverse = served.client.post(
        "/v1/tiers/what-if",
        json={"policy": default_policy_text(), "current": lax},
        headers=served.as_("viewer"),
    ).json()
    assert reverse["moved_down"] == body["moved_up"]
    assert {k: reverse[k] for k in expected} == expected_what_if(served, default_policy_text(), lax)


def test_what_if_refuses_an_invalid_policy_naming_the_key(served: Served) -> None:
    broken = default_policy_text().replace("active_referrals = 1", 'active_referrals = "one"')
    answer = served.client.post(
        "/v1/tiers/what-if", json={"policy": broken}, headers=served.as_("viewer")
    )
    body = assert_problem(answer, 422, "invalid-policy")
    assert body["errors"][0]["field"] == "body.policy.tiers.community_head.active_referrals"
    not_toml = served.client.post(
        "/v1/tiers/what-if", json={"policy": "tiers = ["}, headers=served.as_("viewer")
    )
    assert_problem(not_toml, 422, "invalid-policy")
    assert not_toml.json()["errors"][0]["field"] == "body.policy"


def test_what_if_names_the_current_policy_when_it_is_the_invalid_one(served: Served) -> None:
    """A broken ``current`` is a problem with ``current``, not with ``policy``."""
    broken = default_policy_text().replace("active_referrals = 1", 'active_referrals = "one"')
    answer = served.client.post(
        "/v1/tiers/what-if",
        json={"policy": default_policy_text(), "current": broken},
        headers=served.as_("viewer"),
    )
    body = assert_problem(answer, 422, "invalid-policy")
    assert [e["field"] for e in body["errors"]] == [
        "body.current.tiers.community_head.active_referrals"
    ]


# Rings ---------------------------------------------------------------------------------------


def test_ring_queue_lists_the_stored_rings(served: Served) -> None:
    rings = rings_of(served)
    assert len(rings) >= 4  # the planted fraud was found
    page = served.get("/v1/rings", limit=200)
    assert page["total"] == len(rings)
    assert [item["ring_id"] for item in page["items"]] == [r.ring_id for r in rings]
    scores = [item["score"] for item in page["items"]]
    assert scores == sorted(scores, reverse=True)
    for item, ring in zip(page["items"], rings, strict=True):
        assert item["kind"] == ring.kind
        assert item["status"] == ring.status == "open"
        assert item["members"] == len(ring.members)
        assert item["score"] == pytest.approx(ring.score)
        assert item["reasons"] == list(ring.reasons)
        assert item["hours"] == pytest.approx(ring.hours)
        assert item["credits"] == pytest.approx(ring.credits)
        assert parse_time(item["first_at"]) == pd.Timestamp(ring.first_at).tz_localize(None)
        assert parse_time(item["last_at"]) == pd.Timestamp(ring.last_at).tz_localize(None)
    window = served.get("/v1/rings", limit=2, offset=1)
    assert window["total"] == len(rings)
    assert [item["ring_id"] for item in window["items"]] == [r.ring_id for r in rings[1:3]]


def test_ring_queue_filters(served: Served) -> None:
    rings = rings_of(served)
    kinds = {ring.kind for ring in rings}
    assert len(kinds) >= 2
    for kind in ("loop", "pair", "sybil_farm", "implausible", "dense"):
        page = served.get("/v1/rings", kind=kind)
        assert [i["ring_id"] for i in page["items"]] == [r.ring_id for r in rings if r.kind == kind]
    for status in ("open", "confirmed", "dismissed"):
        page = served.get("/v1/rings", status=status)
        assert page["total"] == sum(ring.status == status for ring in rings)
    middle = float(np.median([ring.score for ring in rings]))
    above = served.get("/v1/rings", min_score=middle)
    below = served.get("/v1/rings", max_score=middle)
    assert above["total"] == sum(ring.score >= middle for ring in rings)
    assert below["total"] == sum(ring.score <= middle for ring in rings)
    assert all(item["score"] >= middle for item in above["items"])
    member = rings[0].members[0]
    mine = served.get("/v1/rings", member_id=member)
    assert [i["ring_id"] for i in mine["items"]] == [
        r.ring_id for r in rings if member in r.members
    ]
    assert served.get("/v1/rings", member_id="nobody")["total"] == 0
    both = served.get("/v1/rings", kind=rings[0].kind, min_score=rings[0].score, status="open")
    assert rings[0].ring_id in [i["ring_id"] for i in both["items"]]


def test_ring_detail_evidence_is_consistent(served: Served) -> None:
    members = expected_members(served).set_index("member_id")
    sessions = served.data.sessions.set_index("session_id")
    with served.open() as store:
        rings = store.rings()
        trails = {ring.ring_id: store.ring_reviews(ring.ring_id) for ring in rings}
    for ring in rings:
        detail = served.get(f"/v1/rings/{ring.ring_id}")
        assert detail["ring_id"] == ring.ring_id
        assert detail["member_ids"] == list(ring.members)
        assert detail["session_ids"] == list(ring.session_ids)
        assert detail["members"] == len(ring.members)
        assert len(detail["reviews"]) == len(trails[ring.ring_id])
        evidence = detail["evidence"]
        assert evidence["missing"] == {"members": 0, "sessions": 0}
        nodes = {node["member_id"]: node for node in evidence["nodes"]}
        assert set(nodes) == set(ring.members)
        for member_id, node in nodes.items():
            row = members.loc[member_id]
            assert_row(node, row, ["trust_score", "fraud_risk", "tier", "community_id"])
        shown = pd.DataFrame(evidence["sessions"])
        assert sorted(shown["session_id"]) == sorted(ring.session_ids)
        raw = sessions.loc[list(shown["session_id"])]
        assert list(shown["helper_id"]) == list(raw["helper_id"])
        assert list(shown["recipient_id"]) == list(raw["recipient_id"])
        assert list(shown["hours"]) == pytest.approx(list(raw["hours"]))
        assert list(shown["status"]) == list(raw["status"])
        started = [parse_time(t) for t in shown["started_at"]]
        assert started == list(pd.to_datetime(raw["started_at"]))
        assert started == sorted(started)
        assert set(shown["helper_id"]) | set(shown["recipient_id"]) <= set(ring.members)
        edges = (
            raw.assign(started=pd.to_datetime(raw["started_at"]))
            .groupby(["helper_id", "recipient_id"])
            .agg(sessions=("hours", "size"), hours=("hours", "sum"), first=("started", "min"))
        )
        assert len(evidence["edges"]) == len(edges)
        for edge in evidence["edges"]:
            want = edges.loc[(edge["helper_id"], edge["recipient_id"])]
            assert edge["sessions"] == want["sessions"]
            assert edge["hours"] == pytest.approx(want["hours"])
            assert parse_time(edge["first_at"]) == want["first"]
        assert sum(edge["hours"] for edge in evidence["edges"]) == pytest.approx(ring.hours)


def test_unknown_ring_is_a_404_problem(served: Served) -> None:
    answer = served.client.get("/v1/rings/loop-000000000000", headers=served.as_("viewer"))
    body = assert_problem(answer, 404, "not-found")
    assert "loop-000000000000" in body["detail"]


# Growth --------------------------------------------------------------------------------------


def growth_rows(served: Served, community: str | None) -> pd.DataFrame:
    table = served.tables()["growth.csv"]
    if community is None:
        return table[table["scope"] == "all"].reset_index(drop=True)
    chosen = (table["scope"] == "community") & (table["community_id"] == community)
    return table[chosen].reset_index(drop=True)


def assert_months(months: list[dict[str, Any]], table: pd.DataFrame, column: str) -> None:
    assert len(months) == len(table)
    for month, (_, row) in zip(months, table.iterrows(), strict=True):
        assert parse_time(month[column]) == pd.Timestamp(row[column])
        for name, value in month.items():
            if name != column:
                assert same(value, row[name]), (name, value, row[name])


def test_growth_series_overall_and_per_community(served: Served) -> None:
    raw = served.data
    confirmed = raw.sessions[raw.sessions["status"] == "confirmed"]
    overall = served.get("/v1/growth")
    assert overall["community_id"] is None
    assert_months(overall["months"], growth_rows(served, None), "month")
    months = overall["months"]
    assert sum(m["new_members"] for m in months) == len(raw.members)
    assert months[-1]["members_total"] == len(raw.members)
    assert sum(m["sessions"] for m in months) == len(confirmed)
    assert sum(m["hours"] for m in months) == pytest.approx(confirmed["hours"].sum())
    for community in sorted(set(raw.members["community_id"])):
        body = served.get("/v1/growth", community_id=community)
        assert body["community_id"] == community
        assert_months(body["months"], growth_rows(served, community), "month")
        joined = int((raw.members["community_id"] == community).sum())
        assert sum(m["new_members"] for m in body["months"]) == joined


def test_growth_series_between_months(served: Served) -> None:
    table = growth_rows(served, None)
    months = pd.to_datetime(table["month"])
    start = months[3] + pd.Timedelta(days=14)  # mid-month: from that month on
    end = months[8] + pd.Timedelta(days=9)  # up to the month containing it
    body = served.get("/v1/growth", start=f"{start.isoformat()}Z", end=f"{end.isoformat()}Z")
    assert [parse_time(m["month"]) for m in body["months"]] == list(months[3:9])
    empty = served.get("/v1/growth", start="2099-01-01T00:00:00Z")
    assert empty["months"] == []


def test_growth_communities_cohorts_and_recruitment(served: Served) -> None:
    raw = served.data.members
    communities = served.client.get("/v1/growth/communities", headers=served.as_("viewer"))
    assert communities.json() == sorted(set(raw["community_id"]))
    cohorts = served.get("/v1/growth/cohorts")
    table = served.tables()["cohorts.csv"]
    overall = table[table["scope"] == "all"].drop(columns=["scope", "community_id"])
    assert_months(cohorts["cells"], overall.reset_index(drop=True), "cohort")
    joined = pd.to_datetime(raw["joined_at"]).dt.to_period("M").value_counts()
    for cell in cohorts["cells"]:
        if cell["months_since_joining"] == 0:
            month = pd.Period(parse_time(cell["cohort"]), "M")
            assert cell["cohort_size"] == joined[month]
            assert cell["active"] <= cell["cohort_size"]
    recruitment = served.get("/v1/growth/recruitment")
    rows = growth_rows(served, None)
    columns = ["month", *(m for m in recruitment["months"][0] if m != "month")]
    assert_months(recruitment["months"], rows[columns], "month")
    assert recruitment["warning"] is bool(rows["recruitment_driven"].iloc[-1])
    assert same(recruitment["latest_k_factor"], rows["k_factor"].iloc[-1])


def test_cohorts_of_one_community(served: Served) -> None:
    """The cohorts route takes a community; its cohorts hold that community's members."""
    raw = served.data.members
    for community in sorted(set(raw["community_id"]))[:2]:
        body = served.get("/v1/growth/cohorts", community_id=community)
        assert body["community_id"] == community
        mine = raw[raw["community_id"] == community]
        joined = pd.to_datetime(mine["joined_at"]).dt.to_period("M").value_counts()
        first = {
            pd.Period(parse_time(cell["cohort"]), "M"): cell["cohort_size"]
            for cell in body["cells"]
            if cell["months_since_joining"] == 0
        }
        assert first == {month: int(size) for month, size in joined.items()}


def test_growth_of_an_unknown_community_is_a_404_problem(served: Served) -> None:
    for path in ("/v1/growth", "/v1/growth/cohorts", "/v1/growth/recruitment"):
        answer = served.client.get(
            path, params={"community_id": "c999"}, headers=served.as_("viewer")
        )
        assert "c999" in assert_problem(answer, 404, "not-found")["detail"]


def test_analysis_info(served: Served) -> None:
    body = served.get("/v1/analysis")
    assert body["members"] == len(served.data.members)
    assert body["sessions"] == len(served.data.sessions)
    assert (body["policy"], body["ledger"]) == ("default", "minting")
    assert {"trust", "fanout", "rings", "tiers", "growth"} <= set(body["seconds"])
    assert parse_time(body["computed_at"]) <= pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))


# Errors and bounds ---------------------------------------------------------------------------

#: Out-of-bounds input: path, query, the field the problem must name.
BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/members", {"limit": 501}, "query.limit"),
    ("/v1/members", {"limit": 0}, "query.limit"),
    ("/v1/members", {"offset": -1}, "query.offset"),
    ("/v1/members", {"sort": "display_name"}, "query.sort"),
    ("/v1/members", {"sort": "--balance"}, "query.sort"),
    ("/v1/members", {"tier": "gold"}, "query.tier"),
    ("/v1/members", {"trust_min": 1.5}, "query.trust_min"),
    ("/v1/members", {"trust_max": -0.1}, "query.trust_max"),
    ("/v1/members", {"joined_from": "last tuesday"}, "query.joined_from"),
    ("/v1/members", {"community_id": "c" * 101}, "query.community_id"),
    ("/v1/members/m000002", {"depth": 7}, "query.depth"),
    ("/v1/members/m000002", {"max_nodes": 2001}, "query.max_nodes"),
    ("/v1/members/m000002", {"explain_top": 51}, "query.explain_top"),
    ("/v1/members/" + "m" * 101, {}, "path.member_id"),
    ("/v1/trust/ranking", {"order": "sideways"}, "query.order"),
    ("/v1/trust/ranking", {"limit": 501}, "query.limit"),
    ("/v1/trust/distribution", {"bins": 101}, "query.bins"),
    ("/v1/tiers/promotion", {"limit": 501}, "query.limit"),
    ("/v1/rings", {"limit": 201}, "query.limit"),
    ("/v1/rings", {"kind": "cartel"}, "query.kind"),
    ("/v1/rings", {"status": "closed"}, "query.status"),
    ("/v1/rings", {"min_score": 2}, "query.min_score"),
    ("/v1/rings", {"member_id": "m" * 101}, "query.member_id"),
    ("/v1/rings/" + "r" * 201, {}, "path.ring_id"),
    ("/v1/growth", {"community_id": "c" * 101}, "query.community_id"),
    ("/v1/growth", {"start": "soon"}, "query.start"),
    ("/v1/growth", {"end": "1700000000"}, "query.end"),
    ("/v1/members", {"joined_from": "2025-02-30"}, "query.joined_from"),
    ("/v1/members", {"joined_before": "2025-01-01 10:00"}, "query.joined_before"),
    ("/v1/jobs/" + "j" * 65, {}, "path.job_id"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_INPUT, ids=[b[2] for b in BAD_INPUT])
def test_bounded_input_is_a_422_naming_the_field(
    served: Served, path: str, params: dict[str, Any], field: str
) -> None:
    answer = served.client.get(path, params=params, headers=served.as_("admin"))
    body = assert_problem(answer, 422, "validation", fields=(field,))
    assert all(error["message"] for error in body["errors"])


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-06-01", "2024-06-01T00:00:00"),
        ("2024-06-01T08:00", "2024-06-01T08:00:00"),
        ("2024-06-01T08:00:00+08:00", "2024-06-01T00:00:00"),
        ("2024-06-01T00:00:00Z", "2024-06-01T00:00:00"),
    ],
)
def test_dates_in_queries_are_utc_unless_they_say_otherwise(
    served: Served, text: str, moment: str
) -> None:
    joined = served.service.view.snapshot.members["joined_at"]
    expected = int((joined >= pd.Timestamp(moment)).sum())
    assert 0 < expected < len(joined)
    assert served.get("/v1/members", joined_from=text, limit=1)["total"] == expected


def test_bad_what_if_bodies_are_422_naming_the_field(served: Served) -> None:
    viewer = served.as_("viewer")
    cases = [
        ({"policy": "x" * 65_537}, "body.policy"),
        ({"policy": ""}, "body.policy"),
        ({}, "body.policy"),
        ({"policy": default_policy_text(), "current": "x" * 65_537}, "body.current"),
        ({"policy": default_policy_text(), "extra": 1}, "body.extra"),
    ]
    for payload, field in cases:
        answer = served.client.post("/v1/tiers/what-if", json=payload, headers=viewer)
        assert_problem(answer, 422, "validation", fields=(field,))
    garbled = served.client.post(
        "/v1/tiers/what-if",
        content=b"{not json",
        headers={**viewer, "content-type": "application/json"},
    )
    assert_problem(garbled, 422, "validation")


def test_unknown_routes_and_methods_are_problems(served: Served) -> None:
    admin = served.as_("admin")
    for path in ("/v1/nope", "/v2/members", "/", "/v1/members/m000002/friends"):
        body = assert_problem(served.client.get(path, headers=admin), 404, "not-found")
        assert body["instance"] == path
    assert_problem(served.client.get("/v1/nope"), 404, "not-found")  # no key needed to learn
    moved = served.client.delete("/v1/members", headers=admin)
    assert_problem(moved, 405, "method-not-allowed")
    assert moved.headers["allow"] == "GET"


def test_no_problem_shows_a_trace_or_a_path(served: Served) -> None:
    """Every error answer met above, once more in one place, searched for leaks."""
    admin = served.as_("admin")
    answers = [
        served.client.get(path, params=params, headers=admin) for path, params, _ in BAD_INPUT
    ]
    answers += [
        served.client.get("/v1/members/nobody", headers=admin),
        served.client.get("/v1/rings/nothing", headers=admin),
        served.client.get("/v1/members"),
        served.client.post("/v1/tiers/what-if", json={"policy": "["}, headers=admin),
        served.client.post("/v1/ingest", files={"files": ("x.exe", b"MZ")}, headers=admin),
    ]
    for answer in answers:
        assert answer.status_code >= 400
        assert_clean(answer)
        if served.backend == "sqlite":
            assert served.service.location not in answer.text
