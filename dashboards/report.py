"""A self-contained HTML report of one analysed network (plotly.js embedded, works offline)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from graph.model import Snapshot

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .lead { color: #555; margin-top: 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1.5rem 0; }
.card { background: #f4f6f8; border-radius: 8px; padding: 0.8rem 1.2rem; min-width: 9rem; }
.card b { display: block; font-size: 1.6rem; } section { margin: 2rem 0; }
section p { color: #444; max-width: 60rem; }
"""


def _growth_figures(
    overall: pd.DataFrame, by_community: pd.DataFrame
) -> list[tuple[str, str, go.Figure]]:
    month = overall["month"]
    members = go.Figure(
        [
            go.Scatter(x=month, y=overall["members_total"], name="members (cumulative)"),
            go.Bar(x=month, y=overall["active_members"], name="active members", opacity=0.6),
            go.Bar(x=month, y=overall["new_members"], name="new members", opacity=0.6),
        ]
    )
    members.update_layout(barmode="group", yaxis_title="members")

    activity = make_subplots(specs=[[{"secondary_y": True}]])
    activity.add_trace(go.Bar(x=month, y=overall["sessions"], name="confirmed sessions"))
    activity.add_trace(
        go.Scatter(x=month, y=overall["hours"], name="hours of help"), secondary_y=True
    )
    activity.update_yaxes(title_text="sessions", secondary_y=False, rangemode="tozero")
    activity.update_yaxes(title_text="hours", secondary_y=True, rangemode="tozero")

    credits = go.Figure(
        [
            go.Scatter(x=month, y=overall["credits_minted"], name="credits earned", fill="tozeroy"),
            go.Scatter(
                x=month, y=overall["credits_redeemed"], name="credits redeemed", fill="tozeroy"
            ),
        ]
    )
    credits.update_layout(yaxis_title="credits (hours)")

    top = by_community.groupby("community_id")["members_total"].max().nlargest(12).index
    communities = go.Figure(
        [
            go.Scatter(x=rows["month"], y=rows["members_total"], name=str(community), mode="lines")
            for community, rows in by_community[by_community["community_id"].isin(top)].groupby(
                "community_id"
            )
        ]
    )
    communities.update_layout(yaxis_title="members (cumulative)")
    return [
        ("Members", "Who joined, and who gave or received help each month.", members),
        ("Help given", "Confirmed help sessions and the hours they carried, per month.", activity),
        (
            "Credits",
            "Credits earned by helping versus credits redeemed with partner merchants.",
            credits,
        ),
        (
            "Largest communities",
            "Cumulative members of the twelve largest communities.",
            communities,
        ),
    ]


def _fanout_figure(snapshot: Snapshot) -> tuple[str, str, go.Figure]:
    direct = np.bincount(snapshot.referrals["referrer"].to_numpy(), minlength=snapshot.n_members)
    referrers = direct[direct > 0]
    counts = np.bincount(referrers) if len(referrers) else np.zeros(1, dtype=np.int64)
    figure = go.Figure(go.Bar(x=np.arange(len(counts))[1:], y=counts[1:]))
    figure.update_layout(xaxis_title="direct referrals", yaxis_title="referrers")
    share = float((referrers >= 3).mean()) if len(referrers) else 0.0
    text = (
        f"{len(referrers):,} members referred someone; {share:.0%} of them referred three or more "
        f"(\u201c1 refers 3\u201d). {len(snapshot.referrals):,} of {snapshot.n_members:,} members "
        "joined through a referral."
    )
    return "Referral fan-out", text, figure


def write_report(snapshot: Snapshot, growth_table: pd.DataFrame, out_dir: Path) -> Path:
    """Write ``index.html`` into ``out_dir`` and return its path.

    Parameters
    ----------
    snapshot
        The analysed network.
    growth_table
        :func:`graph.metrics.growth.growth` of that snapshot.
    out_dir
        Folder for the report (created if missing).
    """
    overall = growth_table[growth_table["scope"] == "all"]
    by_community = growth_table[growth_table["scope"] == "community"]
    sections = [*_growth_figures(overall, by_community), _fanout_figure(snapshot)]
    sessions = snapshot.sessions
    confirmed = sessions["status"] == "confirmed"
    cards = {
        "members": f"{snapshot.n_members:,}",
        "activated": f"{snapshot.members['activated_at'].notna().mean():.0%}",
        "communities": f"{len(snapshot.members['community_id'].cat.categories):,}",
        "confirmed sessions": f"{int(confirmed.sum()):,}",
        "hours of help": f"{sessions['hours'][confirmed].sum():,.0f}",
        "credits redeemed": f"{snapshot.redemptions['credits'].sum():,.0f}",
    }
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>timebank-graph report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Time-bank network report</h1>",
        f"<p class='lead'>{html.escape(_period(snapshot))}</p>",
        "<div class='cards'>",
        *(
            f"<div class='card'><b>{value}</b>{html.escape(name)}</div>"
            for name, value in cards.items()
        ),
        "</div>",
    ]
    for number, (title, text, figure) in enumerate(sections):
        figure.update_layout(height=380, margin={"t": 30, "b": 40}, legend={"orientation": "h"})
        chart = figure.to_html(full_html=False, include_plotlyjs=number == 0)
        parts.append(
            f"<section><h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>{chart}</section>"
        )
    parts.append("</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _period(snapshot: Snapshot) -> str:
    joined = snapshot.members["joined_at"]
    if joined.empty:
        return "An empty network."
    end = snapshot.as_of.date() if snapshot.as_of is not None else joined.max().date()
    return f"From {joined.min().date()} to {end}."
