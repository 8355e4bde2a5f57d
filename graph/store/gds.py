"""PageRank and weakly connected components computed inside Neo4j by Graph Data Science (GDS).

The in-database twins of :func:`graph.metrics.centrality.pagerank` and
:func:`~graph.metrics.centrality.components`: same model, same columns, same member order, so a
result can be checked against the in-process kernels. Nothing crosses the wire but the result.

Each call projects confirmed help into the GDS catalog with a Cypher aggregation (every member a
node, even without sessions; parallel sessions summed into one weighted relationship, as in
:meth:`graph.model.Snapshot.help_matrix`), runs the algorithm and drops the projection, also
when something fails. Projections get a fresh uuid name; every value travels as a parameter.

This module does not import the ``neo4j`` driver: it talks to anything with the
:class:`CypherRunner` ``query`` method (:class:`~graph.store.neo4j.Neo4jStore`, or a fake in
unit tests).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString, Protocol

import numpy as np
import pandas as pd

from graph.metrics.centrality import (
    ConvergenceError,
    Direction,
    Weight,
    canonical_components,
    iterations_needed,
)

__all__ = ["CypherRunner", "gds_available", "gds_components", "gds_pagerank"]


class CypherRunner(Protocol):
    """What this module needs from a store: read queries with values as parameters."""

    def query(self, cypher: LiteralString, **parameters: Any) -> list[dict[str, Any]]: ...


#: The projection per direction of the walk. Every member is a ``source`` row (OPTIONAL MATCH),
#: so members without confirmed sessions become isolated nodes (``target`` null).
_PROJECT: dict[Direction, LiteralString] = {
    # Trust passes from the recipient (source) to the helper (target).
    "to_helper": """
        MATCH (source:Member)
        OPTIONAL MATCH (source)<-[s:HELPED {status: $status}]-(target:Member)
        WITH source, target,
             CASE WHEN $by_hours THEN sum(s.hours) ELSE toFloat(count(s)) END AS weight
        RETURN gds.graph.project($name, source, target,
                                 {relationshipProperties: {weight: weight}}) AS graph
    """,
    "to_recipient": """
        MATCH (source:Member)
        OPTIONAL MATCH (source)-[s:HELPED {status: $status}]->(target:Member)
        WITH source, target,
             CASE WHEN $by_hours THEN sum(s.hours) ELSE toFloat(count(s)) END AS weight
        RETURN gds.graph.project($name, source, target,
                                 {relationshipProperties: {weight: weight}}) AS graph
    """,
}

_DROP: LiteralString = "CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName"

_PAGERANK: LiteralString = """
    CALL gds.pageRank.mutate($name, $config) YIELD ranIterations, didConverge
    RETURN ranIterations, didConverge
"""

#: Whole columns in one record decode far faster than one record per node.
_STREAM_PROPERTY: LiteralString = """
    CALL gds.graph.nodeProperty.stream($name, $property) YIELD nodeId, propertyValue
    RETURN collect(gds.util.asNode(nodeId).member_id) AS member_id,
           collect(propertyValue) AS value
"""

_WCC: LiteralString = """
    CALL gds.wcc.stream($name) YIELD nodeId, componentId
    RETURN collect(gds.util.asNode(nodeId).member_id) AS member_id,
           collect(componentId) AS value
"""


def gds_available(store: CypherRunner) -> bool:
    """Whether the server has the GDS plugin (``gds.version()`` can be called)."""
    # Asking the catalog first keeps a missing plugin from raising a driver error here.
    listed = store.query(
        "SHOW FUNCTIONS YIELD name WHERE name = $name RETURN count(*) AS n", name="gds.version"
    )
    if not listed or not listed[0]["n"]:
        return False
    rows = store.query("RETURN gds.version() AS version")
    return bool(rows and rows[0]["version"])


def gds_pagerank(
    store: CypherRunner,
    *,
    damping: float = 0.85,
    weight: Weight = "hours",
    direction: Direction = "to_helper",
    tol: float = 1e-10,
    max_iter: int | None = None,
) -> pd.DataFrame:
    """PageRank of every member computed by GDS, comparable with the in-process one.

    Parameters are those of :func:`graph.metrics.centrality.pagerank` (without
    personalization). GDS scores are not normalised (each member starts at ``1 − damping``,
    and dangling members pass nothing on); divided by their sum they are the scores of the
    networkx model, where dangling members jump uniformly: both solve the same linear system
    up to a constant factor.

    GDS's ``tolerance`` is a per-member bound on that unnormalised scale: a member whose score
    grew by less stops passing its growth on. ``tolerance = tol · (1 − damping)`` keeps every
    iteration's L1 change of the normalised scores below ``tol`` at convergence (their sum is at
    least ``n · (1 − damping)``). ``max_iter`` defaults to what that needs in the worst case:
    ⌈log(tol / n) / log(damping)⌉ + 1 GDS iterations.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~graph.metrics.centrality.PAGERANK_COLUMNS`, members in ``member_id``
        order (as in a snapshot), ``pagerank`` summing to 1.

    Raises
    ------
    ValueError
        For a setting out of range.
    ConvergenceError
        When GDS did not converge within ``max_iter`` iterations.
    """
    iterations_needed(damping=damping, tol=tol)  # refuses damping and tol as in-process
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"max_iter must be ≥ 1, not {max_iter}")
    if weight not in ("hours", "sessions"):
        raise ValueError(f"weight must be one of hours, sessions, not {weight!r}")
    if direction not in _PROJECT:
        raise ValueError(f"direction must be one of to_helper, to_recipient, not {direction!r}")
    with _projection(store, direction=direction, weight=weight) as (name, n):
        if n == 0:
            return _frame([], [], "pagerank")
        budget = max_iter if max_iter is not None else _gds_iterations(damping, tol, n)
        config = {
            "mutateProperty": "pagerank",
            "dampingFactor": damping,
            "tolerance": tol * (1 - damping),
            "maxIterations": budget,
            "relationshipWeightProperty": "weight",
        }
        run = store.query(_PAGERANK, name=name, config=config)[0]
        if not run["didConverge"]:
            raise ConvergenceError(
                f"GDS PageRank did not converge in {run['ranIterations']} iterations "
                "(raise max_iter or tol)"
            )
        columns = store.query(_STREAM_PROPERTY, name=name, property="pagerank")[0]
    scores = np.asarray(columns["value"], dtype=np.float64)
    return _frame(columns["member_id"], scores / scores.sum(), "pagerank")


def gds_components(store: CypherRunner) -> pd.DataFrame:
    """Weakly connected components of confirmed help computed by GDS (WCC).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~graph.metrics.centrality.COMPONENT_COLUMNS`, members in ``member_id``
        order, component ids canonicalised as in-process (smallest member position), so the
        table equals :func:`graph.metrics.centrality.components` of the store's snapshot.
    """
    with _projection(store, direction="to_recipient", weight="sessions") as (name, n):
        if n == 0:
            return canonical_components(_member_ids([]), np.empty(0, dtype=np.int64))
        columns = store.query(_WCC, name=name)[0]
    order = _member_order(columns["member_id"])
    member_ids = _member_ids(np.asarray(columns["member_id"], dtype=object)[order])
    return canonical_components(member_ids, np.asarray(columns["value"], dtype=np.int64)[order])


@contextmanager
def _projection(
    store: CypherRunner, *, direction: Direction, weight: Weight
) -> Iterator[tuple[str, int]]:
    """Project confirmed help under a fresh name; yield (name, node count); always drop it."""
    name = f"timebank-{uuid.uuid4().hex}"
    try:
        rows = store.query(
            _PROJECT[direction], name=name, status="confirmed", by_hours=weight == "hours"
        )
        graph = rows[0]["graph"] if rows else None
        yield name, int(graph["nodeCount"]) if graph else 0
    finally:
        store.query(_DROP, name=name)


def _gds_iterations(damping: float, tol: float, n: int) -> int:
    # GDS's growth totals at most n·(1 − damping)·damping^k in iteration k; once that is below
    # the per-member tolerance tol·(1 − damping), every member has stopped.
    if damping == 0:
        return 1
    return max(1, math.ceil(math.log(tol / n) / math.log(damping)) + 1)


def _member_order(member_ids: list[str]) -> np.ndarray:
    """Positions sorting ids as a snapshot numbers members (code-point order, stable)."""
    return np.argsort(np.asarray(member_ids, dtype=object), kind="stable")


def _member_ids(values: Any) -> pd.Series:
    return pd.Series(pd.array(np.asarray(values, dtype=object), dtype="str"), name="member_id")


def _frame(member_ids: list[str], values: np.ndarray | list[float], column: str) -> pd.DataFrame:
    order = _member_order(member_ids)
    return pd.DataFrame(
        {
            "member_id": _member_ids(np.asarray(member_ids, dtype=object)[order]),
            column: np.asarray(values, dtype=np.float64)[order],
        }
    )
