"""pagerank() and components(): known answers by hand, networkx agreement, invariants."""

from __future__ import annotations

from fractions import Fraction

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.ingest import ingest
from graph.metrics import centrality
from graph.metrics.centrality import (
    COMPONENT_COLUMNS,
    PAGERANK_COLUMNS,
    ConvergenceError,
    Direction,
    Weight,
    canonical_components,
    components,
    iterations_needed,
    pagerank,
)
from graph.model import Snapshot
from graph.store import SqliteStore
from tests.conftest import NOW, ingest_generated

#: (helper, recipient, hours, status)
Session = tuple[str, str, float, str]


def snapshot_of(members: list[str], sessions: list[Session]) -> Snapshot:
    """A snapshot of hand-written members and sessions, through the real ingest path."""
    with SqliteStore(":memory:") as store:
        report = ingest(
            {
                "members": pd.DataFrame({"member_id": members, "joined_at": "2025-01-01"}),
                "sessions": pd.DataFrame(
                    {
                        "session_id": [f"s{i}" for i in range(len(sessions))],
                        "helper_id": [s[0] for s in sessions],
                        "recipient_id": [s[1] for s in sessions],
                        "started_at": "2025-02-01",
                        "hours": [s[2] for s in sessions],
                        "status": [s[3] for s in sessions],
                    }
                ),
            },
            store,
            now=NOW,
        )
        assert report.all_accepted, report.rejects
        return store.snapshot()


def ranks(table: pd.DataFrame) -> dict[str, float]:
    assert list(table.columns) == PAGERANK_COLUMNS
    return dict(zip(table["member_id"], table["pagerank"], strict=True))


def assert_ranks(table: pd.DataFrame, expected: dict[str, Fraction]) -> None:
    got = ranks(table)
    assert got.keys() == expected.keys()
    for member, value in expected.items():
        assert got[member] == pytest.approx(float(value), abs=1e-9), member


# Bo received 2 hours from Ann (two sessions, summed) and 1 from Cai; a disputed and a pending
# session must change nothing.
STAR: list[Session] = [
    ("ann", "bo", 1.5, "confirmed"),
    ("ann", "bo", 0.5, "confirmed"),
    ("cai", "bo", 1.0, "confirmed"),
    ("cai", "bo", 5.0, "disputed"),
    ("bo", "ann", 3.0, "pending"),
]


def test_trust_flows_from_recipient_to_helper_in_proportion_to_hours() -> None:
    # Solved by hand (damping 0.85, ann and cai dangling): bo = 1/3.85, cai = 1/3.
    table = pagerank(snapshot_of(["ann", "bo", "cai"], STAR))
    assert_ranks(table, {"ann": Fraction(94, 231), "bo": Fraction(20, 77), "cai": Fraction(1, 3)})
    assert table["member_id"].tolist() == ["ann", "bo", "cai"], "snapshot order"


def test_weight_by_sessions_counts_parallel_sessions() -> None:
    table = pagerank(snapshot_of(["ann", "bo", "cai"], STAR), weight="sessions")
    # Two sessions against one: the same 2:1 split as the hours.
    assert_ranks(table, {"ann": Fraction(94, 231), "bo": Fraction(20, 77), "cai": Fraction(1, 3)})
    one_each = [*STAR[:1], *STAR[2:]]
    table = pagerank(snapshot_of(["ann", "bo", "cai"], one_each), weight="sessions")
    assert_ranks(
        table, {"ann": Fraction(57, 154), "bo": Fraction(20, 77), "cai": Fraction(57, 154)}
    )


def test_direction_to_recipient() -> None:
    table = pagerank(snapshot_of(["ann", "bo", "cai"], STAR), direction="to_recipient")
    # ann and cai pass everything to bo, who is dangling: bo = 0.9 / (1 + 1.7/3).
    assert_ranks(table, {"ann": Fraction(10, 47), "bo": Fraction(27, 47), "cai": Fraction(10, 47)})


def test_personalization_and_its_dangling_jumps() -> None:
    snapshot = snapshot_of(["ann", "bo", "cai"], STAR)
    table = pagerank(snapshot, personalization=pd.Series({"bo": 5.0}))
    # Every jump, dangling ones included, lands on bo: bo = 1/1.85.
    assert_ranks(
        table, {"ann": Fraction(34, 111), "bo": Fraction(20, 37), "cai": Fraction(17, 111)}
    )
    uniform = pd.Series(1.0, index=["ann", "bo", "cai"])
    pd.testing.assert_frame_equal(pagerank(snapshot, personalization=uniform), pagerank(snapshot))


@pytest.mark.parametrize("direction", ["to_helper", "to_recipient"])
def test_a_cycle_and_isolated_members_rank_uniformly(direction: Direction) -> None:
    cycle: list[Session] = [
        ("a", "b", 1.0, "confirmed"),
        ("b", "c", 2.0, "confirmed"),
        ("c", "a", 4.0, "confirmed"),
    ]
    table = pagerank(snapshot_of(["a", "b", "c"], cycle), direction=direction)
    np.testing.assert_allclose(table["pagerank"], 1 / 3, atol=1e-12)
    alone = pagerank(snapshot_of(["x", "y", "z", "w"], []), direction=direction)
    np.testing.assert_allclose(alone["pagerank"], 1 / 4, atol=1e-12)


def test_empty_network() -> None:
    empty = snapshot_of([], [])
    assert list(pagerank(empty).columns) == PAGERANK_COLUMNS
    assert pagerank(empty).empty
    assert list(components(empty).columns) == COMPONENT_COLUMNS
    assert components(empty).empty


def test_bad_settings_are_refused() -> None:
    snapshot = snapshot_of(["ann", "bo", "cai"], STAR)
    with pytest.raises(ValueError, match="damping"):
        pagerank(snapshot, damping=1.0)
    with pytest.raises(ValueError, match="tol"):
        pagerank(snapshot, tol=0)
    with pytest.raises(ValueError, match="max_iter"):
        pagerank(snapshot, max_iter=0)
    with pytest.raises(ValueError, match="direction"):
        pagerank(snapshot, direction="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown members"):
        pagerank(snapshot, personalization=pd.Series({"zed": 1.0}))
    with pytest.raises(ValueError, match="not all 0"):
        pagerank(snapshot, personalization=pd.Series({"ann": 0.0}))
    with pytest.raises(ValueError, match="≥ 0"):
        pagerank(snapshot, personalization=pd.Series({"ann": -1.0, "bo": 2.0}))
    with pytest.raises(ConvergenceError, match="2 iterations"):
        pagerank(snapshot, max_iter=2)


def test_iterations_needed_is_the_contraction_bound() -> None:
    assert iterations_needed(damping=0.85, tol=1e-10) == 147
    assert 2 * 0.85 ** (147 - 1) < 1e-10 <= 2 * 0.85 ** (146 - 1)
    assert iterations_needed(damping=0.0, tol=1e-10) == 1


def test_components_known_answer() -> None:
    sessions: list[Session] = [
        ("dan", "bo", 1.0, "confirmed"),
        ("cai", "dan", 1.5, "confirmed"),
        ("ann", "eve", 1.0, "pending"),  # pending: does not link ann and eve
        ("fay", "eve", 2.0, "confirmed"),
    ]
    table = components(snapshot_of(["ann", "bo", "cai", "dan", "eve", "fay"], sessions))
    assert list(table.columns) == COMPONENT_COLUMNS
    assert table.to_numpy().tolist() == [
        ["ann", 0, 1],
        ["bo", 1, 3],
        ["cai", 1, 3],
        ["dan", 1, 3],
        ["eve", 4, 2],
        ["fay", 4, 2],
    ]


def test_canonical_components_ignores_the_labels_values() -> None:
    ids = pd.Series(["a", "b", "c", "d"], dtype="str")
    one = canonical_components(ids, [7, 3, 7, 3])
    other = canonical_components(ids, [-1, 99, -1, 99])
    pd.testing.assert_frame_equal(one, other)
    assert one["component"].tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="3 labels for 4 members"):
        canonical_components(ids, [0, 0, 0])


# -- agreement with networkx on generated networks -------------------------------------------


@pytest.fixture(scope="module", params=[1, 2])
def generated(request: pytest.FixtureRequest) -> Snapshot:
    with SqliteStore(":memory:") as store:
        ingest_generated(store, members=1500, seed=request.param)
        return store.snapshot()


#: L1 tolerance both implementations stop at. Stopping when the change is below tol leaves each
#: within tol·d/(1 − d) of the exact answer (the update contracts by d), so they differ by at
#: most twice that.
EPS = 1e-10
AGREE = 2 * EPS * 0.85 / 0.15


@pytest.mark.parametrize("direction", ["to_helper", "to_recipient"])
@pytest.mark.parametrize("weight", ["hours", "sessions"])
def test_pagerank_agrees_with_networkx(
    generated: Snapshot, direction: Direction, weight: Weight
) -> None:
    graph = generated.help_graph()
    if direction == "to_helper":
        graph = graph.reverse(copy=False)
    n = generated.n_members
    # networkx stops when the L1 change is below n × tol: pass EPS / n for the same criterion.
    expected = nx.pagerank(graph, alpha=0.85, weight=weight, tol=EPS / n, max_iter=1000)
    table = pagerank(generated, weight=weight, direction=direction, tol=EPS)
    want = np.array([expected[m] for m in table["member_id"]])
    assert np.abs(table["pagerank"].to_numpy() - want).sum() < AGREE
    assert table["pagerank"].sum() == pytest.approx(1.0, abs=1e-12)


def test_personalized_pagerank_agrees_with_networkx(generated: Snapshot) -> None:
    ids = generated.members["member_id"]
    rng = np.random.default_rng(7)
    chosen = ids.iloc[rng.choice(len(ids), size=40, replace=False)].tolist()
    weights = pd.Series(rng.uniform(0.5, 3.0, size=40), index=chosen)
    graph = generated.help_graph().reverse(copy=False)
    n = generated.n_members
    expected = nx.pagerank(
        graph,
        alpha=0.85,
        weight="hours",
        personalization=weights.to_dict(),
        tol=EPS / n,
        max_iter=1000,
    )
    table = pagerank(generated, personalization=weights, tol=EPS)
    want = np.array([expected[m] for m in table["member_id"]])
    assert np.abs(table["pagerank"].to_numpy() - want).sum() < AGREE


def test_components_agree_with_networkx(generated: Snapshot) -> None:
    graph = generated.help_graph()
    position = {member: i for i, member in enumerate(generated.members["member_id"])}
    component = np.empty(generated.n_members, dtype=np.int64)
    size = np.empty(generated.n_members, dtype=np.int64)
    for members in nx.weakly_connected_components(graph):
        where = [position[m] for m in members]
        component[where] = min(where)
        size[where] = len(where)
    table = components(generated)
    assert table["member_id"].tolist() == generated.members["member_id"].tolist()
    np.testing.assert_array_equal(table["component"], component)
    np.testing.assert_array_equal(table["component_size"], size)
    assert 1 < table["component"].nunique() < generated.n_members, "a test that can fail"


# -- invariants -------------------------------------------------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[str], list[Session]]:
    n = draw(st.integers(1, 7))
    members = [f"m{i}" for i in range(n)]
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    session = st.tuples(
        pairs,
        st.sampled_from([0.5, 1.0, 2.0, 7.5]),
        st.sampled_from(["confirmed", "confirmed", "pending", "disputed"]),
    )
    drawn = draw(st.lists(session, max_size=12)) if n > 1 else []
    return members, [(members[h], members[r], hours, status) for (h, r), hours, status in drawn]


@settings(max_examples=60, deadline=None)
@given(
    network=networks(),
    damping=st.floats(0.0, 0.95),
    direction=st.sampled_from(["to_helper", "to_recipient"]),
    weight=st.sampled_from(["hours", "sessions"]),
)
def test_pagerank_is_a_distribution(
    network: tuple[list[str], list[Session]], damping: float, direction: Direction, weight: Weight
) -> None:
    snapshot = snapshot_of(*network)
    table = pagerank(snapshot, damping=damping, direction=direction, weight=weight)
    scores = table["pagerank"].to_numpy()
    assert (scores >= 0).all()
    assert (scores <= 1).all()
    assert scores.sum() == pytest.approx(1.0, abs=1e-12)
    # Every member keeps at least its share of the random jumps.
    assert (scores >= (1 - damping) / snapshot.n_members - 1e-12).all()


@settings(max_examples=60, deadline=None)
@given(network=networks())
def test_components_partition_the_members(network: tuple[list[str], list[Session]]) -> None:
    snapshot = snapshot_of(*network)
    table = components(snapshot)
    component = table["component"].to_numpy()
    positions = np.arange(snapshot.n_members)
    assert (component <= positions).all(), "labelled by the smallest member"
    assert (component[component] == component).all(), "the label member is in its component"
    sizes = pd.Series(component).value_counts()
    np.testing.assert_array_equal(table["component_size"], sizes[component].to_numpy())
    # Confirmed sessions never cross components.
    help_matrix = snapshot.help_matrix().tocoo()
    assert (component[help_matrix.row] == component[help_matrix.col]).all()


def test_blocks_of_rows_give_the_same_scores_on_any_number_of_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SqliteStore(":memory:")
    ingest_generated(store, members=1500, seed=7)
    snapshot = store.snapshot()
    one_block = pagerank(snapshot)["pagerank"].to_numpy()
    # Every matrix is "large" now: it is cut into blocks of rows, worked on by every core.
    monkeypatch.setattr(centrality._RowBlocks, "PARALLEL_ENTRIES", 1)
    runs = {}
    for cores in (1, 3, 8):
        monkeypatch.setattr(centrality.os, "cpu_count", lambda cores=cores: cores)
        runs[cores] = pagerank(snapshot)["pagerank"].to_numpy()
    assert runs[1].tobytes() == runs[3].tobytes() == runs[8].tobytes()
    # Partial sums in another order move only the last bits.
    np.testing.assert_allclose(runs[3], one_block, rtol=1e-12, atol=0)
    blocks = centrality._RowBlocks(
        snapshot.help_matrix(),
        np.full(snapshot.n_members, 1 / snapshot.n_members),
        np.ones(snapshot.n_members),
    )
    assert len(blocks._bounds) == centrality._RowBlocks.BLOCKS
