"""GDS pushdown on the real server: the same answers as the in-process kernels."""

from __future__ import annotations

from typing import Any, LiteralString

import numpy as np
import pandas as pd
import pytest

from graph.generate import GeneratorParams, generate
from graph.ingest import ingest
from graph.metrics.centrality import (
    COMPONENT_COLUMNS,
    PAGERANK_COLUMNS,
    ConvergenceError,
    Direction,
    Weight,
    components,
    pagerank,
)
from graph.store.gds import gds_available, gds_components, gds_pagerank
from graph.store.neo4j import Neo4jStore
from tests.conftest import NOW, ingest_generated

pytestmark = pytest.mark.neo4j

CATALOG: LiteralString = "CALL gds.graph.list() YIELD graphName RETURN graphName"

# Ids that need quoting, and non-ASCII ones whose order must match the snapshot's.
ANN, BO, CAI, DAN = "ann'}) DETACH DELETE n //", "王芳", "cai`x", "Dan"


def test_gds_is_available(neo4j_store: Neo4jStore) -> None:
    assert gds_available(neo4j_store)


def test_known_answer(neo4j_store: Neo4jStore) -> None:
    members = pd.DataFrame({"member_id": [ANN, BO, CAI, DAN], "joined_at": "2025-01-01"})
    # Bo received 2 hours from Ann (two sessions) and 1 from Cai; Dan has no confirmed help.
    sessions = pd.DataFrame(
        {
            "session_id": ["s1", "s2", "s3", "s4", "s5"],
            "helper_id": [ANN, ANN, CAI, CAI, DAN],
            "recipient_id": [BO, BO, BO, BO, ANN],
            "started_at": "2025-02-01",
            "hours": [1.5, 0.5, 1.0, 5.0, 3.0],
            "status": ["confirmed", "confirmed", "confirmed", "disputed", "pending"],
        }
    )
    assert ingest({"members": members, "sessions": sessions}, neo4j_store, now=NOW).all_accepted
    snapshot = neo4j_store.snapshot()
    directions: tuple[Direction, ...] = ("to_helper", "to_recipient")
    weights: tuple[Weight, ...] = ("hours", "sessions")
    for direction in directions:
        for weight in weights:
            ours = pagerank(snapshot, direction=direction, weight=weight)
            theirs = gds_pagerank(neo4j_store, direction=direction, weight=weight)
            assert list(theirs.columns) == PAGERANK_COLUMNS
            assert theirs["member_id"].tolist() == ours["member_id"].tolist()
            np.testing.assert_allclose(theirs["pagerank"], ours["pagerank"], rtol=0, atol=1e-9)
    # By hand (damping 0.85; Ann, Cai and Dan dangling): Bo and Dan get only the jumps,
    # 20/97 each; Ann and Cai add 0.85 × Bo's score split 2:1.
    scores = gds_pagerank(neo4j_store).set_index("member_id")["pagerank"]
    expected = {DAN: 60 / 291, ANN: 94 / 291, CAI: 77 / 291, BO: 60 / 291}
    assert scores.index.tolist() == list(expected), "snapshot (code point) order"
    np.testing.assert_allclose(scores.to_numpy(), list(expected.values()), rtol=0, atol=1e-9)
    table = gds_components(neo4j_store)
    assert list(table.columns) == COMPONENT_COLUMNS
    pd.testing.assert_frame_equal(table, components(snapshot))
    assert table["component_size"].tolist() == [1, 3, 3, 3], "Dan, then Ann, Bo, Cai"
    assert neo4j_store.query(CATALOG) == [], "every projection dropped"


def test_empty_database(neo4j_store: Neo4jStore) -> None:
    assert gds_pagerank(neo4j_store).empty
    assert list(gds_components(neo4j_store).columns) == COMPONENT_COLUMNS
    assert neo4j_store.query(CATALOG) == []


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_in_process_kernels(seed: int, neo4j_store: Neo4jStore) -> None:
    ingest_generated(neo4j_store, members=1500, seed=seed)
    snapshot = neo4j_store.snapshot()
    variants: list[tuple[Direction, Weight]] = [
        ("to_helper", "hours"),
        ("to_recipient", "hours"),
        ("to_helper", "sessions"),
    ]
    for direction, weight in variants:
        ours = pagerank(snapshot, direction=direction, weight=weight)
        theirs = gds_pagerank(neo4j_store, direction=direction, weight=weight)
        assert theirs["member_id"].tolist() == ours["member_id"].tolist()
        difference = np.abs(theirs["pagerank"].to_numpy() - ours["pagerank"].to_numpy())
        # Measured: max 1.3e-10, L1 5e-10 (each stops at an L1 change of 1e-10).
        assert difference.max() < 1e-9, (direction, weight)
        assert difference.sum() < 1e-8, (direction, weight)
        assert theirs["pagerank"].sum() == pytest.approx(1.0, abs=1e-12)
    ours_components = components(snapshot)
    assert 1 < ours_components["component"].nunique() < snapshot.n_members
    pd.testing.assert_frame_equal(gds_components(neo4j_store), ours_components)
    assert neo4j_store.query(CATALOG) == []


def test_no_convergence_raises_and_still_drops(neo4j_store: Neo4jStore) -> None:
    data = generate(GeneratorParams(members=300, seed=3))
    assert ingest(
        {"members": data.members, "sessions": data.sessions}, neo4j_store, now=NOW
    ).all_accepted
    with pytest.raises(ConvergenceError, match="did not converge"):
        gds_pagerank(neo4j_store, max_iter=2)
    assert neo4j_store.query(CATALOG) == []


class FakeRunner:
    """Records the Cypher sent; fails the algorithm call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(self, cypher: LiteralString, **parameters: Any) -> list[dict[str, Any]]:
        self.calls.append((cypher, parameters))
        if "gds.graph.project" in cypher:
            return [{"graph": {"nodeCount": 3}}]
        if "gds.pageRank" in cypher:
            raise RuntimeError("server gone")
        return []


def test_projection_is_dropped_when_the_algorithm_fails() -> None:
    runner = FakeRunner()
    with pytest.raises(RuntimeError, match="server gone"):
        gds_pagerank(runner, damping=0.5, tol=1e-8, max_iter=7)
    (project, projected), (_, ran), (drop, dropped) = runner.calls
    assert "gds.graph.drop" in drop
    assert projected["name"] == ran["name"] == dropped["name"]
    assert projected["name"].startswith("timebank-")
    assert projected["status"] == "confirmed"
    assert ran["config"]["dampingFactor"] == 0.5
    assert ran["config"]["maxIterations"] == 7
    assert ran["config"]["tolerance"] == pytest.approx(1e-8 * 0.5)
    assert "$name" in project, "values travel as parameters"


def test_available_is_false_without_the_plugin() -> None:
    class NoPlugin(FakeRunner):
        def query(self, cypher: LiteralString, **parameters: Any) -> list[dict[str, Any]]:
            super().query(cypher, **parameters)
            return [{"n": 0}]

    runner = NoPlugin()
    assert not gds_available(runner)
    assert len(runner.calls) == 1, "gds.version() is not called when it does not exist"
