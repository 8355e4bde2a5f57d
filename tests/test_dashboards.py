"""The dashboards under /dashboards/, driven over HTTP the way the browser drives them: the login
form, the page shell, ``_dash-layout``, ``_dash-dependencies`` and ``_dash-update-component``
with the payloads Dash's renderer posts.

A generated network is ingested into an embedded store and served (API and dashboards in one
app) for the module; decisions are made on apps of their own. Expected values come from the raw
generated tables, the analysis tables read with pandas, and the store read through a connection
of our own — not from the view or the figure functions the dashboards call.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.websockets import WebSocketDisconnect

from dashboards.access import COOKIE, Sessions, output_ids
from graph.api.main import create_app
from graph.api.service import ApiService
from graph.config import ApiKey, ApiSettings, add_key, hash_key
from graph.ingest import ingest
from graph.metrics.tiers import TIER_LEVELS
from graph.model import Ring
from graph.policy import default_policy_text, load_policy
from graph.store import GraphStore, open_store
from tests.conftest import NOW, ingest_generated
from tests.test_api import (
    Served,
    assert_problem,
    count_nodes,
    expected_downline,
    make_keys,
    serving,
)
from tests.test_api_security import serve
from tests.test_views import expected_promotion_order

PEOPLE = (("vic", "viewer"), ("rev", "reviewer"), ("adm", "admin"))
PAGES = ("growth", "referrals", "tiers", "rings", "trust")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A generated network with planted fraud rings, served with the keys of :data:`PEOPLE`;
    only read here."""
    with serving(
        "sqlite",
        tmp_path_factory.mktemp("dashboards"),
        None,
        lambda store: ingest_generated(store, members=1500, seed=23),
        roles=PEOPLE,
    ) as app:
        yield app


@pytest.fixture
def deciding(tmp_path: Path) -> Iterator[Served]:
    """The same network served afresh, for tests that record decisions."""
    with serving(
        "sqlite",
        tmp_path,
        None,
        lambda store: ingest_generated(store, members=1500, seed=23),
        roles=PEOPLE,
    ) as app:
        yield app


# A browser, as far as the server can tell ------------------------------------------------------


class Browser:
    """One logged-in session: its cookie, and Dash's requests as the renderer makes them."""

    def __init__(self, served: Served, name: str) -> None:
        self.served = served
        self.name = name
        answer = served.client.post(
            "/dashboards/login", data={"key": served.keys[name]}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        self.token = answer.cookies[COOKIE]
        # The client's jar is shared by the module; each browser sends its own cookie.
        served.client.cookies.clear()
        self.dependencies: list[dict[str, Any]] = self.get("/dashboards/_dash-dependencies").json()

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.token}"}

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.served.client.get(path, headers=self.headers, **kwargs)

    def post_callback(self, body: dict[str, Any]) -> Response:
        return self.served.client.post(
            "/dashboards/_dash-update-component", json=body, headers=self.headers
        )

    def body(
        self,
        output: str,
        inputs: dict[str, Any],
        state: dict[str, Any] | None = None,
        *,
        changed: list[str] | None = None,
    ) -> dict[str, Any]:
        """The request the renderer posts for the callback whose outputs include ``output``
        (``id.prop``), with ``inputs`` and ``state`` as ``{"id.prop": value}``."""
        matches = [
            spec
            for spec in self.dependencies
            if any(part.split("@")[0] == output for part in _parts(spec["output"]))
            and "@" not in next(p for p in _parts(spec["output"]) if p.split("@")[0] == output)
        ]
        assert len(matches) == 1, (output, [spec["output"] for spec in matches])
        spec = matches[0]
        outputs = [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
            for part in _parts(spec["output"])
        ]

        def values(items: list[dict[str, Any]], given: dict[str, Any]) -> list[dict[str, Any]]:
            return [
                {**item, "value": given.get(f"{item['id']}.{item['property']}")} for item in items
            ]

        return {
            "output": spec["output"],
            "outputs": outputs if spec["output"].startswith("..") else outputs[0],
            "inputs": values(spec["inputs"], inputs),
            "state": values(spec["state"], state or {}),
            "changedPropIds": list(inputs) if changed is None else changed,
        }

    def call(
        self,
        output: str,
        inputs: dict[str, Any],
        state: dict[str, Any] | None = None,
        *,
        changed: list[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Run a callback; its response as ``{component id: {prop: value}}``."""
        answer = self.post_callback(self.body(output, inputs, state, changed=changed))
        assert answer.status_code == 200, answer.text
        response: dict[str, dict[str, Any]] = answer.json()["response"]
        return response

    def page(self, name: str) -> Any:
        """The page's content, as the navigation callback renders it."""
        return self.call("page.children", {"url.pathname": f"/dashboards/{name}"})["page"][
            "children"
        ]


def _parts(output: str) -> list[str]:
    return output.removeprefix("..").removesuffix("..").split("...")


def array(value: Any) -> np.ndarray:
    """A figure's data array, as plotly writes it (a list, or base64 typed-array data)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape(value["shape"]) if "shape" in value else flat
    return np.asarray(value)


def trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    found = [t for t in figure["data"] if t.get("name") == name]
    assert len(found) == 1, (name, [t.get("name") for t in figure["data"]])
    return found[0]


def months(values: Any) -> list[str]:
    """Plotly's x values (dates as ISO text) as ``YYYY-MM``."""
    return [str(v)[:7] for v in array(values).tolist()]


def find(component: Any, component_id: str) -> Any:
    """The component with this id in a Dash component tree (JSON), or None."""
    if isinstance(component, list):
        for item in component:
            hit = find(item, component_id)
            if hit is not None:
                return hit
        return None
    if not isinstance(component, dict) or "props" not in component:
        return None
    if component["props"].get("id") == component_id:
        return component
    return find(component["props"].get("children"), component_id)


def text(component: Any) -> str:
    """All text in a component tree, space-separated."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list):
        return " ".join(text(item) for item in component)
    if isinstance(component, dict) and "props" in component:
        return text(component["props"].get("children") or "")
    return ""


def table_rows(component: Any) -> list[list[str]]:
    """The body rows of an HTML table component, as cell texts."""
    assert component is not None
    assert component["type"] == "Table", component["type"]
    body = next(part for part in component["props"]["children"] if part["type"] == "Tbody")
    return [[text(cell) for cell in row["props"]["children"]] for row in body["props"]["children"]]


def stored_rings(served: Served) -> list[Ring]:
    with served.open() as store:
        return store.rings()


# Login, sessions, roles ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "role"), PEOPLE)
def test_login_sets_a_session_cookie_and_every_page_renders(
    served: Served, name: str, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="graph.api.access")
    form = served.client.get("/dashboards/login")
    assert form.status_code == 200
    assert 'id="login-form"' in form.text.replace("'", '"')
    sessions: Sessions = served.app.state.dashboard_sessions
    before = len(sessions)
    answer = served.client.post(
        "/dashboards/login",
        data={"key": served.keys[name], "next": "/dashboards/tiers"},
        follow_redirects=False,
    )
    served.client.cookies.clear()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboards/tiers"
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/dashboards" in cookie.lower()
    token = answer.cookies[COOKIE]
    assert len(token) >= 40
    assert served.keys[name] not in cookie
    assert len(sessions) == before + 1
    key = sessions.key(token)
    assert key is not None
    assert (key.name, key.role) == (name, role)

    headers = {"Cookie": f"{COOKIE}={token}"}
    for path in ["/dashboards/", *(f"/dashboards/{page}" for page in PAGES)]:
        page = served.client.get(path, headers=headers)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        config = re.search(
            r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text
        )
        assert config is not None, path
        assert json.loads(config.group(1))["requests_pathname_prefix"] == "/dashboards/"
        assert page.headers["x-frame-options"] == "DENY"
    layout = served.client.get("/dashboards/_dash-layout", headers=headers)
    assert layout.status_code == 200
    for element in ("url", "nav", *(f"nav-{page}" for page in PAGES), "nav-logout", "page"):
        assert find(layout.json(), element) is not None, element

    browser = Browser(served, name)
    shown = browser.call("page.children", {"url.pathname": "/dashboards/rings"})
    assert shown["nav-user"]["children"] == f"{name} ({role})"
    rings_page = shown["page"]["children"]
    can_decide = role in ("reviewer", "admin")
    for element in ("review-panel", "review-note", "ring-confirm", "ring-dismiss"):
        assert (find(rings_page, element) is not None) == can_decide, element
    assert (find(rings_page, "review-readonly") is not None) == (not can_decide)

    logged = [record.getMessage() for record in caplog.records]
    assert any("POST /dashboards/login 303" in line and f"key={name}" in line for line in logged)
    assert any("GET /dashboards/_dash-layout 200" in line for line in logged)
    assert not any(served.keys[name] in line for line in logged)


def test_a_wrong_key_gets_the_form_again_and_no_session(served: Served) -> None:
    sessions: Sessions = served.app.state.dashboard_sessions
    before = len(sessions)
    for key in ("tbk_not-a-key", served.keys["vic"] + "x", "", "x" * 600):
        answer = served.client.post("/dashboards/login", data={"key": key})
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
        assert 'id="login-error"' in answer.text.replace("'", '"')
    assert len(sessions) == before


@pytest.mark.parametrize("path", ["/dashboards/", *(f"/dashboards/{page}" for page in PAGES)])
def test_a_page_without_a_session_sends_you_to_the_login(served: Served, path: str) -> None:
    for headers in ({}, {"Cookie": f"{COOKIE}=forged-token"}):
        answer = served.client.get(path, headers=headers, follow_redirects=False)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith("/dashboards/login")
        if path != "/dashboards/":
            assert location == f"/dashboards/login?next={path}"
    # The form carries the page on, and the login returns there.
    form = served.client.get(f"/dashboards/login?next={path}")
    assert f"value='{path}'" in form.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dashboards/_dash-layout"),
        ("GET", "/dashboards/_dash-dependencies"),
        ("POST", "/dashboards/_dash-update-component"),
        ("GET", "/dashboards/_reload-hash"),
    ],
)
def test_dash_routes_without_a_session_are_401_problems(
    served: Served, method: str, path: str
) -> None:
    browser = Browser(served, "vic")
    body = browser.body("page.children", {"url.pathname": "/dashboards/growth"})
    for headers in ({}, {"Cookie": f"{COOKIE}=forged-token"}):
        answer = served.client.request(
            method, path, headers=headers, json=body if method == "POST" else None
        )
        assert_problem(answer, 401, "unauthorized")


def test_logout_ends_the_session_on_the_server(served: Served) -> None:
    browser = Browser(served, "rev")
    assert browser.get("/dashboards/_dash-layout").status_code == 200
    answer = served.client.get(
        "/dashboards/logout", headers=browser.headers, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboards/login"
    assert f"{COOKIE}=" in answer.headers["set-cookie"]
    assert "max-age=0" in answer.headers["set-cookie"].lower()
    served.client.cookies.clear()
    # The old token is worthless even to a client that kept it.
    assert_problem(browser.get("/dashboards/_dash-layout"), 401, "unauthorized")
    assert browser.get("/dashboards/rings", follow_redirects=False).status_code == 303


def test_static_files_need_no_session_and_other_paths_keep_their_404s(served: Served) -> None:
    assert served.client.get("/dashboards/_favicon.ico").status_code == 200
    browser = Browser(served, "vic")
    shell = browser.get("/dashboards/growth").text
    scripts = re.findall(r'<script src="([^"]+)"', shell)
    assert scripts
    for src in scripts:
        answer = served.client.get(src)  # no cookie
        assert answer.status_code == 200, src
        assert "javascript" in answer.headers["content-type"]
    # Nothing answers the API's unknown paths with a dashboard page (Dash's catch-all is out).
    assert_problem(served.client.get("/v1/no-such-route"), 404, "not-found")
    assert_problem(served.client.get("/no-such-page"), 404, "not-found")
    assert_problem(browser.get("/dashboards/no-such-page"), 404, "not-found")
    # And the API still wants its keys: a dashboard session is not an API key.
    assert_problem(browser.get("/v1/members"), 401, "unauthorized")


def test_websockets_are_refused(served: Served) -> None:
    browser = Browser(served, "adm")
    for headers in ({}, browser.headers):
        with (
            pytest.raises(WebSocketDisconnect),
            served.client.websocket_connect("/dashboards/_dash-ws-callback", headers=headers),
        ):
            pass


def test_sessions_expire_and_close() -> None:
    key = ApiKey(name="kim", role="viewer", sha256=hash_key("tbk_kim"))
    sessions = Sessions(seconds=0.0)
    assert sessions.key(sessions.open(key)) is None  # expired at once
    sessions = Sessions(seconds=60.0, limit=2)
    first, second, third = (sessions.open(key) for _ in range(3))
    assert len({first, second, third}) == 3
    assert sessions.key(first) is None  # the oldest went when the limit was passed
    assert sessions.key(second) == key
    sessions.close(second)
    assert sessions.key(second) is None
    assert sessions.key(third) == key
    assert sessions.key(None) is None
    assert sessions.key("") is None


def test_output_ids_reads_dash_output_specs() -> None:
    assert output_ids("page.children") == {"page"}
    assert output_ids("..review-result.children...ring-title.children@9f..") == {
        "review-result",
        "ring-title",
    }
    assert output_ids(None) == set()


# Growth ----------------------------------------------------------------------------------------


def expected_members_total(members: pd.DataFrame, month_list: list[str]) -> list[int]:
    joined = pd.to_datetime(members["joined_at"]).dt.strftime("%Y-%m")
    return [int((joined <= month).sum()) for month in month_list]


def test_growth_charts_follow_the_community_and_date_filters(served: Served) -> None:
    browser = Browser(served, "vic")
    page = browser.page("growth")
    communities = sorted(served.data.members["community_id"].dropna().unique())
    dropdown = find(page, "growth-community")
    assert [option["value"] for option in dropdown["props"]["options"]] == communities

    def growth(community: str | None, start: str | None, end: str | None) -> dict[str, Any]:
        return browser.call(
            "growth-chart-members.figure",
            {
                "growth-community.value": community,
                "growth-dates.start_date": start,
                "growth-dates.end_date": end,
            },
        )

    everything = growth(None, None, None)
    members = everything["growth-chart-members"]["figure"]
    total = trace(members, "members (cumulative)")
    shown = months(total["x"])
    assert shown == sorted(shown)
    assert array(total["y"]).tolist() == expected_members_total(served.data.members, shown)
    assert array(total["y"])[-1] == len(served.data.members)
    sessions = served.data.sessions
    confirmed = sessions[sessions["status"] == "confirmed"]
    per_month = pd.to_datetime(confirmed["started_at"]).dt.strftime("%Y-%m").value_counts()
    activity = trace(everything["growth-chart-activity"]["figure"], "confirmed sessions")
    assert array(activity["y"]).tolist() == [
        int(per_month.get(m, 0)) for m in months(activity["x"])
    ]
    for chart in ("growth-chart-credits", "growth-recruitment", "growth-cohorts"):
        data = everything[chart]["figure"]["data"]
        assert data
        assert any(array(t.get("y", t.get("z", []))).size for t in data), chart
    joined_months = sorted(
        set(pd.to_datetime(served.data.members["joined_at"]).dt.strftime("%Y-%m"))
    )
    heatmap = everything["growth-cohorts"]["figure"]["data"][0]
    assert list(heatmap["y"]) == joined_months
    assert everything["growth-kfactor"]["children"].startswith(f"Latest month {shown[-1]}")

    # One community: its own members only.
    community = communities[1]
    own = growth(community, None, None)
    own_total = trace(own["growth-chart-members"]["figure"], "members (cumulative)")
    in_community = served.data.members[served.data.members["community_id"] == community]
    assert array(own_total["y"]).tolist() == expected_members_total(
        in_community, months(own_total["x"])
    )
    assert array(own_total["y"])[-1] == len(in_community) < len(served.data.members)
    own_months = sorted(set(pd.to_datetime(in_community["joined_at"]).dt.strftime("%Y-%m")))
    assert list(own["growth-cohorts"]["figure"]["data"][0]["y"]) == own_months

    # A date range: only its months, values unchanged.
    start, end = shown[6], shown[17]
    ranged = growth(None, f"{start}-01", f"{end}-15")
    ranged_total = trace(ranged["growth-chart-members"]["figure"], "members (cumulative)")
    assert months(ranged_total["x"]) == shown[6:18]
    assert array(ranged_total["y"]).tolist() == array(total["y"]).tolist()[6:18]
    # An unknown community changes nothing.
    unknown = browser.post_callback(
        browser.body(
            "growth-chart-members.figure",
            {
                "growth-community.value": "no-such-community",
                "growth-dates.start_date": None,
                "growth-dates.end_date": None,
            },
        )
    )
    assert unknown.status_code == 204


def pyramid_tables() -> dict[str, pd.DataFrame]:
    """Community c1 turns to recruiting: from May 2024 referrals double every month while help
    stays at 200 hours a month (recruitment balance 0.58, 0.74, 0.85 over the last three-month
    windows); community c2 takes twelve referrals a month with 400 hours of help (balance
    0.23)."""
    members: list[tuple[str, str, str]] = []
    sessions: list[tuple[str, str, str, float]] = []
    referrals: list[tuple[str, str, str]] = []
    for community, referred, hours in (
        ("c1", [12, 12, 12, 12, 24, 48, 96, 192], 200.0),
        ("c2", [12] * 8, 400.0),
    ):
        founder, helped = f"{community}-f0", f"{community}-f1"
        members += [(founder, "2024-01-01", community), (helped, "2024-01-01", community)]
        for i, newcomers in enumerate(referred):
            month = pd.Timestamp("2024-01-01") + pd.DateOffset(months=i)
            for j in range(newcomers):
                day = f"{month + pd.Timedelta(days=1 + j % 27):%Y-%m-%d}"
                members.append((f"{community}-n{i}-{j}", day, community))
                referrals.append((founder, f"{community}-n{i}-{j}", day))
            for j in range(int(hours // 20)):
                sessions.append(
                    (founder, helped, f"{month + pd.Timedelta(days=1 + j):%Y-%m-%d}T10:00", 20.0)
                )
    return {
        "members": pd.DataFrame(members, columns=["member_id", "joined_at", "community_id"]),
        "sessions": pd.DataFrame(
            {
                "session_id": [f"s{i}" for i in range(len(sessions))],
                "helper_id": [s[0] for s in sessions],
                "recipient_id": [s[1] for s in sessions],
                "started_at": [s[2] for s in sessions],
                "hours": [s[3] for s in sessions],
            }
        ),
        "referrals": pd.DataFrame(referrals, columns=["referrer_id", "referee_id", "referred_at"]),
    }


def ingest_pyramid(store: GraphStore) -> None:
    report = ingest(pyramid_tables(), store, now=NOW)
    assert report.all_accepted, report.rejects.head()


def test_the_warning_shows_when_growth_turns_recruitment_driven(tmp_path: Path) -> None:
    with serving("sqlite", tmp_path, None, ingest_pyramid, roles=PEOPLE) as served:
        browser = Browser(served, "vic")
        assert find(browser.page("growth"), "growth-warning")["props"]["hidden"] is True

        def growth(community: str) -> dict[str, Any]:
            return browser.call(
                "growth-chart-members.figure",
                {
                    "growth-community.value": community,
                    "growth-dates.start_date": None,
                    "growth-dates.end_date": None,
                },
            )

        pyramid = growth("c1")
        assert pyramid["growth-warning"]["hidden"] is False
        warning = pyramid["growth-warning"]["children"]
        assert "recruitment-driven" in warning
        assert "2024-08" in warning
        assert "community c1" in warning
        shaded = pyramid["growth-recruitment"]["figure"]["layout"]["shapes"]
        assert len(shaded) == 3  # June, July and August 2024
        service = growth("c2")
        assert service["growth-warning"]["hidden"] is True
        assert service["growth-warning"]["children"] == ""
        assert not service["growth-recruitment"]["figure"]["layout"].get("shapes")


# Referral explorer -----------------------------------------------------------------------------


def sunburst_ids(figure: dict[str, Any]) -> set[str]:
    return set(array(figure["data"][0]["ids"]).tolist())


def tree_ids(tree: dict[str, Any]) -> set[str]:
    return {tree["member_id"]}.union(*(tree_ids(child) for child in tree["children"]))


def test_referral_explorer_draws_downlines_fanout_and_the_share(served: Served) -> None:
    browser = Browser(served, "vic")
    page = browser.page("referrals")
    referrals = served.data.referrals
    direct = referrals.groupby("referrer_id").size()
    fanout = find(page, "referral-fanout")["props"]["figure"]
    drawn = {
        str(x): int(y)
        for bars in fanout["data"]
        for x, y in zip(array(bars["x"]).tolist(), array(bars["y"]).tolist(), strict=True)
    }
    labels = fanout["layout"]["xaxis"]["categoryarray"]
    assert sorted(labels) == sorted(drawn)
    assert sum(drawn.values()) == len(direct)
    for label in labels:  # a bar per count, then maybe one "≥ N" for every larger count
        first = int(label.removeprefix("≥ "))
        expected = (direct >= first) if label.startswith("≥") else (direct == first)
        assert drawn[label] == int(expected.sum()), label
    assert labels[:3] == ["1", "2", "3"]
    assert len(labels) < direct.max()  # the largest recruiter does not stretch the axis
    assert [bars["name"] for bars in fanout["data"]] == [
        "referred 1 or 2",
        "referred 3 or more (“1 refers 3”)",
    ]
    share = float((direct >= 3).mean())
    assert f"{len(direct):,} members who referred anyone, {share:.1%}" in text(
        find(page, "referral-share")
    )
    # The default member is the one with the largest downline.
    default = find(page, "referral-member")["props"]["value"]
    sizes = {
        m: count_nodes(expected_downline(served.data, m, depth=50, max_nodes=10**6)[0])
        for m in direct.index
    }
    assert sizes[default] == max(sizes.values())

    for depth in (1, 3):
        drawn = browser.call(
            "referral-sunburst.figure",
            {"referral-member.value": default, "referral-depth.value": depth},
        )
        tree, _ = expected_downline(served.data, default, depth=depth, max_nodes=500)
        assert sunburst_ids(drawn["referral-sunburst"]["figure"]) == tree_ids(tree)
        assert drawn["referral-error"]["children"] == ""
        stats = table_rows(drawn["referral-stats"]["children"])
        assert stats[0][0] == str(direct[default])
    assert len(tree_ids(expected_downline(served.data, default, depth=1, max_nodes=500)[0])) < len(
        tree_ids(tree)
    )
    missing = browser.call(
        "referral-sunburst.figure",
        {"referral-member.value": "m9999999", "referral-depth.value": 3},
    )
    assert missing["referral-error"]["children"] == "No member 'm9999999'."
    assert not missing["referral-sunburst"]["figure"]["data"]


# Tiers -----------------------------------------------------------------------------------------


def test_tiers_show_the_funnel_and_who_is_closest_to_promotion(served: Served) -> None:
    browser = Browser(served, "vic")
    page = browser.page("tiers")
    tiers = served.tables()["tiers.csv"]
    counts = tiers["tier"].astype(str).value_counts()
    levels = [tier for tier in TIER_LEVELS if tier != "none"]
    funnel = find(page, "tier-funnel")["props"]["figure"]["data"][0]
    assert array(funnel["x"]).tolist() == [
        int(sum(counts.get(t, 0) for t in levels[i:])) for i in range(len(levels))
    ]
    assert table_rows(find(page, "tier-counts")) == [
        [tier, str(int(counts.get(tier, 0)))] for tier in TIER_LEVELS
    ]
    candidates = expected_promotion_order(tiers, load_policy()).head(50)
    rows = table_rows(find(page, "tier-promotion"))
    assert [row[0] for row in rows] == list(candidates["member_id"])
    assert [float(row[3].removesuffix("%")) for row in rows] == pytest.approx(
        list(100 * candidates["shortfall"]), rel=5e-3
    )
    assert [row[4] for row in rows] == list(candidates["missing"])
    assert find(page, "tier-policy")["props"]["value"] == default_policy_text()


def test_the_what_if_editor_shows_the_shift_or_names_the_bad_key(served: Served) -> None:
    browser = Browser(served, "vic")
    counts = served.tables()["tiers.csv"]["tier"].astype(str).value_counts()
    count = {tier: int(counts.get(tier, 0)) for tier in TIER_LEVELS}

    def what_if(policy: str, clicks: int = 1) -> dict[str, Any]:
        return browser.call(
            "tier-whatif-chart.figure",
            {"tier-whatif-run.n_clicks": clicks},
            {"tier-policy.value": policy},
        )

    same = what_if(default_policy_text(), clicks=0)
    assert same["tier-whatif-error"]["children"] == ""
    assert "0 members move up, 0 move down" in same["tier-whatif-summary"]["children"]
    # Nobody can head a community any more: everyone above time volunteer falls back to it.
    strict = default_policy_text().replace('name = "default"', 'name = "strict"')
    for needed in (1, 2, 3):
        strict = strict.replace(f"active_referrals = {needed}\n", "active_referrals = 100000\n")
    assert strict.count("100000") == 3
    shifted = what_if(strict)
    above = count["community_head"] + count["symbiotic_member"] + count["city_partner"]
    assert above > 0
    assert shifted["tier-whatif-summary"]["children"] == (
        f"Under 'strict' instead of 'default': 0 members move up, {above:,} move down, "
        f"{len(served.data.members) - above:,} stay."
    )
    after = {**count, "time_volunteer": count["time_volunteer"] + above}
    after.update(community_head=0, symbiotic_member=0, city_partner=0)
    shift = table_rows(shifted["tier-whatif-shift"]["children"])
    assert shift == [
        [tier, str(count[tier]), str(after[tier]), str(after[tier] - count[tier])]
        for tier in TIER_LEVELS
    ]
    transitions = table_rows(shifted["tier-whatif-transitions"]["children"])
    volunteer_column = 1 + TIER_LEVELS.index("time_volunteer")
    for row, tier in zip(transitions, TIER_LEVELS, strict=True):
        assert row[0] == tier
        if tier in ("community_head", "symbiotic_member", "city_partner"):
            assert row[volunteer_column] == str(count[tier])
    chart = shifted["tier-whatif-chart"]["figure"]
    assert array(trace(chart, "alternative policy")["y"]).tolist() == [
        after[t] for t in TIER_LEVELS
    ]

    broken = default_policy_text().replace("active_referrals = 1\n", 'active_referrals = "one"\n')
    refused = what_if(broken)
    assert "tiers.community_head.active_referrals" in refused["tier-whatif-error"]["children"]
    assert refused["tier-whatif-summary"]["children"] == ""
    assert not refused["tier-whatif-chart"]["figure"]["data"]
    assert "empty" in what_if("  ")["tier-whatif-error"]["children"]


# Fraud review ----------------------------------------------------------------------------------


def test_the_ring_queue_and_a_rings_evidence(served: Served) -> None:
    browser = Browser(served, "vic")
    rings = stored_rings(served)
    assert len(rings) >= 3
    open_rings = sorted(
        (ring for ring in rings if ring.status == "open"), key=lambda ring: -ring.score
    )

    def queue(status: str, selected: str | None = None) -> dict[str, Any]:
        return browser.call(
            "ring-queue.children",
            {"ring-status-filter.value": status},
            {"ring-select.value": selected},
        )

    listed = queue("open")
    rows = table_rows(listed["ring-queue"]["children"])
    assert [row[0] for row in rows] == [ring.ring_id for ring in open_rings]
    by_id = {ring.ring_id: ring for ring in rings}
    for row in rows:
        ring = by_id[row[0]]
        assert row[1:5] == [
            ring.kind,
            ring.status,
            f"{ring.score:.3f}".rstrip("0"),
            str(len(ring.members)),
        ]
        assert row[6] == "; ".join(ring.reasons)
    assert listed["ring-select"]["value"] == open_rings[0].ring_id
    assert [o["value"] for o in listed["ring-select"]["options"]] == [r.ring_id for r in open_rings]
    assert queue("open", open_rings[1].ring_id)["ring-select"]["value"] == open_rings[1].ring_id
    nothing = queue("confirmed")
    assert text(nothing["ring-queue"]["children"]) == "No rings with this status."
    assert nothing["ring-select"]["value"] is None

    # A click on a ring's button in the queue selects it.
    picks = [
        {"id": {"index": ring.ring_id, "type": "ring-pick"}, "property": "n_clicks"}
        for ring in open_rings
    ]
    picks[2]["value"] = 1
    pick = browser.post_callback(
        {
            "output": next(
                spec["output"]
                for spec in browser.dependencies
                if spec["output"].startswith("ring-select.value@")
            ),
            "outputs": {"id": "ring-select", "property": "value"},
            "inputs": [picks],
            "state": [],
            "changedPropIds": [json.dumps(picks[2]["id"], separators=(",", ":")) + ".n_clicks"],
        }
    )
    assert pick.status_code == 200, pick.text
    assert list(pick.json()["response"]["ring-select"].values()) == [open_rings[2].ring_id]

    ring = max(open_rings, key=lambda ring: len(ring.session_ids))
    shown = browser.call("ring-title.children", {"ring-select.value": ring.ring_id})
    # The id starts with the kind, so the title names the ring by its id alone.
    assert shown["ring-title"]["children"].startswith(f"{ring.ring_id} — {ring.status}")
    assert [text(item) for item in shown["ring-reasons"]["children"]] == list(ring.reasons)
    network = shown["ring-network"]["figure"]
    members = trace(network, "members")
    assert sorted(members["text"]) == sorted(ring.members)
    risk = served.tables()["risk.csv"].set_index("member_id")["fraud_risk"]
    np.testing.assert_allclose(
        array(members["marker"]["color"]), [risk[m] for m in members["text"]]
    )
    sessions = served.data.sessions.set_index("session_id").loc[list(ring.session_ids)]
    pairs = sessions.groupby(["helper_id", "recipient_id"])["hours"].agg(["size", "sum"])
    edges = trace(network, "help (helper → recipient)")["hovertext"]
    assert len(edges) == len(pairs)
    for (helper, recipient), (n, hours) in pairs.iterrows():
        assert any(
            e.startswith(f"{helper} helped {recipient}: {int(n)} sessions, {hours:.1f} h")
            for e in edges
        )
    timeline = shown["ring-timeline"]["figure"]["data"][0]
    assert len(array(timeline["x"])) == len(ring.session_ids)
    assert sorted(array(timeline["y"]).tolist()) == sorted(sessions["helper_id"])
    assert text(shown["audit-trail"]["children"]) == "No decisions yet."
    unknown = browser.call("ring-title.children", {"ring-select.value": "loop-unknown"})
    assert unknown["ring-title"]["children"] == "No ring selected"


def review_body(browser: Browser, ring_id: str, note: str, button: str) -> dict[str, Any]:
    return browser.body(
        "review-result.children",
        {
            "ring-confirm.n_clicks": 1 if button == "ring-confirm" else None,
            "ring-dismiss.n_clicks": 1 if button == "ring-dismiss" else None,
        },
        {
            "ring-select.value": ring_id,
            "review-note.value": note,
            "ring-status-filter.value": "all",
        },
        changed=[f"{button}.n_clicks"],
    )


@pytest.mark.parametrize(
    ("name", "button", "status"),
    [("rev", "ring-confirm", "confirmed"), ("adm", "ring-dismiss", "dismissed")],
)
def test_a_decision_is_stored_under_the_keys_name_and_shows_in_the_audit_trail(
    deciding: Served, name: str, button: str, status: str
) -> None:
    browser = Browser(deciding, name)
    ring_id = stored_rings(deciding)[0].ring_id
    note = "the same phones on every account 确认"
    answer = browser.post_callback(review_body(browser, ring_id, note, button))
    assert answer.status_code == 200, answer.text
    response = answer.json()["response"]
    assert response["review-result"]["children"].startswith(f"Recorded: {status} by {name}")
    with deciding.open() as store:
        trail = store.ring_reviews(ring_id)
        stored = store.ring(ring_id)
    assert stored is not None
    assert stored.status == status
    assert [(r.status, r.reviewer, r.note) for r in trail] == [(status, name, note)]
    audit = table_rows(response["audit-trail"]["children"])
    assert [row[1:] for row in audit] == [[status, name, note]]
    queue = table_rows(response["ring-queue"]["children"])
    assert [row[2] for row in queue if row[0] == ring_id] == [status]
    # The API reads the same decision back.
    detail = deciding.client.get(f"/v1/rings/{ring_id}", headers=deciding.as_("vic")).json()
    assert detail["status"] == status
    assert [(r["reviewer"], r["note"]) for r in detail["reviews"]] == [(name, note)]
    # Reloading the ring shows the trail too.
    again = browser.call("ring-title.children", {"ring-select.value": ring_id})
    assert [row[1:] for row in table_rows(again["audit-trail"]["children"])] == [
        [status, name, note]
    ]


def test_a_viewers_decision_is_refused_on_the_server(served: Served) -> None:
    viewer = Browser(served, "vic")
    ring_id = stored_rings(served)[0].ring_id
    for button in ("ring-confirm", "ring-dismiss"):
        answer = viewer.post_callback(review_body(viewer, ring_id, "a viewer tries", button))
        body = assert_problem(answer, 403, "forbidden")
        assert "reviewer" in body["detail"]
    # A reviewer without a note is told, and nothing is stored either.
    reviewer = Browser(served, "rev")
    answer = reviewer.post_callback(review_body(reviewer, ring_id, "   ", "ring-confirm"))
    assert answer.status_code == 200
    assert answer.json()["response"]["review-result"]["children"].startswith("Write a note")
    with served.open() as store:
        assert store.ring_reviews(ring_id) == []
        ring = store.ring(ring_id)
    assert ring is not None
    assert ring.status == "open"


# Trust -----------------------------------------------------------------------------------------


def test_trust_shows_the_spread_the_extremes_and_one_explanation(served: Served) -> None:
    browser = Browser(served, "vic")
    page = browser.page("trust")
    trust = served.tables()["trust.csv"]
    histogram = find(page, "trust-histogram")["props"]["figure"]["data"][0]
    assert int(array(histogram["y"]).sum()) == len(served.data.members)
    unknown = int((trust["trust_score"] == 0.5).sum())
    assert f"{unknown:,} members at 0.5" in text(find(page, "trust-summary"))
    ordered = trust.sort_values(["trust_score", "member_id"], ascending=[False, True])
    top = table_rows(find(page, "trust-top"))
    assert [row[1] for row in top] == list(ordered["member_id"].head(20))
    lowest = trust.sort_values(["trust_score", "member_id"], ascending=[True, True])
    bottom = table_rows(find(page, "trust-bottom"))
    assert [row[1] for row in bottom] == list(lowest["member_id"].head(20))

    # A member helped by several partners: their vouches name people the member helped.
    sessions = served.data.sessions
    rated = sessions[(sessions["status"] == "confirmed") & (sessions["rating"] > 0)]
    partners = rated.groupby("helper_id")["recipient_id"].nunique()
    member = str(partners.idxmax())
    shown = browser.call("trust-explanation-chart.figure", {"trust-member.value": member})
    assert shown["trust-member-error"]["children"] == ""
    score = float(trust.set_index("member_id").loc[member, "trust_score"])
    assert shown["trust-member-summary"]["children"].startswith(f"{member}: trust {score:.3f}")
    rows = table_rows(shown["trust-explanation"]["children"])
    vouches = [row for row in rows if row[0] == "vouch"]
    assert vouches
    helped = set(sessions.loc[sessions["helper_id"] == member, "recipient_id"])
    assert {row[1] for row in vouches} <= helped
    chart = shown["trust-explanation-chart"]["figure"]["data"][0]
    unpartnered = {"seed": "seed", "insular_hours": "insular hours (share of hours)"}
    assert list(chart["y"]) == [
        f"{row[0]}: {row[1]}" if row[1] else unpartnered[row[0]] for row in rows
    ]
    missing = browser.call("trust-explanation-chart.figure", {"trust-member.value": "nobody"})
    assert missing["trust-member-error"]["children"] == "No member 'nobody'."


# Offline, limits -------------------------------------------------------------------------------


def test_pages_load_nothing_from_other_hosts(served: Served) -> None:
    browser = Browser(served, "vic")
    login = served.client.get("/dashboards/login")
    shell = browser.get("/dashboards/rings")
    layout = browser.get("/dashboards/_dash-layout")
    for page in (login.text, shell.text, layout.text):
        assert "http:" not in page
        assert "https:" not in page
    references = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', shell.text + login.text)
    assert references
    assert all(ref.startswith("/dashboards/") for ref in references), references
    assert '<link rel="stylesheet"' not in shell.text
    config = json.loads(
        re.search(
            r'<script id="_dash-config" type="application/json">(.*?)</script>', shell.text
        ).group(1)  # type: ignore[union-attr]
    )
    assert config["serve_locally"] is True
    assert "plotlyjs_url" not in config
    assert "websocket" not in config
    # plotly.js comes from the installed package, through the same prefix.
    plotly_js = served.client.get(
        "/dashboards/_dash-component-suites/plotly/package_data/plotly.min.js"
    )
    assert plotly_js.status_code == 200
    assert len(plotly_js.content) > 1_000_000
    # Figures carry no link to plotly's site in their mode bar.
    for page in PAGES:
        graphs = re.findall(r'"config": ?(\{[^}]*\})', json.dumps(browser.page(page)))
        assert graphs, page
        for graph in graphs:
            assert json.loads(graph)["displaylogo"] is False


def test_a_session_spends_its_keys_rate_limit(tmp_path: Path) -> None:
    with serving(
        "sqlite",
        tmp_path,
        None,
        ingest_pyramid,
        roles=PEOPLE,
        settings=ApiSettings(rate_limit=1, rate_burst=3),
    ) as served:
        browser = Browser(served, "vic")  # the dependency list takes one request
        assert browser.get("/dashboards/_dash-layout").status_code == 200
        assert browser.get("/dashboards/growth").status_code == 200
        limited = browser.get("/dashboards/_dash-layout")
        assert_problem(limited, 429, "rate-limited")
        assert int(limited.headers["retry-after"]) >= 1
        # The API's budget is the same key's.
        assert_problem(
            served.client.get("/v1/tiers", headers=served.as_("vic")), 429, "rate-limited"
        )


def test_an_empty_store_shows_one_message_per_page_and_no_charts(tmp_path: Path) -> None:
    with serving("sqlite", tmp_path, None, lambda store: None, roles=PEOPLE) as served:
        browser = Browser(served, "vic")
        for name in PAGES:
            page = browser.page(name)
            empty = find(page, "empty-state")
            assert empty is not None, name
            assert "No members yet" in text(empty)
            assert "timebank ingest" in text(empty)
            assert '"type": "Graph"' not in json.dumps(page), name  # no blank axes


def test_a_page_says_when_the_first_analysis_is_still_running(tmp_path: Path) -> None:
    location = str(tmp_path / "store.db")
    with open_store(location, create=True) as store:
        ingest_pyramid(store)
    release = threading.Event()
    opened = 0

    def held(where: str) -> GraphStore:
        nonlocal opened
        opened += 1
        if opened > 1:  # the first analysis's own connection waits
            assert release.wait(timeout=60)
        return open_store(where)

    keys, records = make_keys(*PEOPLE)
    service = ApiService(location, policy=load_policy(), open_store=held)
    app = create_app(service, ApiSettings(rate_limit=0), keys=records)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.post(
                "/dashboards/login", data={"key": keys["vic"]}, follow_redirects=False
            )
            client.cookies.clear()
            headers = {"Cookie": f"{COOKIE}={answer.cookies[COOKIE]}"}
            assert client.get("/dashboards/growth", headers=headers).status_code == 200
            page = client.post(
                "/dashboards/_dash-update-component",
                headers=headers,
                json={
                    "output": "..page.children...nav-user.children..",
                    "outputs": [
                        {"id": "page", "property": "children"},
                        {"id": "nav-user", "property": "children"},
                    ],
                    "inputs": [
                        {"id": "url", "property": "pathname", "value": "/dashboards/growth"}
                    ],
                    "changedPropIds": ["url.pathname"],
                },
            )
            assert page.status_code == 200, page.text
            notice = find(page.json()["response"]["page"]["children"], "not-ready")
            assert notice is not None
            assert "still running" in text(notice)
            assert not service.ready
            release.set()
    finally:
        release.set()


def test_timebank_serve_serves_the_dashboards(tmp_path: Path) -> None:
    location = tmp_path / "store.db"
    with open_store(location, create=True) as store:
        ingest_pyramid(store)
    keys = tmp_path / "keys.toml"
    key = add_key(keys, name="rita", role="reviewer")
    log = tmp_path / "serve.log"
    with (
        serve(location, keys, log) as server,
        httpx2.Client(base_url=server.base, timeout=10) as client,
    ):
        assert client.get("/dashboards/growth").status_code == 303
        answer = client.post("/dashboards/login", data={"key": key, "next": "/dashboards/growth"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/dashboards/growth"
        page = client.get("/dashboards/growth")
        assert page.status_code == 200
        assert '<script id="_dash-config"' in page.text
        layout = client.get("/dashboards/_dash-layout")
        assert layout.status_code == 200
        assert find(layout.json(), "nav-rings") is not None
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "dashboards at /dashboards/" in text
    assert re.search(r"POST /dashboards/login 303 \d+\.\dms key=rita", text), text
    assert re.search(r"GET /dashboards/_dash-layout 200 \d+\.\dms key=rita", text), text
    assert key not in text
