"""The interactive dashboards, served by ``timebank serve`` under ``/dashboards/``.

Five pages, each reached from the navigation bar: Growth, Referral explorer, Tiers, Fraud
review and Trust. They read the analysis the API serves — the same
:class:`~graph.api.service.ApiService` and its :class:`~graph.views.AnalyticsView`, never the
store — and draw with :mod:`dashboards.figures`, the functions the static report uses too. A
review decision goes through :meth:`ApiService.review_ring
<graph.api.service.ApiService.review_ring>`, the path ``POST /v1/rings/{id}/review`` takes, so it
lands in the ring's audit trail under the key's name and queues the same recompute.

Mounting
--------
The dashboards are a Dash app on Dash 4's FastAPI backend, registered on the API's own FastAPI
app (:func:`mount_dashboards`, called by :func:`graph.api.main.create_app`), not a second server:

- one process, one event loop, one ``ApiService``: the dashboards see a new analysis the moment
  the API does, and a decision made here shows in the API at once (and the other way round);
- the API's middleware wraps them: the access log (with the key's name), the body limit, the
  problem responses, and the per-key rate limit (one budget for a key, whichever way it calls);
- no WSGI bridge and no thread per request, as mounting Dash's default Flask server beside the
  API would need; callbacks are ``async`` and build figures on a worker thread
  (:func:`asyncio.to_thread`), so a large figure never stalls the API's requests.

Mounting Dash's own FastAPI app as a Starlette sub-application under ``/dashboards`` does not
work with Dash 4.4: its middleware, which reads a callback's body before the route runs, matches
the full path while the sub-application's routes match the path below the mount (tried: routes
at ``/`` answer the page and every callback with a 500, routes at ``/dashboards/`` match
nothing). Hence registration on the API app with ``url_base_pathname`` set. One
adjustment: the backend's start-up hook registers a catch-all route (``{path:path}``, which
would answer the API's unknown paths with Dash's page instead of a 404 problem) on whichever Dash
app was created last in the process; :class:`_DashboardServer` leaves it out, and the gate
(:class:`dashboards.access.DashboardGate`) serves the page shell for the known page paths instead.

Offline: Dash serves React, its components and plotly.js from the installed packages
(``serve_locally``); the page loads no external stylesheet, script or font, and the front-end
configuration carries no external URL (:meth:`_Dashboards._config`).

Keys and roles
--------------
As the API's: see :mod:`dashboards.access` (login with an API key at ``/dashboards/login``, an
HttpOnly SameSite=Strict session cookie, server-side sessions). Viewers see every page; the
confirm and dismiss controls are shown only to reviewers and admins, and the gate refuses a
decision callback from a viewer's session with a 403 problem (the callback checks again).

Element ids (stable: browser tests drive the pages by them)
-----------------------------------------------------------
Every page: ``url`` (location), ``nav`` with links ``nav-growth``, ``nav-referrals``,
``nav-tiers``, ``nav-rings``, ``nav-trust``, ``nav-user`` (key name and role), ``nav-logout``;
``page`` (the page's content); ``not-ready`` while the first analysis runs.
Login page (plain HTML): ``login-form``, ``login-key``, ``login-submit``, ``login-error``.

- Growth (``/dashboards/growth``, also ``/dashboards/``): filters ``growth-community``
  (dropdown, empty = the whole network) and ``growth-dates`` (date range: ``start_date``,
  ``end_date``); charts ``growth-chart-members``, ``growth-chart-activity``,
  ``growth-chart-credits``, ``growth-recruitment`` (K-factor and balance), ``growth-cohorts``
  (retention heatmap); ``growth-kfactor`` (latest K-factor and balance in words) and
  ``growth-warning`` (banner, hidden unless the latest month is recruitment-driven).
- Referral explorer (``/dashboards/referrals``): ``referral-share`` ("1 refers 3"),
  ``referral-fanout`` (histogram), inputs ``referral-member`` and ``referral-depth`` (1–6),
  ``referral-error``, ``referral-stats``, ``referral-sunburst``.
- Tiers (``/dashboards/tiers``): ``tier-funnel``, ``tier-counts``, ``tier-promotion`` (table),
  what-if: ``tier-policy`` (TOML), ``tier-whatif-run`` (button), ``tier-whatif-error``,
  ``tier-whatif-summary``, ``tier-whatif-chart``, ``tier-whatif-shift`` (per tier),
  ``tier-whatif-transitions`` (tier → tier).
- Fraud review (``/dashboards/rings``): ``ring-status-filter`` (open, confirmed, dismissed,
  all), ``ring-count``, ``ring-queue`` (table; each ring id is a button with ``data-ring``),
  ``ring-select`` (dropdown of the listed rings), ``ring-title``, ``ring-reasons``,
  ``ring-network``, ``ring-timeline``, ``audit-trail`` (table); reviewers and admins:
  ``review-panel`` with ``review-note``, ``ring-confirm``, ``ring-dismiss``, ``review-result``;
  viewers: ``review-readonly``.
- Trust (``/dashboards/trust``): ``trust-histogram``, ``trust-summary``, ``trust-top`` and
  ``trust-bottom`` (tables), ``trust-member`` (input), ``trust-member-error``,
  ``trust-member-summary``, ``trust-explanation-chart``, ``trust-explanation`` (table).

Tables are plain HTML tables: Dash 4 deprecates its DataTable. ``tier-counts``,
``tier-promotion``, ``trust-top`` and ``trust-bottom`` are ``<table>`` elements themselves;
tables drawn by a callback have ids of their own inside their holder: ``ring-queue-table``,
``audit-trail-table``, ``referral-stats-table``, ``tier-whatif-shift-table``,
``tier-whatif-transitions-table``, ``trust-explanation-table`` (an empty one is a ``<p>``
saying so, e.g. ``ring-queue-empty``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import pandas as pd
import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from dash.backends._fastapi import FastAPIDashServer
from dash.exceptions import PreventUpdate
from fastapi import FastAPI

from dashboards import figures
from dashboards.access import (
    COOKIE,
    PREFIX,
    DashboardGate,
    Sessions,
    add_login_routes,
)
from graph.api.security import KeyRing, RateLimiter
from graph.api.service import ApiService, NotReadyError
from graph.config import ApiKey
from graph.errors import PolicyError, ReviewError, RingNotFoundError
from graph.metrics.tiers import TIER_LEVELS
from graph.model import RING_STATUSES, Ring, RingReview, RingStatus
from graph.policy import default_policy_text, parse_policy
from graph.rings import ring_summary
from graph.views import AnalyticsView

__all__ = ["PAGES", "mount_dashboards"]

#: Page path (under /dashboards/) → title, in navigation order.
PAGES = figures.VIEWS
#: Rows the ring queue and the member tables show at most.
QUEUE_ROWS = 200
TABLE_ROWS = 20
PROMOTION_ROWS = 50
#: As the API bounds them: a policy's TOML, a member id, a review note.
MAX_POLICY_CHARS = 65_536
MAX_ID_CHARS = 100
MAX_NOTE_CHARS = 2_000
#: Graph options: no link to plotly's site in the mode bar.
GRAPH_CONFIG: dcc.Graph.Config = {"displaylogo": False}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #f4f6f8; }
#nav { display: flex; gap: 1.2rem; align-items: center; padding: .7rem 1.5rem;
       background: #1f2a36; color: #fff; }
#nav a { color: #cfe3ff; text-decoration: none; } #nav a:hover { text-decoration: underline; }
#nav .brand { font-weight: 600; margin-right: 1rem; } #nav-user { margin-left: auto; opacity: .8; }
#page { max-width: 1200px; margin: 1rem auto; padding: 0 1rem 3rem; }
section.card { background: #fff; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0;
               box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.filters { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-end; }
.filters label { display: flex; flex-direction: column; gap: .3rem; min-width: 16rem; }
.warning { background: #fdecea; color: #8e1c1c; border-left: 6px solid #c62828;
           padding: .8rem 1rem; border-radius: 4px; font-weight: 600; margin: 1rem 0; }
.error { color: #b71c1c; } .muted { color: #666; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e3e6ea; }
th { background: #f0f2f5; } .columns { display: flex; gap: 1.5rem; flex-wrap: wrap; }
.columns > div { flex: 1 1 28rem; }
button { padding: .45rem 1rem; border-radius: 4px; border: 1px solid #1565c0;
         background: #1565c0; color: #fff; cursor: pointer; }
button.link { background: none; color: #1565c0; border: 0; padding: 0; text-decoration: underline; }
button#ring-dismiss { background: #fff; color: #1565c0; }
textarea { width: 100%; box-sizing: border-box; font-family: monospace; }
"""

_INDEX = (
    "<!DOCTYPE html>\n<html lang='en'>\n<head>\n{%metas%}\n<title>{%title%}</title>\n"
    "{%favicon%}\n{%css%}\n<style>" + _STYLE + "</style>\n"
    "</head>\n<body>\n{%app_entry%}\n<footer>\n{%config%}\n{%scripts%}\n{%renderer%}\n"
    "</footer>\n</body>\n</html>\n"
)

P = ParamSpec("P")
T = TypeVar("T")


class _DashboardServer(FastAPIDashServer):
    """Dash's FastAPI backend without the start-up catch-all route (see the module docstring:
    it would go to whichever Dash app was made last, and would answer every unknown path of the
    API with a dashboard page)."""

    def _setup_catchall(self) -> None:
        return None


class _Dashboards(Dash):
    """A Dash app whose front-end configuration names no external URL (the version-check URL
    and the server's Python version are used only by Dash's developer tools, which are off)
    and no WebSocket: the renderer would otherwise open one to the server from every tab,
    though no callback here runs over it (the gate refuses WebSockets)."""

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()  # type: ignore[no-untyped-call]
        config["dash_version_url"] = None
        config["python_version"] = None
        config["disable_version_check"] = True
        config.pop("websocket", None)
        return config


async def _offload(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work`` on a worker thread, so building a figure never holds the API's event loop."""
    return await asyncio.to_thread(work, *args, **kwargs)


# Small pieces -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime | pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _table(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    table_id: str | None = None,
    empty: str = "Nothing to show.",
) -> html.Table | html.P:
    """``rows`` as an HTML table of ``columns`` (key → heading)."""
    if not rows:
        return html.P(empty, className="muted", id=table_id) if table_id else html.P(empty)
    head = html.Thead(html.Tr([html.Th(title) for title in columns.values()]))
    body = html.Tbody(
        [html.Tr([html.Td(_cell(row.get(name))) for name in columns]) for row in rows]
    )
    return html.Table([head, body], id=table_id) if table_id else html.Table([head, body])


def _graph(graph_id: str, figure: go.Figure | None = None) -> dcc.Graph:
    if figure is None:
        return dcc.Graph(id=graph_id, config=GRAPH_CONFIG)
    return dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG)


def _date(text: object) -> datetime | None:
    """A date picker's value (``2025-01-31`` or a date-time) as a datetime; None otherwise."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _member_id(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    text = text.strip()
    return text if 0 < len(text) <= MAX_ID_CHARS else None


def _role_text(key: ApiKey) -> str:
    return f"{key.name} ({key.role})"


# Pages ------------------------------------------------------------------------------------


def _growth_page(view: AnalyticsView) -> html.Div:
    months = view.growth()["month"]
    first = f"{pd.Timestamp(months.min()):%Y-%m-%d}" if len(months) else None
    last = (
        f"{pd.Timestamp(months.max()) + pd.offsets.MonthEnd(0):%Y-%m-%d}" if len(months) else None
    )
    return html.Div(
        [
            html.H2("Growth"),
            html.Section(
                className="card filters",
                children=[
                    html.Label(
                        [
                            "Community",
                            dcc.Dropdown(
                                id="growth-community",
                                options=[{"label": c, "value": c} for c in view.communities],
                                value=None,
                                placeholder="Whole network",
                                clearable=True,
                            ),
                        ]
                    ),
                    html.Label(
                        [
                            "Months",
                            dcc.DatePickerRange(
                                id="growth-dates",
                                min_date_allowed=first,
                                max_date_allowed=last,
                                initial_visible_month=first,
                                display_format="YYYY-MM-DD",
                                clearable=True,
                            ),
                        ]
                    ),
                ],
            ),
            html.Div(id="growth-warning", className="warning", role="alert", hidden=True),
            html.Section(
                className="card",
                children=[
                    html.P(id="growth-kfactor"),
                    _graph("growth-recruitment"),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    _graph("growth-chart-members"),
                    _graph("growth-chart-activity"),
                    _graph("growth-chart-credits"),
                ],
            ),
            html.Section(className="card", children=[_graph("growth-cohorts")]),
        ]
    )


def _referrals_page(view: AnalyticsView) -> html.Div:
    direct = view.members["direct_referrals"].to_numpy()
    referrers = int((direct > 0).sum())
    share = figures.refers_three_share(view)
    top = view.member_records(sort="-downline_size", limit=1)[1]
    return html.Div(
        [
            html.H2("Referral explorer"),
            html.Section(
                className="card",
                children=[
                    html.P(
                        id="referral-share",
                        children=(
                            f"Of the {referrers:,} members who referred anyone, {share:.1%} "
                            "referred three or more (\u201c1 refers 3\u201d)."
                        ),
                    ),
                    _graph("referral-fanout", figures.fanout_histogram(view)),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.Div(
                        className="filters",
                        children=[
                            html.Label(
                                [
                                    "Member id",
                                    dcc.Input(
                                        id="referral-member",
                                        type="text",
                                        value=top[0]["member_id"] if top else "",
                                        debounce=True,
                                        maxLength=MAX_ID_CHARS,
                                    ),
                                ]
                            ),
                            html.Label(
                                [
                                    "Levels down",
                                    dcc.Slider(id="referral-depth", min=1, max=6, step=1, value=3),
                                ]
                            ),
                        ],
                    ),
                    html.P(id="referral-error", className="error", role="alert"),
                    html.Div(id="referral-stats"),
                    _graph("referral-sunburst"),
                ],
            ),
        ]
    )


def _tiers_page(view: AnalyticsView) -> html.Div:
    counts = view.tier_counts()
    return html.Div(
        [
            html.H2("Tiers"),
            html.Section(
                className="card columns",
                children=[
                    html.Div([_graph("tier-funnel", figures.tier_funnel(view))]),
                    html.Div(
                        [
                            html.H3(f"Members per tier ({view.policy.name} policy)"),
                            _table(
                                [{"tier": tier, "members": counts[tier]} for tier in TIER_LEVELS],
                                {"tier": "tier", "members": "members"},
                                table_id="tier-counts",
                            ),
                        ]
                    ),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H3("Closest to promotion"),
                    html.P(figures.PROMOTION_NOTE, className="muted"),
                    _table(
                        figures.promotion_rows(view, limit=PROMOTION_ROWS),
                        figures.PROMOTION_HEADINGS,
                        table_id="tier-promotion",
                        empty="Nobody is one step from a tier.",
                    ),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H3("What if the policy changed?"),
                    html.P(
                        "Edit the policy (TOML, the format of graph/policies/default.toml) and "
                        "compare: members are judged on the same measures under both.",
                        className="muted",
                    ),
                    dcc.Textarea(
                        id="tier-policy",
                        value=default_policy_text(),
                        maxLength=MAX_POLICY_CHARS,
                        style={"height": "22rem"},
                    ),
                    html.Button("Compare with the running policy", id="tier-whatif-run"),
                    html.P(id="tier-whatif-error", className="error", role="alert"),
                    html.P(id="tier-whatif-summary"),
                    _graph("tier-whatif-chart"),
                    html.Div(
                        className="columns",
                        children=[
                            html.Div([html.H4("Per tier"), html.Div(id="tier-whatif-shift")]),
                            html.Div(
                                [
                                    html.H4("From tier (rows) to tier (columns)"),
                                    html.Div(id="tier-whatif-transitions"),
                                ]
                            ),
                        ],
                    ),
                ],
            ),
        ]
    )


def _rings_page(key: ApiKey) -> html.Div:
    statuses = [{"label": status, "value": status} for status in RING_STATUSES]
    if key.allows("reviewer"):
        review: html.Div | html.P = html.Div(
            id="review-panel",
            children=[
                html.H3("Decision"),
                dcc.Textarea(
                    id="review-note",
                    placeholder="Why? (required; recorded in the audit trail)",
                    maxLength=MAX_NOTE_CHARS,
                    style={"height": "5rem"},
                ),
                html.Div(
                    className="filters",
                    children=[
                        html.Button("Confirm ring", id="ring-confirm"),
                        html.Button("Dismiss ring", id="ring-dismiss"),
                    ],
                ),
                html.P(id="review-result", role="status"),
            ],
        )
    else:
        review = html.P(
            id="review-readonly",
            className="muted",
            children=(
                f"Your key ({_role_text(key)}) can look but not decide: reviewers and admins "
                "confirm or dismiss rings."
            ),
        )
    return html.Div(
        [
            html.H2("Fraud review"),
            html.Section(
                className="card",
                children=[
                    html.Div(
                        className="filters",
                        children=[
                            html.Label(
                                [
                                    "Status",
                                    dcc.Dropdown(
                                        id="ring-status-filter",
                                        options=[*statuses, {"label": "all", "value": "all"}],
                                        value="open",
                                        clearable=False,
                                    ),
                                ]
                            ),
                            html.Label(
                                [
                                    "Ring",
                                    dcc.Dropdown(
                                        id="ring-select",
                                        options=[],
                                        placeholder="Pick a ring from the queue",
                                    ),
                                ]
                            ),
                        ],
                    ),
                    html.P(id="ring-count", className="muted"),
                    html.Div(id="ring-queue"),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H3(id="ring-title"),
                    html.Ul(id="ring-reasons"),
                    html.Div(
                        className="columns",
                        children=[
                            html.Div([_graph("ring-network")]),
                            html.Div([_graph("ring-timeline")]),
                        ],
                    ),
                    html.H3("Audit trail"),
                    html.Div(id="audit-trail"),
                    review,
                ],
            ),
        ]
    )


def _empty_page(title: str) -> html.Div:
    """A page of an empty network: one message saying so and what to do, no blank charts."""
    return html.Div(
        [
            html.H2(title),
            html.Section(
                id="empty-state",
                className="card",
                children=[
                    html.P(html.B(figures.EMPTY_NETWORK)),
                    html.P(
                        "Load a dataset: POST /v1/ingest with an admin key (these pages fill "
                        "in once it is analysed), or timebank ingest, then restart timebank "
                        "serve."
                    ),
                ],
            ),
        ]
    )


_MEMBER_COLUMNS = {
    "trust_rank": "rank",
    "member_id": "member",
    "display_name": "name",
    "community_id": "community",
    "trust_score": "trust",
    "tier": "tier",
    "fraud_risk": "fraud risk",
}


def _trust_page(view: AnalyticsView) -> html.Div:
    spread = view.trust_distribution()
    top = view.member_records(sort="-trust_score", limit=TABLE_ROWS)[1]
    bottom = view.member_records(sort="trust_score", limit=TABLE_ROWS)[1]
    mean = spread["mean"]
    summary = (
        f"{spread['members']:,} members; mean trust "
        f"{'–' if mean is None else f'{mean:.3f}'}, median "
        f"{_cell(spread['quantiles']['p50'])}; {spread['unknown']:,} members at 0.5 "
        "(nothing known about them)."
    )
    return html.Div(
        [
            html.H2("Trust"),
            html.Section(
                className="card",
                children=[
                    html.P(summary, id="trust-summary"),
                    _graph("trust-histogram", figures.trust_histogram(view)),
                ],
            ),
            html.Section(
                className="card columns",
                children=[
                    html.Div(
                        [
                            html.H3("Most trusted"),
                            _table(top, _MEMBER_COLUMNS, table_id="trust-top"),
                        ]
                    ),
                    html.Div(
                        [
                            html.H3("Least trusted"),
                            _table(bottom, _MEMBER_COLUMNS, table_id="trust-bottom"),
                        ]
                    ),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H3("One member's score, explained"),
                    html.Label(
                        [
                            "Member id ",
                            dcc.Input(
                                id="trust-member",
                                type="text",
                                value=top[0]["member_id"] if top else "",
                                debounce=True,
                                maxLength=MAX_ID_CHARS,
                            ),
                        ]
                    ),
                    html.P(id="trust-member-error", className="error", role="alert"),
                    html.P(id="trust-member-summary"),
                    _graph("trust-explanation-chart"),
                    html.Div(id="trust-explanation"),
                ],
            ),
        ]
    )


def _ring_rows(rings: Sequence[Ring]) -> list[dict[str, Any]]:
    return [{**ring_summary(ring), "reasons": "; ".join(ring.reasons)} for ring in rings]


def _queue_table(rings: Sequence[Ring]) -> html.Table | html.P:
    if not rings:
        return html.P("No rings with this status.", className="muted", id="ring-queue-empty")
    head = html.Thead(
        html.Tr(
            [
                html.Th(title)
                for title in ("ring", "kind", "status", "score", "members", "hours", "reasons")
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(
                        html.Button(
                            row["ring_id"],
                            id={"type": "ring-pick", "index": row["ring_id"]},
                            className="link",
                            **{"data-ring": row["ring_id"]},
                        )
                    ),
                    *(
                        html.Td(_cell(row[name]))
                        for name in ("kind", "status", "score", "members", "hours", "reasons")
                    ),
                ]
            )
            for row in _ring_rows(rings)
        ]
    )
    return html.Table([head, body], id="ring-queue-table")


def _audit_table(reviews: Sequence[RingReview]) -> html.Table | html.P:
    rows = [
        {
            "reviewed_at": review.reviewed_at,
            "status": review.status,
            "reviewer": review.reviewer,
            "note": review.note,
        }
        for review in reviews
    ]
    return _table(
        rows,
        {"reviewed_at": "when (UTC)", "status": "status", "reviewer": "by", "note": "note"},
        table_id="audit-trail-table",
        empty="No decisions yet.",
    )


def _ring_title(ring: Ring) -> str:
    return (
        f"{figures.ring_label(ring)} — {ring.status}, score {ring.score:.2f}, "
        f"{len(ring.members)} members, {ring.hours:,.1f} hours from "
        f"{ring.first_at:%Y-%m-%d} to {ring.last_at:%Y-%m-%d}"
    )


def _queue(rings: Sequence[Ring], status: object) -> list[Ring]:
    """The rings with ``status`` (``all``: every one), in queue order (most suspicious first)."""
    return [ring for ring in rings if status == "all" or ring.status == status]


# The app ----------------------------------------------------------------------------------


def build_dashboards(service: ApiService, sessions: Sessions) -> Dash:
    """The Dash app (not yet bound to a server): layout and callbacks."""
    app = _Dashboards(
        name=__name__,
        server=False,
        backend=_DashboardServer,
        url_base_pathname=f"{PREFIX}/",
        title="timebank-graph dashboards",
        update_title="",
        serve_locally=True,
        compress=False,
        include_assets_files=False,
        add_log_handler=False,
        # Pages are rendered by a callback, so their components are not in the first layout.
        suppress_callback_exceptions=True,
        index_string=_INDEX,
    )
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Nav(
                id="nav",
                children=[
                    html.Span("timebank-graph", className="brand"),
                    *(
                        dcc.Link(title, href=f"{PREFIX}/{page}", id=f"nav-{page}")
                        for page, title in PAGES.items()
                    ),
                    html.Span(id="nav-user"),
                    html.A("Log out", href=f"{PREFIX}/logout", id="nav-logout"),
                ],
            ),
            html.Main(id="page"),
        ]
    )

    def caller() -> ApiKey | None:
        """The key of the session making this callback (the gate admitted it)."""
        cookies: Mapping[str, str] = callback_context.cookies
        return sessions.key(cookies.get(COOKIE))

    def current_view() -> AnalyticsView:
        try:
            return service.view
        except NotReadyError:
            raise PreventUpdate from None

    # Navigation ---------------------------------------------------------------------------

    @app.callback(
        Output("page", "children"), Output("nav-user", "children"), Input("url", "pathname")
    )
    async def show_page(pathname: object) -> tuple[Any, str]:
        key = caller()
        if key is None:
            return html.P(html.A("Log in", href=f"{PREFIX}/login")), ""
        path = pathname if isinstance(pathname, str) else ""
        name = (app.strip_relative_path(path) or "growth").strip("/")
        try:
            view = service.view
        except NotReadyError as error:
            notice = html.P(
                id="not-ready",
                children=f"{error}. Reload this page in a few seconds.",
            )
            return notice, _role_text(key)
        if name in PAGES and view.snapshot.n_members == 0:
            return _empty_page(PAGES[name]), _role_text(key)
        if name == "rings":
            return _rings_page(key), _role_text(key)
        builders: dict[str, Callable[[AnalyticsView], html.Div]] = {
            "growth": _growth_page,
            "referrals": _referrals_page,
            "tiers": _tiers_page,
            "trust": _trust_page,
        }
        if name not in builders:
            return html.P(f"No page {name!r}.", id="no-page"), _role_text(key)
        return await _offload(builders[name], view), _role_text(key)

    # Growth -------------------------------------------------------------------------------

    @app.callback(
        Output("growth-chart-members", "figure"),
        Output("growth-chart-activity", "figure"),
        Output("growth-chart-credits", "figure"),
        Output("growth-recruitment", "figure"),
        Output("growth-cohorts", "figure"),
        Output("growth-kfactor", "children"),
        Output("growth-warning", "children"),
        Output("growth-warning", "hidden"),
        Input("growth-community", "value"),
        Input("growth-dates", "start_date"),
        Input("growth-dates", "end_date"),
    )
    async def show_growth(community: object, start: object, end: object) -> tuple[Any, ...]:
        view = current_view()
        if community is not None and community not in view.communities:
            raise PreventUpdate
        community_id = community if isinstance(community, str) else None

        def draw() -> tuple[Any, ...]:
            charts = figures.growth_figures(
                view, community_id=community_id, start=_date(start), end=_date(end)
            )
            warning = figures.recruitment_warning(view, community_id=community_id)
            return (
                charts["members"],
                charts["activity"],
                charts["credits"],
                figures.recruitment_figure(view, community_id=community_id),
                figures.cohort_heatmap(view, community_id=community_id),
                _kfactor_text(view, community_id),
                warning or "",
                warning is None,
            )

        return await _offload(draw)

    # Referrals ----------------------------------------------------------------------------

    @app.callback(
        Output("referral-sunburst", "figure"),
        Output("referral-stats", "children"),
        Output("referral-error", "children"),
        Input("referral-member", "value"),
        Input("referral-depth", "value"),
    )
    async def show_downline(member: object, depth: object) -> tuple[Any, Any, str]:
        view = current_view()
        member_id = _member_id(member)
        levels = depth if isinstance(depth, int) and 1 <= depth <= 6 else 3
        if member_id is None:
            return figures.empty_figure("Enter a member id."), "", ""

        def draw() -> tuple[Any, Any, str]:
            try:
                figure = figures.downline_sunburst(view, member_id, depth=levels)
            except KeyError:
                return figures.empty_figure("No such member."), "", f"No member {member_id!r}."
            stats = view.profile(member_id, explain_top=0)["referrals"]
            shown = _table(
                [stats],
                {
                    "direct_referrals": "direct referrals",
                    "active_referrals": "active referrals",
                    "downline_size": "downline",
                    "downline_depth": "levels",
                    "generation": "generation",
                    "tree_root": "tree root",
                    "recruitment_share": "recruitment share",
                },
                table_id="referral-stats-table",
            )
            return figure, shown, ""

        return await _offload(draw)

    # Tiers --------------------------------------------------------------------------------

    @app.callback(
        Output("tier-whatif-chart", "figure"),
        Output("tier-whatif-summary", "children"),
        Output("tier-whatif-shift", "children"),
        Output("tier-whatif-transitions", "children"),
        Output("tier-whatif-error", "children"),
        Input("tier-whatif-run", "n_clicks"),
        State("tier-policy", "value"),
    )
    async def what_if(_clicks: object, text: object) -> tuple[Any, ...]:
        view = current_view()
        cleared = (figures.empty_figure("No comparison."), "", "", "")
        if not isinstance(text, str) or not text.strip():
            return (*cleared, "The policy is empty: paste a policy in TOML.")
        if len(text) > MAX_POLICY_CHARS:
            return (*cleared, f"The policy is longer than {MAX_POLICY_CHARS:,} characters.")

        def compare() -> tuple[Any, ...]:
            try:
                alternative = parse_policy(text, source="policy")
            except PolicyError as error:
                return (*cleared, str(error))
            comparison = view.tier_what_if(alternative)
            counts = comparison.counts
            shift: list[dict[str, Any]] = [
                {"tier": str(tier), **{str(name): int(value) for name, value in row.items()}}
                for tier, row in counts.iterrows()
            ]
            transitions: list[dict[str, Any]] = [
                {"from_tier": str(source), **{str(t): int(v) for t, v in row.items()}}
                for source, row in comparison.transitions.iterrows()
            ]
            summary = (
                f"Under {alternative.name!r} instead of {view.policy.name!r}: "
                f"{comparison.moved_up:,} members move up, {comparison.moved_down:,} move down, "
                f"{comparison.unchanged:,} stay."
            )
            return (
                figures.what_if_figure(comparison),
                summary,
                _table(
                    shift,
                    {
                        "tier": "tier",
                        "current": "now",
                        "alternative": "what-if",
                        "change": "change",
                    },
                    table_id="tier-whatif-shift-table",
                ),
                _table(
                    transitions,
                    {"from_tier": "from \\ to", **{str(t): str(t) for t in TIER_LEVELS}},
                    table_id="tier-whatif-transitions-table",
                ),
                "",
            )

        return await _offload(compare)

    # Fraud review -------------------------------------------------------------------------

    @app.callback(
        Output("ring-queue", "children"),
        Output("ring-count", "children"),
        Output("ring-select", "options"),
        Output("ring-select", "value"),
        Input("ring-status-filter", "value"),
        State("ring-select", "value"),
    )
    async def show_queue(status: object, selected: object) -> tuple[Any, ...]:
        if status != "all" and status not in RING_STATUSES:
            raise PreventUpdate
        rings = _queue((await service.ring_queue()).rings, status)
        shown = rings[:QUEUE_ROWS]
        count = (
            f"{len(rings):,} rings"
            + (f", the {QUEUE_ROWS} most suspicious shown" if len(rings) > QUEUE_ROWS else "")
            + "; most suspicious first."
        )
        options = [
            {"label": f"{ring.ring_id} ({ring.status})", "value": ring.ring_id} for ring in shown
        ]
        ids = [ring.ring_id for ring in shown]
        value = selected if selected in ids else (ids[0] if ids else None)
        return _queue_table(shown), count, options, value

    @app.callback(
        Output("ring-select", "value", allow_duplicate=True),
        Input({"type": "ring-pick", "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    async def pick_ring(clicks: object) -> str:
        picked = callback_context.triggered_id
        if not isinstance(picked, Mapping) or not isinstance(clicks, list) or not any(clicks):
            raise PreventUpdate
        ring_id = picked.get("index")
        if not isinstance(ring_id, str):
            raise PreventUpdate
        return ring_id

    @app.callback(
        Output("ring-title", "children"),
        Output("ring-reasons", "children"),
        Output("ring-network", "figure"),
        Output("ring-timeline", "figure"),
        Output("audit-trail", "children"),
        Input("ring-select", "value"),
    )
    async def show_ring(ring_id: object) -> tuple[Any, ...]:
        view = current_view()
        queue = await service.ring_queue()
        ring = queue.by_id.get(ring_id) if isinstance(ring_id, str) else None
        if ring is None:
            nothing = figures.empty_figure("Pick a ring from the queue.")
            return "No ring selected", [], nothing, nothing, ""
        reviews = await _offload(service.ring_reviews, ring.ring_id)

        def draw() -> tuple[Any, Any]:
            return figures.ring_network(view, ring), figures.ring_timeline(view, ring)

        network, timeline = await _offload(draw)
        return (
            _ring_title(ring),
            [html.Li(reason) for reason in ring.reasons],
            network,
            timeline,
            _audit_table(reviews),
        )

    @app.callback(
        Output("review-result", "children"),
        Output("audit-trail", "children", allow_duplicate=True),
        Output("ring-queue", "children", allow_duplicate=True),
        Output("ring-title", "children", allow_duplicate=True),
        Input("ring-confirm", "n_clicks"),
        Input("ring-dismiss", "n_clicks"),
        State("ring-select", "value"),
        State("review-note", "value"),
        State("ring-status-filter", "value"),
        prevent_initial_call=True,
    )
    async def review(
        _confirm: object, _dismiss: object, ring_id: object, note: object, status: object
    ) -> tuple[Any, ...]:
        unchanged = (no_update, no_update, no_update)
        key = caller()
        # The gate already refuses this callback to a viewer's session; checked again here so
        # that no other way in can record a decision.
        if key is None or not key.allows("reviewer"):
            return ("Only reviewers and admins can decide on rings.", *unchanged)
        decisions: dict[str, RingStatus] = {
            "ring-confirm": "confirmed",
            "ring-dismiss": "dismissed",
        }
        decision = decisions.get(str(callback_context.triggered_id))
        if decision is None:
            raise PreventUpdate
        if not isinstance(ring_id, str) or not ring_id:
            return ("Pick a ring first.", *unchanged)
        if not isinstance(note, str) or not note.strip():
            return ("Write a note: why this decision (it goes into the audit trail).", *unchanged)
        try:
            ring, entry, _job = await _offload(
                service.review_ring,
                ring_id,
                decision,
                reviewer=key.name,
                note=note.strip(),
            )
        except RingNotFoundError:
            return (f"No fraud ring {ring_id!r}.", *unchanged)
        except ReviewError as error:
            return (f"Not recorded: {error}", *unchanged)
        reviews = await _offload(service.ring_reviews, ring.ring_id)
        rings = _queue((await service.ring_queue()).rings, status)[:QUEUE_ROWS]
        return (
            f"Recorded: {entry.status} by {entry.reviewer} at {entry.reviewed_at:%Y-%m-%d %H:%M} "
            "UTC. The analysis is being recomputed.",
            _audit_table(reviews),
            _queue_table(rings),
            _ring_title(ring),
        )

    # Trust --------------------------------------------------------------------------------

    @app.callback(
        Output("trust-explanation-chart", "figure"),
        Output("trust-explanation", "children"),
        Output("trust-member-summary", "children"),
        Output("trust-member-error", "children"),
        Input("trust-member", "value"),
    )
    async def explain(member: object) -> tuple[Any, ...]:
        view = current_view()
        member_id = _member_id(member)
        if member_id is None:
            return figures.empty_figure("Enter a member id."), "", "", ""

        def draw() -> tuple[Any, ...]:
            try:
                profile = view.profile(member_id, explain_top=15)
            except KeyError:
                return figures.empty_figure("No such member."), "", "", f"No member {member_id!r}."
            trust = profile["trust"]
            rows = trust["explanation"]
            summary = (
                f"{member_id}: trust {trust['trust_score']:.3f}, rank {trust['trust_rank']:,}, "
                f"more trusted than {trust['trust_percentile']:.1f}% of members; "
                f"{trust['vouchers']} vouchers, {trust['complainants']} complainants."
            )
            figure = (
                figures.explanation_figure(rows)
                if rows
                else figures.empty_figure("Nothing is known about this member: trust 0.5.")
            )
            table = _table(
                rows,
                {
                    "kind": "kind",
                    "partner_id": "partner",
                    "share": "share",
                    "strength": "strength",
                    "partner_trust": "partner trust",
                    "sessions": "sessions",
                    "hours": "hours",
                    "mean_rating": "mean rating",
                    "first_at": "first",
                    "last_at": "last",
                },
                table_id="trust-explanation-table",
                empty="No terms: nothing is known about this member.",
            )
            return figure, table, summary, ""

        return await _offload(draw)

    return app


def _kfactor_text(view: AnalyticsView, community_id: str | None) -> str:
    months = view.recruitment(community_id=community_id)
    if months.empty:
        return "No months yet."
    latest = months.iloc[-1]
    k_factor = float(latest["k_factor"])
    balance = float(latest["recruitment_balance"])
    service_hours = float(latest["service_hours_per_new_member"])

    def shown(value: float, digits: int) -> str:
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"

    return (
        f"Latest month {pd.Timestamp(latest['month']):%Y-%m}: K-factor {shown(k_factor, 3)} "
        "(members referred per member active the month before); recruitment balance "
        f"{shown(balance, 2)} (0 all service, 1 all recruiting); {shown(service_hours, 1)} "
        "hours of service per new member."
    )


def mount_dashboards(
    app: FastAPI,
    service: ApiService,
    *,
    keys: KeyRing,
    limiter: RateLimiter,
    sessions: Sessions | None = None,
) -> Dash:
    """Serve the dashboards under ``/dashboards/`` on the API app ``app``, reading ``service``
    and admitting the API's ``keys`` (rate-limited by the API's ``limiter``).

    Call it before the API adds its body limit and access log, so that those wrap the
    dashboards too (Starlette runs the middleware added last first). Returns the Dash app;
    the sessions are at ``app.state.dashboard_sessions``.
    """
    sessions = sessions or Sessions()
    dashboards = build_dashboards(service, sessions)
    dashboards.init_app(app)
    add_login_routes(app, sessions=sessions, keys=keys)
    app.add_middleware(
        DashboardGate,
        sessions=sessions,
        limiter=limiter,
        pages=PAGES,
        needs_role={"review-result": "reviewer"},
    )
    app.state.dashboard_sessions = sessions
    app.state.dashboards = dashboards
    return dashboards
