"""Dense blocks: groups of members who log far more help among themselves than the network does.

The camouflage-resistant dense-subgraph detector of fraud-ring detection (``dense`` rings):
Fraudar (Hooi et al., "FRAUDAR: Bounding Graph Fraud in the Face of Camouflage", KDD 2016) on the
member graph, peeled in vectorised passes.

1. **Volume in a window.** For each ordered pair of members, ``v(h, r)`` is the most confirmed
   hours ``h`` gave ``r`` within any ``window_days`` (default 30) days. Minting credits is about
   volume — a loop that cycles forty hours a week mints forty hours a week — but volume spread
   over years is what neighbours do: a pair that logged 200 hours over three years, a few hours
   a month, weighs what a few hours a month weigh. (Trust, :mod:`graph.metrics.trust`, counts
   distinct vouchers, so that volume buys nothing there; here volume in a short time is the very
   thing looked for. Counting distinct pairs instead, as Fraudar does for followers and
   reviews, finds only busy honest neighbourhoods — on generated time banks its densest sets
   were hundreds of honest members — since a planted loop of k members has just k pairs.)
2. **Column weighting.** Fraudar's ``c(h, r) = v(h, r) / log(x_r + 5)``, with ``x_r`` the number
   of distinct members who helped ``r``: help into a member many people help — a popular
   recipient, the natural target of camouflage — weighs little, so honest hubs do not make
   blocks of their own; and help that fraud accounts trade with honest members outside their
   block never counts towards the block (Fraudar's camouflage resistance).
3. **Density.** ``g(S) = Σ c(h, r) / |S|`` over the pairs with both members in ``S``: Fraudar's
   average suspiciousness ``f(S) / |S|``, on the member graph — Fraudar's bipartite
   helper × recipient graph with each member's two sides merged into one node. In the bipartite
   form a closed loop of k members (k edges over 2k nodes) is no denser than its heaviest single
   edge, and one-way help (a volunteer and an elderly neighbour) ranks with collusion: on
   generated time banks the bipartite peel returned loops one pair at a time, and with all-time
   hours long-standing honest pairs first. On the member graph a member who gives and receives
   inside a group counts once, so hours that go round and come back — circulation, the shape of
   minting — count twice as much as one-way help.
4. **Peeling.** The densest set is approximated by peeling: repeatedly remove the member of
   least weighted degree (the sum of ``c`` over its pairs with members still there), and keep
   the densest set seen. One member at a time (``epsilon=0``) this is Fraudar's greedy, within a
   factor 2 of the densest subgraph's density ``g*`` (Fraudar, Theorem 1; Charikar 2000). In
   passes (``epsilon > 0``), each pass removes every member whose degree is at most ``1 + ε``
   times the *level*, the least degree seen so far: still within ``2 (1 + ε)``, since when the
   first member of the densest subgraph goes its degree is at least ``g*`` (each of its members
   has that much inside it) and at most ``1 + ε`` times the least degree of some earlier set
   ``S``, which is at most ``2 g(S)``. Bahmani et al.'s rule (VLDB 2012: remove everyone below
   ``2 (1 + ε) g``, ``O(log n / ε)`` passes) was tried first; it removes a sybil farm's
   referees, whose degrees are below the network's mean, in the same pass as the honest members
   around them, so the farm is never seen on its own. The level rule takes ~100 passes on a
   million members' floor-core (at ε = 0.1), each a few numpy calls; a long chain of equally
   heavy pairs would take one pass per two of its members.
5. **Many blocks.** Blocks below ``floor = min_lift × g(everyone who helped or was helped)``
   are not reported. In the densest set greedy keeps, every member's degree is at least the
   set's density (else removing that member would have left a denser set), so blocks at or above
   the floor lie in the floor-core: what is left after repeatedly removing the members of degree
   below the floor — 55 thousand of a million members. Peeling starts there. Each set a peel
   passes through splits into connected parts; one backwards sweep over the peel (adding members
   back, merging parts with union-find) gives every part's density. Parts of at least
   ``min_size`` members and density at least the floor become blocks, densest first, skipping
   any that contains or lies inside one taken — so one peel finds every disjoint dense group
   (one member at a time, each exactly as greedy peeling of its part alone would). Then, as
   Fraudar does, the pairs inside the blocks are removed and peeling repeats on the floor-core
   of what is left (a member of two rings is found in both), until no part reaches the floor or
   ``max_blocks`` are found.

Members are numbered as in :class:`~graph.model.Snapshot` (``0..n-1``); sessions are row
positions in ``snapshot.sessions``.

Speed: on a million members with ten million sessions (5.2 million helping pairs), about 2 s —
1.5–2 s of it the busiest-window volumes (one sort of the sessions by pair), 0.2 s the floor-core,
0.1 s one peel of 114 passes with its sweep, which yields the first 1000 blocks.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from graph.model import Snapshot

__all__ = ["DENSE_BLOCK_COLUMNS", "dense_blocks"]

#: Columns of :func:`dense_blocks`'s result, in order.
DENSE_BLOCK_COLUMNS = ["members", "density", "lift", "sessions", "hours"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Fraudar's ``c`` in ``1 / log(x + c)``, the paper's value.
_LOG_OFFSET = 5.0
_DAY = 86_400


@dataclass(frozen=True)
class _Subgraph:
    """Symmetric pair weights over some members: row ``k`` is member ``members[k]``."""

    matrix: sparse.csr_array
    members: IntArray

    def restricted(self, rows: IntArray) -> _Subgraph:
        """The subgraph on these rows."""
        return _Subgraph(sparse.csr_array(self.matrix[rows][:, rows]), self.members[rows])


def dense_blocks(
    snapshot: Snapshot,
    *,
    window_days: float = 30,
    min_lift: float = 2.0,
    min_size: int = 3,
    max_blocks: int = 1000,
    epsilon: float = 0.1,
) -> pd.DataFrame:
    """Dense blocks of confirmed help, densest first (the method is the module's).

    Parameters
    ----------
    snapshot
        The network.
    window_days
        The window (days, > 0) a pair's hours are counted in: its busiest one.
    min_lift
        Blocks are at least this many times (> 0) as dense as the whole help graph. On
        generated time banks planted loops and minting pairs sit at 2–6, sybil farms at 1–2.5,
        honest circles below 1 and all but a few honest neighbourhoods below 2.
    min_size
        Blocks have at least this many members (≥ 2). Two members swapping hours are the
        ``pair`` pattern's to report, hence 3.
    max_blocks
        At most this many blocks (≥ 0), the densest.
    epsilon
        Peeling tolerance (≥ 0): each pass removes the members within ``1 + epsilon`` of the
        least degree; a peel's densest set is within ``2 (1 + epsilon)`` of the densest
        subgraph. 0 removes one member at a time, Fraudar's exact greedy in a Python loop: for
        floor-cores of some ten thousand members at most.

    Returns
    -------
    pandas.DataFrame
        One row per block, densest first (columns :data:`DENSE_BLOCK_COLUMNS`): ``members``
        (tuple of member numbers, ascending), ``density`` (Fraudar's ``g``: column-weighted
        peak-window hours per member), ``lift`` (``density`` over the whole help graph's),
        ``sessions`` (tuple of row positions in ``snapshot.sessions``, ascending: the confirmed
        sessions between two of its members, on the pairs it was found on) and ``hours``
        (their hours).

    Raises
    ------
    ValueError
        When a setting is out of range; the message names it.

    Examples
    --------
    >>> import pandas as pd
    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> names = ["a", "b", "c", "d", "e", "f", "g"]
    >>> members = pd.DataFrame({"member_id": names, "joined_at": "2025-01-01"})
    >>> neighbours = [(h, r, f"2025-{month:02d}-10", 1.5) for month in range(2, 12)
    ...               for h, r in [("d", "e"), ("e", "f"), ("f", "g"), ("g", "d")]]
    >>> loop = [(h, r, f"2025-06-{day:02d}", 8.0) for day in (1, 8, 15, 22)
    ...         for h, r in [("a", "b"), ("b", "c"), ("c", "a")]]
    >>> rows = neighbours + loop
    >>> sessions = pd.DataFrame({"session_id": [f"s{i}" for i in range(len(rows))],
    ...     "helper_id": [h for h, _, _, _ in rows], "recipient_id": [r for _, r, _, _ in rows],
    ...     "started_at": [t for _, _, t, _ in rows], "hours": [x for _, _, _, x in rows]})
    >>> _ = ingest({"members": members, "sessions": sessions}, store)
    >>> blocks = dense_blocks(store.snapshot(), min_lift=1.5)
    >>> [[names[m] for m in block] for block in blocks["members"]]
    [['a', 'b', 'c']]
    >>> blocks["hours"].tolist()
    [96.0]

    The loop ``a → b → c → a`` cycles 8 hours a week for a month; the neighbours ``d … g`` help
    one another round the same kind of ring, an hour and a half a month for ten months.
    """
    _check_settings(window_days, min_lift, min_size, max_blocks, epsilon)
    graph = _member_graph(snapshot, window_days=window_days)
    active = int(np.count_nonzero(np.diff(graph.indptr)))
    graph_density = float(graph.sum()) / 2 / active if active else 0.0
    floor = min_lift * graph_density
    remaining = _Subgraph(graph, np.arange(snapshot.n_members, dtype=np.int64))
    remaining = remaining.restricted(_floor_core(graph, floor))
    rounds: list[list[tuple[IntArray, float]]] = []  # per peel: its blocks (member numbers)
    found = 0
    while remaining.matrix.nnz and found < max_blocks:
        removed_in = (
            _peel_exact(remaining.matrix)
            if epsilon == 0
            else _peel_in_passes(remaining.matrix, epsilon=epsilon)
        )
        blocks = _densest_parts(remaining.matrix, removed_in, floor=floor, min_size=min_size)
        if not blocks:
            break
        rounds.append([(remaining.members[rows], density) for rows, density in blocks])
        found += len(blocks)
        remaining = _without_pairs_inside(remaining, [rows for rows, _ in blocks], floor=floor)
    sessions = _sessions_of(snapshot, [[members for members, _ in blocks] for blocks in rounds])
    ranked = sorted(
        (
            (members, density, positions)
            for blocks, positions_of in zip(rounds, sessions, strict=True)
            for (members, density), positions in zip(blocks, positions_of, strict=True)
        ),
        key=lambda block: -block[1],
    )[:max_blocks]
    hours = snapshot.sessions["hours"].to_numpy()
    return pd.DataFrame(
        {
            "members": [tuple(np.sort(members).tolist()) for members, _, _ in ranked],
            "density": pd.Series([density for _, density, _ in ranked], dtype=np.float64),
            "lift": pd.Series(
                [density / graph_density for _, density, _ in ranked], dtype=np.float64
            ),
            "sessions": [tuple(positions.tolist()) for _, _, positions in ranked],
            "hours": pd.Series(
                [float(hours[positions].sum()) for _, _, positions in ranked], dtype=np.float64
            ),
        },
        columns=DENSE_BLOCK_COLUMNS,
    )


def _check_settings(
    window_days: float, min_lift: float, min_size: int, max_blocks: int, epsilon: float
) -> None:
    if not (np.isfinite(window_days) and window_days > 0):
        raise ValueError(f"window_days must be a finite number > 0, not {window_days}")
    if not (np.isfinite(min_lift) and min_lift > 0):
        raise ValueError(f"min_lift must be a finite number > 0, not {min_lift}")
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) or min_size < 2:
        raise ValueError(f"min_size must be an integer ≥ 2, not {min_size!r}")
    if (
        isinstance(max_blocks, bool)
        or not isinstance(max_blocks, int | np.integer)
        or max_blocks < 0
    ):
        raise ValueError(f"max_blocks must be an integer ≥ 0, not {max_blocks!r}")
    if not (np.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number ≥ 0, not {epsilon}")


def _member_graph(snapshot: Snapshot, *, window_days: float) -> sparse.csr_array:
    """Member × member pair weights, symmetric: ``[i, j] = c(i, j) + c(j, i)``."""
    peak = _peak_hours(snapshot, window_days=window_days)
    helpers = np.bincount(peak.indices, minlength=snapshot.n_members)
    column_weight = 1.0 / np.log(helpers + _LOG_OFFSET)
    directed = sparse.csr_array(
        (peak.data * column_weight[peak.indices], peak.indices, peak.indptr), shape=peak.shape
    )
    return sparse.csr_array(directed + directed.T)


def _peak_hours(snapshot: Snapshot, *, window_days: float) -> sparse.csr_array:
    """Helper × recipient: the most confirmed hours given within any ``window_days`` days."""
    sessions = snapshot.sessions
    n = snapshot.n_members
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    helper = sessions["helper"].to_numpy()[confirmed].astype(np.int64)
    recipient = sessions["recipient"].to_numpy()[confirmed].astype(np.int64)
    started = sessions["started_at"].to_numpy()[confirmed].astype("datetime64[s]").view(np.int64)
    hours = sessions["hours"].to_numpy()[confirmed]
    if len(hours) == 0:
        return sparse.csr_array((n, n), dtype=np.float64)
    pair = helper * n + recipient
    sorted_pairs = np.sort(pair)
    first = np.ones(len(pair), dtype=bool)
    first[1:] = sorted_pairs[1:] != sorted_pairs[:-1]
    rank = np.cumsum(first) - 1  # of each sorted session's pair
    # Sessions come in time order, so ordering a pair's sessions by position orders them by
    # time; sorting (pair rank, position) as one integer does it several times faster than a
    # stable argsort of ten million pairs.
    order = np.sort(rank * len(pair) + np.argsort(pair)) % len(pair)
    seconds = started[order] - started.min()
    # A window longer than the data is all of it (and a shorter one keeps `when` in int64).
    window = min(round(window_days * _DAY), int(seconds.max()) + 1)
    when = rank * (int(seconds.max()) + window + 1) + seconds  # ascending: pair, then time
    window_end = np.searchsorted(when, when + window, side="left")
    cumulative = np.concatenate([[0.0], np.cumsum(hours[order])])
    starts = np.flatnonzero(first)
    peak = np.maximum.reduceat(cumulative[window_end] - cumulative[:-1], starts)
    return sparse.csr_array(
        (peak, (sorted_pairs[starts] // n, sorted_pairs[starts] % n)), shape=(n, n)
    )


def _floor_core(matrix: sparse.csr_array, floor: float) -> IntArray:
    """Rows left after repeatedly removing those of weighted degree below ``floor``."""
    degree = np.asarray(matrix.sum(axis=1), dtype=np.float64)
    kept = np.flatnonzero(degree > 0)
    while True:
        weak = degree[kept] < floor
        if not weak.any():
            return kept
        degree -= _neighbour_weights(matrix, kept[weak])
        kept = kept[~weak]


def _without_pairs_inside(
    subgraph: _Subgraph, blocks: list[IntArray], *, floor: float
) -> _Subgraph:
    """The floor-core of ``subgraph`` once the pairs inside each of ``blocks`` are removed."""
    pairs = subgraph.matrix.tocoo()
    block_of = np.full(subgraph.matrix.shape[0], -1, dtype=np.int64)
    for number, rows in enumerate(blocks):
        block_of[rows] = number
    inside = (block_of[pairs.row] >= 0) & (block_of[pairs.row] == block_of[pairs.col])
    matrix = sparse.csr_array(
        (pairs.data[~inside], (pairs.row[~inside], pairs.col[~inside])),
        shape=subgraph.matrix.shape,
    )
    return _Subgraph(matrix, subgraph.members).restricted(_floor_core(matrix, floor))


def _sessions_of(snapshot: Snapshot, rounds: list[list[IntArray]]) -> list[list[IntArray]]:
    """Per peel and block: the positions of the confirmed sessions between two of its members
    that no earlier peel's block took (each peel removes its blocks' inner pairs)."""
    sessions = snapshot.sessions
    n = snapshot.n_members
    in_a_block = np.zeros(n, dtype=bool)
    for blocks in rounds:
        for members in blocks:
            in_a_block[members] = True
    helper = sessions["helper"].to_numpy()
    recipient = sessions["recipient"].to_numpy()
    positions = np.flatnonzero(
        (sessions["status"] == "confirmed").to_numpy() & in_a_block[helper] & in_a_block[recipient]
    )
    helper, recipient = helper[positions], recipient[positions]
    taken = np.zeros(len(positions), dtype=bool)
    block_of = np.full(n, -1, dtype=np.int64)
    out = []
    for blocks in rounds:
        for number, members in enumerate(blocks):
            block_of[members] = number
        owner = block_of[helper]
        mine = (owner >= 0) & (owner == block_of[recipient]) & ~taken
        taken |= mine
        by_block = np.argsort(owner[mine], kind="stable")
        bounds = np.searchsorted(owner[mine][by_block], np.arange(1, len(blocks)))
        out.append(np.split(positions[mine][by_block], bounds))
        block_of[:] = -1
    return out


def _densest_parts(
    matrix: sparse.csr_array, removed_in: IntArray, *, floor: float, min_size: int
) -> list[tuple[IntArray, float]]:
    """Disjoint connected sets of rows with their densities, densest first, from a peel.

    ``removed_in`` is the pass each row was removed in (1, 2, …). Every set the peel passed
    through — the rows removed after pass ``t``, for each ``t`` — splits into connected parts;
    those of at least ``min_size`` rows and density at least ``floor`` are taken densest first,
    skipping any that contains or lies inside one already taken.
    """
    edges = sparse.triu(matrix, k=1).tocoo()
    edge_pass = np.minimum(removed_in[edges.row], removed_in[edges.col])
    by_pass = np.argsort(-edge_pass, kind="stable")
    edge_pass = edge_pass[by_pass]
    heads = edges.row[by_pass].astype(np.int64)
    tails = edges.col[by_pass].astype(np.int64)
    weights = edges.data[by_pass]
    rows = matrix.shape[0]
    # Union-find over rows, sweeping the peel backwards: the rows a pass removed come back with
    # their pairs to rows still there, and the parts those pairs join merge into a new part.
    root = np.arange(rows, dtype=np.int64)
    root_mass = np.zeros(rows)
    root_size = np.ones(rows, dtype=np.int64)
    root_part = np.full(rows, -1, dtype=np.int64)  # the part a root heads now
    first_part = np.full(rows, -1, dtype=np.int64)  # the first part a row is in
    # Each pass makes at most one part per pair it brings back.
    part_parent = np.full(len(weights), -1, dtype=np.int64)  # the part it merged into
    part_mass = np.zeros(len(weights))
    part_size = np.zeros(len(weights), dtype=np.int64)
    parts = 0
    for chunk in np.split(np.arange(len(weights)), np.flatnonzero(np.diff(edge_pass)) + 1):
        if not len(chunk):
            continue
        ends = np.concatenate([_find(root, heads[chunk]), _find(root, tails[chunk])])
        touched, local = np.unique(ends, return_inverse=True)
        links = sparse.coo_array(
            (np.ones(len(chunk)), (local[: len(chunk)], local[len(chunk) :])),
            shape=(len(touched), len(touched)),
        )
        count, label = csgraph.connected_components(links, directed=False)
        mass = np.bincount(label, weights=root_mass[touched], minlength=count)
        mass += np.bincount(label[local[: len(chunk)]], weights=weights[chunk], minlength=count)
        size = np.bincount(label, weights=root_size[touched], minlength=count).astype(np.int64)
        # The largest root heads each merge, which keeps the chains _find follows short.
        by_label = np.lexsort((-root_size[touched], label))
        head = touched[by_label[np.searchsorted(label[by_label], np.arange(count))]]
        root[touched] = head[label]
        root_mass[head], root_size[head] = mass, size
        new_part = parts + np.arange(count)
        was_part = root_part[touched] >= 0
        part_parent[root_part[touched[was_part]]] = new_part[label[was_part]]
        first_part[touched[~was_part]] = new_part[label[~was_part]]
        root_part[head] = new_part
        part_mass[new_part], part_size[new_part] = mass, size
        parts += count
    density = part_mass[:parts] / np.maximum(part_size[:parts], 1)
    candidates = np.flatnonzero((part_size[:parts] >= min_size) & (density >= floor))
    candidates = candidates[np.argsort(-density[candidates], kind="stable")]
    children = _Groups(part_parent[:parts], parts)
    rows_of = _Groups(first_part, parts)
    taken = np.zeros(parts, dtype=bool)  # taken, or inside or around one taken
    blocks = []
    for part in candidates.tolist():
        if taken[part]:
            continue
        inside: list[IntArray] = []
        stack = [part]
        while stack:
            inner = stack.pop()
            taken[inner] = True
            inside.append(rows_of[inner])
            stack.extend(children[inner].tolist())
        outer = part_parent[part]
        while outer >= 0 and not taken[outer]:
            taken[outer] = True
            outer = part_parent[outer]
        blocks.append((np.concatenate(inside), float(density[part])))
    return blocks


def _find(root: IntArray, rows: IntArray) -> IntArray:
    """The union-find root of each of ``rows``."""
    found = root[rows]
    while True:
        above = root[found]
        if np.array_equal(above, found):
            return found
        found = above


class _Groups:
    """``groups[g]``: the indices ``i`` with ``owner[i] == g``, for ``0 ≤ g < count``."""

    def __init__(self, owner: IntArray, count: int) -> None:
        self._order = np.argsort(owner, kind="stable")
        self._bounds = np.searchsorted(owner[self._order], np.arange(count + 1))

    def __getitem__(self, group: int) -> IntArray:
        return self._order[self._bounds[group] : self._bounds[group + 1]]


def _peel_exact(matrix: sparse.csr_array) -> IntArray:
    """Fraudar's greedy: remove the row of least degree, one at a time (the reference twin of
    :func:`_peel_in_passes`, and what ``epsilon=0`` runs).

    Returns the step each row was removed in (1, 2, …; 0 for rows without entries).
    """
    indptr, indices, weights = matrix.indptr, matrix.indices, matrix.data
    degree: list[float] = np.asarray(matrix.sum(axis=1), dtype=np.float64).tolist()
    alive = [d > 0 for d in degree]
    heap = [(d, v) for v, d in enumerate(degree) if d > 0]
    heapq.heapify(heap)
    removed_in = np.zeros(len(degree), dtype=np.int64)
    step = 0
    while heap:
        d, v = heapq.heappop(heap)
        if not alive[v] or d != degree[v]:
            continue  # a stale entry: v was removed, or its degree fell since
        alive[v] = False
        step += 1
        removed_in[v] = step
        start, end = indptr[v], indptr[v + 1]
        for u, w in zip(indices[start:end].tolist(), weights[start:end].tolist(), strict=True):
            if alive[u]:
                degree[u] -= w
                heapq.heappush(heap, (degree[u], u))
    return removed_in


def _peel_in_passes(matrix: sparse.csr_array, *, epsilon: float) -> IntArray:
    """Greedy peeling in passes: each removes every row of degree ≤ (1 + ε) × the level.

    The level is the least degree seen so far. Returns the pass each row was removed in
    (1, 2, …; 0 for rows without entries).
    """
    degree = np.asarray(matrix.sum(axis=1), dtype=np.float64)
    alive = np.flatnonzero(degree > 0)
    removed_in = np.zeros(len(degree), dtype=np.int64)
    level = 0.0
    step = 0
    while len(alive):
        # The level is at least the least degree (or 0, should rounding push one below), so
        # each pass removes at least one row.
        level = max(level, float(degree[alive].min()))
        weak = degree[alive] <= (1 + epsilon) * level
        step += 1
        removed_in[alive[weak]] = step
        degree -= _neighbour_weights(matrix, alive[weak])
        alive = alive[~weak]
    return removed_in


def _neighbour_weights(matrix: sparse.csr_array, rows: IntArray) -> FloatArray:
    """Per row of a symmetric ``matrix``: its summed weight to ``rows`` — by how much its
    degree falls when ``rows`` are removed."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    entries = offsets + np.arange(int(lengths.sum()))
    fall = np.bincount(
        matrix.indices[entries], weights=matrix.data[entries], minlength=matrix.shape[0]
    )
    return np.asarray(fall, dtype=np.float64)  # weighted counts are floats already: no copy
