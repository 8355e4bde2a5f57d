"""AnalyticsView: listings, profiles, downlines, distributions and evidence, each checked against
an independent computation on the analysis tables or networkx."""

from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from graph.analyze import compare_tier_policies, run_analytics
from graph.metrics.growth import balances
from graph.metrics.tiers import TIER_LEVELS, Policy
from graph.policy import default_policy_text, load_policy, parse_policy
from graph.store import SqliteStore
from graph.views import (
    MEMBER_SORT_KEYS,
    PROMOTION_COLUMNS,
    AnalyticsView,
    MemberFilter,
    records,
)
from tests.conftest import NOW, ingest_generated


@pytest.fixture(scope="module")
def view() -> AnalyticsView:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=1500, seed=3)
        snapshot = store.snapshot()
    analysis = run_analytics(snapshot, now=NOW.to_pydatetime())
    return AnalyticsView.of(snapshot, analysis, policy=load_policy())


def _listing(view: AnalyticsView) -> pd.DataFrame:
    """The listing's columns rebuilt from the analysis tables by member id."""
    tables = view.analysis.tables
    members = view.snapshot.members.set_index("member_id")
    return pd.DataFrame(
        {
            "community_id": members["community_id"].astype(object),
            "joined_at": members["joined_at"],
            "trust_score": tables["trust.csv"].set_index("member_id")["trust_score"],
            "tier": tables["tiers.csv"].set_index("member_id")["tier"].astype(str),
            "fraud_risk": tables["risk.csv"].set_index("member_id")["fraud_risk"],
            "downline_size": tables["fanout.csv"].set_index("member_id")["downline_size"],
        }
    )


@pytest.mark.parametrize(
    "where",
    [
        MemberFilter(),
        MemberFilter(tier="time_volunteer"),
        MemberFilter(trust_min=0.55, trust_max=0.9),
        MemberFilter(joined_from=datetime(2024, 1, 1), joined_before=datetime(2025, 1, 1)),
        MemberFilter(community_id="c003", tier="none"),
    ],
)
def test_member_page_filters_like_pandas(view: AnalyticsView, where: MemberFilter) -> None:
    expected = _listing(view)
    if where.tier is not None:
        expected = expected[expected["tier"] == where.tier]
    if where.community_id is not None:
        expected = expected[expected["community_id"] == where.community_id]
    if where.trust_min is not None:
        expected = expected[expected["trust_score"] >= where.trust_min]
    if where.trust_max is not None:
        expected = expected[expected["trust_score"] <= where.trust_max]
    if where.joined_from is not None:
        expected = expected[expected["joined_at"] >= pd.Timestamp(where.joined_from)]
    if where.joined_before is not None:
        expected = expected[expected["joined_at"] < pd.Timestamp(where.joined_before)]
    total, page = view.member_page(where, sort="member_id", limit=10_000)
    assert total == len(expected) > 0
    assert page["member_id"].tolist() == sorted(expected.index)


@pytest.mark.parametrize("key", ["trust_score", "-trust_score", "-fraud_risk", "joined_at"])
def test_member_page_sorts_with_ties_by_id_and_pages_consistently(
    view: AnalyticsView, key: str
) -> None:
    name = key.removeprefix("-")
    expected = _listing(view).reset_index(names="member_id")
    expected = expected.sort_values(
        [name, "member_id"], ascending=[not key.startswith("-"), True], kind="stable"
    )
    total, whole = view.member_page(sort=key, limit=10_000)
    assert total == view.snapshot.n_members
    assert whole["member_id"].tolist() == expected["member_id"].tolist()
    _, page = view.member_page(sort=key, limit=7, offset=100)
    assert page["member_id"].tolist() == expected["member_id"].tolist()[100:107]
    _, records_page = view.member_records(sort=key, limit=7, offset=100)
    assert [row["member_id"] for row in records_page] == page["member_id"].tolist()


def test_unknown_sort_key_is_refused(view: AnalyticsView) -> None:
    assert "downline_size" in MEMBER_SORT_KEYS
    with pytest.raises(ValueError, match="cannot sort"):
        view.member_page(sort="display_name")


def test_downline_matches_breadth_first_search_and_respects_its_bounds(
    view: AnalyticsView,
) -> None:
    referrals = view.snapshot.referral_graph()
    root = max(referrals.nodes, key=lambda node: len(nx.descendants(referrals, node)))
    lengths = nx.single_source_shortest_path_length(referrals, root, cutoff=2)

    def members_of(node: dict[str, object]) -> list[str]:
        children = node["children"]
        assert isinstance(children, list)
        return [str(node["member_id"])] + [m for child in children for m in members_of(child)]

    tree, truncated = view.downline(root, depth=2, max_nodes=100_000)
    assert sorted(members_of(tree)) == sorted(lengths)
    assert not truncated
    cut, truncated = view.downline(root, depth=6, max_nodes=5)
    assert len(members_of(cut)) == 5
    assert truncated
    alone, _ = view.downline(root, depth=0)
    assert alone == {"member_id": root, "children": []}


def test_profile_agrees_with_every_table(view: AnalyticsView) -> None:
    tables = view.analysis.tables
    member = tables["risk.csv"].sort_values("fraud_risk").iloc[-1]["member_id"]
    profile = view.profile(member, explain_top=3)
    row = {
        name: table.set_index("member_id").loc[member]
        for name, table in tables.items()
        # claims.csv lists only the members with an implausible claim.
        if "member_id" in table.columns and name != "claims.csv"
    }
    assert profile["trust"]["trust_score"] == pytest.approx(row["trust.csv"]["trust_score"])
    assert profile["tier"]["tier"] == str(row["tiers.csv"]["tier"])
    assert profile["tier"]["missing"] == (row["tiers.csv"]["missing"] or None)
    assert profile["referrals"]["downline_size"] == row["fanout.csv"]["downline_size"]
    assert profile["risk"]["fraud_risk"] == pytest.approx(row["risk.csv"]["fraud_risk"])
    account = balances(view.snapshot).set_index("member_id").loc[member]
    assert profile["account"]["balance"] == pytest.approx(account["balance"])
    explained = view.trust_model.explain(member, top=3)
    assert [term["kind"] for term in profile["trust"]["explanation"]] == explained["kind"].tolist()
    assert all(
        term["first_at"] is None or term["first_at"].tzinfo is UTC
        for term in profile["trust"]["explanation"]
    )
    with pytest.raises(KeyError):
        view.profile("nobody")


def test_trust_distribution_counts_every_member(view: AnalyticsView) -> None:
    scores = view.analysis.tables["trust.csv"]["trust_score"]
    spread = view.trust_distribution(bins=10)
    assert sum(b["members"] for b in spread["bins"]) == spread["members"] == len(scores)
    assert spread["unknown"] == int((scores == 0.5).sum())
    assert spread["quantiles"]["p50"] == pytest.approx(float(scores.median()))
    assert spread["mean"] == pytest.approx(float(scores.mean()))


def test_tier_counts_and_what_if_match_the_library(view: AnalyticsView) -> None:
    counts = view.tier_counts()
    assert list(counts) == list(TIER_LEVELS)
    assert counts == {
        tier: int(n)
        for tier, n in view.analysis.tables["tiers.csv"]["tier"]
        .value_counts()
        .reindex(TIER_LEVELS, fill_value=0)
        .items()
    }
    text = default_policy_text()
    assert "hours_given_outside_downline = 20" in text
    looser = parse_policy(
        text.replace("hours_given_outside_downline = 20", "hours_given_outside_downline = 5"),
        source="t",
    )
    shift = view.tier_what_if(looser)
    assert shift.moved_up > 0
    # The library's what-if recomputes trust and fan-out from scratch (without reviewed rings).
    expected = compare_tier_policies(view.snapshot, current=view.policy, alternative=looser)
    assert shift.as_dict()["counts"]["none"]["current"] == counts["none"]
    assert shift.moved_up + shift.moved_down + shift.unchanged == view.snapshot.n_members
    assert shift.moved_down == 0
    assert shift.moved_up == expected.moved_up


def expected_promotion_order(table: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Every member of a tier ``table`` below the top tier with something unmet, closest first,
    worked out row by row: the share of each unmet threshold of the next tier under ``policy``,
    summed; ties by the summed gap, then the id."""
    rows = []
    for _, row in table[table["next_tier"].notna()].iterrows():
        stated = policy.tier(row["next_tier"]).required()
        gaps = {kind: float(row[f"gap_{kind}"]) for kind in stated}
        unmet = {kind: gap for kind, gap in gaps.items() if gap > 0}
        if unmet:
            rows.append(
                {
                    "member_id": row["member_id"],
                    "unmet": len(unmet),
                    "shortfall": sum(gap / stated[kind] for kind, gap in unmet.items()),
                    "gap_total": sum(unmet.values()),
                    "missing": row["missing"],
                }
            )
    ordered = sorted(rows, key=lambda r: (r["shortfall"], r["gap_total"], r["member_id"]))
    return pd.DataFrame(ordered)


def test_closest_to_promotion_orders_by_the_share_still_missing(view: AnalyticsView) -> None:
    expected = expected_promotion_order(view.analysis.tables["tiers.csv"], view.policy).head(40)
    closest = view.closest_to_promotion(limit=40)
    assert list(closest.columns) == PROMOTION_COLUMNS
    assert closest["member_id"].tolist() == expected["member_id"].tolist()
    assert closest["shortfall"].to_numpy() == pytest.approx(expected["shortfall"].to_numpy())
    assert closest["unmet"].tolist() == expected["unmet"].tolist()
    assert closest["missing"].tolist() == expected["missing"].tolist()
    # Not id order, nor fewest-unmet order, in this network: the order is the shortfall's.
    assert closest["member_id"].tolist() != sorted(closest["member_id"])
    assert closest["shortfall"].is_monotonic_increasing
    assert closest["shortfall"].iloc[-1] > closest["shortfall"].iloc[0]
    # Every gap is said in its unit.
    units = ("hour", "member", "referral", "day", "percentile point")
    for missing in closest["missing"]:
        for part in missing.split("; "):
            if part.endswith(" more"):
                assert part.removesuffix(" more").removesuffix("s").endswith(units), part


def test_ring_evidence_draws_the_ring(view: AnalyticsView) -> None:
    ring = view.analysis.rings[0]
    evidence = view.ring_evidence(ring)
    assert sorted(node["member_id"] for node in evidence["nodes"]) == sorted(ring.members)
    assert sorted(s["session_id"] for s in evidence["sessions"]) == sorted(ring.session_ids)
    assert evidence["missing"] == {"members": 0, "sessions": 0}
    hours = sum(edge["hours"] for edge in evidence["edges"])
    assert hours == pytest.approx(sum(s["hours"] for s in evidence["sessions"]))
    pairs = {(s["helper_id"], s["recipient_id"]) for s in evidence["sessions"]}
    assert {(e["helper_id"], e["recipient_id"]) for e in evidence["edges"]} == pairs


def test_growth_and_recruitment_slices(view: AnalyticsView) -> None:
    table = view.analysis.tables["growth.csv"]
    whole = view.growth()
    assert (whole["scope"] == "all").all()
    assert len(whole) == int((table["scope"] == "all").sum())
    community = view.communities[0]
    one = view.growth(community_id=community)
    assert set(one["community_id"]) == {community}
    late = view.growth(start=datetime(2024, 6, 15, tzinfo=UTC), end=datetime(2025, 3, 1))
    assert late["month"].min() == pd.Timestamp("2024-06-01")
    assert late["month"].max() == pd.Timestamp("2025-03-01")
    recruiting = view.recruitment()
    assert recruiting["k_factor"].equals(whole["k_factor"])
    assert set(view.cohorts()["scope"]) == {"all"}


@pytest.mark.parametrize("ledger", ["minting", "classic"])
def test_balances_add_up_to_credits_outstanding(view: AnalyticsView, ledger: str) -> None:
    from graph.metrics.growth import growth

    held = balances(view.snapshot, ledger=ledger)["balance"].to_numpy()  # type: ignore[arg-type]
    series = growth(view.snapshot, ledger=ledger)  # type: ignore[arg-type]
    outstanding = series[series["scope"] == "all"]["credits_outstanding"].iloc[-1]
    expected = held.sum() if ledger == "minting" else np.maximum(held, 0).sum()
    assert outstanding == pytest.approx(expected)


def test_records_are_plain_json_values() -> None:
    table = pd.DataFrame(
        {
            "x": [1.5, np.nan],
            "n": np.array([1, 2], dtype=np.int64),
            "t": pd.to_datetime(["2025-01-01T10:00:00", None]),
            "c": pd.Categorical(["a", None]),
            "b": [True, False],
        }
    )
    rows = records(table)
    assert rows == [
        {"x": 1.5, "n": 1, "t": datetime(2025, 1, 1, 10, tzinfo=UTC), "c": "a", "b": True},
        {"x": None, "n": 2, "t": None, "c": None, "b": False},
    ]
    assert type(rows[0]["n"]) is int
    assert type(rows[0]["b"]) is bool
