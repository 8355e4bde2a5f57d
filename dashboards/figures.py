"""The figures every view shows, as pure functions of an :class:`~graph.views.AnalyticsView`.

The live dashboards (:mod:`dashboards.app`) and the static report (:mod:`dashboards.report`)
draw with these same functions, so a figure means the same wherever it is seen. None of them
reads a store or a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from graph.metrics.tiers import TIER_LEVELS, TierComparison
from graph.model import Ring
from graph.views import AnalyticsView

__all__ = [
    "EMPTY_NETWORK",
    "FANOUT_QUANTILE",
    "PROMOTION_HEADINGS",
    "PROMOTION_NOTE",
    "REFERS_THREE",
    "RISK_SCALE",
    "TIMELINE_HOURS_CAP",
    "VIEWS",
    "cohort_heatmap",
    "downline_sunburst",
    "empty_figure",
    "explanation_figure",
    "fanout_histogram",
    "growth_figures",
    "promotion_rows",
    "recruitment_figure",
    "recruitment_warning",
    "refers_three_share",
    "ring_label",
    "ring_network",
    "ring_timeline",
    "tier_funnel",
    "trust_histogram",
    "what_if_figure",
]

#: The views, by the name that makes their dashboard path and report page, with their titles,
#: in navigation order.
VIEWS = {
    "growth": "Growth",
    "referrals": "Referral explorer",
    "tiers": "Tiers",
    "rings": "Fraud review",
    "trust": "Trust",
}
#: Fraud risk 0 → 1 as green → amber → red, everywhere a member is coloured by risk.
RISK_SCALE = [[0.0, "#2e7d32"], [0.5, "#f9a825"], [1.0, "#c62828"]]
_TIER_LABELS = {
    "none": "no tier yet",
    "time_volunteer": "time volunteer",
    "community_head": "community head",
    "symbiotic_member": "symbiotic member",
    "city_partner": "city partner",
}


#: What every view says instead of drawing, when the store holds no members at all.
EMPTY_NETWORK = "No members yet: this store holds no data, so there is nothing to chart."


def _styled(
    figure: go.Figure, *, title: str | None = None, note: str | None = None, height: int = 360
) -> go.Figure:
    """The house layout; ``note`` is a line under the title saying how to read the figure."""
    heading: dict[str, Any] = {"text": title}
    if note:
        heading["subtitle"] = {"text": note}
    figure.update_layout(
        title=heading,
        height=height,
        margin={"t": (70 if note else 40) if title else 20, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    return figure


def empty_figure(message: str) -> go.Figure:
    """A figure that says ``message`` where a chart would be, with no axes: what to show when
    there is nothing to draw."""
    figure = go.Figure()
    figure.update_layout(
        height=240,
        template="plotly_white",
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}],
    )
    return figure


# Growth ----------------------------------------------------------------------------------


def growth_figures(
    view: AnalyticsView,
    *,
    community_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, go.Figure]:
    """Month by month, for the network or one community between ``start`` and ``end``:
    ``"members"`` (cumulative, active and new members), ``"activity"`` (confirmed sessions
    and their hours) and ``"credits"`` (credits minted and redeemed, and those outstanding)."""
    months = view.growth(community_id=community_id, start=start, end=end)
    month = months["month"]
    members = go.Figure(
        [
            go.Scatter(x=month, y=months["members_total"], name="members (cumulative)"),
            go.Bar(x=month, y=months["active_members"], name="active members", opacity=0.7),
            go.Bar(x=month, y=months["new_members"], name="new members", opacity=0.7),
        ]
    )
    members.update_layout(barmode="group", yaxis_title="members")

    activity = make_subplots(specs=[[{"secondary_y": True}]])
    activity.add_trace(go.Bar(x=month, y=months["sessions"], name="confirmed sessions"))
    activity.add_trace(
        go.Scatter(x=month, y=months["hours"], name="hours of help"), secondary_y=True
    )
    activity.update_yaxes(title_text="sessions", secondary_y=False, rangemode="tozero")
    activity.update_yaxes(title_text="hours", secondary_y=True, rangemode="tozero")

    # Outstanding credits accumulate to many times a month's flow: their own axis keeps the
    # monthly bars readable.
    credits = make_subplots(specs=[[{"secondary_y": True}]])
    credits.add_trace(go.Bar(x=month, y=months["credits_minted"], name="credits minted"))
    credits.add_trace(go.Bar(x=month, y=months["credits_redeemed"], name="credits redeemed"))
    credits.add_trace(
        go.Scatter(x=month, y=months["credits_outstanding"], name="credits outstanding"),
        secondary_y=True,
    )
    credits.update_layout(barmode="group")
    credits.update_yaxes(title_text="credits a month (hours)", secondary_y=False)
    credits.update_yaxes(title_text="outstanding", secondary_y=True, rangemode="tozero")
    return {
        "members": _styled(members, title="Members"),
        "activity": _styled(activity, title="Help given"),
        "credits": _styled(credits, title="Time credits"),
    }


def cohort_heatmap(view: AnalyticsView, *, community_id: str | None = None) -> go.Figure:
    """Retention: the share of each joining month's members active n months later."""
    cells = view.cohorts(community_id=community_id)
    grid = cells.pivot_table(
        index="cohort", columns="months_since_joining", values="retention", aggfunc="first"
    )
    labels = [f"{pd.Timestamp(c):%Y-%m}" for c in grid.index]
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[int(c) for c in grid.columns],
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "retention"},
            hovertemplate="joined %{y}, month %{x}: %{z:.0%} active<extra></extra>",
        )
    )
    figure.update_layout(xaxis_title="months since joining", yaxis_title="cohort (joining month)")
    figure.update_yaxes(autorange="reversed")
    return _styled(figure, title="Cohort retention", height=480)


def recruitment_figure(view: AnalyticsView, *, community_id: str | None = None) -> go.Figure:
    """K-factor and the recruitment-vs-service balance by month, the months the warning was
    on shaded."""
    months = view.recruitment(community_id=community_id)
    month = months["month"]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Scatter(x=month, y=months["k_factor"], name="K-factor"))
    figure.add_trace(
        go.Scatter(
            x=month,
            y=months["recruitment_balance"],
            name="recruitment balance (0 service … 1 recruiting)",
        ),
        secondary_y=True,
    )
    for moment in month[months["recruitment_driven"].to_numpy(dtype=bool)]:
        start = pd.Timestamp(moment)
        figure.add_vrect(
            x0=start,
            x1=start + pd.offsets.MonthBegin(1),
            fillcolor="#c62828",
            opacity=0.12,
            line_width=0,
        )
    figure.update_yaxes(title_text="K-factor", secondary_y=False, rangemode="tozero")
    figure.update_yaxes(
        title_text="balance", secondary_y=True, range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1]
    )
    return _styled(figure, title="Recruitment against service")


def recruitment_warning(view: AnalyticsView, *, community_id: str | None = None) -> str | None:
    """The warning to show when the latest month's growth is recruitment-driven, else None."""
    months = view.recruitment(community_id=community_id)
    if months.empty or not bool(months["recruitment_driven"].iloc[-1]):
        return None
    latest = months.iloc[-1]
    where = "the network" if community_id is None else f"community {community_id}"
    return (
        f"Growth in {where} is recruitment-driven as of {pd.Timestamp(latest['month']):%Y-%m}: "
        f"the recruitment balance is {latest['recruitment_balance']:.2f} and "
        f"{_number(latest['service_hours_per_new_member'])} hours of service were given per new "
        "member. Sign-ups are outpacing help — a pyramid warning sign."
    )


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "no" if math.isnan(number) else f"{number:.1f}"


# Referrals -------------------------------------------------------------------------------


def downline_sunburst(
    view: AnalyticsView, member_id: str, *, depth: int = 3, max_nodes: int = 500
) -> go.Figure:
    """The member's referral tree, ``depth`` levels down (at most ``max_nodes`` members), as a
    sunburst: each ring a generation, each wedge sized by the downline beneath it.

    The title says how much of the whole downline is drawn ("154 of 160 members, 3 of 5 levels
    shown"). Labels that would be too small to read are left off (hover still names every
    wedge), and they run along the radius, where thin outer wedges have room.

    Raises
    ------
    KeyError
        When no member has that id.
    """
    tree, truncated = view.downline(member_id, depth=depth, max_nodes=max_nodes)
    ids: list[str] = []
    parents: list[str] = []
    drawn_levels = 0
    stack: list[tuple[dict[str, Any], str, int]] = [(tree, "", 0)]
    while stack:
        node, parent, level = stack.pop()
        ids.append(str(node["member_id"]))
        parents.append(parent)
        drawn_levels = max(drawn_levels, level)
        stack.extend((child, str(node["member_id"]), level + 1) for child in node["children"])
    figure = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=ids,
            parents=parents,
            hovertemplate="%{label}<br>%{value} in the tree from here<extra></extra>",
            branchvalues="remainder",
            insidetextorientation="radial",
        )
    )
    figure.update_layout(uniformtext={"minsize": 10, "mode": "hide"})
    whole = view.members.iloc[view.position(member_id)]
    size, levels = int(whole["downline_size"]), int(whole["downline_depth"])
    shown = len(ids) - 1
    if size == 0:
        title = f"Downline of {member_id}: nobody yet"
    elif shown == size:
        title = f"Downline of {member_id}: all {size:,} members, {_count(levels, 'level')}"
    else:
        title = (
            f"Downline of {member_id}: {shown:,} of {size:,} members, "
            f"{drawn_levels} of {levels} levels shown"
        )
    note = (
        f"Cut at {max_nodes:,} members drawn. " if truncated else ""
    ) + "Hover a wedge for its member; small wedges are left unlabelled."
    return _styled(figure, title=title, note=note, height=720)


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


#: The fan-out chart draws a bar for each referral count up to this quantile of the referrers'
#: counts; the counts above share one "≥ N" bar, so that one member with a hundred referrals
#: does not squeeze every other bar into the left edge of the axis.
FANOUT_QUANTILE = 0.99
#: "1 refers 3": members who referred this many or more are drawn in their own colour.
REFERS_THREE = 3
_FEW_COLOUR = "#1565c0"
_THREE_COLOUR = "#6a1b9a"


def fanout_histogram(view: AnalyticsView) -> go.Figure:
    """How many members referred 1, 2, 3 … others (members who referred nobody left out).

    A bar per count up to the :data:`FANOUT_QUANTILE` of the counts (at least up to
    :data:`REFERS_THREE` − 1), then one bar "≥ N" for every larger count, its hover naming the
    largest; two colours with their own legend entries: fewer than three referrals, and three
    or more ("1 refers 3"). With nobody referred yet, a figure that says so.
    """
    direct = view.members["direct_referrals"].to_numpy()
    referrers = direct[direct > 0]
    if not len(referrers):
        return empty_figure("Nobody has referred anyone yet.")
    largest = int(referrers.max())
    last = max(int(np.quantile(referrers, FANOUT_QUANTILE, method="lower")), REFERS_THREE - 1)
    if largest <= last + 1:  # a bar of its own for the one count above costs no room
        last = largest
    counts = np.bincount(np.minimum(referrers, last + 1), minlength=last + 2)
    labels = [str(n) for n in range(1, last + 1)]
    hover = [
        f"{_count(int(counts[n]), 'member')} referred {_count(n, 'other')}"
        for n in range(1, last + 1)
    ]
    if largest > last:
        top = view.members.iloc[int(np.argmax(direct))]["member_id"]
        labels.append(f"≥ {last + 1}")
        hover.append(
            f"{_count(int(counts[last + 1]), 'member')} referred {last + 1} to {largest} "
            f"others (the most: {top}, {largest})"
        )
    values = counts[1 : len(labels) + 1]
    figure = go.Figure()
    for name, colour, chosen in (
        ("referred 1 or 2", _FEW_COLOUR, slice(0, REFERS_THREE - 1)),
        ("referred 3 or more (“1 refers 3”)", _THREE_COLOUR, slice(REFERS_THREE - 1, None)),
    ):
        figure.add_trace(
            go.Bar(
                x=labels[chosen],
                y=values[chosen],
                name=name,
                marker_color=colour,
                text=values[chosen],
                textposition="outside",
                cliponaxis=False,
                hovertext=hover[chosen],
                hoverinfo="text",
            )
        )
    figure.update_layout(barmode="relative", yaxis_title="members", showlegend=True)
    figure.update_xaxes(
        title_text="direct referrals", type="category", categoryorder="array", categoryarray=labels
    )
    note = f"Counts from {last + 1} to {largest} share the last bar." if largest > last else None
    return _styled(figure, title="Referral fan-out", note=note)


def refers_three_share(view: AnalyticsView) -> float:
    """Of the members who referred anyone, the share who referred three or more ("1 refers
    3"); 0 when nobody referred anyone."""
    direct = view.members["direct_referrals"].to_numpy()
    referrers = direct[direct > 0]
    return float((referrers >= 3).mean()) if len(referrers) else 0.0


# Tiers -----------------------------------------------------------------------------------


def tier_funnel(view: AnalyticsView) -> go.Figure:
    """Members holding each tier or a higher one, from time volunteer up to city partner."""
    counts = view.tier_counts()
    levels = [tier for tier in TIER_LEVELS if tier != "none"]
    at_least = [sum(counts[t] for t in levels[i:]) for i in range(len(levels))]
    figure = go.Figure(
        go.Funnel(
            y=[_TIER_LABELS[t] for t in levels],
            x=at_least,
            textinfo="value+percent initial",
        )
    )
    title = f"Tier funnel ({counts['none']:,} members hold no tier yet)"
    return _styled(figure, title=title)


def what_if_figure(comparison: TierComparison) -> go.Figure:
    """Members per tier under the current and the alternative policy."""
    counts = comparison.counts
    labels = [_TIER_LABELS[str(t)] for t in counts.index]
    figure = go.Figure(
        [
            go.Bar(x=labels, y=counts["current"], name="current policy"),
            go.Bar(x=labels, y=counts["alternative"], name="alternative policy"),
        ]
    )
    figure.update_layout(barmode="group", yaxis_title="members")
    title = f"What-if: {comparison.moved_up:,} members move up, {comparison.moved_down:,} move down"
    return _styled(figure, title=title)


#: The columns of the closest-to-promotion table (:func:`promotion_rows`) → their headings.
PROMOTION_HEADINGS = {
    "member_id": "member",
    "tier": "tier",
    "next_tier": "next tier",
    "shortfall": "share missing",
    "missing": "what is missing",
}
#: How to read the closest-to-promotion table, said under its heading.
PROMOTION_NOTE = (
    "Members below the top tier, closest to their next tier first. “Share missing” adds up, "
    "over the requirements still unmet, the part of each threshold not yet reached: 2.5 of 20 "
    "hours is 12.5%, an unpaid activation 100%, two requirements each half met 100%."
)


def promotion_rows(view: AnalyticsView, *, limit: int) -> list[dict[str, str]]:
    """The ``limit`` members closest to promotion
    (:meth:`~graph.views.AnalyticsView.closest_to_promotion`, closest first), as text for the
    columns of :data:`PROMOTION_HEADINGS`: the shortfall as a percentage of one requirement."""
    closest = view.closest_to_promotion(limit=limit)
    shown = closest[list(PROMOTION_HEADINGS)].astype(str)
    shown["shortfall"] = [f"{100 * share:.3g}%" for share in closest["shortfall"].to_numpy()]
    rows: list[dict[str, str]] = shown.to_dict("records")  # type: ignore[assignment]
    return rows


# Rings -----------------------------------------------------------------------------------


def ring_label(ring: Ring) -> str:
    """How a ring is named in titles: its id, which starts with its kind when the analysis
    named it (``sybil_farm-41caaf…``); the kind in front of any other id."""
    return (
        ring.ring_id if ring.ring_id.startswith(f"{ring.kind}-") else f"{ring.kind} {ring.ring_id}"
    )


def _circle(count: int) -> tuple[np.ndarray, np.ndarray]:
    angles = 2 * np.pi * np.arange(count) / max(count, 1)
    return np.cos(angles), np.sin(angles)


def ring_network(view: AnalyticsView, ring: Ring) -> go.Figure:
    """A ring's evidence as a network: its members on a circle (in the ring's order, so a
    loop reads round), coloured by fraud risk; each helper → recipient pair an arrow whose
    hover gives sessions, hours and dates."""
    evidence = view.ring_evidence(ring)
    nodes = evidence["nodes"]
    order = {member: i for i, member in enumerate(ring.members)}
    nodes = sorted(nodes, key=lambda node: order.get(node["member_id"], len(order)))
    x, y = _circle(len(nodes))
    where = {node["member_id"]: (x[i], y[i]) for i, node in enumerate(nodes)}
    figure = go.Figure()
    widest = max((edge["hours"] for edge in evidence["edges"]), default=1.0) or 1.0
    for edge in evidence["edges"]:
        if edge["helper_id"] not in where or edge["recipient_id"] not in where:
            continue
        (x0, y0), (x1, y1) = where[edge["helper_id"]], where[edge["recipient_id"]]
        figure.add_annotation(
            x=x1,
            y=y1,
            ax=x0,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=1,
            arrowwidth=1 + 4 * edge["hours"] / widest,
            arrowcolor="rgba(90,90,90,0.6)",
            standoff=14,
            startstandoff=14,
        )
    # Hover points at the middle of each arrow: annotations carry no hover text.
    middles = [
        (
            (where[e["helper_id"]][0] + where[e["recipient_id"]][0]) / 2,
            (where[e["helper_id"]][1] + where[e["recipient_id"]][1]) / 2,
            f"{e['helper_id']} helped {e['recipient_id']}: {e['sessions']} sessions, "
            f"{e['hours']:.1f} h, {e['first_at']:%Y-%m-%d} to {e['last_at']:%Y-%m-%d}",
        )
        for e in evidence["edges"]
        if e["helper_id"] in where and e["recipient_id"] in where
    ]
    figure.add_trace(
        go.Scatter(
            x=[m[0] for m in middles],
            y=[m[1] for m in middles],
            mode="markers",
            marker={"size": 8, "color": "rgba(90,90,90,0.35)"},
            hovertext=[m[2] for m in middles],
            hoverinfo="text",
            name="help (helper → recipient)",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers+text",
            text=[node["member_id"] for node in nodes],
            textposition="top center",
            marker={
                "size": 22,
                "color": [node["fraud_risk"] for node in nodes],
                "colorscale": RISK_SCALE,
                "cmin": 0,
                "cmax": 1,
                "colorbar": {"title": "fraud risk"},
                "line": {"width": 1, "color": "#333"},
            },
            hovertext=[
                f"{node['member_id']} ({node['community_id']}), joined "
                f"{node['joined_at']:%Y-%m-%d}; trust {node['trust_score']:.2f}, "
                f"fraud risk {node['fraud_risk']:.2f}, {node['tier']}"
                for node in nodes
            ],
            hoverinfo="text",
            name="members",
        )
    )
    figure.update_xaxes(visible=False, range=[-1.4, 1.4])
    figure.update_yaxes(visible=False, range=[-1.4, 1.4], scaleanchor="x")
    title = f"{ring_label(ring)}: {len(nodes)} members, {ring.hours:,.1f} hours"
    note = "Arrow width: hours helped; members coloured by fraud risk. Hover for details."
    return _styled(figure, title=title, note=note, height=520)


#: Hours at which a session's dot on a ring's timeline stops growing (longer ones look alike).
TIMELINE_HOURS_CAP = 8


def ring_timeline(view: AnalyticsView, ring: Ring) -> go.Figure:
    """Each evidence session at its start time, one row per helper, the dot's size growing
    with its hours (up to :data:`TIMELINE_HOURS_CAP`), as the figure's note says."""
    evidence = view.ring_evidence(ring)["sessions"]
    sessions = pd.DataFrame(evidence)
    figure = go.Figure()
    if not sessions.empty:
        figure.add_trace(
            go.Scatter(
                x=sessions["started_at"],
                y=sessions["helper_id"],
                mode="markers",
                marker={
                    "size": 6 + 4 * sessions["hours"].clip(upper=TIMELINE_HOURS_CAP),
                    "color": "#6a1b9a",
                    "opacity": 0.7,
                },
                hovertext=[
                    f"{session['session_id']}: {session['helper_id']} → "
                    f"{session['recipient_id']}, {session['hours']:g} h, {session['status']}"
                    + ("" if session["rating"] is None else f", rated {session['rating']:g}")
                    for session in evidence
                ],
                hoverinfo="text",
                name="sessions",
            )
        )
    figure.update_layout(xaxis_title="started", yaxis_title="helper")
    note = (
        f"One dot per session, sized by its hours ({TIMELINE_HOURS_CAP} h and longer the largest)."
    )
    return _styled(figure, title="Sessions of the ring over time", note=note)


# Trust -----------------------------------------------------------------------------------


def trust_histogram(view: AnalyticsView) -> go.Figure:
    """How trust scores spread over [0, 1]; 0.5 is a member nothing is known about."""
    spread = view.trust_distribution(bins=40)
    bins = spread["bins"]
    figure = go.Figure(
        go.Bar(
            x=[(b["low"] + b["high"]) / 2 for b in bins],
            y=[b["members"] for b in bins],
            width=[b["high"] - b["low"] for b in bins],
            marker_color="#1565c0",
        )
    )
    figure.add_vline(x=0.5, line_dash="dot", annotation_text="unknown (0.5)")
    figure.update_layout(xaxis_title="trust score", yaxis_title="members", bargap=0.02)
    return _styled(figure, title=f"Trust of {spread['members']:,} members")


_TERM_COLOURS = {
    "seed": "#2e7d32",
    "vouch": "#1565c0",
    "insular_vouch": "#f9a825",
    "complaint": "#c62828",
    "insular_hours": "#8d6e63",
}


def explanation_figure(explanation_rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """One member's trust explanation (the profile's ``trust.explanation``): each term's share
    of the member's trust (seed, vouches, insular vouches) or distrust (complaints)."""
    labels = [
        f"{row['kind']}: {row['partner_id']}"
        if row.get("partner_id")
        # Its share is of the member's hours, not of its trust: say so where it is drawn.
        else ("insular hours (share of hours)" if row["kind"] == "insular_hours" else "seed")
        for row in explanation_rows
    ]
    shares = [row.get("share") or 0.0 for row in explanation_rows]
    figure = go.Figure(
        go.Bar(
            x=shares,
            y=labels,
            orientation="h",
            marker_color=[_TERM_COLOURS.get(str(row["kind"]), "#555") for row in explanation_rows],
        )
    )
    figure.update_layout(xaxis_title="share", yaxis={"autorange": "reversed"})
    return _styled(figure, title="What makes the score", height=max(240, 28 * len(labels) + 80))
