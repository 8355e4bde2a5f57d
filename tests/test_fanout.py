"""fanout() and pyramid(): known answers by hand, the networkx twin, and forest invariants."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.ingest import ingest
from graph.metrics.fanout import (
    FANOUT_COLUMNS,
    PYRAMID_COLUMNS,
    _fanout_networkx,
    _forest,
    fanout,
    pyramid,
)
from graph.model import Snapshot
from graph.store import SqliteStore
from tests.conftest import NOW, ingest_generated

Fanout = Callable[..., pd.DataFrame]
IMPLEMENTATIONS = [
    pytest.param(fanout, id="numpy"),
    pytest.param(_fanout_networkx, id="networkx"),
]

INTEGER_COLUMNS = [
    "direct_referrals",
    "active_referrals",
    "downline_size",
    "downline_depth",
    "generation",
    "people_helped_outside_downline",
    "activated_downline",
]
HOURS_COLUMNS = ["hours_given", "hours_to_downline", "hours_outside_downline", "recruitment_share"]


@dataclass
class Network:
    """A hand-written network; times are ISO strings, ``activated`` lists activated members."""

    joined: dict[str, str]
    referrals: list[tuple[str, str]] = field(default_factory=list)
    #: (helper, recipient, started_at, hours, status)
    sessions: list[tuple[str, str, str, float, str]] = field(default_factory=list)
    activated: set[str] = field(default_factory=set)

    def snapshot(self) -> Snapshot:
        """The network through the real ingest path into an in-memory store."""
        names = list(self.joined)
        tables = {
            "members": pd.DataFrame(
                {
                    "member_id": names,
                    "joined_at": [self.joined[m] for m in names],
                    "activated_at": [
                        self.joined[m] if m in self.activated else None for m in names
                    ],
                }
            ),
            "referrals": pd.DataFrame(
                {
                    "referrer_id": [a for a, _ in self.referrals],
                    "referee_id": [b for _, b in self.referrals],
                    "referred_at": [self.joined[b] for _, b in self.referrals],
                }
            ),
            "sessions": pd.DataFrame(
                {
                    "session_id": [f"s{i}" for i in range(len(self.sessions))],
                    "helper_id": [s[0] for s in self.sessions],
                    "recipient_id": [s[1] for s in self.sessions],
                    "started_at": [s[2] for s in self.sessions],
                    "hours": [s[3] for s in self.sessions],
                    "status": [s[4] for s in self.sessions],
                }
            ),
        }
        with SqliteStore(":memory:") as store:
            report = ingest(tables, store, now=NOW)
            assert report.all_accepted, report.rejects
            return store.snapshot()


def by_member(table: pd.DataFrame) -> pd.DataFrame:
    assert list(table.columns) == FANOUT_COLUMNS
    return table.set_index("member_id")


# Ann's tree: ann → bo, cai, dan; bo → eve, fay; eve → gus. Ivy → jon; hal stands alone.
FAMILY = Network(
    joined=dict.fromkeys(
        ["ann", "bo", "cai", "dan", "eve", "fay", "gus", "hal", "ivy", "jon"], "2025-01-01"
    ),
    referrals=[
        ("ann", "bo"),
        ("ann", "cai"),
        ("ann", "dan"),
        ("bo", "eve"),
        ("bo", "fay"),
        ("eve", "gus"),
        ("ivy", "jon"),
    ],
    activated={"ann", "bo", "eve", "gus", "jon"},
    sessions=[
        ("bo", "ann", "2025-01-10", 2.0, "confirmed"),  # bo active; to his upline: outside
        ("cai", "eve", "2025-03-01", 1.0, "confirmed"),  # day 59: cai active; a nephew: outside
        ("dan", "hal", "2025-02-01", 3.0, "confirmed"),  # dan active; a stranger: outside
        ("ann", "gus", "2025-02-01", 4.0, "confirmed"),  # great-grandchild: downline
        ("ann", "hal", "2025-02-02", 1.0, "confirmed"),
        ("bo", "gus", "2025-02-03", 1.5, "pending"),  # earns nothing
        ("eve", "fay", "2025-02-04", 2.0, "disputed"),  # earns nothing
        ("eve", "gus", "2025-01-05", 1.0, "confirmed"),  # eve active; her downline
        ("jon", "ivy", "2025-08-01", 0.5, "confirmed"),  # day 212: too late to make jon active
        ("fay", "bo", "2025-01-20", 2.5, "pending"),  # a pending session does not activate fay
        ("hal", "ivy", "2025-01-02", 1.0, "confirmed"),
    ],
)

#: Worked out by hand from FAMILY: (direct, active, downline, depth, generation, root,
#: hours to downline, hours outside, activated downline).
FAMILY_ANSWERS = {
    "ann": (3, 3, 6, 3, 0, "ann", 4.0, 1.0, 3),
    "bo": (2, 1, 3, 2, 1, "ann", 0.0, 2.0, 2),
    "cai": (0, 0, 0, 0, 1, "ann", 0.0, 1.0, 0),
    "dan": (0, 0, 0, 0, 1, "ann", 0.0, 3.0, 0),
    "eve": (1, 0, 1, 1, 2, "ann", 1.0, 0.0, 1),
    "fay": (0, 0, 0, 0, 2, "ann", 0.0, 0.0, 0),
    "gus": (0, 0, 0, 0, 3, "ann", 0.0, 0.0, 0),
    "hal": (0, 0, 0, 0, 0, "hal", 0.0, 1.0, 0),
    "ivy": (1, 0, 1, 1, 0, "ivy", 0.0, 0.0, 1),
    "jon": (0, 0, 0, 0, 1, "ivy", 0.0, 0.5, 0),
}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_known_answer(implementation: Fanout) -> None:
    table = by_member(implementation(FAMILY.snapshot()))
    assert table.index.tolist() == sorted(FAMILY_ANSWERS), "one row per member, snapshot order"
    for member, answer in FAMILY_ANSWERS.items():
        direct, active, downline, depth, generation, root, to_down, outside, activated = answer
        row = table.loc[member]
        assert row["direct_referrals"] == direct, member
        assert row["active_referrals"] == active, member
        assert row["downline_size"] == downline, member
        assert row["downline_depth"] == depth, member
        assert row["generation"] == generation, member
        assert row["tree_root"] == root, member
        assert row["refers_three"] == (member == "ann"), member
        assert row["hours_to_downline"] == pytest.approx(to_down), member
        assert row["hours_outside_downline"] == pytest.approx(outside), member
        assert row["hours_given"] == pytest.approx(to_down + outside), member
        assert row["activated_downline"] == activated, member
    shares = table["recruitment_share"]
    # Three active referrals at 10 hours each against 1 hour of outside help; Bo: 10 against 2.
    assert shares["ann"] == pytest.approx(30 / 31)
    assert shares["bo"] == pytest.approx(10 / 12)
    assert (shares.drop(["ann", "bo"]) == 0).all(), "no active referral, no recruiting share"


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_hours_per_referral_sets_the_exchange_rate(implementation: Fanout) -> None:
    table = by_member(implementation(FAMILY.snapshot(), hours_per_referral=2.5))
    assert table.loc["ann", "recruitment_share"] == pytest.approx(7.5 / 8.5)
    assert table.loc["bo", "recruitment_share"] == pytest.approx(2.5 / 4.5)


# Pat referred five members who joined at midnight on 1 January 2025; 1 April is 90 days later.
WINDOW = Network(
    joined={
        "pat": "2024-12-01",
        "r_day0": "2025-01-01T00:00:00",
        "r_day90": "2025-01-01T00:00:00",
        "r_day90_1s": "2025-01-01T00:00:00",
        "r_day91": "2025-01-01T00:00:00",
        "r_receives": "2025-01-01T00:00:00",
    },
    referrals=[
        ("pat", "r_day0"),
        ("pat", "r_day90"),
        ("pat", "r_day90_1s"),
        ("pat", "r_day91"),
        ("pat", "r_receives"),
    ],
    sessions=[
        ("r_day0", "pat", "2025-01-01T00:00:00", 1.0, "confirmed"),
        ("r_day90", "pat", "2025-04-01T00:00:00", 1.0, "confirmed"),
        ("r_day90_1s", "pat", "2025-04-01T00:00:01", 1.0, "confirmed"),
        ("r_day91", "pat", "2025-04-02T00:00:00", 1.0, "confirmed"),
        # Receiving help, however early, does not make a referee active.
        ("pat", "r_receives", "2025-01-02", 1.0, "confirmed"),
    ],
)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("window_days", "active"),
    [
        (90, {"r_day0", "r_day90"}),
        (91, {"r_day0", "r_day90", "r_day90_1s", "r_day91"}),
        (89, {"r_day0"}),
        (0, {"r_day0"}),
    ],
)
def test_active_window_includes_both_ends(
    implementation: Fanout, window_days: int, active: set[str]
) -> None:
    table = by_member(implementation(WINDOW.snapshot(), active_window_days=window_days))
    assert table.loc["pat", "active_referrals"] == len(active)
    assert table.loc["pat", "direct_referrals"] == 5
    assert table.loc["pat", "refers_three"] == (len(active) >= 3)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_people_helped_outside_downline_counts_distinct_members(implementation: Fanout) -> None:
    # a refers b, b refers c: b and c are a's downline, c is b's; d stands apart.
    network = Network(
        joined={"a": "2025-01-01", "b": "2025-01-02", "c": "2025-01-02", "d": "2025-01-03"},
        referrals=[("a", "b"), ("b", "c")],
        sessions=[
            ("a", "b", "2025-02-01", 1.0, "confirmed"),  # own recruit: not counted
            ("a", "c", "2025-02-01", 1.0, "confirmed"),  # recruit's recruit: not counted
            ("a", "d", "2025-02-01", 1.0, "confirmed"),
            ("a", "d", "2025-02-02", 2.0, "confirmed"),  # same person again: still one
            ("c", "a", "2025-02-03", 1.0, "confirmed"),  # up the tree is outside c's downline
            ("c", "b", "2025-02-03", 1.0, "confirmed"),  # c's referrer: outside too
            ("b", "d", "2025-02-04", 1.0, "pending"),  # not confirmed
            ("d", "a", "2025-02-04", 1.0, "disputed"),  # not confirmed
        ],
    )
    table = by_member(implementation(network.snapshot()))
    assert table["people_helped_outside_downline"].tolist() == [1, 0, 2, 0]
    assert table["hours_outside_downline"].tolist() == [3.0, 0.0, 2.0, 0.0]


def test_people_helped_outside_downline_agrees_with_networkx_on_generated_data() -> None:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=800, seed=4)
        snapshot = store.snapshot()
    forest = snapshot.referral_graph()
    helped = snapshot.help_graph()
    expected = [
        len(set(helped.successors(m)) - nx.descendants(forest, m) - {m})
        for m in snapshot.members["member_id"]
    ]
    assert sum(expected) > 100  # the data has help to measure
    for implementation in (fanout, _fanout_networkx):
        counted = implementation(snapshot)["people_helped_outside_downline"]
        assert counted.tolist() == expected, implementation.__name__


def test_a_session_before_joining_does_not_make_a_referee_active() -> None:
    early = Network(
        joined={"pat": "2024-12-01", "rae": "2025-01-10"},
        referrals=[("pat", "rae")],
        sessions=[("rae", "pat", "2025-01-09", 1.0, "confirmed")],
    )
    for implementation in (fanout, _fanout_networkx):
        assert by_member(implementation(early.snapshot())).loc["pat", "active_referrals"] == 0


def chain(length: int) -> Network:
    names = [f"c{i:04d}" for i in range(length)]
    return Network(
        joined=dict.fromkeys(names, "2025-01-01"),
        referrals=list(itertools.pairwise(names)),
        activated=set(names[::2]),
    )


def test_a_deep_chain() -> None:
    length = 300
    table = fanout(chain(length).snapshot())
    position = np.arange(length)
    np.testing.assert_array_equal(table["generation"], position)
    np.testing.assert_array_equal(table["downline_size"], length - 1 - position)
    np.testing.assert_array_equal(table["downline_depth"], length - 1 - position)
    assert (table["tree_root"] == "c0000").all()
    # Every other member is activated: those strictly below position i with an even position.
    np.testing.assert_array_equal(
        table["activated_downline"], [(length - i) // 2 for i in position + 1]
    )


def test_empty_network() -> None:
    with SqliteStore(":memory:") as store:
        snapshot = store.snapshot()
    assert list(fanout(snapshot).columns) == FANOUT_COLUMNS
    assert fanout(snapshot).empty
    table = pyramid(snapshot)
    assert list(table.columns) == PYRAMID_COLUMNS
    assert table.empty


@pytest.mark.parametrize(
    ("function", "setting", "value"),
    [
        (fanout, "active_window_days", -1),
        (fanout, "hours_per_referral", 0.0),
        (fanout, "hours_per_referral", float("inf")),
        (pyramid, "min_levels", 0),
        (pyramid, "min_size", 0),
        (pyramid, "min_hours_per_activation", 0.0),
        (pyramid, "max_recruitment_share", 1.0),
        (pyramid, "activation_fee_yuan", -1.0),
    ],
)
def test_settings_out_of_range_are_refused(function: Fanout, setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=setting):
        function(FAMILY.snapshot(), **{setting: value})


def test_pyramid_refuses_a_fanout_table_of_another_snapshot() -> None:
    with pytest.raises(ValueError, match="fanout_table"):
        pyramid(FAMILY.snapshot(), fanout(WINDOW.snapshot()))
    reordered = fanout(FAMILY.snapshot()).iloc[::-1]
    with pytest.raises(ValueError, match="fanout_table"):
        pyramid(FAMILY.snapshot(), reordered)


def test_a_referral_cycle_is_refused_not_looped_on() -> None:
    # Ingest refuses cycles; the kernel still must not spin forever if handed one.
    with pytest.raises(ValueError, match="cycle"):
        _forest(np.array([1, 2, 0, -1], dtype=np.int32))


# ----------------------------------------------------------------------------------------------
# The fast version against the networkx twin


def assert_same_fanout(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns) == FANOUT_COLUMNS
    for column in ["member_id", "tree_root", "refers_three"]:
        assert ours[column].tolist() == theirs[column].tolist(), column
    for column in INTEGER_COLUMNS:
        np.testing.assert_array_equal(ours[column], theirs[column], err_msg=column)
    for column in HOURS_COLUMNS:
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("seed", "window_days", "hours_per_referral"), [(1, 90, 10.0), (2, 30, 2.5)]
)
def test_agrees_with_the_networkx_twin_on_generated_networks(
    seed: int, window_days: int, hours_per_referral: float
) -> None:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=2000, seed=seed)
        snapshot = store.snapshot()
    settings_ = {"active_window_days": window_days, "hours_per_referral": hours_per_referral}
    ours = fanout(snapshot, **settings_)
    assert ours["downline_size"].max() > 10, "the generated forest has real trees"
    assert ours["hours_to_downline"].sum() > 0, "and help inside downlines"
    assert ours["people_helped_outside_downline"].sum() > 0, "and help outside them"
    assert_same_fanout(ours, _fanout_networkx(snapshot, **settings_))
    assert_same_pyramid(pyramid(snapshot, ours), reference_pyramid(snapshot, ours))


def reference_pyramid(snapshot: Snapshot, table: pd.DataFrame) -> pd.DataFrame:
    """pyramid()'s measured columns, by pandas group-bys over the fan-out table (no flags)."""
    members = table.assign(activated=snapshot.members["activated_at"].notna().to_numpy())
    trees = members.groupby("tree_root")
    sessions = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    root = members["tree_root"].to_numpy()
    helper_root = root[sessions["helper"].to_numpy()]
    crossing = helper_root != root[sessions["recipient"].to_numpy()]
    outside = (
        pd.Series(sessions["hours"].to_numpy()[crossing], index=helper_root[crossing])
        .groupby(level=0)
        .sum()
    )
    per_generation = members.groupby(["tree_root", "generation"]).size()
    result = pd.DataFrame(
        {
            "tree_size": trees.size(),
            "depth": trees["generation"].max(),
            "members_per_generation": per_generation.astype(str).groupby(level=0).agg("-".join),
            "activated_members": trees["activated"].sum(),
            "service_hours": trees["hours_given"].sum(),
            "service_hours_outside_tree": outside,
            "median_recruitment_share": members[members["direct_referrals"] > 0]
            .groupby("tree_root")["recruitment_share"]
            .median(),
        }
    )
    result = result[result["tree_size"] > 1].fillna({"service_hours_outside_tree": 0.0})
    result["hours_per_activation"] = (
        result["service_hours_outside_tree"] / result["activated_members"]
    ).where(result["activated_members"] > 0)
    return result


def assert_same_pyramid(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(ours.columns) == PYRAMID_COLUMNS
    ours = ours.set_index("tree_root")
    assert sorted(ours.index) == sorted(expected.index), "one row per tree with a referral"
    for column in expected.columns:
        got, want = ours[column], expected[column].reindex(ours.index)
        if column == "members_per_generation":
            assert got.tolist() == want.tolist()
        else:
            np.testing.assert_allclose(
                got.to_numpy(np.float64), want.to_numpy(np.float64), rtol=1e-9, err_msg=column
            )


# ----------------------------------------------------------------------------------------------
# Invariants on random forests


@st.composite
def networks(draw: st.DrawFn) -> Network:
    """Forests whose member ids are shuffled against the tree order, with random sessions."""
    n = draw(st.integers(1, 22))
    names = [f"m{label:02d}" for label in draw(st.permutations(range(n)))]
    days = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    joined = {
        name: f"2025-01-{1 + day % 28:02d}T{day % 24:02d}:00:00"
        for name, day in zip(names, days, strict=True)
    }
    # The i-th member's referrer joined the tree before it: the forest is acyclic.
    referrals = []
    for i in range(1, n):
        referrer = draw(st.none() | st.integers(0, i - 1))
        if referrer is not None:
            referrals.append((names[referrer], names[i]))
    activated = {name for name in names if draw(st.booleans())}
    sessions = []
    if n > 1:
        for helper, step, day, hours, status in draw(
            st.lists(
                st.tuples(
                    st.integers(0, n - 1),
                    st.integers(1, n - 1),
                    st.integers(0, 150),
                    st.sampled_from([0.5, 1.0, 1.5, 3.0]),
                    st.sampled_from(["confirmed", "confirmed", "pending", "disputed"]),
                ),
                max_size=30,
            )
        ):
            started = (pd.Timestamp("2025-01-01") + pd.Timedelta(days=day)).isoformat()
            sessions.append((names[helper], names[(helper + step) % n], started, hours, status))
    return Network(joined=joined, referrals=referrals, sessions=sessions, activated=activated)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_fanout_invariants(network: Network) -> None:
    snapshot = network.snapshot()
    table = fanout(snapshot)
    assert_same_fanout(table, _fanout_networkx(snapshot))
    parent = snapshot.referrer
    child = np.flatnonzero(parent >= 0)
    up = parent[child]
    size = table["downline_size"].to_numpy()
    depth = table["downline_depth"].to_numpy()
    generation = table["generation"].to_numpy()
    root = table["tree_root"].to_numpy()
    activated = snapshot.members["activated_at"].notna().to_numpy()

    tree_size = table["tree_root"].value_counts()
    roots = table[table["generation"] == 0]
    np.testing.assert_array_equal(
        roots["downline_size"], tree_size[roots["member_id"]].to_numpy() - 1
    )
    assert (roots["tree_root"] == roots["member_id"]).all()
    assert (size[up] > size[child]).all(), "monotone upward"
    assert (depth[up] > depth[child]).all(), "monotone upward"
    assert (generation[child] == generation[up] + 1).all()
    assert (root[child] == root[up]).all()
    # Sums over children.
    n = snapshot.n_members
    np.testing.assert_array_equal(size, np.bincount(up, size[child] + 1, minlength=n))
    np.testing.assert_array_equal(table["direct_referrals"], np.bincount(up, minlength=n))
    np.testing.assert_array_equal(
        table["activated_downline"],
        np.bincount(
            up, table["activated_downline"].to_numpy()[child] + activated[child], minlength=n
        ),
    )
    deepest = np.zeros(n, dtype=np.int64)
    np.maximum.at(deepest, up, depth[child] + 1)
    np.testing.assert_array_equal(depth, deepest)

    assert (table["active_referrals"] <= table["direct_referrals"]).all()
    assert (table["active_referrals"] >= 0).all()
    share = table["recruitment_share"]
    assert share.between(0, 1).all()
    assert ((share > 0) == (table["active_referrals"] > 0)).all()
    assert (table["refers_three"] == (table["active_referrals"] >= 3)).all()
    confirmed = snapshot.sessions[snapshot.sessions["status"] == "confirmed"]
    np.testing.assert_allclose(
        table["hours_given"], np.bincount(confirmed["helper"], confirmed["hours"], minlength=n)
    )
    np.testing.assert_allclose(
        table["hours_to_downline"] + table["hours_outside_downline"], table["hours_given"]
    )
    assert (table["hours_to_downline"] >= 0).all()
    assert (table["hours_outside_downline"] >= 0).all()
    # Every session here has hours and two different members: whoever gave hours outside
    # their downline helped someone there, and nobody helped more people than sessions allow.
    people = table["people_helped_outside_downline"]
    assert ((people > 0) == (table["hours_outside_downline"] > 0)).all()
    assert (people <= np.bincount(confirmed["helper"], minlength=n)).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(1, 4), st.integers(1, 6))
def test_pyramid_invariants(network: Network, min_levels: int, min_size: int) -> None:
    snapshot = network.snapshot()
    members = fanout(snapshot)
    table = pyramid(snapshot, members, min_levels=min_levels, min_size=min_size)
    assert list(table.columns) == PYRAMID_COLUMNS
    assert_same_pyramid(table, reference_pyramid(snapshot, members))
    recruiting_roots = members.loc[
        (members["generation"] == 0) & (members["direct_referrals"] > 0), "member_id"
    ]
    assert sorted(table["tree_root"]) == sorted(recruiting_roots)
    for row in table.itertuples(index=False):
        counts = [int(c) for c in row.members_per_generation.split("-")]
        assert counts[0] == 1
        assert len(counts) == row.depth + 1
        assert sum(counts) == row.tree_size
    assert table["pyramid_risk"].between(0, 1).all()
    assert table["pyramid_risk"].is_monotonic_decreasing
    assert table["median_recruitment_share"].between(0, 1).all()
    assert (table["service_hours_outside_tree"] <= table["service_hours"] + 1e-9).all()
    np.testing.assert_array_equal(
        table["regulatory_threshold"],
        (table["depth"] + 1 >= min_levels) & (table["tree_size"] >= min_size),
    )
    np.testing.assert_array_equal(
        table["fee_driven"],
        (table["activated_members"] > 0)
        & (table["service_hours_outside_tree"] < table["activated_members"]),
    )
    np.testing.assert_array_equal(
        table["recruitment_driven"], table["median_recruitment_share"] > 0.75
    )
    flagged = table[["regulatory_threshold", "fee_driven", "recruitment_driven"]].any(axis=1)
    assert ((table["reasons"] == "no pyramid signs") == ~flagged).all()
    # The risk never exceeds how close the tree comes to the regulatory shape.
    structure = np.minimum((table["depth"] + 1) / min_levels, 1) * np.minimum(
        table["tree_size"] / min_size, 1
    )
    assert (table["pyramid_risk"] <= structure + 1e-12).all()


# ----------------------------------------------------------------------------------------------
# pyramid(): the regulatory line and the economics


def shaped_tree(prefix: str, size: int, depth: int) -> tuple[list[str], list[tuple[str, str]]]:
    """``size`` people: a chain ``depth`` generations down from the root, the rest its children."""
    names = [f"{prefix}{i:02d}" for i in range(size)]
    chain_ = list(itertools.pairwise(names[: depth + 1]))
    return names, chain_ + [(names[0], name) for name in names[depth + 1 :]]


def network_of(trees: dict[str, tuple[int, int]]) -> Network:
    joined: dict[str, str] = {}
    referrals: list[tuple[str, str]] = []
    for prefix, (size, depth) in trees.items():
        names, edges = shaped_tree(prefix, size, depth)
        joined.update(dict.fromkeys(names, "2025-01-01"))
        referrals += edges
    return Network(joined=joined, referrals=referrals)


EDGES = network_of({"a": (30, 3), "b": (29, 3), "c": (30, 2), "d": (45, 2)})


@pytest.mark.parametrize(
    ("settings_", "flagged"),
    [
        # Levels count the root's own: two generations below it make three levels. 30 people
        # and 3 levels exactly are enough; 29 people are not.
        ({}, {"a00", "c00", "d00"}),
        ({"min_size": 29}, {"a00", "b00", "c00", "d00"}),
        ({"min_levels": 4}, {"a00"}),
        ({"min_levels": 5}, set()),
    ],
)
def test_regulatory_threshold_edges(settings_: dict[str, int], flagged: set[str]) -> None:
    table = pyramid(EDGES.snapshot(), **settings_).set_index("tree_root")
    assert table.loc[["a00", "b00", "c00", "d00"], ["tree_size", "depth"]].to_numpy().tolist() == [
        [30, 3],
        [29, 3],
        [30, 2],
        [45, 2],
    ]
    assert set(table.index[table["regulatory_threshold"]]) == flagged
    for root in flagged:
        assert "line for pyramid schemes" in table.loc[root, "reasons"]


def test_a_fee_driven_pyramid_ranks_above_a_service_tree() -> None:
    # Two trees of the same shape, everyone activated. In "p" every recruit's only help is an
    # hour to their referrer the week they join; in "s" everyone gives 20 hours to zed, who
    # belongs to no tree of theirs.
    network = network_of({"p": (31, 3), "s": (31, 3)})
    network.joined["zed"] = "2025-01-01"
    network.activated = set(network.joined) - {"zed"}
    network.sessions = [
        (referee, referrer, "2025-01-05", 1.0, "confirmed")
        for referrer, referee in network.referrals
        if referrer.startswith("p")
    ] + [
        (name, "zed", "2025-01-05", 20.0, "confirmed") for name in network.joined if name[0] == "s"
    ]
    table = pyramid(network.snapshot())
    assert table["tree_root"].tolist() == ["p00", "s00"], "riskiest first; zed has no tree"
    p, s = table.iloc[0], table.iloc[1]

    assert (p["tree_size"], p["depth"], p["members_per_generation"]) == (31, 3, "1-28-1-1")
    assert p["activated_members"] == 31
    assert p["activation_fees_yuan"] == 31.0
    assert p["service_hours"] == 30.0
    assert p["service_hours_outside_tree"] == 0.0
    assert p["hours_per_activation"] == 0.0
    # Recruiters: the root (28 active referrals, no help given: share 1) and the two chain
    # members (one active referral each, 1 hour to their referrer: 10/11).
    assert p["median_recruitment_share"] == pytest.approx(10 / 11)
    assert p["regulatory_threshold"]
    assert p["fee_driven"]
    assert p["recruitment_driven"]
    assert p["pyramid_risk"] == pytest.approx(float((1 + Fraction(10, 11)) / 2))
    for words in ("line for pyramid schemes", "fee-driven", "31 yuan", "recruitment-driven"):
        assert words in p["reasons"]

    assert s["service_hours_outside_tree"] == 620.0
    assert s["hours_per_activation"] == pytest.approx(20.0)
    # Root: 280 / (280 + 20); chain members: 10 / (10 + 20).
    assert s["median_recruitment_share"] == pytest.approx(1 / 3)
    assert s["regulatory_threshold"]
    assert not s["fee_driven"]
    assert not s["recruitment_driven"]
    assert s["pyramid_risk"] == pytest.approx(float((Fraction(31, 651) + Fraction(1, 3)) / 2))
    assert "fee-driven" not in s["reasons"]
    assert "recruitment-driven" not in s["reasons"]

    # A dearer activation is reported in yuan; a stricter line makes "s" fee-driven too.
    dearer = pyramid(network.snapshot(), activation_fee_yuan=2.0, min_hours_per_activation=25.0)
    assert dearer.set_index("tree_root").loc["p00", "activation_fees_yuan"] == 62.0
    assert dearer["fee_driven"].tolist() == [True, True]


def test_pyramid_uses_the_fanout_table_it_is_given() -> None:
    network = network_of({"p": (31, 3)})
    network.sessions = [
        (referee, referrer, "2025-01-05", 1.0, "confirmed")
        for referrer, referee in network.referrals
    ]
    snapshot = network.snapshot()
    default = pyramid(snapshot)
    lax = pyramid(snapshot, fanout(snapshot, hours_per_referral=0.01))
    assert default["recruitment_driven"].tolist() == [True]
    # At 0.01 hours a referral, an hour of help to one's referrer outweighs recruiting.
    assert lax["recruitment_driven"].tolist() == [False]
    assert lax["pyramid_risk"].iloc[0] < default["pyramid_risk"].iloc[0]


def test_a_small_tree_carries_a_small_risk_whatever_its_economics() -> None:
    # Four people, three generations deep, all activated, no help given at all: fee-driven, but
    # 4 of the 30 people the line asks for. Nobody is active, so no recruiting share either.
    network = network_of({"q": (4, 3)})
    network.activated = set(network.joined)
    row = pyramid(network.snapshot()).iloc[0]
    assert row["fee_driven"]
    assert not row["regulatory_threshold"]
    assert row["median_recruitment_share"] == 0.0
    # structure = min(1, 3/3) · min(1, 4/30); fees = 4 / (4 + 0) = 1; recruiting = 0.
    assert row["pyramid_risk"] == pytest.approx(float(Fraction(4, 30) * (1 + 0) / 2))


def test_member_level_pyramid_signs() -> None:
    # The legal line per member, read off the member's own downline (see the pyramid edges).
    members = fanout(EDGES.snapshot()).set_index("member_id")
    flagged = set(members.index[members["downline_at_regulatory_line"]])
    assert {"a00", "c00", "d00"} <= flagged
    assert "b00" not in flagged  # 29 people
    assert (members.loc[list(flagged), "downline_size"] + 1 >= 30).all()

    # Fees against service: r's three referees paid activation; r gave 2 hours outside, then 5.
    def signs(hours: float) -> bool:
        network = Network(
            joined={
                "r": "2025-01-01",
                "a": "2025-01-02",
                "b": "2025-01-02",
                "c": "2025-01-02",
                "x": "2025-01-01",
            },
            referrals=[("r", "a"), ("r", "b"), ("r", "c")],
            sessions=[
                ("r", "x", "2025-02-01", hours, "confirmed"),
                ("r", "a", "2025-02-02", 10.0, "confirmed"),
            ],
            activated={"a", "b", "c"},
        )
        row = fanout(network.snapshot()).set_index("member_id").loc["r"]
        assert row["activated_downline"] == 3
        assert row["hours_outside_downline"] == hours  # the 10 hours to a stay inside
        return bool(row["fees_outpace_service"])

    assert signs(2.0)
    assert not signs(5.0)
