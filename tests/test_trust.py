"""Trust scores: known answers, sybil and volume resistance, complaints, explanations, OTC."""

from __future__ import annotations

from dataclasses import asdict

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from graph.generate import GeneratorParams, generate
from graph.ingest import ingest
from graph.ingest.snap import read_snap
from graph.metrics.evaluation import auc
from graph.metrics.insular import insular_sessions
from graph.metrics.trust import EXPLANATION_COLUMNS, TRUST_COLUMNS, trust_model, trust_scores
from graph.model import Snapshot
from graph.shared_data import bitcoin_otc_folder
from graph.store import SqliteStore
from tests.conftest import ingest_generated, snapshot_of

Session = tuple[str, str, float, int | None]  # helper, recipient, hours, rating


def _snapshot(
    members: dict[str, str], sessions: list[Session], status: list[str] | None = None
) -> Snapshot:
    """All sessions on 2025-06-01."""
    rows = [(h, r, "2025-06-01", hours, rating) for h, r, hours, rating in sessions]
    return snapshot_of(members, rows, status=status, now="2026-01-01")


#: An established neighbourhood: six members helping one another over the years.
HONEST = dict.fromkeys(("ann", "bo", "cai", "dan", "eli", "fay"), "2023-01-01")
HONEST_SESSIONS: list[Session] = [
    ("ann", "bo", 2, 9),
    ("bo", "cai", 1, 8),
    ("cai", "dan", 1, 9),
    ("dan", "eli", 2, 7),
    ("eli", "fay", 1, 9),
    ("fay", "ann", 1, 8),
    ("bo", "ann", 1, None),
    ("dan", "ann", 2, 10),
    ("eli", "bo", 1, 6),
]
SEEDS = ["ann", "bo"]


def _scores(snapshot: Snapshot, **settings: object) -> pd.Series:
    return trust_scores(snapshot, seeds=SEEDS, **settings).set_index("member_id")["trust_score"]


def test_columns_ranges_and_ranks() -> None:
    table = trust_scores(_snapshot(HONEST, HONEST_SESSIONS), seeds=SEEDS)
    assert list(table.columns) == TRUST_COLUMNS
    assert table["trust_score"].between(0, 1).all()
    assert table["goodness"].between(0, 1).all()
    expected_rank = rankdata(-table["trust_score"], method="min")
    assert (table["trust_rank"].to_numpy() == expected_rank).all()
    assert table["trust_percentile"].between(0, 100).all()
    best = table.loc[table["trust_rank"].idxmin()]
    assert best["trust_percentile"] == pytest.approx(100 * (len(table) - 1) / len(table))


def test_first_round_matches_networkx_personalised_pagerank() -> None:
    snapshot = _snapshot(HONEST, HONEST_SESSIONS)
    model = trust_model(snapshot, seeds=SEEDS, rounds=1, tol=1e-13)
    # The readable twin: vouches as a weighted DiGraph recipient → helper, PageRank from seeds.
    graph = nx.DiGraph()
    graph.add_nodes_from(HONEST)
    strengths: dict[tuple[str, str], list[float]] = {}
    for helper, recipient, _, rating in HONEST_SESSIONS:
        strength = 0.5 if rating is None else rating / 10
        strengths.setdefault((recipient, helper), []).append(strength)
    graph.add_weighted_edges_from((a, b, float(np.mean(w))) for (a, b), w in strengths.items())
    reference = nx.pagerank(
        graph, alpha=0.85, personalization=dict.fromkeys(SEEDS, 1.0), tol=1e-14, max_iter=1000
    )
    ids = snapshot.members["member_id"].tolist()
    assert model.trust == pytest.approx([reference[m] for m in ids], abs=1e-9)


def test_a_closed_group_gains_nothing_however_many_hours_it_logs() -> None:
    sybils = {f"x{i}": "2025-05-20" for i in range(5)}
    collusion: list[Session] = [
        (f"x{i}", f"x{j}", 8, 10) for i in range(5) for j in range(5) if i != j
    ]
    tables = [
        trust_scores(
            _snapshot({**HONEST, **sybils}, HONEST_SESSIONS + collusion * rounds), seeds=SEEDS
        ).set_index("member_id")
        for rounds in (1, 3)
    ]
    for table in tables:
        group = table.loc[list(sybils)]
        assert (group["positive_trust"] == 0).all()
        assert (group["low_reason"] == "insular_help").all()
        assert group["trust_score"].max() < table.loc[list(HONEST), "trust_score"].min()
    # More hours are more evidence against, never more trust: lower, and still not 0.
    once, thrice = (table.loc[list(sybils), "trust_score"] for table in tables)
    assert (thrice < once).all()
    assert (thrice > 0).all()


def test_volume_between_the_same_partners_changes_nothing() -> None:
    once = _scores(_snapshot(HONEST, HONEST_SESSIONS))
    repeated = [(h, r, hours * 5, rating) for h, r, hours, rating in HONEST_SESSIONS]
    many = _scores(_snapshot(HONEST, HONEST_SESSIONS + repeated * 4))
    pd.testing.assert_series_equal(once, many, rtol=1e-9)


def test_trust_entering_a_group_through_one_vouch_is_shared_not_multiplied() -> None:
    sybils = {f"x{i}": "2025-05-20" for i in range(6)}
    ring: list[Session] = [(f"x{i}", f"x{(i + 1) % 6}", 8, 10) for i in range(6)]
    attack: list[Session] = [("x0", "fay", 1, 9)]  # Fay vouches for one account of the group
    small = trust_model(_snapshot({**HONEST, **sybils}, HONEST_SESSIONS + attack), seeds=SEEDS)
    large = trust_model(
        _snapshot({**HONEST, **sybils}, HONEST_SESSIONS + attack + ring * 5), seeds=SEEDS
    )
    ids = small.snapshot.members["member_id"]
    group = ids.isin(list(sybils)).to_numpy()
    fay = int(np.flatnonzero(ids == "fay")[0])
    # What the group holds is at most what Fay passes it, compounded by the damping bound.
    passed = small.trust[fay] * 0.85 * 0.9 / small.out_weight[fay]
    assert large.trust[group].sum() <= passed / (1 - 0.85) + 1e-12
    assert large.trust[group].sum() < large.trust[fay] * 6


def test_a_complaint_weighs_as_much_as_its_author_is_trusted() -> None:
    newcomer = {**HONEST, "gus": "2025-05-30", "hal": "2024-01-01"}
    # Hal earns trust by helping Ann and Bo; Gus is a stranger nobody vouches for.
    base: list[Session] = [*HONEST_SESSIONS, ("hal", "ann", 2, 9), ("hal", "bo", 1, 8)]
    by_trusted = _scores(_snapshot(newcomer, [*base, ("hal", "ann", 1, -8)]))
    by_stranger = _scores(_snapshot(newcomer, [*base, ("hal", "gus", 1, -8)]))
    clean = _scores(_snapshot(newcomer, base))
    assert by_trusted["hal"] < clean["hal"] * 0.9
    assert by_stranger["hal"] == pytest.approx(clean["hal"])


def test_a_disputed_session_is_a_complaint_and_a_pending_one_says_nothing() -> None:
    sessions = [*HONEST_SESSIONS, ("cai", "ann", 1, None)]
    base = ["confirmed"] * len(HONEST_SESSIONS)
    clean = _scores(_snapshot(HONEST, HONEST_SESSIONS))
    disputed = trust_scores(_snapshot(HONEST, sessions, [*base, "disputed"]), seeds=SEEDS)
    pending = _scores(_snapshot(HONEST, sessions, [*base, "pending"]))
    cai = disputed.set_index("member_id").loc["cai"]
    assert cai["complainants"] == 1
    assert cai["trust_score"] < clean["cai"]
    pd.testing.assert_series_equal(pending, clean)


def test_two_factions_complaining_about_each_other_settle() -> None:
    # Plain fixed-point iteration swings here: each side's goodness discounts the other's
    # complaints, which raises the other's goodness, which ...
    left = {f"l{i}": "2023-01-01" for i in range(20)}
    right = {f"r{i}": "2023-01-01" for i in range(20)}
    vouches: list[Session] = [
        (f"{side}{(i + 1) % 20}", f"{side}{i}", 1, 8) for side in "lr" for i in range(20)
    ]
    feud: list[Session] = [(f"r{i}", f"l{i}", 1, -9) for i in range(20)]
    feud += [(f"l{i}", f"r{(i + 3) % 20}", 1, -9) for i in range(20)]
    model = trust_model(_snapshot({**left, **right}, vouches + feud), seeds=["l0", "r0"])
    expected = model.trust / (model.trust + model.distrust)
    np.testing.assert_allclose(model.goodness, expected, atol=1e-9)
    np.testing.assert_allclose(model.distrust, model.complaints @ (model.goodness * model.trust))


def test_default_seeds_are_established_members() -> None:
    people = {**HONEST, "new": "2025-05-25"}
    sessions = [*HONEST_SESSIONS, ("new", "ann", 3, 10), ("new", "bo", 3, 10), ("new", "cai", 1, 9)]
    model = trust_model(_snapshot(people, sessions), seed_share=0.0, min_seeds=2)
    seeds = set(model.snapshot.members["member_id"][model.seeds])
    assert len(seeds) == 2
    assert "new" not in seeds  # the most vouched-for, but only days old


def test_explanation_accounts_for_the_whole_score() -> None:
    snapshot = _snapshot(HONEST, [*HONEST_SESSIONS, ("ann", "fay", 1, -4)])
    model = trust_model(snapshot, seeds=SEEDS)
    table = model.scores().set_index("member_id")
    for member in HONEST:
        explanation = model.explain(member)
        assert list(explanation.columns) == EXPLANATION_COLUMNS
        positive = explanation[explanation["kind"].isin(["seed", "vouch"])]
        if table.loc[member, "positive_trust"] > 0:
            assert positive["share"].sum() == pytest.approx(1.0)
        vouches = explanation[explanation["kind"] == "vouch"]
        if len(vouches):
            assert vouches.iloc[0]["partner_id"] == table.loc[member, "top_voucher"]
            assert vouches.iloc[0]["share"] == pytest.approx(table.loc[member, "top_voucher_share"])
    ann = model.explain("ann")
    complaint = ann[ann["kind"] == "complaint"].iloc[0]
    assert complaint["partner_id"] == "fay"
    assert complaint["share"] == pytest.approx(1.0)
    assert complaint["mean_rating"] == -4
    with pytest.raises(KeyError):
        model.explain("nobody")


def test_bad_settings_are_refused() -> None:
    snapshot = _snapshot(HONEST, HONEST_SESSIONS)
    with pytest.raises(ValueError, match="unknown members"):
        trust_model(snapshot, seeds=["ann", "zed"])
    with pytest.raises(ValueError, match="damping"):
        trust_model(snapshot, damping=1.0)
    with pytest.raises(ValueError, match="rounds"):
        trust_model(snapshot, rounds=0)


@pytest.mark.parametrize("seed", [1, 2])
def test_scores_are_valid_on_generated_networks(seed: int) -> None:
    data = generate(GeneratorParams(members=1500, seed=seed))
    store = SqliteStore(":memory:")
    ingest(
        {"members": data.members, "sessions": data.sessions, "referrals": data.referrals},
        store,
        now=pd.Timestamp("2026-07-01"),
    )
    model = trust_model(store.snapshot())
    assert model.trust.sum() == pytest.approx(1.0)
    table = model.scores()
    assert table["trust_score"].between(0, 1).all()
    circles = {m for group in data.truth if group.kind == "honest_circle" for m in group.members}
    circle_pct = table.loc[table["member_id"].isin(circles), "trust_percentile"]
    # Long-tenured neighbours helping each other weekly are what a time bank is for.
    assert circle_pct.median() > 50


def test_bitcoin_otc_fraud_auc() -> None:
    otc = bitcoin_otc_folder()
    store = SqliteStore(":memory:")
    report = ingest(read_snap(otc / "network.csv"), store)
    assert report.tables["sessions"].inserted == 35_592
    labels = pd.read_csv(otc / "ground_truth.csv", header=None, names=["node", "label"], dtype=str)
    table = trust_scores(store.snapshot()).set_index("member_id")
    score = table.loc[labels["node"], "trust_score"].to_numpy()
    fraudulent = (labels["label"].str.strip() == "-1").to_numpy()
    assert auc(-score, fraudulent) >= 0.97
    # The bottom a reviewer opens is ordered by evidence: nobody scores 0, no large tie, and
    # the lowest hundred are members others complained about.
    scores = table["trust_score"]
    assert scores.min() > 0
    assert (scores == scores.min()).sum() <= 5
    lowest = table.sort_values("trust_score").head(100)
    assert (lowest["complainants"] > 0).all()
    assert (lowest["low_reason"] == "complaints").all()
    # Members tied near the bottom hold the same evidence: one tie, one story.
    bottom = table[scores <= scores.quantile(0.05)]
    evidence = ["distrust", "insular_evidence", "self_conferred_trust", "positive_trust"]
    held = bottom[evidence].round(6).groupby(bottom["trust_score"])
    assert (held.nunique() <= 1).all(axis=None)


#: Three accounts that joined within days of each other and cycle long sessions, rating 10/10;
#: each also helped one established member once (camouflage).
LOOP = {"xu": "2025-05-20", "yan": "2025-05-22", "zed": "2025-05-25"}
LOOP_SESSIONS: list[Session] = [
    ("xu", "yan", 8, 10),
    ("yan", "zed", 8, 10),
    ("zed", "xu", 8, 10),
    ("xu", "cai", 1, 9),
    ("yan", "dan", 1, 9),
    ("zed", "eli", 1, 9),
]


def test_a_fresh_loop_ranks_below_members_nobody_has_vouched_for() -> None:
    members = {**HONEST, **LOOP, "gus": "2024-01-01"}  # gus has no sessions at all
    table = trust_scores(
        _snapshot(members, HONEST_SESSIONS + LOOP_SESSIONS), seeds=SEEDS
    ).set_index("member_id")
    loop = table.loc[list(LOOP)]
    np.testing.assert_allclose(loop["insular_share"], 16 / 17)
    assert (loop["self_conferred_trust"] > 0).all()
    # Below the prior an unknown member holds, and below every honest member.
    assert (loop["trust_score"] < table.loc["gus", "trust_score"]).all()
    assert table.loc["gus", "trust_score"] == pytest.approx(0.5)
    assert loop["trust_score"].max() < table.loc[list(HONEST), "trust_score"].min()
    # Without the insular evidence the same loop would outrank some honest members.
    blind = trust_scores(
        _snapshot(members, HONEST_SESSIONS + LOOP_SESSIONS), seeds=SEEDS, window_days=0
    ).set_index("member_id")
    assert (blind.loc[list(LOOP), "insular_share"] == 0).all()
    assert (blind.loc[list(LOOP), "trust_score"] > loop["trust_score"]).all()


def test_the_score_is_the_posterior_of_its_columns() -> None:
    members = {**HONEST, **LOOP}
    sessions = HONEST_SESSIONS + LOOP_SESSIONS + [("eli", "xu", 2, -6)]
    table = trust_scores(_snapshot(members, sessions), seeds=SEEDS, prior=0.4, prior_weight=2.0)
    positive = table["positive_trust"]
    negative = table["self_conferred_trust"] + table["distrust"] + table["insular_evidence"]
    expected = (positive + 2.0 * 0.4) / (positive + negative + 2.0)
    np.testing.assert_allclose(table["trust_score"], expected, rtol=1e-12)
    has_evidence = positive + negative > 0
    np.testing.assert_allclose(
        table.loc[has_evidence, "goodness"],
        (positive / (positive + negative))[has_evidence],
        rtol=1e-12,
    )


def test_help_counts_as_insular_only_in_the_window_after_joining() -> None:
    snapshot = _snapshot({**HONEST, **LOOP}, HONEST_SESSIONS + LOOP_SESSIONS)
    # The loop's sessions are dated a week after its accounts joined.
    inside = trust_scores(snapshot, seeds=SEEDS).set_index("member_id")
    assert (inside.loc[list(LOOP), "insular_share"] > 0).all()
    after = trust_scores(snapshot, seeds=SEEDS, window_days=1).set_index("member_id")
    assert (after.loc[list(LOOP), "insular_share"] == 0).all()
    assert (after.loc[list(LOOP), "self_conferred_trust"] == 0).all()


def test_explanations_show_self_conferred_trust_and_insular_hours() -> None:
    model = trust_model(_snapshot({**HONEST, **LOOP}, HONEST_SESSIONS + LOOP_SESSIONS), seeds=SEEDS)
    explanation = model.explain("yan")
    insular = explanation[explanation["kind"] == "insular_vouch"]
    assert insular["partner_id"].tolist() == ["zed"]  # zed received yan's 8 hours and rated 10
    vouches = explanation[explanation["kind"].isin(["seed", "vouch", "insular_vouch"])]
    assert vouches["share"].sum() == pytest.approx(1.0)
    hours = explanation[explanation["kind"] == "insular_hours"]
    assert hours["hours"].tolist() == [16.0]


PLANTED = [
    GeneratorParams(members=3000, seed=1),
    GeneratorParams(members=3000, seed=2),
    GeneratorParams(members=3000, seed=3, fraud_hours=(1.0, 3.0), camouflage=6.0),
    GeneratorParams(members=3000, seed=4, loop_size=(3, 12), farm_size=(5, 25)),
]


@pytest.mark.parametrize("params", PLANTED, ids=lambda p: f"seed{p.seed}")
def test_planted_fraud_ranks_at_the_bottom_and_honest_circles_do_not(
    params: GeneratorParams,
) -> None:
    store = SqliteStore(":memory:")
    data = ingest_generated(store, **asdict(params))
    snapshot = store.snapshot()
    table = trust_scores(snapshot)
    fraud = {m for g in data.truth if g.kind != "honest_circle" for m in g.members}
    circles = {m for g in data.truth if g.kind == "honest_circle" for m in g.members}
    planted = table["member_id"].isin(fraud).to_numpy()
    assert auc(-table["trust_score"].to_numpy(), planted) >= 0.95
    circle_pct = table.loc[table["member_id"].isin(circles), "trust_percentile"]
    assert circle_pct.median() > 50
    # Their weekly help to one another is never taken for insular exchange.
    circle_sessions = {s for g in data.truth if g.kind == "honest_circle" for s in g.session_ids}
    mutual = snapshot.sessions["session_id"].isin(circle_sessions).to_numpy()
    assert mutual.sum() == len(circle_sessions)
    assert not insular_sessions(snapshot)[mutual].any()


def test_discredited_members_opinions_pass_nothing_on() -> None:
    # Fay helped Dan, who rated her 10. Once Dan is discredited (a confirmed ring member) his
    # vouch for Fay passes nothing on, while the vouches for Dan himself still count.
    snapshot = _snapshot(HONEST, [*HONEST_SESSIONS, ("fay", "dan", 2, 10)])
    before = trust_model(snapshot, seeds=SEEDS)
    after = trust_model(snapshot, seeds=SEEDS, discredited=["dan", "nobody"])
    position = {m: i for i, m in enumerate(snapshot.members["member_id"])}
    assert after.vouches[[position["fay"]], :].toarray()[0, position["dan"]] == 0
    assert before.vouches[[position["fay"]], :].toarray()[0, position["dan"]] > 0
    assert after.trust[position["fay"]] < before.trust[position["fay"]]
    assert after.vouches[[position["dan"]], :].nnz == before.vouches[[position["dan"]], :].nnz


#: Friends who join together through Ann, an established member: "2025-05-01" to "-05-03".
FRIENDS = {f"f{i}": f"2025-05-0{i % 3 + 1}" for i in range(4)}
#: Four fresh accounts registered the same week that trade only among themselves.
PUPPETS = {f"p{i}": f"2025-05-0{i % 3 + 1}" for i in range(4)}
#: A newcomer who joined alone (months apart from the others), through Bo.
SOLO = {"solo": "2025-03-01"}
NEWCOMER_REFERRALS = [*(("ann", f) for f in FRIENDS), ("bo", "solo")]
DatedSession = tuple[str, str, str, float, int | None]  # helper, recipient, day, hours, rating


def _dated(members: dict[str, str], sessions: list[DatedSession]) -> Snapshot:
    return snapshot_of(
        members,
        list(sessions),
        referrals=[(a, b) for a, b in NEWCOMER_REFERRALS if a in members and b in members],
        now="2026-01-01",
    )


def _established(sessions: list[Session], day: str = "2024-06-01") -> list[DatedSession]:
    return [(h, r, day, hours, rating) for h, r, hours, rating in sessions]


def _friends_help_each_other(start: str) -> list[DatedSession]:
    """Three rounds ten days apart from ``start``: each friend helps the next for two hours,
    rated 9 or 10."""
    days = [pd.Timestamp(start) + pd.Timedelta(days=10 * k) for k in range(3)]
    return [
        (f"f{i}", f"f{(i + 1) % 4}", str(day.date()), 2, 9 + (i + k) % 2)
        for k, day in enumerate(days)
        for i in range(4)
    ]


def _met_by_established(newcomers: list[str], day: str) -> list[DatedSession]:
    """Cai and Dan, long-standing members, each help every newcomer once on ``day``."""
    return [(helper, m, day, 1, 9) for m in newcomers for helper in ("cai", "dan")]


def _newcomer_table(sessions: list[DatedSession]) -> pd.DataFrame:
    members = {**HONEST, **FRIENDS, **PUPPETS, **SOLO}
    snapshot = _dated(members, _established(HONEST_SESSIONS) + sessions)
    return trust_scores(snapshot, seeds=SEEDS).set_index("member_id")


PUPPET_TRADE: list[DatedSession] = [
    (f"p{i}", f"p{j}", f"2025-05-{10 + 3 * i + j:02d}", 2, 10)
    for i in range(4)
    for j in range(4)
    if i != j
]


def test_friends_known_to_established_members_score_like_other_newcomers() -> None:
    # Cai and Dan meet every friend, and the solo newcomer, before the friends help one
    # another; the puppets trade the same hours among themselves and meet nobody.
    table = _newcomer_table(
        _met_by_established([*FRIENDS, "solo"], "2025-05-06")
        + _friends_help_each_other("2025-05-10")
        + PUPPET_TRADE
    )
    friends, puppets = table.loc[list(FRIENDS)], table.loc[list(PUPPETS)]
    assert (friends["insular_share"] == 0).all()
    # Nobody trusted vouches for the friends or for Solo (they were helped, not helping):
    # they score what a member nothing is held against scores.
    np.testing.assert_allclose(friends["trust_score"], table.loc["solo", "trust_score"])
    assert table.loc["solo", "trust_score"] == pytest.approx(0.5)
    assert friends["low_reason"].isna().all()
    assert (puppets["insular_share"] == 1).all()
    assert (puppets["trust_score"] < 0.25).all()
    assert (puppets["low_reason"] == "insular_help").all()


def test_friends_who_help_established_members_earn_trust_as_a_newcomer_would() -> None:
    # f0 and Solo each help Eli once; the friends help one another once they are known.
    table = _newcomer_table(
        [
            *_met_by_established([*FRIENDS, "solo"], "2025-05-06"),
            ("f0", "eli", "2025-05-07", 1, 9),
            ("solo", "eli", "2025-05-07", 1, 9),
            *_friends_help_each_other("2025-05-10"),
        ]
    )
    assert table.loc["solo", "trust_score"] > 0.5
    # As much as Solo, and a little more: what f0 passes on comes back a little round the
    # circle of friends, as it would round any circle of members.
    assert table.loc["f0", "trust_score"] == pytest.approx(
        table.loc["solo", "trust_score"], rel=0.01
    )
    assert table.loc["f0", "trust_score"] >= table.loc["solo", "trust_score"]
    # f0's vouch for f3 (who helped it) passes trust on, as any known member's would.
    assert table.loc["f3", "positive_trust"] > 0
    assert table.loc["f3", "self_conferred_trust"] == 0


def test_friends_nobody_outside_had_met_are_insular_until_two_established_members_have() -> None:
    # The friends help one another from May 10; Cai and Dan meet them only in June. Until
    # then their help is what a group of puppets' would be; the rounds after are not.
    late = _newcomer_table(
        _met_by_established(list(FRIENDS), "2025-06-05") + _friends_help_each_other("2025-05-10")
    )
    friends = late.loc[list(FRIENDS)]
    assert (friends["insular_share"] > 0).all()
    assert (friends["insular_share"] < 1).all()
    assert (friends["trust_score"] < 0.5).all()
    # Ann's referral is one established member's word, as a farm's recruiter's is for his
    # fakes: with Cai alone meeting them too they are known, with neither, never.
    cai_only = [
        (h, r, d, hours, rating)
        for h, r, d, hours, rating in _met_by_established(list(FRIENDS), "2025-05-06")
        if h == "cai"
    ]
    known = _newcomer_table(cai_only + _friends_help_each_other("2025-05-10"))
    assert (known.loc[list(FRIENDS), "insular_share"] == 0).all()
    unknown = _newcomer_table(_friends_help_each_other("2025-05-10"))
    assert (unknown.loc[list(FRIENDS), "insular_share"] == 1).all()
    assert (
        unknown.loc[list(FRIENDS), "trust_score"] < late.loc[list(FRIENDS), "trust_score"]
    ).all()


def test_the_bottom_is_ordered_by_the_evidence_against() -> None:
    # Five strangers who each helped long-standing members, who complained: one, two or
    # three complaints, of different strengths; Gus did nothing at all.
    strangers = dict.fromkeys(("one", "two", "three", "mild", "gus"), "2025-04-01")
    complaints: list[Session] = [
        ("one", "ann", 1, -8),
        ("two", "ann", 1, -8),
        ("two", "bo", 1, -8),
        ("three", "ann", 1, -8),
        ("three", "bo", 1, -8),
        ("three", "cai", 1, -8),
        ("mild", "ann", 1, -2),
    ]
    model = trust_model(
        _snapshot({**HONEST, **strangers}, HONEST_SESSIONS + complaints), seeds=SEEDS
    )
    table = model.scores().set_index("member_id")
    score = table["trust_score"]
    assert score["three"] < score["two"] < score["one"] < score["mild"] < score["gus"]
    assert (score > 0).all()
    assert score["gus"] == pytest.approx(0.5)
    assert table.loc[["one", "two", "three", "mild"], "low_reason"].eq("complaints").all()
    assert pd.isna(table.loc["gus", "low_reason"])
    assert table.loc[list(HONEST), "low_reason"].isna().all()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(sorted(HONEST)), unique=True, max_size=3),
            st.integers(-10, -1),
            st.integers(0, 3),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_scores_at_the_bottom_differ_when_the_evidence_does(
    accounts: list[tuple[list[str], int, int]],
) -> None:
    """Fresh accounts, each complained about by some long-standing members with one rating
    and trading some hours with a twin that joined with it: more evidence against, strictly
    lower score; the same evidence, the same score; never 0."""
    members = dict(HONEST)
    sessions = list(HONEST_SESSIONS)
    for i, (complainants, rating, insular) in enumerate(accounts):
        members[f"a{i}"] = members[f"t{i}"] = "2025-05-20"
        sessions += [(f"a{i}", c, 1, rating) for c in complainants]
        sessions += [(f"a{i}", f"t{i}", insular, 10)] if insular else []
    model = trust_model(_snapshot(members, sessions), seeds=SEEDS)
    ids = list(model.snapshot.members["member_id"])
    fresh = [ids.index(f"a{i}") for i in range(len(accounts))]
    score, against = model.trust_score[fresh], model.evidence_against[fresh]
    assert (score > 0).all()
    assert (model.positive_trust[fresh] == 0).all()
    for i in range(len(fresh)):
        for j in range(len(fresh)):
            if against[i] < against[j] * (1 - 1e-9):
                assert score[i] > score[j]
            if accounts[i][0] == accounts[j][0] and accounts[i][1:] == accounts[j][1:]:
                assert score[i] == score[j]
