"""The dashboards' views as a static HTML bundle, for sharing: ``timebank report``.

One page per view — growth, referrals, tiers, fraud review, trust — drawn with the same
functions as the live dashboards (:mod:`dashboards.figures`), plus ``plotly.min.js`` from the
installed plotly package beside them: the bundle opens from disk with no network access.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboards import figures
from graph.model import Ring, RingReview
from graph.rings import ring_summary
from graph.views import AnalyticsView, records

__all__ = ["PAGES", "write_report"]

#: The bundle's pages: file name → title, in navigation order (growth is the index).
PAGES = {
    ("index" if name == "growth" else name) + ".html": title
    for name, title in figures.VIEWS.items()
}
#: Rings drawn one by one on the fraud page (the queue table lists them all).
DRAWN_RINGS = 10

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto 3rem; max-width: 1150px; color: #222;
       padding: 0 1rem; }
nav { display: flex; gap: 1.2rem; padding: 1rem 0; border-bottom: 1px solid #ddd; }
nav a { color: #1565c0; text-decoration: none; } nav a.here { font-weight: bold; color: #222; }
h1 { margin: 1.2rem 0 0.2rem; } .lead { color: #555; margin-top: 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1.2rem 0; }
.card { background: #f4f6f8; border-radius: 8px; padding: 0.8rem 1.2rem; min-width: 9rem; }
.card b { display: block; font-size: 1.5rem; }
.warning { background: #fdecea; border-left: 4px solid #c62828; padding: 0.8rem 1rem; }
.empty { background: #f4f6f8; border-radius: 8px; padding: 1.2rem 1.5rem; margin: 1.5rem 0;
         font-size: 1.1rem; } .empty p { margin: 0.3rem 0; }
.note { color: #555; margin: 0.2rem 0 0.6rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
section { margin: 2rem 0; }
"""


class _Page:
    """One page being written: HTML parts, figures embedded as they come."""

    def __init__(self, name: str, view: AnalyticsView) -> None:
        self.name = name
        self.parts: list[str] = []
        self.figures = 0
        title = PAGES[name]
        period = _period(view)
        here = " class='here'"
        links = " ".join(
            f"<a href='{page}'{here if page == name else ''}>{html.escape(label)}</a>"
            for page, label in PAGES.items()
        )
        self.head = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)} · timebank-graph</title>"
            f"<style>{_STYLE}</style><script src='plotly.min.js'></script></head><body>"
            f"<nav>{links}</nav><h1>{html.escape(title)}</h1>"
            + (f"<p class='lead'>{html.escape(period)}</p>" if period else "")
        )

    def text(self, markup: str) -> None:
        self.parts.append(markup)

    def figure(self, figure: go.Figure, *, id_: str | None = None) -> None:
        self.figures += 1
        self.parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=id_ or f"{self.name.removesuffix('.html')}-figure-{self.figures}",
            )
        )

    def table(
        self, rows: Sequence[Mapping[str, object]], columns: Sequence[str] | Mapping[str, str]
    ) -> None:
        """``rows`` as a table of ``columns``: keys, or keys → headings."""
        headings = columns.values() if isinstance(columns, Mapping) else columns
        head = "".join(f"<th>{html.escape(c)}</th>" for c in headings)
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        path.write_text(self.head + "\n".join(self.parts) + "</body></html>", encoding="utf-8")
        return path


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return "<br>".join(html.escape(str(v)) for v in value)
    return html.escape(str(value))


def _period(view: AnalyticsView) -> str:
    """The line under every page's title; empty for an empty network (its pages say so
    once, in :func:`_empty_page`)."""
    joined = view.snapshot.members["joined_at"]
    if joined.empty:
        return ""
    end = view.snapshot.reference_time.astype("datetime64[D]")
    return (
        f"{view.snapshot.n_members:,} members, from {joined.min().date()} to {end}; "
        f"analysed under the {view.policy.name!r} tier policy."
    )


def write_report(
    view: AnalyticsView,
    out_dir: Path,
    *,
    rings: Sequence[Ring] | None = None,
    trails: Mapping[str, Sequence[RingReview]] | None = None,
) -> Path:
    """Write the bundle into ``out_dir`` (created if missing) and return its ``index.html``.

    Parameters
    ----------
    view
        The analysed network.
    rings
        The review queue to show, most suspicious first (default: the rings the analysis
        flagged, with the statuses it reconciled).
    trails
        Audit trails by ring id, shown under the rings drawn.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    queue = list(view.analysis.rings if rings is None else rings)
    pages = (
        [_empty_page(name, view) for name in PAGES]
        if view.snapshot.n_members == 0
        else [
            _growth_page(view),
            _referrals_page(view),
            _tiers_page(view),
            _rings_page(view, queue, trails or {}),
            _trust_page(view),
        ]
    )
    written = [page.write(out_dir) for page in pages]
    return written[0]


def _empty_page(name: str, view: AnalyticsView) -> _Page:
    """A page of an empty network: one message saying so and what to do, no blank charts."""
    page = _Page(name, view)
    page.text(
        "<div class='empty' id='empty-state'>"
        f"<p><b>{html.escape(figures.EMPTY_NETWORK)}</b></p>"
        "<p>Load a dataset with <code>timebank ingest</code>, then write this report again "
        "with <code>timebank report</code>.</p></div>"
    )
    return page


def _growth_page(view: AnalyticsView) -> _Page:
    page = _Page("index.html", view)
    months = view.growth()
    if len(months):
        latest = months.iloc[-1]
        cards = {
            "members": f"{int(latest['members_total']):,}",
            "active last month": f"{int(latest['active_members']):,}",
            "hours last month": f"{latest['hours']:,.0f}",
            "credits outstanding": f"{latest['credits_outstanding']:,.0f}",
            "communities": f"{len(view.communities):,}",
        }
        page.text(
            "<div class='cards'>"
            + "".join(
                f"<div class='card'><b>{v}</b>{html.escape(k)}</div>" for k, v in cards.items()
            )
            + "</div>"
        )
    warning = figures.recruitment_warning(view)
    if warning is not None:
        page.text(f"<p class='warning' id='recruitment-warning'>{html.escape(warning)}</p>")
    for name, figure in figures.growth_figures(view).items():
        page.figure(figure, id_=f"growth-{name}")
    page.figure(figures.recruitment_figure(view), id_="growth-recruitment")
    page.figure(figures.cohort_heatmap(view), id_="growth-cohorts")
    return page


def _referrals_page(view: AnalyticsView) -> _Page:
    page = _Page("referrals.html", view)
    share = figures.refers_three_share(view)
    referred = int((view.snapshot.referrer >= 0).sum())
    page.text(
        f"<p>{referred:,} of {view.snapshot.n_members:,} members joined through a referral; "
        f"of the members who referred anyone, {share:.0%} referred three or more "
        "(“1 refers 3”).</p>"
    )
    page.figure(figures.fanout_histogram(view), id_="referrals-fanout")
    largest = view.members.sort_values(["downline_size", "member_id"], ascending=[False, True])
    if len(largest) and int(largest["downline_size"].iloc[0]) > 0:
        root = str(largest["member_id"].iloc[0])
        page.text(f"<h2>The largest referral tree: {html.escape(root)}</h2>")
        page.figure(figures.downline_sunburst(view, root), id_="referrals-downline")
    top = largest.head(20)
    page.text("<h2>Largest downlines</h2>")
    page.table(
        records(top),
        {
            "member_id": "member",
            "community_id": "community",
            "direct_referrals": "direct referrals",
            "active_referrals": "active referrals",
            "downline_size": "downline (members)",
            "downline_depth": "levels",
        },
    )
    return page


def _tiers_page(view: AnalyticsView) -> _Page:
    page = _Page("tiers.html", view)
    page.figure(figures.tier_funnel(view), id_="tiers-funnel")
    page.text("<h2>Closest to promotion</h2>")
    page.text(f"<p class='note'>{html.escape(figures.PROMOTION_NOTE)}</p>")
    page.table(figures.promotion_rows(view, limit=30), figures.PROMOTION_HEADINGS)
    return page


def _rings_page(
    view: AnalyticsView, queue: Sequence[Ring], trails: Mapping[str, Sequence[RingReview]]
) -> _Page:
    page = _Page("rings.html", view)
    statuses = pd.Series([ring.status for ring in queue], dtype=object).value_counts()
    if not queue:
        page.text("<p id='ring-queue-empty'>No rings in the review queue: none was flagged.</p>")
        return page
    page.text(
        f"<p>{len(queue):,} rings in the review queue: "
        + ", ".join(f"{int(n):,} {status}" for status, n in statuses.items())
        + ".</p>"
    )
    page.table(
        [ring_summary(ring) for ring in queue],
        ["ring_id", "kind", "status", "score", "members", "hours", "reasons"],
    )
    for ring in queue[:DRAWN_RINGS]:
        page.text(f"<section id='ring-{html.escape(ring.ring_id)}'>")
        page.figure(figures.ring_network(view, ring))
        page.figure(figures.ring_timeline(view, ring))
        trail = trails.get(ring.ring_id, ())
        page.text("<h3>Audit trail</h3>")
        if not trail:
            page.text("<p class='note'>No decisions yet.</p>")
        else:
            page.table(
                [
                    {
                        "reviewed_at": f"{entry.reviewed_at:%Y-%m-%d %H:%M:%S}",
                        "status": entry.status,
                        "reviewer": entry.reviewer,
                        "note": entry.note,
                    }
                    for entry in trail
                ],
                ["reviewed_at", "status", "reviewer", "note"],
            )
        page.text("</section>")
    return page


def _trust_page(view: AnalyticsView) -> _Page:
    page = _Page("trust.html", view)
    page.figure(figures.trust_histogram(view), id_="trust-histogram")
    columns = ["member_id", "community_id", "trust_score", "trust_rank", "tier", "fraud_risk"]
    _, top = view.member_page(sort="-trust_score", limit=15)
    _, bottom = view.member_page(sort="trust_score", limit=15)
    page.text("<h2>Most trusted</h2>")
    page.table(records(top), columns)
    page.text("<h2>Least trusted</h2>")
    page.table(records(bottom), columns)
    if len(top):
        member = str(top["member_id"].iloc[0])
        profile = view.profile(member)
        page.text(f"<h2>Why {html.escape(member)} is trusted</h2>")
        page.figure(figures.explanation_figure(profile["trust"]["explanation"]))
    return page
