"""Who the help network trusts: PageRank over confirmed help, and its weakly connected parts.

Both kernels read the snapshot's CSR help matrix (helper × recipient, confirmed sessions,
parallel sessions summed) and never build a networkx graph: they stay fast at a million members.

Direction of trust
------------------
A confirmed session is the recipient vouching for the helper, so by default
(``direction="to_helper"``) PageRank walks each session from its recipient to its helper: a
member ranks high when members who rank high confirm their help. ``"to_recipient"`` walks the
other way (help flows to those who need it) for researchers who want that view.

Why scipy.sparse
----------------
The sparse kernels are scipy's CSR products, threaded here over fixed row blocks
(:func:`power_iteration`), rather than python-graphblas or igraph:

- scipy is already installed with networkx and pandas; SuiteSparse:GraphBLAS is a large extra
  binary, and igraph would need every graph copied into its own structure.
- Trust needs more than a stock PageRank: a leak that re-enters along the seeds, vouches
  discounted per round, a warm start, and terms kept for explanations. igraph's PRPACK offers
  none of these; with GraphBLAS they are the same products written another way.
- scipy's product releases the GIL, so fixed row blocks run on every core and add up in the
  same order on any machine. The scores are then identical everywhere, which a threaded
  library's own reductions do not promise.
- It is fast enough that another kernel has little to win. On 1M members and 5.1M vouch
  pairs, an iteration takes about 2.6× the time its bytes need at the measured memory
  bandwidth (``bench/bench_trust.py``).
"""

from __future__ import annotations

import itertools
import math
import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from graph.errors import ConvergenceError
from graph.model import Snapshot

__all__ = [
    "COMPONENT_COLUMNS",
    "PAGERANK_COLUMNS",
    "ConvergenceError",
    "Direction",
    "Weight",
    "canonical_components",
    "components",
    "iterations_needed",
    "pagerank",
    "power_iteration",
]

#: Which way a confirmed session passes trust: recipient → helper, or helper → recipient.
Direction = Literal["to_helper", "to_recipient"]
#: Edge weight: hours given (summed over sessions) or the number of sessions.
Weight = Literal["hours", "sessions"]

#: Columns of :func:`pagerank`'s result, in order.
PAGERANK_COLUMNS = ["member_id", "pagerank"]
#: Columns of :func:`components`'s result, in order.
COMPONENT_COLUMNS = ["member_id", "component", "component_size"]

FloatArray = npt.NDArray[np.float64]


def pagerank(
    snapshot: Snapshot,
    *,
    damping: float = 0.85,
    weight: Weight = "hours",
    direction: Direction = "to_helper",
    tol: float = 1e-10,
    max_iter: int | None = None,
    personalization: pd.Series | None = None,
) -> pd.DataFrame:
    """PageRank of every member over confirmed help sessions.

    The random walk follows a session with probability ``damping``, choosing among a member's
    sessions in proportion to ``weight``; otherwise, and always from a member with nothing to
    pass on (a dangling member), it jumps to a member drawn from ``personalization`` (uniform
    when omitted) — the same model as :func:`networkx.pagerank`.

    Parameters
    ----------
    snapshot
        The network.
    damping
        Probability of following a session, in [0, 1).
    weight
        ``"hours"`` (hours given, summed over sessions) or ``"sessions"`` (their number).
    direction
        ``"to_helper"`` (default): trust passes from recipient to helper; ``"to_recipient"``:
        from helper to recipient. See the module documentation.
    tol
        Stop when the L1 change between iterations is below this (an absolute tolerance on
        scores that sum to 1; networkx's ``tol`` is per member: pass it ``tol / n``).
    max_iter
        Iteration budget (≥ 1). By default :func:`iterations_needed`: the L1 change shrinks at
        least by ``damping`` per iteration, so that many always suffice (147 at the defaults;
        networkx's 100 do not reach 1e-10 on time-bank data, whose closed help loops make the
        change shrink at the worst-case rate).
    personalization
        Jump weights (≥ 0, not all 0) indexed by ``member_id``; members left out weigh 0.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAGERANK_COLUMNS`, one row per member in snapshot order; ``pagerank`` in
        [0, 1], summing to 1.

    Raises
    ------
    ValueError
        For a setting out of range or a personalization naming unknown members.
    ConvergenceError
        When ``max_iter`` iterations do not reach ``tol``.

    Examples
    --------
    Bo received 2 hours from Ann and 1 hour from Cai: trust flows from Bo to the helpers in
    proportion to the hours they gave.

    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo", "cai"], "joined_at": ["2025-01-05"] * 3})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2"], "helper_id": ["ann", "cai"],
    ...                          "recipient_id": ["bo", "bo"], "started_at": ["2025-02-03"] * 2,
    ...                          "hours": [2.0, 1.0]})
    >>> report = ingest({"members": members, "sessions": sessions}, store)
    >>> ranks = pagerank(store.snapshot())
    >>> ranks.round(4).to_numpy().tolist()
    [['ann', 0.4069], ['bo', 0.2597], ['cai', 0.3333]]
    >>> round(float(ranks["pagerank"].sum()), 12)
    1.0
    """
    if max_iter is None:
        max_iter = iterations_needed(damping=damping, tol=tol)
    _check_settings(damping=damping, tol=tol, max_iter=max_iter)
    _check_choice("weight", weight, ("hours", "sessions"))
    _check_choice("direction", direction, ("to_helper", "to_recipient"))
    member_ids = snapshot.members["member_id"].reset_index(drop=True)
    n = snapshot.n_members
    if n == 0:
        return pd.DataFrame({"member_id": member_ids, "pagerank": np.empty(0, dtype=np.float64)})
    teleport = (
        np.full(n, 1.0 / n)
        if personalization is None
        else _teleport_vector(personalization, member_ids)
    )
    help_hours = snapshot.help_matrix(weight=weight)
    # inflow[v, u] is the weight of the step u → v: for "to_helper" (recipient → helper) that is
    # help[helper, recipient] itself, so the matrix needs no transpose.
    inflow = help_hours if direction == "to_helper" else help_hours.T.tocsr()
    scores, _ = power_iteration(inflow, teleport, damping=damping, tol=tol, max_iter=max_iter)
    return pd.DataFrame({"member_id": member_ids, "pagerank": scores})


def iterations_needed(*, damping: float, tol: float) -> int:
    """Power iterations that bring PageRank's L1 change below ``tol`` whatever the graph.

    Each iteration multiplies the L1 change by at most ``damping`` (the update is a contraction
    in L1, dangling members included), and the first change is at most 2 (two distributions
    differ by at most 2 in L1).

    >>> iterations_needed(damping=0.85, tol=1e-10)
    147
    """
    _check_settings(damping=damping, tol=tol, max_iter=1)
    if damping == 0 or tol >= 2:
        return 1
    # The change of iteration k is at most 2·damping^(k−1): it must fall strictly below tol.
    return math.floor(math.log(tol / 2) / math.log(damping)) + 2


def power_iteration(
    inflow: sparse.csr_array,
    teleport: FloatArray,
    *,
    damping: float,
    tol: float,
    max_iter: int,
    out_weight: FloatArray | None = None,
    start: FloatArray | None = None,
) -> tuple[FloatArray, int]:
    """Personalised PageRank: iterate ``x ← d·(Px + leaked(x)·t) + (1 − d)·t`` to an L1 change < tol.

    ``inflow[v, u]`` is the weight of the step u → v; P divides it by u's out-weight, which is
    ``out_weight[u]`` when given, else u's column sum. A member whose steps weigh less than
    its out-weight (a dangling member weighs nothing) leaks the rest of its score, and the
    leak re-enters along ``teleport``: the scores keep summing to 1. Returns the scores and the
    number of iterations run. ``start`` (default: ``teleport``) is the first guess; a nearby
    solution, e.g. of a slightly different matrix, saves iterations.
    """
    n = inflow.shape[0]
    if out_weight is None:
        out_weight = np.asarray(inflow.sum(axis=0), dtype=np.float64).ravel()
    inverse_out = np.divide(
        1.0, out_weight, out=np.zeros(n, dtype=np.float64), where=out_weight > 0
    )
    # Starting from the teleport vector keeps members no walk reaches at exactly 0.
    scores = np.array(teleport if start is None else start, dtype=np.float64)
    total = float(scores.sum())
    with _RowBlocks(inflow, teleport, inverse_out) as blocks:
        blocks.begin(scores)
        for iteration in range(1, max_iter + 1):
            scores, total, change = blocks.step(scores, total, damping=damping)
            if change < tol:
                return scores, iteration
    raise ConvergenceError(
        f"PageRank did not reach an L1 change below {tol:g} in {max_iter} iterations "
        "(raise max_iter or tol)"
    )


class _RowBlocks:
    """One power iteration at a time, over blocks of rows, on every core.

    scipy's CSR product runs on one core and releases the GIL, so blocks of rows multiply in
    parallel, and each block also does its share of the vector work (damping, the teleport
    jump, the L1 change, the sums, the next iteration's scaled scores): an iteration streams
    the matrix and a few member vectors once, on every core. A matrix is cut into a fixed
    number of blocks whatever the number of cores, and block partial sums are added in block
    order with :func:`math.fsum`, so the scores are the same on every machine; small
    matrices, where threads cost more than they save, are one block.
    """

    #: Matrix entries from which the matrix is cut into :data:`BLOCKS` blocks.
    PARALLEL_ENTRIES = 500_000
    BLOCKS = 8

    def __init__(
        self, matrix: sparse.csr_array, teleport: FloatArray, inverse_out: FloatArray
    ) -> None:
        n = matrix.shape[0]
        count = self.BLOCKS if matrix.nnz >= self.PARALLEL_ENTRIES else 1
        # Cut where each block holds about the same number of entries.
        cuts = np.searchsorted(matrix.indptr, np.linspace(0, matrix.nnz, count + 1))
        cuts[0], cuts[-1] = 0, n
        self._bounds = [(int(lo), int(hi)) for lo, hi in itertools.pairwise(cuts) if hi > lo]
        self._rows = [matrix[lo:hi] if count > 1 else matrix for lo, hi in self._bounds]
        # The teleport vector is often sparse (a few seeds): add it at its non-zero entries.
        self._jump_at = [np.flatnonzero(teleport[lo:hi]) for lo, hi in self._bounds]
        self._jump = [
            teleport[lo:hi][at] for (lo, hi), at in zip(self._bounds, self._jump_at, strict=True)
        ]
        self._inverse_out = inverse_out
        self._scaled = np.empty(n)
        self._next = np.empty(n)
        # The calling thread works on blocks too, beside one helper thread per further core.
        self._helpers = min(os.cpu_count() or 1, len(self._bounds)) - 1
        self._pool = ThreadPoolExecutor(self._helpers) if self._helpers else None

    def __enter__(self) -> _RowBlocks:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def _each(self, work: Callable[[int], tuple[float, float]]) -> tuple[float, float]:
        """Run ``work`` on every block; the sums of its two results, in block order."""
        results = [(0.0, 0.0)] * len(self._bounds)
        # Each thread takes the next block left until none is: a core slowed by other work
        # takes fewer blocks, and the calling thread does not sit idle.
        left: queue.SimpleQueue[int] = queue.SimpleQueue()
        for block in range(len(self._bounds)):
            left.put(block)

        def take() -> None:
            while True:
                try:
                    block = left.get_nowait()
                except queue.Empty:
                    return
                results[block] = work(block)

        pool = self._pool
        helping = [] if pool is None else [pool.submit(take) for _ in range(self._helpers)]
        take()
        for helper in helping:
            helper.result()
        return math.fsum(r[0] for r in results), math.fsum(r[1] for r in results)

    def begin(self, scores: FloatArray) -> None:
        """Scale the first scores; each :meth:`step` scales the scores it returns."""
        np.multiply(scores, self._inverse_out, out=self._scaled)

    def step(
        self, scores: FloatArray, total: float, *, damping: float
    ) -> tuple[FloatArray, float, float]:
        """One iteration from ``scores`` (which sum to ``total``): the next scores, their sum
        and the L1 change."""
        scaled, following = self._scaled, self._next

        def follow(block: int) -> tuple[float, float]:
            lo, hi = self._bounds[block]
            following[lo:hi] = self._rows[block] @ scaled
            return float(following[lo:hi].sum()), 0.0

        # What the steps do not carry on (dangling members, discounted steps) re-enters along
        # the teleport vector, so the scores keep their sum.
        leaked = total - self._each(follow)[0]
        jump = damping * leaked + 1 - damping

        def settle(block: int) -> tuple[float, float]:
            lo, hi = self._bounds[block]
            part = following[lo:hi]
            part *= damping
            part[self._jump_at[block]] += jump * self._jump[block]
            # Every block has read all of the scaled scores: the next ones can replace them.
            np.multiply(part, self._inverse_out[lo:hi], out=scaled[lo:hi])
            # The last scores are not needed after this (their array takes the next product).
            change = np.subtract(part, scores[lo:hi], out=scores[lo:hi])
            return float(part.sum()), float(np.abs(change, out=change).sum())

        new_total, change = self._each(settle)
        self._next = scores  # reused as the next iteration's output
        return following, new_total, change


def _teleport_vector(personalization: pd.Series, member_ids: pd.Series) -> FloatArray:
    if personalization.index.has_duplicates:
        raise ValueError("personalization: a member appears more than once")
    unknown = personalization.index.difference(pd.Index(member_ids))
    if len(unknown):
        raise ValueError(f"personalization: unknown members {list(unknown[:5])}")
    weights = personalization.reindex(pd.Index(member_ids)).fillna(0.0).to_numpy(np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("personalization: weights must be finite, ≥ 0 and not all 0")
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _check_settings(*, damping: float, tol: float, max_iter: int) -> None:
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), not {damping}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, not {tol}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be ≥ 1, not {max_iter}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def components(snapshot: Snapshot) -> pd.DataFrame:
    """Weakly connected components of confirmed help (who is linked to whom by any session).

    Parameters
    ----------
    snapshot
        The network.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPONENT_COLUMNS`, one row per member in snapshot order. ``component``
        is the smallest member number (snapshot position) in the member's component, so the
        ids do not depend on the algorithm or the store; ``component_size`` counts members. A
        member without confirmed sessions is a component of size 1.

    Examples
    --------
    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo", "cai", "dan"],
    ...                         "joined_at": ["2025-01-05"] * 4})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2"], "helper_id": ["dan", "cai"],
    ...                          "recipient_id": ["bo", "dan"], "started_at": ["2025-02-03"] * 2,
    ...                          "hours": [1.0, 1.5]})
    >>> report = ingest({"members": members, "sessions": sessions}, store)
    >>> components(store.snapshot()).to_numpy().tolist()
    [['ann', 0, 1], ['bo', 1, 3], ['cai', 1, 3], ['dan', 1, 3]]
    """
    member_ids = snapshot.members["member_id"].reset_index(drop=True)
    if snapshot.n_members == 0:
        return canonical_components(member_ids, np.empty(0, dtype=np.int64))
    _, labels = csgraph.connected_components(
        snapshot.help_matrix(weight="sessions"), directed=True, connection="weak"
    )
    return canonical_components(member_ids, labels)


def canonical_components(member_ids: pd.Series, labels: npt.ArrayLike) -> pd.DataFrame:
    """The :func:`components` table from any component labelling of members in snapshot order.

    Relabels each component by its smallest member position, so two algorithms (scipy here,
    GDS in the database) that find the same partition give identical tables.

    Parameters
    ----------
    member_ids
        Member ids in snapshot (``member_id``) order.
    labels
        One integer component label per member, in the same order; any values.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(member_ids):
        raise ValueError(f"{len(labels)} labels for {len(member_ids)} members")
    # np.unique sorts the labels; return_index gives each label's first (smallest) position.
    _, first, inverse, sizes = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    return pd.DataFrame(
        {
            "member_id": member_ids.reset_index(drop=True),
            "component": first[inverse].astype(np.int64),
            "component_size": sizes[inverse].astype(np.int64),
        }
    )
