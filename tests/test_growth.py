"""growth(): a known answer by hand, and agreement with a plain pandas reference on generated data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.ingest import ingest
from graph.metrics.growth import COHORT_COLUMNS, GROWTH_COLUMNS, Ledger, cohorts, growth
from graph.model import Snapshot
from graph.store import GraphStore, SqliteStore
from tests.conftest import NOW, WriteDataset, ingest_generated


def test_known_answer(write_dataset: WriteDataset, store: GraphStore) -> None:
    ingest(write_dataset(), store, now=NOW)
    table = growth(store.snapshot())
    assert list(table.columns) == GROWTH_COLUMNS
    overall = table[table["scope"] == "all"].set_index("month")
    assert overall.index.tolist() == [
        pd.Timestamp("2025-01-01"),
        pd.Timestamp("2025-02-01"),
        pd.Timestamp("2025-03-01"),
    ]
    assert overall["new_members"].tolist() == [3, 1, 0]
    assert overall["members_total"].tolist() == [3, 4, 4]
    assert overall["activated"].tolist() == [2, 1, 0]
    # s1 and s2 (February) are confirmed; s3 is disputed and s4 pending: they earn nothing.
    assert overall["sessions"].tolist() == [0, 2, 0]
    assert overall["hours"].tolist() == [0.0, 3.5, 0.0]
    assert overall["active_members"].tolist() == [0, 2, 0]
    assert overall["credits_redeemed"].tolist() == [0.0, 0.0, 1.0]
    c02 = table[(table["scope"] == "community") & (table["community_id"] == "c02")]
    assert c02["new_members"].tolist() == [1, 1, 0]


def reference_growth(snapshot: Snapshot) -> pd.DataFrame:
    """The same figures, computed the obvious (slow) way with groupby over ids."""
    members = snapshot.members.assign(number=np.arange(snapshot.n_members))
    community = members["community_id"].astype(object)
    month = lambda t: pd.Series(t).dt.to_period("M").dt.to_timestamp()  # noqa: E731
    sessions = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    frames = {
        "new_members": pd.DataFrame({"c": community, "m": month(members["joined_at"]), "v": 1}),
        "activated": pd.DataFrame(
            {"c": community, "m": month(members["activated_at"]), "v": 1}
        ).dropna(subset=["m"]),
        "sessions": pd.DataFrame(
            {
                "c": community.iloc[sessions["helper"]].to_numpy(),
                "m": month(sessions["started_at"]).to_numpy(),
                "v": 1,
            }
        ),
        "hours": pd.DataFrame(
            {
                "c": community.iloc[sessions["helper"]].to_numpy(),
                "m": month(sessions["started_at"]).to_numpy(),
                "v": sessions["hours"].to_numpy(),
            }
        ),
        "credits_redeemed": pd.DataFrame(
            {
                "c": community.iloc[snapshot.redemptions["member"]].to_numpy(),
                "m": month(snapshot.redemptions["redeemed_at"]).to_numpy(),
                "v": snapshot.redemptions["credits"].to_numpy(),
            }
        ),
    }
    pairs = pd.concat(
        [
            pd.DataFrame(
                {
                    "who": sessions["helper"].to_numpy(),
                    "m": month(sessions["started_at"]).to_numpy(),
                }
            ),
            pd.DataFrame(
                {
                    "who": sessions["recipient"].to_numpy(),
                    "m": month(sessions["started_at"]).to_numpy(),
                }
            ),
        ]
    ).drop_duplicates()
    frames["active_members"] = pd.DataFrame(
        {"c": community.iloc[pairs["who"]].to_numpy(), "m": pairs["m"].to_numpy(), "v": 1}
    )
    result = {
        name: frame.groupby(["c", "m"], dropna=False)["v"].sum() for name, frame in frames.items()
    }
    return pd.DataFrame(result).fillna(0)


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_a_plain_pandas_reference(seed: int) -> None:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=1500, seed=seed)
        snapshot = store.snapshot()
    ours = growth(snapshot)
    expected = reference_growth(snapshot)
    per_community = ours[ours["scope"] == "community"].set_index(["community_id", "month"])
    for column in expected.columns:
        got = per_community[column].rename_axis(["c", "m"])
        got = got[got != 0]
        want = expected[column][expected[column] != 0]
        pd.testing.assert_series_equal(
            got.sort_index(),
            want.sort_index().rename(column),
            check_dtype=False,
            check_exact=False,
            check_index_type=False,
        )
    overall = ours[ours["scope"] == "all"]
    assert overall["new_members"].sum() == snapshot.n_members
    assert overall["members_total"].iloc[-1] == snapshot.n_members
    np.testing.assert_allclose(
        overall["hours"].sum(),
        snapshot.sessions.loc[snapshot.sessions["status"] == "confirmed", "hours"].sum(),
    )
    months = overall["month"].to_numpy()
    assert (np.diff(months.astype("datetime64[M]")).astype(int) == 1).all(), "no month is missing"


# --------------------------------------------------------------------------------------------
# Ledger, referral and recruitment columns; cohorts
# --------------------------------------------------------------------------------------------

Row = tuple[object, ...]


def snapshot_of(
    members: Sequence[Row],
    sessions: Sequence[Row] = (),
    referrals: Sequence[Row] = (),
    redemptions: Sequence[Row] = (),
    *,
    as_of: str | None = None,
) -> Snapshot:
    """A snapshot of hand-written rows, ingested through validation (every row accepted).

    ``members``: (id, joined_at, community or None); ``sessions``: (helper, recipient,
    started_at, hours[, status]); ``referrals``: (referrer, referee, referred_at);
    ``redemptions``: (member, credits, redeemed_at).
    """
    tables = {"members": pd.DataFrame(members, columns=["member_id", "joined_at", "community_id"])}
    if sessions:
        tables["sessions"] = pd.DataFrame(
            [
                (f"s{i}", *row[:4], row[4] if len(row) > 4 else "confirmed")
                for i, row in enumerate(sessions)
            ],
            columns=["session_id", "helper_id", "recipient_id", "started_at", "hours", "status"],
        )
    if referrals:
        tables["referrals"] = pd.DataFrame(
            referrals, columns=["referrer_id", "referee_id", "referred_at"]
        )
    if redemptions:
        tables["redemptions"] = pd.DataFrame(
            [
                (f"r{i}", member, "shop", credits, when)
                for i, (member, credits, when) in enumerate(redemptions)
            ],
            columns=["redemption_id", "member_id", "merchant_id", "credits", "redeemed_at"],
        )
    with SqliteStore(":memory:") as store:
        report = ingest(tables, store, now=NOW)
        assert report.all_accepted, report.rejects
        return store.snapshot(as_of=None if as_of is None else pd.Timestamp(as_of))


def rows(table: pd.DataFrame, community: str | None = None) -> pd.DataFrame:
    """The whole-network rows (or one community's), indexed by month."""
    if community is None:
        picked = table[table["scope"] == "all"]
    else:
        picked = table[(table["scope"] == "community") & (table["community_id"] == community)]
    return picked.set_index("month")


def values(series: pd.Series) -> list[float]:
    return [float(v) for v in series]


# a and b live in c1, c in c2. a helps b 3 h in January; b helps c 2 h in February; a redeems
# one credit in February.
LEDGER_MEMBERS = [
    ("a", "2025-01-02", "c1"),
    ("b", "2025-01-03", "c1"),
    ("c", "2025-01-04", "c2"),
]
LEDGER_SESSIONS = [
    ("a", "b", "2025-01-10", 3.0),
    ("b", "c", "2025-02-10", 2.0),
    # Not confirmed: moves no credit.
    ("c", "a", "2025-02-11", 5.0, "pending"),
]
LEDGER_REDEMPTIONS = [("a", 1.0, "2025-02-20")]


def test_balances_under_the_minting_ledger() -> None:
    snapshot = snapshot_of(LEDGER_MEMBERS, LEDGER_SESSIONS, redemptions=LEDGER_REDEMPTIONS)
    table = growth(snapshot, ledger="minting")
    overall = rows(table)
    # Balances (earned − redeemed): January a=3, b=0, c=0; February a=2, b=2, c=0.
    assert values(overall["credits_outstanding"]) == [3.0, 4.0]
    # Gini of (3, 0, 0): one of three holds everything, (n − 1)/n = 2/3. Of (2, 2, 0):
    # Σ|xi − xj| over ordered pairs = 8, 2 n² mean = 2·9·4/3 = 24 → 1/3.
    np.testing.assert_allclose(overall["balance_gini"], [2 / 3, 1 / 3])
    # February spends the one credit redeemed out of the 3 outstanding at its start.
    np.testing.assert_allclose(overall["velocity"], [np.nan, 1 / 3])
    c1, c2 = rows(table, "c1"), rows(table, "c2")
    assert values(c1["credits_outstanding"]) == [3.0, 4.0]
    np.testing.assert_allclose(c1["balance_gini"], [1 / 2, 0.0])  # (3, 0) then (2, 2)
    np.testing.assert_allclose(c1["velocity"], [np.nan, 1 / 3])
    assert values(c2["credits_outstanding"]) == [0.0, 0.0]
    assert c2["balance_gini"].isna().all(), "nobody in c2 holds credit"


def test_balances_under_the_classic_ledger() -> None:
    snapshot = snapshot_of(LEDGER_MEMBERS, LEDGER_SESSIONS, redemptions=LEDGER_REDEMPTIONS)
    table = growth(snapshot, ledger="classic")
    overall = rows(table)
    # Balances (earned − received − redeemed): January a=3, b=−3, c=0; February a=2, b=−1,
    # c=−2. Only positive balances are credit held.
    assert values(overall["credits_outstanding"]) == [3.0, 2.0]
    np.testing.assert_allclose(overall["balance_gini"], [2 / 3, 2 / 3])
    # February: 2 hours received by c plus 1 credit redeemed, out of 3 outstanding.
    np.testing.assert_allclose(overall["velocity"], [np.nan, 1.0])
    c1, c2 = rows(table, "c1"), rows(table, "c2")
    assert values(c1["credits_outstanding"]) == [3.0, 2.0]
    np.testing.assert_allclose(c1["balance_gini"], [1 / 2, 1 / 2])
    # c1 spent only a's redeemed credit in February (the hours were received in c2).
    np.testing.assert_allclose(c1["velocity"], [np.nan, 1 / 3])
    assert values(c2["credits_outstanding"]) == [0.0, 0.0]
    assert c2["velocity"].isna().all(), "c2 held nothing at the start of February"
    # Money moved, none was minted: the other columns do not depend on the ledger.
    minting = growth(snapshot)
    same = ["hours", "credits_minted", "credits_redeemed", "active_members"]
    pd.testing.assert_frame_equal(table[same], minting[same])


def ring(amounts: list[float]) -> Snapshot:
    """Members m0..m(k−1) in one community; m(i) helps m(i+1 mod k) amounts[i] hours."""
    k = len(amounts)
    members = [(f"m{i}", "2025-03-01", "c1") for i in range(k)]
    sessions = [
        (f"m{i}", f"m{(i + 1) % k}", "2025-03-05", hours)
        for i, hours in enumerate(amounts)
        if hours
    ]
    return snapshot_of(members, sessions)


@pytest.mark.parametrize(
    ("amounts", "gini"),
    [
        ([2.0, 2.0, 2.0, 2.0], 0.0),  # all equal
        ([5.0, 0.0, 0.0, 0.0], 3 / 4),  # one of four holds everything: (n − 1)/n
        # |differences| of (1, 2, 3, 4): 1+2+3+1+2+1 = 10 per direction, 2 n² mean = 80.
        ([1.0, 2.0, 3.0, 4.0], 20 / 80),
        # (1, 0, 3, 0): |differences| 1+2+1+3+0+3 = 10 per direction, 2 n² mean = 32.
        ([1.0, 0.0, 3.0, 0.0], 20 / 32),
    ],
)
def test_gini_of_known_distributions(amounts: list[float], gini: float) -> None:
    table = growth(ring(amounts))
    for scope in (rows(table), rows(table, "c1")):
        assert scope["balance_gini"].iloc[0] == pytest.approx(gini, abs=1e-12)


# January: founders a and x, a helps x. February: a refers b and c, d joins on their own, b helps
# c. March: b refers e and g (both c1), c refers f (who lives in c2).
REFERRAL_MEMBERS = [
    ("a", "2025-01-02", "c1"),
    ("x", "2025-01-03", "c1"),
    ("b", "2025-02-02", "c1"),
    ("c", "2025-02-03", "c1"),
    ("d", "2025-02-04", "c1"),
    ("e", "2025-03-02", "c1"),
    ("f", "2025-03-03", "c2"),
    ("g", "2025-03-04", "c1"),
]
REFERRALS = [
    ("a", "b", "2025-02-02"),
    ("a", "c", "2025-02-03"),
    ("b", "e", "2025-03-02"),
    ("c", "f", "2025-03-03"),
    ("b", "g", "2025-03-04"),
]
REFERRAL_SESSIONS = [("a", "x", "2025-01-10", 1.0), ("b", "c", "2025-02-10", 1.0)]


def test_referral_growth_and_k_factor() -> None:
    table = growth(snapshot_of(REFERRAL_MEMBERS, REFERRAL_SESSIONS, REFERRALS))
    overall = rows(table)
    assert overall["new_members"].tolist() == [2, 3, 3]
    assert overall["active_members"].tolist() == [2, 2, 0]
    assert overall["referred_members"].tolist() == [0, 2, 3]
    np.testing.assert_allclose(overall["referral_share"], [0.0, 2 / 3, 1.0])
    assert overall["referrers"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(overall["referrals_per_referrer"], [np.nan, 2.0, 1.5])
    # Referred newcomers per member active in the previous month: 2/2 in February, 3/2 in March.
    np.testing.assert_allclose(overall["k_factor"], [np.nan, 1.0, 1.5])

    c1, c2 = rows(table, "c1"), rows(table, "c2")
    assert c1["referred_members"].tolist() == [0, 2, 2]
    # b and c are c1's referrers in March; between them they brought in three newcomers.
    assert c1["referrers"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(c1["referrals_per_referrer"], [np.nan, 2.0, 1.5])
    np.testing.assert_allclose(c1["k_factor"], [np.nan, 1.0, 1.0])
    assert c2["referred_members"].tolist() == [0, 0, 1]
    assert c2["referrers"].tolist() == [0, 0, 0]
    assert c2["k_factor"].isna().all(), "nobody in c2 was active before March"


def recruiting_network(referred: list[int], hours: list[float]) -> Snapshot:
    """Founders f0 and f1 join in January 2024; in month i f0 helps f1 ``hours[i]`` hours (in
    sessions of at most 20 h) and ``referred[i]`` newcomers referred by f0 join."""
    members: list[Row] = [("f0", "2024-01-01", "c1"), ("f1", "2024-01-01", "c1")]
    sessions: list[Row] = []
    referrals: list[Row] = []
    for i, (newcomers, helped) in enumerate(zip(referred, hours, strict=True)):
        month = pd.Timestamp("2024-01-01") + pd.DateOffset(months=i)
        for j in range(newcomers):
            day = (month + pd.Timedelta(days=1 + j % 27)).strftime("%Y-%m-%d")
            members.append((f"n{i}-{j}", day, "c1"))
            referrals.append(("f0", f"n{i}-{j}", day))
        for j, start in enumerate(np.arange(0.0, helped, 20.0)):
            day = (month + pd.Timedelta(days=1 + j % 27)).strftime("%Y-%m-%d")
            sessions.append(("f0", "f1", day, float(min(20.0, helped - start))))
    return snapshot_of(members, sessions, referrals)


def test_recruitment_balance_and_warning_by_hand() -> None:
    # 20 hours of help a month weigh as 2 recruits (10 hours per recruit); a one-month window.
    snapshot = recruiting_network(referred=[0, 2, 4, 3, 1], hours=[20.0] * 5)
    table = growth(snapshot, window=1, threshold=0.5, rise=0.1, min_referred=2)
    overall = rows(table)
    # R / (R + 2): 0, 2/4, 4/6, 3/5, 1/3.
    np.testing.assert_allclose(overall["recruitment_balance"], [0.0, 0.5, 2 / 3, 0.6, 1 / 3])
    # On in February (0.5 ≥ 0.5, risen by 0.5), still rising in March, held in April (0.6 is
    # above the threshold though it fell), off in May (below it).
    assert overall["recruitment_driven"].tolist() == [False, True, True, True, False]
    # New members: founders in January, then the referred ones.
    np.testing.assert_allclose(
        overall["service_hours_per_new_member"], [10.0, 10.0, 5.0, 20 / 3, 20.0]
    )
    # The same month as the network's, since c1 is the whole network.
    assert (
        rows(table, "c1")["recruitment_driven"].tolist() == overall["recruitment_driven"].tolist()
    )
    # Fewer referrals in the window than min_referred: never on.
    quiet = growth(snapshot, window=1, min_referred=5)
    assert not quiet["recruitment_driven"].any()


def test_a_launch_is_not_a_pyramid_turn() -> None:
    # Everybody is new and nobody has helped yet: the balance starts at 1 and falls.
    snapshot = recruiting_network(referred=[8, 4, 2], hours=[0.0, 20.0, 40.0])
    table = growth(snapshot, window=1, min_referred=2)
    overall = rows(table)
    np.testing.assert_allclose(overall["recruitment_balance"], [1.0, 4 / 6, 2 / 6])
    assert not overall["recruitment_driven"].any()


def test_warning_with_default_settings() -> None:
    # 200 hours of help a month (20 per recruit at 10 a month) throughout. Service-driven:
    # twelve referrals a month, balance 36 / (36 + 60) = 0.375 over every full window.
    service = growth(recruiting_network(referred=[12] * 8, hours=[200.0] * 8))
    assert not service["recruitment_driven"].any()
    # Recruitment-driven: from May referrals double every month while help stays flat. Window
    # sums: June 12+24+48 = 84 → 84 / 144 = 0.583, up from 0.375 in March: on in June; July
    # 168 / 228 = 0.737, August 336 / 396 = 0.848: stays on.
    pyramid = growth(
        recruiting_network(referred=[12, 12, 12, 12, 24, 48, 96, 192], hours=[200.0] * 8)
    )
    overall = rows(pyramid)
    np.testing.assert_allclose(
        overall["recruitment_balance"].iloc[3:],
        [36 / 96, 48 / 108, 84 / 144, 168 / 228, 336 / 396],
    )
    assert overall["recruitment_driven"].tolist() == [False] * 5 + [True] * 3


def test_cohort_retention_by_hand() -> None:
    members = [
        ("a", "2025-01-02", "c1"),
        ("b", "2025-01-03", "c1"),
        ("x", "2025-01-04", "c2"),
        ("c", "2025-02-01", "c2"),
    ]
    sessions = [
        ("a", "b", "2025-01-10", 1.0),
        ("a", "c", "2025-02-10", 1.0),
        ("b", "c", "2025-03-10", 1.0),
        ("x", "a", "2025-03-11", 1.0, "disputed"),  # does not make x active
    ]
    table = cohorts(snapshot_of(members, sessions))
    assert list(table.columns) == COHORT_COLUMNS
    assert (table["scope"] == "all").all()
    got = [
        (str(r.cohort.date()), r.months_since_joining, r.cohort_size, r.active, r.retention)
        for r in table.itertuples()
    ]
    assert got == [
        ("2025-01-01", 0, 3, 2, pytest.approx(2 / 3)),  # a and b
        ("2025-01-01", 1, 3, 1, pytest.approx(1 / 3)),  # a
        ("2025-01-01", 2, 3, 1, pytest.approx(1 / 3)),  # b
        ("2025-02-01", 0, 1, 1, 1.0),
        ("2025-02-01", 1, 1, 1, 1.0),
    ]

    by_community = cohorts(snapshot_of(members, sessions), per_community=True)
    overall = by_community[by_community["scope"] == "all"].reset_index(drop=True)
    pd.testing.assert_frame_equal(overall, table)
    c1 = by_community[by_community["community_id"] == "c1"]
    assert c1["active"].tolist() == [2, 1, 1]
    assert c1["retention"].tolist() == [1.0, 0.5, 0.5]
    c2 = by_community[by_community["community_id"] == "c2"]
    assert list(zip(c2["cohort_size"], c2["active"], strict=True)) == [
        (1, 0),
        (1, 0),
        (1, 0),
        (1, 1),
        (1, 1),
    ]


def test_months_run_to_as_of() -> None:
    members = [("a", "2025-01-02", "c1"), ("b", "2025-01-03", "c1")]
    sessions = [("a", "b", "2025-01-10", 1.0), ("b", "a", "2025-06-10", 2.0)]
    snapshot = snapshot_of(members, sessions, as_of="2025-04-15")
    table = growth(snapshot)
    overall = rows(table)
    # The June session is after as_of; the months still run to April, with nothing after January.
    assert overall.index.tolist() == list(pd.date_range("2025-01-01", "2025-04-01", freq="MS"))
    assert overall["hours"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert overall["credits_outstanding"].tolist() == [1.0] * 4
    retention = cohorts(snapshot)
    assert retention["months_since_joining"].tolist() == [0, 1, 2, 3]
    assert retention["active"].tolist() == [2, 0, 0, 0]


def test_rejects_an_unknown_ledger() -> None:
    snapshot = snapshot_of(LEDGER_MEMBERS, LEDGER_SESSIONS)
    with pytest.raises(ValueError, match="ledger"):
        growth(snapshot, ledger="mutual")  # type: ignore[arg-type]


def test_empty_snapshot() -> None:
    with SqliteStore(":memory:") as store:
        snapshot = store.snapshot()
    assert list(growth(snapshot).columns) == GROWTH_COLUMNS
    assert growth(snapshot).empty
    assert list(cohorts(snapshot).columns) == COHORT_COLUMNS
    assert cohorts(snapshot).empty


# --------------------------------------------------------------------------------------------
# A readable reference twin, compared with the fast version on generated networks
# --------------------------------------------------------------------------------------------


def month_of(times: pd.Series | np.ndarray) -> pd.Series:
    return pd.Series(times).dt.to_period("M").dt.to_timestamp()


def gini_by_definition(held: np.ndarray) -> float:
    """Mean absolute difference over twice the mean: Σ_i Σ_j |x_i − x_j| / (2 n² mean)."""
    if len(held) == 0 or held.sum() == 0:
        return np.nan
    return float(np.abs(held[:, None] - held[None, :]).sum() / (2 * len(held) ** 2 * held.mean()))


def reference_new_columns(
    snapshot: Snapshot,
    months: list[pd.Timestamp],
    *,
    ledger: str,
    warning: WarningSettings,
) -> pd.DataFrame:
    """The ledger, referral and recruitment columns, month by month, the obvious (slow) way:
    every month-end balance recomputed from all the events so far with groupby."""
    n = snapshot.n_members
    community = snapshot.members["community_id"].astype(object).to_numpy()
    joined = month_of(snapshot.members["joined_at"]).to_numpy()
    confirmed = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    sessions = confirmed.assign(m=month_of(confirmed["started_at"]).to_numpy())
    redemptions = snapshot.redemptions.assign(
        m=month_of(snapshot.redemptions["redeemed_at"]).to_numpy()
    )
    referrals = snapshot.referrals.assign(m=joined[snapshot.referrals["referee"].to_numpy()])
    scopes = [("all", None, np.ones(n, dtype=bool))] + [
        ("community", label, community == label) for label in sorted(set(community))
    ]

    def per_member(frame: pd.DataFrame, who: str, what: str) -> np.ndarray:
        return frame.groupby(who)[what].sum().reindex(range(n), fill_value=0.0).to_numpy()

    records = []
    for month in months:
        so_far = sessions[sessions["m"] <= month]
        balance = per_member(so_far, "helper", "hours") - per_member(
            redemptions[redemptions["m"] <= month], "member", "credits"
        )
        if ledger == "classic":
            balance -= per_member(so_far, "recipient", "hours")
        held = balance.clip(min=0)
        counted = (joined <= month) | (held > 0)
        now = sessions[sessions["m"] == month]
        redeemed_now = redemptions[redemptions["m"] == month]
        active_now = set(now["helper"]) | set(now["recipient"])
        referred_now = referrals[referrals["m"] == month]
        for scope, label, inside in scopes:
            spent = redeemed_now.loc[inside[redeemed_now["member"]], "credits"].sum()
            if ledger == "classic":
                spent += now.loc[inside[now["recipient"]], "hours"].sum()
            by_referrers = referred_now[inside[referred_now["referrer"]]]
            records.append(
                {
                    "scope": scope,
                    "community_id": label,
                    "month": month,
                    "credits_outstanding": (
                        balance[inside].sum() if ledger == "minting" else held[inside].sum()
                    ),
                    "balance_gini": gini_by_definition(held[inside & counted]),
                    "spent": spent,
                    "active": sum(1 for member in active_now if inside[member]),
                    "new_members": int((inside & (joined == month)).sum()),
                    "hours": now.loc[inside[now["helper"]], "hours"].sum(),
                    "referred_members": int(inside[referred_now["referee"]].sum()),
                    "referrers": by_referrers["referrer"].nunique(),
                    "referrals_made": len(by_referrers),
                }
            )
    table = pd.DataFrame(records)

    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a / b).where(b > 0)

    def per_scope(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.sort_values("month")
        window = warning["window"]
        recruited = rows["referred_members"].rolling(window, min_periods=1).sum()
        service = rows["hours"].rolling(window, min_periods=1).sum() / warning["hours_per_referral"]
        balance = ratio(recruited, recruited + service).to_numpy()
        flags, on = [], False
        for t in range(len(balance)):
            past = t >= window
            rising = past and (
                balance[t] >= balance[t - window] + warning["rise"]
                or (
                    balance[t] >= warning["threshold"] + warning["rise"]
                    and not balance[t] < balance[t - window]
                )
            )
            high = (
                balance[t] >= warning["threshold"] and recruited.iloc[t] >= warning["min_referred"]
            )
            on = bool(high and (rising or on))
            flags.append(on)
        return rows.assign(
            velocity=ratio(rows["spent"], rows["credits_outstanding"].shift(1)),
            referral_share=ratio(rows["referred_members"], rows["new_members"]),
            referrals_per_referrer=ratio(rows["referrals_made"], rows["referrers"]),
            k_factor=ratio(rows["referred_members"], rows["active"].shift(1)),
            service_hours_per_new_member=ratio(rows["hours"], rows["new_members"]),
            recruitment_balance=balance,
            recruitment_driven=flags,
        )

    return pd.concat(
        [per_scope(rows) for _, rows in table.groupby(["scope", "community_id"], dropna=False)]
    )


NEW_COLUMNS = GROWTH_COLUMNS[GROWTH_COLUMNS.index("credits_outstanding") :]


class WarningSettings(TypedDict):
    hours_per_referral: float
    window: int
    threshold: float
    rise: float
    min_referred: int


#: The documented defaults, and settings sensitive enough to raise the warning on generated data.
DEFAULT_WARNING = WarningSettings(
    hours_per_referral=10.0, window=3, threshold=0.5, rise=0.1, min_referred=30
)
SENSITIVE_WARNING = WarningSettings(
    hours_per_referral=10.0, window=2, threshold=0.35, rise=0.02, min_referred=3
)


@pytest.mark.parametrize("ledger", ["minting", "classic"])
@pytest.mark.parametrize("warning", [DEFAULT_WARNING, SENSITIVE_WARNING])
@pytest.mark.parametrize("seed", [3, 4])
def test_new_columns_agree_with_a_readable_reference(
    seed: int, ledger: Ledger, warning: WarningSettings
) -> None:
    snapshot = generated_snapshot(seed)
    ours = growth(snapshot, ledger=ledger, **warning)
    months = sorted(set(ours["month"]))
    expected = reference_new_columns(snapshot, months, ledger=ledger, warning=warning)
    key = ["scope", "community_id", "month"]
    merged = ours.merge(expected, on=key, how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all(), "the same (scope, community, month) rows"
    for column in NEW_COLUMNS:
        if column == "recruitment_driven":
            assert merged[column].tolist() == merged[f"{column}_ref"].astype(bool).tolist()
        else:
            np.testing.assert_allclose(
                merged[column].astype(float),
                merged[f"{column}_ref"].astype(float),
                rtol=1e-9,
                atol=1e-9,
                err_msg=column,
            )
    if warning is SENSITIVE_WARNING:
        assert ours["recruitment_driven"].any(), "the sensitive settings raise the warning"


_GENERATED: dict[int, Snapshot] = {}


def generated_snapshot(seed: int) -> Snapshot:
    """A generated 2,000-member network (ingested once per seed)."""
    if seed not in _GENERATED:
        with SqliteStore(":memory:") as store:
            ingest_generated(store, members=2000, seed=seed)
            _GENERATED[seed] = store.snapshot()
    return _GENERATED[seed]


def reference_cohorts(snapshot: Snapshot, last: pd.Timestamp) -> pd.DataFrame:
    """Cohort retention with merges and groupby over (member, month) activity."""
    members = pd.DataFrame(
        {
            "member": np.arange(snapshot.n_members),
            "cohort": month_of(snapshot.members["joined_at"]).to_numpy(),
        }
    )
    sessions = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    activity = pd.concat(
        [
            pd.DataFrame(
                {"member": sessions[who].to_numpy(), "m": month_of(sessions["started_at"])}
            )
            for who in ("helper", "recipient")
        ]
    ).drop_duplicates()
    activity = activity.merge(members, on="member")
    activity["months_since_joining"] = (
        (activity["m"].dt.year - activity["cohort"].dt.year) * 12
        + activity["m"].dt.month
        - activity["cohort"].dt.month
    )
    activity = activity[activity["months_since_joining"] >= 0]
    active = activity.groupby(["cohort", "months_since_joining"]).size().rename("active")
    sizes = members.groupby("cohort").size().rename("cohort_size")
    grid = pd.DataFrame(
        [
            (cohort, k)
            for cohort in sizes.index
            for k in range((last.year - cohort.year) * 12 + last.month - cohort.month + 1)
        ],
        columns=["cohort", "months_since_joining"],
    )
    grid = grid.join(sizes, on="cohort").join(active, on=["cohort", "months_since_joining"])
    grid["active"] = grid["active"].fillna(0).astype(int)
    grid["retention"] = grid["active"] / grid["cohort_size"]
    return grid


@pytest.mark.parametrize("seed", [3, 4])
def test_cohorts_agree_with_a_readable_reference(seed: int) -> None:
    snapshot = generated_snapshot(seed)
    ours = cohorts(snapshot)
    last = growth(snapshot)["month"].max()
    expected = reference_cohorts(snapshot, last)
    got = ours[["cohort", "months_since_joining", "cohort_size", "active", "retention"]]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        expected.reset_index(drop=True),
        check_dtype=False,
        check_index_type=False,
    )
    by_community = cohorts(snapshot, per_community=True)
    communities = by_community[by_community["scope"] == "community"]
    summed = communities.groupby(["cohort", "months_since_joining"])[
        ["cohort_size", "active"]
    ].sum()
    np.testing.assert_array_equal(summed.to_numpy(), ours[["cohort_size", "active"]].to_numpy())


def test_ledger_entries_dated_before_joining() -> None:
    # c helps a in January but joins only in March (the schema does not forbid it).
    members = [("a", "2025-01-02", "c1"), ("b", "2025-01-03", "c1"), ("c", "2025-03-01", "c2")]
    sessions = [("c", "a", "2025-01-10", 4.0), ("a", "b", "2025-01-12", 1.0)]
    snapshot = snapshot_of(members, sessions)
    overall = rows(growth(snapshot))
    assert overall["members_total"].tolist() == [2, 2, 3]
    # c already holds 4 credits, so counts in January with a (1) and b (0): (1, 0, 4) has
    # |differences| 1 + 3 + 4 = 8 per direction, 2 n² mean = 2·9·5/3 = 30.
    np.testing.assert_allclose(overall["balance_gini"], [16 / 30] * 3)
    assert overall["credits_outstanding"].tolist() == [5.0] * 3
    # c's January session is before c's cohort began: March's cohort was never active.
    table = cohorts(snapshot)
    march = table[table["cohort"] == pd.Timestamp("2025-03-01")]
    assert march["active"].tolist() == [0]
    assert table[table["cohort"] == pd.Timestamp("2025-01-01")]["active"].tolist() == [2, 0, 0]


# --------------------------------------------------------------------------------------------
# Properties of small random networks
# --------------------------------------------------------------------------------------------

DAY = st.integers(min_value=0, max_value=150)


def _date(day: int) -> str:
    return (pd.Timestamp("2025-01-01") + pd.Timedelta(days=day)).strftime("%Y-%m-%d")


@st.composite
def networks(draw: st.DrawFn) -> Snapshot:
    """2–8 members in two communities (or none), random confirmed, pending and disputed help,
    a referral forest and redemptions (possibly more than a member earned)."""
    n = draw(st.integers(min_value=2, max_value=8))
    ids = [f"m{i}" for i in range(n)]
    joined = [draw(DAY) for _ in ids]
    members = [
        (member, _date(day), draw(st.sampled_from(["c1", "c2", None])))
        for member, day in zip(ids, joined, strict=True)
    ]
    member = st.integers(min_value=0, max_value=n - 1)
    sessions = [
        (ids[helper], ids[recipient], _date(day), hours, status)
        for helper, recipient, day, hours, status in draw(
            st.lists(
                st.tuples(
                    member,
                    member,
                    DAY,
                    st.sampled_from([0.5, 1.0, 2.5, 8.0]),
                    st.sampled_from(["confirmed", "confirmed", "pending", "disputed"]),
                ),
                max_size=20,
            )
        )
        if helper != recipient
    ]
    referrals = [
        (ids[referrer], ids[i], _date(joined[i]))
        for i in range(1, n)
        if (referrer := draw(st.none() | st.integers(min_value=0, max_value=i - 1))) is not None
    ]
    redemptions = [
        (ids[who], credits, _date(day))
        for who, credits, day in draw(
            st.lists(st.tuples(member, st.sampled_from([1.0, 2.0, 5.0]), DAY), max_size=5)
        )
    ]
    return snapshot_of(members, sessions, referrals, redemptions)


PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(networks())
def test_cohort_properties(snapshot: Snapshot) -> None:
    for table in (cohorts(snapshot), cohorts(snapshot, per_community=True)):
        assert table["retention"].between(0, 1).all()
        assert (table["active"] <= table["cohort_size"]).all()
        for scope, rows_ in table.groupby("scope"):
            first_months = rows_[rows_["months_since_joining"] == 0]
            assert first_months["cohort_size"].sum() == snapshot.n_members, scope
    # Every cohort's activity in a calendar month is activity growth() counts that month.
    table = cohorts(snapshot)
    calendar = table["cohort"].dt.to_period("M") + table["months_since_joining"]
    by_month = table.groupby(calendar.dt.to_timestamp())["active"].sum()
    active = rows(growth(snapshot))["active_members"]
    assert (by_month <= active.reindex(by_month.index)).all()


@PROPERTY_SETTINGS
@given(networks())
def test_ledger_properties(snapshot: Snapshot) -> None:
    minting = growth(snapshot)
    overall = rows(minting)
    # Minting: outstanding = credits earned so far − credits redeemed so far.
    confirmed = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    earned = confirmed.groupby(month_of(confirmed["started_at"]).to_numpy())["hours"].sum()
    redeemed = snapshot.redemptions.groupby(
        month_of(snapshot.redemptions["redeemed_at"]).to_numpy()
    )["credits"].sum()
    expected = (
        earned.reindex(overall.index, fill_value=0.0).cumsum()
        - redeemed.reindex(overall.index, fill_value=0.0).cumsum()
    )
    np.testing.assert_allclose(overall["credits_outstanding"], expected.to_numpy(), atol=1e-9)

    classic = growth(snapshot, ledger="classic")
    assert (classic["credits_outstanding"] >= 0).all()
    for table in (minting, classic):
        gini = table["balance_gini"].dropna()
        assert ((gini >= 0) & (gini < 1)).all()
        # Each member counts in one community: communities add up to the network.
        communities = table[table["scope"] == "community"].groupby("month")
        for column in ("credits_outstanding", "referred_members", "referrers", "active_members"):
            np.testing.assert_allclose(
                communities[column].sum().to_numpy(), rows(table)[column].to_numpy(), atol=1e-9
            )
    assert minting["referral_share"].dropna().between(0, 1).all()
    assert (minting["referrals_per_referrer"].dropna() >= 1).all()
    assert minting["recruitment_balance"].dropna().between(0, 1).all()


def test_a_network_recruiting_from_its_first_month_is_flagged_early() -> None:
    # Forty referred newcomers a month and no service at all: the balance is 1 from the start
    # and never rises, which must not hide the clearest pyramid there is.
    table = growth(recruiting_network(referred=[40] * 8, hours=[0.0] * 8))
    overall = table[table["scope"] == "all"].reset_index(drop=True)
    assert (overall["recruitment_balance"] == 1.0).all()
    flagged = overall.index[overall["recruitment_driven"]].tolist()
    assert flagged
    assert flagged[0] <= 3
    assert overall["recruitment_driven"].iloc[flagged[0] :].all()
