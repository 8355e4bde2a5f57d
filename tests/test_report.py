"""The figures behind every view, and the static report bundle built from them."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

from dashboards import figures
from dashboards.report import PAGES, write_report
from graph.analyze import analyze_store, run_analytics
from graph.cli import app
from graph.ingest import ingest
from graph.model import RingReview
from graph.policy import default_policy_text, load_policy, parse_policy
from graph.store import SqliteStore
from graph.views import AnalyticsView
from tests.conftest import NOW, ingest_generated
from tests.test_views import expected_promotion_order


@pytest.fixture(scope="module")
def view() -> AnalyticsView:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=1500, seed=5)
        snapshot = store.snapshot()
    analysis = run_analytics(snapshot, now=NOW.to_pydatetime())
    return AnalyticsView.of(snapshot, analysis, policy=load_policy())


def test_growth_figures_plot_the_growth_table(view: AnalyticsView) -> None:
    community = view.communities[1]
    drawn = figures.growth_figures(view, community_id=community)
    table = view.analysis.tables["growth.csv"]
    rows = table[(table["scope"] == "community") & (table["community_id"] == community)]
    members = {trace.name: trace for trace in drawn["members"].data}
    assert list(members["members (cumulative)"].y) == rows["members_total"].tolist()
    assert list(members["active members"].y) == rows["active_members"].tolist()
    credits = {trace.name: trace for trace in drawn["credits"].data}
    assert list(credits["credits redeemed"].y) == pytest.approx(rows["credits_redeemed"].tolist())


def test_cohort_heatmap_is_the_retention_grid(view: AnalyticsView) -> None:
    heatmap = figures.cohort_heatmap(view).data[0]
    cells = view.cohorts()
    first = cells[cells["cohort"] == cells["cohort"].min()].sort_values("months_since_joining")
    assert np.asarray(heatmap.z[0][: len(first)], dtype=float) == pytest.approx(
        first["retention"].to_numpy(dtype=float), nan_ok=True
    )


def test_recruitment_warning_follows_the_latest_month(view: AnalyticsView) -> None:
    for community in [None, *view.communities[:20]]:
        months = view.recruitment(community_id=community)
        warning = figures.recruitment_warning(view, community_id=community)
        driven = bool(len(months)) and bool(months["recruitment_driven"].iloc[-1])
        assert (warning is not None) == driven
    shaded = figures.recruitment_figure(view).layout.shapes
    assert len(shaded) == int(view.recruitment()["recruitment_driven"].sum())


def view_of(tables: dict[str, pd.DataFrame]) -> AnalyticsView:
    """A hand-built network, ingested and analysed."""
    with SqliteStore(":memory:") as store:
        report = ingest(tables, store, now=NOW)
        assert report.all_accepted, report.rejects.head()
        snapshot = store.snapshot()
    analysis = run_analytics(snapshot, now=NOW.to_pydatetime())
    return AnalyticsView.of(snapshot, analysis, policy=load_policy())


def referral_network(referrers: dict[str, int]) -> dict[str, pd.DataFrame]:
    """Each referrer and as many referees as it names, all of c1, joined in 2025."""
    members = list(referrers)
    referrals = []
    for referrer, count in referrers.items():
        for i in range(count):
            referee = f"{referrer}-r{i}"
            members.append(referee)
            referrals.append((referrer, referee, "2025-03-01"))
    return {
        "members": pd.DataFrame(
            {"member_id": members, "joined_at": "2025-01-01", "community_id": "c1"}
        ),
        "referrals": pd.DataFrame(referrals, columns=["referrer_id", "referee_id", "referred_at"]),
    }


def bars(figure: go.Figure) -> dict[str, int]:
    """A bar chart's bars, label → height, in axis order (every trace)."""
    drawn = {str(x): int(y) for trace in figure.data for x, y in zip(trace.x, trace.y, strict=True)}
    order = list(figure.layout.xaxis.categoryarray)
    assert sorted(order) == sorted(drawn)
    return {label: drawn[label] for label in order}


def test_one_big_recruiter_gets_a_tail_bar_not_a_stretched_axis() -> None:
    counts = {f"a{i:03d}": 1 for i in range(100)}
    counts |= {f"b{i:03d}": 2 for i in range(60)}
    counts |= {f"c{i:03d}": 3 for i in range(30)}
    counts["big"] = 120
    figure = figures.fanout_histogram(view_of(referral_network(counts)))
    # 99 % of the 191 referrers referred at most 3: a bar each up to 3, then one for the rest.
    assert bars(figure) == {"1": 100, "2": 60, "3": 30, "≥ 4": 1}
    few, many = figure.data
    assert (list(few.x), list(many.x)) == (["1", "2"], ["3", "≥ 4"])
    assert "1 refers 3" in many.name
    assert few.marker.color != many.marker.color
    assert figure.layout.showlegend is True
    assert many.hovertext[-1] == "1 member referred 4 to 120 others (the most: big, 120)"
    assert "4 to 120" in figure.layout.title.subtitle.text


def test_without_an_outlier_every_count_has_its_bar() -> None:
    counts = {f"m{n}-{i:02d}": n for n in range(1, 6) for i in range(20)}
    figure = figures.fanout_histogram(view_of(referral_network(counts)))
    assert bars(figure) == {str(n): 20 for n in range(1, 6)}
    assert figure.layout.title.subtitle.text is None


def test_referral_figures_count_referrers(view: AnalyticsView) -> None:
    referrals = view.snapshot.referrals
    direct = referrals.groupby("referrer").size()
    assert figures.refers_three_share(view) == pytest.approx(float((direct >= 3).mean()))
    drawn = bars(figures.fanout_histogram(view))
    assert sum(drawn.values()) == len(direct)
    labels = list(drawn)
    assert labels[:-1] == [str(n) for n in range(1, len(labels))]
    if labels[-1].startswith("≥ "):  # the tail: every count from there on
        first = int(labels[-1].removeprefix("≥ "))
        assert drawn[labels[-1]] == int((direct >= first).sum())
        assert first > 3
        # At most the top 1 % of referrers (and one for rounding) share the tail.
        assert drawn[labels[-1]] <= (1 - figures.FANOUT_QUANTILE) * len(direct) + 1
    for n in range(1, len(labels)):
        assert drawn[str(n)] == int((direct == n).sum())


def test_a_downline_says_how_much_of_it_is_drawn(view: AnalyticsView) -> None:
    tree = nx.DiGraph(
        zip(
            view.snapshot.member_ids[view.snapshot.referrals["referrer"]],
            view.snapshot.member_ids[view.snapshot.referrals["referee"]],
            strict=True,
        )
    )
    root = str(view.members.sort_values("downline_size").iloc[-1]["member_id"])
    below = nx.single_source_shortest_path_length(tree, root)
    size, levels = len(below) - 1, max(below.values())
    assert levels > 2
    figure = figures.downline_sunburst(view, root, depth=2)
    sunburst = figure.data[0]
    near = {member for member, level in below.items() if level <= 2}
    assert set(sunburst.ids) == near
    assert figure.layout.title.text == (
        f"Downline of {root}: {len(near) - 1:,} of {size:,} members, 2 of {levels} levels shown"
    )
    whole = figures.downline_sunburst(view, root, depth=levels)
    assert set(whole.data[0].ids) == set(below)
    assert whole.layout.title.text == f"Downline of {root}: all {size:,} members, {levels} levels"
    # Labels too small to read are hidden (hover still names them), written along the radius.
    assert figure.layout.uniformtext.mode == "hide"
    assert figure.layout.uniformtext.minsize >= 10
    assert sunburst.insidetextorientation == "radial"
    with pytest.raises(KeyError):
        figures.downline_sunburst(view, "nobody")


def test_tier_funnel_counts_members_at_or_above_each_tier(view: AnalyticsView) -> None:
    funnel = figures.tier_funnel(view).data[0]
    tiers = view.analysis.tables["tiers.csv"]["tier"]
    assert list(funnel.x) == [
        int((tiers >= tier).sum())
        for tier in ("time_volunteer", "community_head", "symbiotic_member", "city_partner")
    ]
    looser = parse_policy(
        default_policy_text().replace(
            "hours_given_outside_downline = 20", "hours_given_outside_downline = 5"
        ),
        source="t",
    )
    shift = figures.what_if_figure(view.tier_what_if(looser))
    current, alternative = shift.data
    assert sum(current.y) == sum(alternative.y) == view.snapshot.n_members
    assert list(current.y) != list(alternative.y)


def test_ring_figures_draw_the_evidence(view: AnalyticsView) -> None:
    ring = view.analysis.rings[0]
    network = figures.ring_network(view, ring)
    # The id starts with the kind: said once.
    assert ring.ring_id.startswith(f"{ring.kind}-")
    assert network.layout.title.text.startswith(f"{ring.ring_id}: {len(ring.members)} members")
    assert network.layout.title.text.count(ring.kind) == 1
    assert "Arrow width: hours" in network.layout.title.subtitle.text
    members = network.data[-1]
    risk = view.analysis.tables["risk.csv"].set_index("member_id")["fraud_risk"]
    assert sorted(members.text) == sorted(ring.members)
    assert list(members.marker.color) == pytest.approx([risk[m] for m in members.text])
    pairs = {(s["helper_id"], s["recipient_id"]) for s in view.ring_evidence(ring)["sessions"]}
    assert len(network.layout.annotations) == len(pairs)
    drawn = figures.ring_timeline(view, ring)
    timeline = drawn.data[0]
    assert len(timeline.x) == len(ring.session_ids)
    # The dots' size is said, and is the sessions' hours (growing up to a cap).
    assert "sized by its hours" in drawn.layout.title.subtitle.text
    hours = {s["session_id"]: s["hours"] for s in view.ring_evidence(ring)["sessions"]}
    by_hours = sorted(
        zip([hours[t.split(":")[0]] for t in timeline.hovertext], timeline.marker.size, strict=True)
    )
    assert [size for _, size in by_hours] == sorted(timeline.marker.size)


def test_ring_labels_name_the_kind_once(view: AnalyticsView) -> None:
    ring = view.analysis.rings[0]
    assert figures.ring_label(ring) == ring.ring_id
    assert figures.ring_label(replace(ring, ring_id="R7")) == f"{ring.kind} R7"


def test_trust_figures(view: AnalyticsView) -> None:
    histogram = figures.trust_histogram(view).data[0]
    assert sum(histogram.y) == view.snapshot.n_members
    member = str(view.members.sort_values("trust_score").iloc[-1]["member_id"])
    explanation = view.profile(member)["trust"]["explanation"]
    bars = figures.explanation_figure(explanation).data[0]
    assert len(bars.y) == len(explanation)
    assert list(bars.x) == pytest.approx([row["share"] or 0.0 for row in explanation])


def _external_references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"' >]+""", page)


def test_the_report_is_a_bundle_that_needs_no_network(view: AnalyticsView, tmp_path: Path) -> None:
    index = write_report(view, tmp_path / "report")
    folder = index.parent
    assert index.name == "index.html"
    assert (folder / "plotly.min.js").stat().st_size > 1_000_000
    for name in PAGES:
        page = (folder / name).read_text(encoding="utf-8")
        assert _external_references(page) == []
        assert "<script src='plotly.min.js'></script>" in page
        for other in PAGES:
            assert f"href='{other}'" in page
    rings = (folder / "rings.html").read_text(encoding="utf-8")
    for ring in view.analysis.rings:
        assert ring.ring_id in rings
    growth = (folder / "index.html").read_text(encoding="utf-8")
    assert 'id="growth-members"' in growth
    assert 'id="growth-cohorts"' in growth
    latest = view.growth().iloc[-1]
    assert f"{int(latest['members_total']):,}" in growth


def test_timebank_report_reads_the_store_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path) as store:
        ingest_generated(store, members=800, seed=8)
        analyze_store(store)
        store.review_ring(store.rings()[0].ring_id, "confirmed", reviewer="ana", note="seen it")
        before = (store.counts(), store.member_results(), store.rings())
    result = CliRunner().invoke(
        app, ["report", "--store", str(path), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    with SqliteStore(path) as store:
        after = (store.counts(), store.member_results(), store.rings())
    assert after[0] == before[0]
    pd.testing.assert_frame_equal(after[1], before[1])
    assert after[2] == before[2]
    rings = (tmp_path / "out" / "rings.html").read_text(encoding="utf-8")
    assert "confirmed" in rings
    assert "seen it" in rings
    assert "ana" in rings


def html_table(page: str, after: str) -> list[list[str]]:
    """The rows (cells as text) of the first table after the text ``after`` in ``page``."""
    table = page[page.index(after) :].split("<table>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell))
            for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)
        ]
        for row in rows
    ]


def test_the_tiers_page_lists_the_closest_first_with_units(
    view: AnalyticsView, tmp_path: Path
) -> None:
    write_report(view, tmp_path)
    page = (tmp_path / "tiers.html").read_text(encoding="utf-8")
    head, *rows = html_table(page, "Closest to promotion")
    assert head == ["member", "tier", "next tier", "share missing", "what is missing"]
    expected = expected_promotion_order(view.analysis.tables["tiers.csv"], view.policy).head(30)
    assert [row[0] for row in rows] == expected["member_id"].tolist()
    assert [row[4] for row in rows] == expected["missing"].tolist()
    assert [float(row[3].removesuffix("%")) for row in rows] == pytest.approx(
        (100 * expected["shortfall"]).tolist(), rel=5e-3
    )
    assert "hours more" in page


def test_every_drawn_ring_has_its_audit_trail_section(view: AnalyticsView, tmp_path: Path) -> None:
    rings = view.analysis.rings[:3]
    decided = rings[1]
    review = RingReview(
        decided.ring_id, "dismissed", "ana", "a family", datetime(2026, 1, 2, tzinfo=UTC)
    )
    write_report(view, tmp_path, rings=rings, trails={decided.ring_id: [review]})
    page = (tmp_path / "rings.html").read_text(encoding="utf-8")
    sections = {
        ring.ring_id: page.split(f"<section id='ring-{ring.ring_id}'>", 1)[1].split("</section>")[0]
        for ring in rings
    }
    for ring_id, section in sections.items():
        assert "<h3>Audit trail</h3>" in section
        assert ("No decisions yet." in section) == (ring_id != decided.ring_id)
    assert html_table(sections[decided.ring_id], "Audit trail")[1] == [
        "2026-01-02 00:00:00",
        "dismissed",
        "ana",
        "a family",
    ]


def test_an_empty_network_says_so_once_per_page_and_draws_no_axes(tmp_path: Path) -> None:
    with SqliteStore(":memory:") as store:
        snapshot = store.snapshot()
    empty = AnalyticsView.of(snapshot, run_analytics(snapshot), policy=load_policy())
    write_report(empty, tmp_path)
    for name in PAGES:
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert page.count("id='empty-state'") == 1, name
        assert page.count(figures.EMPTY_NETWORK) == 1, name
        assert "timebank ingest" in page
        assert "plotly-graph-div" not in page, name
        assert "<table>" not in page, name
        assert "empty network" not in page.lower(), name
