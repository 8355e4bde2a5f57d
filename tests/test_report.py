"""The figures behind every view, and the static report bundle built from them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboards import figures
from dashboards.report import PAGES, write_report
from graph.analyze import analyze_store, run_analytics
from graph.cli import app
from graph.policy import default_policy_text, load_policy, parse_policy
from graph.store import SqliteStore
from graph.views import AnalyticsView
from tests.conftest import NOW, ingest_generated


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


def test_referral_figures_count_referrers(view: AnalyticsView) -> None:
    referrals = view.snapshot.referrals
    direct = referrals.groupby("referrer").size()
    assert figures.refers_three_share(view) == pytest.approx(float((direct >= 3).mean()))
    bars = figures.fanout_histogram(view).data[0]
    drawn = {int(k): int(v) for k, v in zip(bars.x, bars.y, strict=True) if v}
    assert drawn == {int(k): int(v) for k, v in direct.value_counts().items()}
    root = str(view.members.sort_values("downline_size").iloc[-1]["member_id"])
    sunburst = figures.downline_sunburst(view, root, depth=2).data[0]
    tree, _ = view.downline(root, depth=2)
    assert sunburst.ids[0] == root
    assert set(sunburst.ids) >= {child["member_id"] for child in tree["children"]}
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
    members = network.data[-1]
    risk = view.analysis.tables["risk.csv"].set_index("member_id")["fraud_risk"]
    assert sorted(members.text) == sorted(ring.members)
    assert list(members.marker.color) == pytest.approx([risk[m] for m in members.text])
    pairs = {(s["helper_id"], s["recipient_id"]) for s in view.ring_evidence(ring)["sessions"]}
    assert len(network.layout.annotations) == len(pairs)
    timeline = figures.ring_timeline(view, ring).data[0]
    assert len(timeline.x) == len(ring.session_ids)


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
