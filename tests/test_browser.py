"""The dashboards and the static report, used as people use them: in a real browser.

Headless Chromium from Debian's packages (never a Playwright download) is driven by Playwright's
sync API. Every page must load with no console errors, draw its charts with data, and answer
what a user does; screenshots of each state go to the folder named in the run's terminal
summary (``TIMEBANK_SCREENSHOTS`` in CI). See :mod:`tests.browser_support`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright
from typer.testing import CliRunner

from dashboards.report import PAGES, write_report
from graph.analyze import analyze_store, run_analytics
from graph.cli import app as cli
from graph.config import add_key
from graph.generate import GeneratedDataset
from graph.policy import load_policy
from graph.store import SqliteStore
from graph.views import AnalyticsView
from tests.browser_support import (
    VIEWPORT,
    Screenshots,
    Watch,
    assert_drawn,
    figure_data,
    figures,
    launch,
    register_screenshots,
    wait_for,
    wait_for_graphs,
)
from tests.conftest import ingest_generated
from tests.test_api_security import serve

pytestmark = pytest.mark.browser

#: Big enough for the detectors to flag rings (sybil farms, loops, pairs), small enough to be
#: generated, served and drawn in seconds.
MEMBERS = 1500
SEED = 5


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; its event loop ends with it (no loop leaks to other tests)."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(request: pytest.FixtureRequest) -> Screenshots:
    return register_screenshots(request.config)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated network in an embedded store, analysed (its rings stored for review)."""
    path = tmp_path_factory.mktemp("browser") / "store.db"
    with SqliteStore(path) as store:
        ingest_generated(store, members=MEMBERS, seed=SEED)
        analyze_store(store)
        assert len(store.rings()) >= 2, "the generated network has too few rings to review"
    return path


# The static report -------------------------------------------------------------------------

#: The figures each page must draw (by div id; the fraud page's are numbered).
REPORT_FIGURES = {
    "index.html": {
        "growth-members",
        "growth-activity",
        "growth-credits",
        "growth-recruitment",
        "growth-cohorts",
    },
    "referrals.html": {"referrals-fanout", "referrals-downline"},
    "tiers.html": {"tiers-funnel"},
    "rings.html": {"rings-figure-1", "rings-figure-2"},
    "trust.html": {"trust-histogram"},
}


def test_the_static_report_opens_and_draws_with_no_network(
    browser: Browser, network: Path, tmp_path: Path, screenshots: Screenshots
) -> None:
    """``timebank report``'s bundle, opened from disk with every non-file request refused:
    nothing is requested from the network, every page draws every figure with data, and the
    pages link to one another."""
    with SqliteStore(network) as store:
        ring = store.rings()[0].ring_id
        store.review_ring(ring, "confirmed", reviewer="ana", note="same device for all")
    done = CliRunner().invoke(cli, ["report", "--store", str(network), "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert set(REPORT_FIGURES) == set(PAGES)

    requested: list[str] = []
    refused: list[str] = []

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file:///"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context = browser.new_context(offline=True, viewport=VIEWPORT)
    try:
        context.route("**/*", only_files)
        context.on("request", lambda request: requested.append(request.url))
        watch = Watch()
        page = watch.attach(context.new_page())
        page.goto((tmp_path / "index.html").as_uri(), wait_until="load")
        for number, (name, title) in enumerate(PAGES.items(), start=1):
            if name != "index.html":  # reached through the navigation, as a reader would
                page.click(f"nav a[href='{name}']")
                page.wait_for_url(f"**/{name}")
            assert page.title().startswith(title)
            assert page.inner_text("h1") == title
            drawn = figures(page)
            assert {f["id"] for f in drawn} >= REPORT_FIGURES[name], (name, drawn)
            for figure in drawn:
                assert_drawn(figure, name)
            if name == "rings.html":
                sections = page.locator("section[id^='ring-']")
                assert sections.count() > 1
                for i in range(sections.count()):
                    section = sections.nth(i)
                    assert section.get_by_text("Audit trail").is_visible()
                    decided = section.get_attribute("id") == f"ring-{ring}"
                    assert ("same device for all" in section.inner_text()) == decided
                    assert section.get_by_text("No decisions yet.").count() == (0 if decided else 1)
            screenshots.take(page, f"report-{number:02d}-{name.removesuffix('.html')}")
            watch.assert_clean(f"report page {name}")
    finally:
        context.close()
    assert refused == [], f"the report asked the network for {refused}"
    assert requested, "no request was seen: the watch on requests is broken"
    assert all(url.startswith("file:///") for url in requested), requested
    assert {url.rsplit("/", 1)[-1] for url in requested} >= {*PAGES, "plotly.min.js"}


def test_an_empty_networks_report_says_so_on_every_page(
    browser: Browser, tmp_path: Path, screenshots: Screenshots
) -> None:
    """The report of a store with no members: each page shows one message and no chart."""
    with SqliteStore(":memory:") as store:
        snapshot = store.snapshot()
    write_report(
        AnalyticsView.of(snapshot, run_analytics(snapshot), policy=load_policy()), tmp_path
    )
    context = browser.new_context(offline=True, viewport=VIEWPORT)
    try:
        watch = Watch()
        page = watch.attach(context.new_page())
        for number, name in enumerate(PAGES, start=1):
            page.goto((tmp_path / name).as_uri(), wait_until="load")
            assert page.locator("#empty-state").is_visible()
            assert "No members yet" in page.inner_text("#empty-state")
            assert figures(page) == []
            screenshots.take(page, f"report-empty-{number:02d}-{name.removesuffix('.html')}")
            watch.assert_clean(f"empty report page {name}")
    finally:
        context.close()


# The live dashboards -------------------------------------------------------------------------

#: The keys' names: the viewer's and the reviewer's (recorded in audit trails).
VIEWER = "vera"
REVIEWER = "rita"


@dataclass(frozen=True)
class Live:
    """``timebank serve`` over a generated network, with a viewer's and a reviewer's key."""

    base: str
    store: Path
    data: GeneratedDataset
    keys: dict[str, str]

    def api(self, path: str) -> Any:
        answer = httpx2.get(
            f"{self.base}{path}", headers={"X-API-Key": self.keys[VIEWER]}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("dashboards")
    store = folder / "store.db"
    with SqliteStore(store) as opened:
        data = ingest_generated(opened, members=MEMBERS, seed=SEED)
    keys_file = folder / "keys.toml"
    keys = {
        VIEWER: add_key(keys_file, name=VIEWER, role="viewer"),
        REVIEWER: add_key(keys_file, name=REVIEWER, role="reviewer"),
    }
    with serve(store, keys_file, folder / "serve.log") as server:
        yield Live(server.base, store, data, keys)


@contextmanager
def logged_in(browser: Browser, live: Live, name: str, page: str) -> Iterator[tuple[Page, Watch]]:
    """A fresh browser context, logged in with ``name``'s key through the login form, on
    ``/dashboards/{page}`` (where the login page sends a visitor back to)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        watch = Watch()
        tab = watch.attach(context.new_page())
        tab.goto(f"{live.base}/dashboards/{page}")
        assert "/dashboards/login" in tab.url, "an anonymous visitor was not sent to log in"
        tab.fill("#login-key", live.keys[name])
        tab.click("#login-submit")
        tab.wait_for_url(f"**/dashboards/{page}")
        tab.wait_for_selector("#nav-user:has-text('(')")
        role = "viewer" if name == VIEWER else "reviewer"
        assert tab.inner_text("#nav-user") == f"{name} ({role})"
        yield tab, watch
    finally:
        context.close()


def members_trace(page: Page) -> dict[str, Any]:
    traces = {trace["name"]: trace for trace in figure_data(page, "growth-chart-members")}
    return traces["members (cumulative)"]


#: Dashboard page → the graphs it must draw with data.
LIVE_GRAPHS = {
    "growth": [
        "growth-chart-members",
        "growth-chart-activity",
        "growth-chart-credits",
        "growth-recruitment",
        "growth-cohorts",
    ],
    "referrals": ["referral-fanout", "referral-sunburst"],
    "tiers": ["tier-funnel"],
    "rings": ["ring-network", "ring-timeline"],
    "trust": ["trust-histogram", "trust-explanation-chart"],
}


def test_each_dashboard_loads_and_draws_its_charts(
    browser: Browser, live: Live, screenshots: Screenshots
) -> None:
    """A viewer logs in and walks the navigation: every page draws its charts with the
    network's data and logs no error."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        watch = Watch(allow=[re.compile(r"status of 401")])
        tab = watch.attach(context.new_page())
        tab.goto(f"{live.base}/dashboards/login")
        tab.fill("#login-key", "tbk_not-a-key")
        tab.click("#login-submit")
        assert "not a valid API key" in tab.inner_text("#login-error")
        screenshots.take(tab, "live-01-login-refused")
        watch.assert_clean("login page")
    finally:
        context.close()

    with logged_in(browser, live, VIEWER, "growth") as (tab, watch):
        members = live.data.members
        direct = live.data.referrals.groupby("referrer_id").size()
        referrers, refers_three = len(direct), float((direct >= 3).mean())
        for number, (name, graphs) in enumerate(LIVE_GRAPHS.items(), start=2):
            if name != "growth":  # through the navigation bar, as a person would
                tab.click(f"#nav-{name}")
                tab.wait_for_url(f"**/dashboards/{name}")
            wait_for_graphs(tab, graphs)
            drawn = {figure["id"]: figure for figure in figures(tab, "#page")}
            assert set(drawn) >= set(graphs), (name, drawn)
            for graph_id in graphs:
                assert_drawn(drawn[graph_id], f"/dashboards/{name}")
            if name == "growth":
                assert members_trace(tab)["y"][-1] == len(members)
                warning = tab.inner_text("#growth-warning")
                assert tab.is_hidden("#growth-warning") == (warning == "")
            elif name == "referrals":
                bars = figure_data(tab, "referral-fanout")
                assert [trace["name"] for trace in bars] == [
                    "referred 1 or 2",
                    "referred 3 or more (“1 refers 3”)",
                ]
                assert sum(sum(trace["y"]) for trace in bars) == referrers
                share = tab.inner_text("#referral-share")
                assert f"Of the {referrers:,} members who referred anyone" in share
                assert f"{refers_three:.1%} referred three or more" in share
            elif name == "tiers":
                counts = tab.locator("#tier-counts tbody td:nth-child(2)")
                assert sum(int(n) for n in counts.all_inner_texts()) == len(members)
            elif name == "trust":
                assert sum(figure_data(tab, "trust-histogram")[0]["y"]) == len(members)
                assert tab.locator("#trust-top tbody tr").count() > 0
            screenshots.take(tab, f"live-{number:02d}-{name}")
            watch.assert_clean(f"/dashboards/{name}")


def test_growth_filters_change_what_is_shown(
    browser: Browser, live: Live, screenshots: Screenshots
) -> None:
    """Picking a community plots that community's members; a date range narrows the months."""
    with logged_in(browser, live, VIEWER, "growth") as (tab, watch):
        wait_for_graphs(tab, LIVE_GRAPHS["growth"])
        network = members_trace(tab)
        before = {graph_id: figure_data(tab, graph_id) for graph_id in LIVE_GRAPHS["growth"]}
        counts = live.data.members["community_id"].value_counts()
        community = str(sorted(counts.index)[1])

        tab.click("#growth-community")
        tab.get_by_role("option", name=community, exact=True).click()
        wait_for(
            tab,
            lambda: members_trace(tab)["y"] != network["y"],
            what=f"the growth charts to show community {community}",
        )
        wait_for_graphs(tab, LIVE_GRAPHS["growth"])
        shown = members_trace(tab)
        assert shown["y"][-1] == counts[community]
        assert shown["x"] == network["x"]
        assert community in tab.inner_text("#growth-community")
        for graph_id, drawn in before.items():  # every chart follows the filter
            assert figure_data(tab, graph_id) != drawn, f"#{graph_id} ignored the community"
        screenshots.take(tab, "live-07-growth-community")

        tab.fill("#growth-dates", "2025-01-01")
        tab.press("#growth-dates", "Enter")
        tab.fill("#growth-dates-end-date", "2025-06-30")
        tab.press("#growth-dates-end-date", "Enter")
        tab.keyboard.press("Escape")  # closes the calendar
        wait_for(
            tab,
            lambda: len(members_trace(tab)["x"]) < len(shown["x"]),
            what="the growth charts to keep to the chosen months",
        )
        wait_for_graphs(tab, LIVE_GRAPHS["growth"])
        months = members_trace(tab)["x"]
        assert [month[:7] for month in months] == [f"2025-0{m}" for m in range(1, 7)]
        for graph_id in ("growth-chart-activity", "growth-chart-credits"):
            assert [m[:7] for m in figure_data(tab, graph_id)[0]["x"]] == [m[:7] for m in months]
        screenshots.take(tab, "live-08-growth-dates")
        watch.assert_clean("growth filters")


def test_referral_explorer_and_tier_what_if_answer_their_inputs(
    browser: Browser, live: Live, screenshots: Screenshots
) -> None:
    """Another member's id draws that member's downline (an unknown id says so); an edited
    tier policy shows who would move."""
    direct = live.data.referrals.groupby("referrer_id").size()
    with logged_in(browser, live, VIEWER, "referrals") as (tab, watch):
        wait_for_graphs(tab, LIVE_GRAPHS["referrals"])
        first = tab.input_value("#referral-member")
        assert figure_data(tab, "referral-sunburst")[0]["ids"][0] == first
        member = str(direct[direct.index != first].sort_values(kind="stable").index[-1])
        tab.fill("#referral-member", member)
        tab.press("#referral-member", "Enter")
        wait_for(
            tab,
            lambda: (figure_data(tab, "referral-sunburst")[0]["ids"] or [None])[0] == member,
            what=f"the downline of {member}",
        )
        sunburst = figure_data(tab, "referral-sunburst")[0]
        referred = set(
            live.data.referrals.loc[live.data.referrals["referrer_id"] == member, "referee_id"]
        )
        assert referred <= set(sunburst["ids"])
        screenshots.take(tab, "live-09-referrals-member")

        tab.fill("#referral-member", "nobody-here")
        tab.press("#referral-member", "Enter")
        wait_for(
            tab,
            lambda: "No member 'nobody-here'" in tab.inner_text("#referral-error"),
            what="the unknown member to be reported",
        )
        watch.assert_clean("referral explorer")

        tab.click("#nav-tiers")
        tab.wait_for_url("**/dashboards/tiers")
        wait_for_graphs(tab, LIVE_GRAPHS["tiers"])
        policy = tab.input_value("#tier-policy")
        assert policy.count("hours_given_outside_downline = 20") == 1
        looser = policy.replace(
            "hours_given_outside_downline = 20", "hours_given_outside_downline = 5"
        ).replace('name = "default"', 'name = "looser"')
        tab.fill("#tier-policy", looser)
        tab.click("#tier-whatif-run")
        wait_for(
            tab,
            lambda: "'looser'" in tab.inner_text("#tier-whatif-summary"),
            what="the what-if comparison",
        )
        wait_for_graphs(tab, ["tier-whatif-chart"])
        moved = re.search(r"([\d,]+) members move up", tab.inner_text("#tier-whatif-summary"))
        assert moved is not None
        assert int(moved.group(1).replace(",", "")) > 0
        current, alternative = figure_data(tab, "tier-whatif-chart")
        assert sum(current["y"]) == sum(alternative["y"]) == MEMBERS
        assert current["y"] != alternative["y"]
        assert tab.inner_text("#tier-whatif-error") == ""
        screenshots.take(tab, "live-10-tiers-what-if")
        watch.assert_clean("tier what-if")


def test_fraud_review_draws_the_ring_picked_from_the_queue(
    browser: Browser, live: Live, screenshots: Screenshots
) -> None:
    """The queue lists the open rings; picking one draws its members as a network and its
    sessions on a timeline. A viewer sees no decision controls."""
    with logged_in(browser, live, VIEWER, "rings") as (tab, watch):
        wait_for_graphs(tab, LIVE_GRAPHS["rings"])
        open_rings = [
            ring["ring_id"] for ring in live.api("/v1/rings?status=open&limit=200")["items"]
        ]
        assert len(open_rings) >= 2
        listed = tab.locator("#ring-queue-table button[data-ring]")
        assert [
            listed.nth(i).get_attribute("data-ring") for i in range(listed.count())
        ] == open_rings

        ring_id = open_rings[1]
        ring = live.api(f"/v1/rings/{ring_id}")
        tab.click(f"#ring-queue-table button[data-ring='{ring_id}']")
        wait_for(
            tab,
            lambda: (
                sorted(figure_data(tab, "ring-network")[-1]["text"] or [])
                == sorted(ring["member_ids"])
            ),
            what=f"ring {ring_id}'s network",
        )
        wait_for_graphs(tab, LIVE_GRAPHS["rings"])
        assert ring_id in tab.inner_text("#ring-title")
        timeline = figure_data(tab, "ring-timeline")
        assert sum(len(trace["x"]) for trace in timeline) == len(ring["session_ids"])
        reasons = tab.locator("#ring-reasons li")
        assert [reasons.nth(i).inner_text() for i in range(reasons.count())] == ring["reasons"]
        assert "No decisions yet" in tab.inner_text("#audit-trail")

        assert tab.is_visible("#review-readonly")
        assert tab.locator("#ring-confirm, #ring-dismiss, #review-note").count() == 0
        screenshots.take(tab, "live-11-rings-picked")
        watch.assert_clean("fraud review")


def test_a_viewer_cannot_record_a_decision(browser: Browser, live: Live) -> None:
    """A viewer's session sending the decision callback by hand is refused (403), and the
    ring stays as it was."""
    ring_id = live.api("/v1/rings?status=open")["items"][0]["ring_id"]
    with logged_in(browser, live, VIEWER, "rings") as (tab, watch):
        watch.allow.append(re.compile(r"status of 403"))
        wait_for_graphs(tab, LIVE_GRAPHS["rings"])
        answer = tab.evaluate(
            """
            async (ring) => {
              const body = {
                output: '..review-result.children...audit-trail.children@x..',
                outputs: [{id: 'review-result', property: 'children'},
                          {id: 'audit-trail', property: 'children@x'}],
                inputs: [{id: 'ring-confirm', property: 'n_clicks', value: 1},
                         {id: 'ring-dismiss', property: 'n_clicks', value: null}],
                changedPropIds: ['ring-confirm.n_clicks'],
                state: [{id: 'ring-select', property: 'value', value: ring},
                        {id: 'review-note', property: 'value', value: 'forged'},
                        {id: 'ring-status-filter', property: 'value', value: 'open'}],
              };
              const response = await fetch('_dash-update-component', {
                method: 'POST', headers: {'Content-Type': 'application/json'},
                body: JSON.stringify(body),
              });
              return {status: response.status, type: response.headers.get('content-type')};
            }
            """,
            ring_id,
        )
        assert answer["status"] == 403, answer
        assert answer["type"].startswith("application/problem+json"), answer
        watch.assert_clean("a viewer's refused decision")
    after = live.api(f"/v1/rings/{ring_id}")
    assert (after["status"], after["reviews"]) == ("open", [])


def test_a_reviewers_decision_round_trips_into_the_audit_trail(
    browser: Browser, live: Live, screenshots: Screenshots
) -> None:
    """A reviewer confirms a ring with a note: the page shows the decision in the audit trail
    under the key's name, the API and the store hold it, and it is there after a reload."""
    ring_id = live.api("/v1/rings?status=open&limit=200")["items"][-1]["ring_id"]
    note = "Same device for every member; hours only among themselves. 已核实"
    with logged_in(browser, live, REVIEWER, "rings") as (tab, watch):
        wait_for_graphs(tab, LIVE_GRAPHS["rings"])
        tab.click(f"#ring-queue-table button[data-ring='{ring_id}']")
        wait_for(
            tab, lambda: ring_id in tab.inner_text("#ring-title"), what=f"ring {ring_id} picked"
        )
        assert "No decisions yet" in tab.inner_text("#audit-trail")

        tab.click("#ring-confirm")  # no note: refused, nothing recorded
        wait_for(tab, lambda: "Write a note" in tab.inner_text("#review-result"), what="refusal")
        assert live.api(f"/v1/rings/{ring_id}")["reviews"] == []

        tab.fill("#review-note", note)
        tab.click("#ring-confirm")
        wait_for(
            tab,
            lambda: "Recorded" in tab.inner_text("#review-result"),
            what="the decision to be recorded",
        )
        assert f"confirmed by {REVIEWER}" in tab.inner_text("#review-result")
        row = tab.locator("#audit-trail-table tbody tr").last
        cells = row.locator("td")
        assert [cells.nth(i).inner_text() for i in (1, 2, 3)] == ["confirmed", REVIEWER, note]
        assert tab.locator(f"#ring-queue-table button[data-ring='{ring_id}']").count() == 0
        screenshots.take(tab, "live-12-ring-confirmed")
        watch.assert_clean("a reviewer's decision")

    stored = live.api(f"/v1/rings/{ring_id}")
    assert stored["status"] == "confirmed"
    assert [(r["status"], r["reviewer"], r["note"]) for r in stored["reviews"]] == [
        ("confirmed", REVIEWER, note)
    ]
    with SqliteStore(live.store) as store:
        trail = store.ring_reviews(ring_id)
        assert [(r.status, r.reviewer, r.note) for r in trail] == [("confirmed", REVIEWER, note)]

    with logged_in(browser, live, VIEWER, "rings") as (tab, watch):
        wait_for_graphs(tab, LIVE_GRAPHS["rings"])
        tab.click("#ring-status-filter")
        tab.get_by_role("option", name="confirmed", exact=True).click()
        tab.click(f"#ring-queue-table button[data-ring='{ring_id}']")
        wait_for(
            tab,
            lambda: (
                tab.locator("#audit-trail-table").count() == 1
                and ring_id in tab.inner_text("#ring-title")
            ),
            what="the confirmed ring's audit trail",
        )
        assert REVIEWER in tab.inner_text("#audit-trail-table")
        assert note in tab.inner_text("#audit-trail-table")
        screenshots.take(tab, "live-13-audit-trail-after-reload")
        watch.assert_clean("the audit trail, seen again")
