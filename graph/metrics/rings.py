"""Fraud rings: collusive credit loops, reciprocal minting, sybil farms, dense blocks.

Each detector proposes candidate groups of members with the sessions that make the case; every
candidate is then scored on the same signals, and the score's reasons say, in words, which
fired. Candidates are generous on purpose: normal time-bank reciprocity (long-standing
neighbours helping each other weekly) is found too, and the score is what sets it apart.

Detectors
---------
``loop``
    Directed cycles of 3 to ``max_loop`` members of confirmed help inside one time window of
    ``window_days``: credits that go round and return to where they started. Enumerated by
    vectorised path extension over the pairs that traded in each window (two grids of windows,
    offset by half a window, so a burst on a boundary is inside one of them), never unbounded.
``pair``
    Two members who, inside one window, each gave the other at least ``min_pair_hours``.
``sybil_farm``
    A recruiter with at least ``min_farm_referees`` referees who joined within two days of one
    another and trade mainly (``farm_share`` of their hours) with him or with one another.
``dense``
    Fraudar's camouflage-resistant dense blocks of help (:mod:`graph.metrics.dense`): groups
    the patterns above miss.

A group is a ring only because of how credits flow among its members. Claims that cannot be
true (more than 24 hours in a day, overlapping sessions) are one member's, and whether they can
be judged depends on the data's time resolution: they are :mod:`graph.metrics.claims`' finding,
folded into each member's risk by :func:`risk_table`, never a ring. Rings of kind
``"implausible"`` stored by earlier versions still load and can be reviewed
(:data:`~graph.schema.LEGACY_RING_KINDS`); none is found any more.

Signals and score
-----------------
For a candidate's members and sessions (its *evidence*):

- **intensity**: hours per member per active day of the evidence; minting runs at several
  hours a day, neighbourly help at an hour or two a week;
- **inside share**: the share of the members' confirmed hours (given and received) that are
  evidence — a ring trades with itself, a neighbour with the neighbourhood;
- **youth**: how new the accounts were when the evidence began (90-day half-life);
- **shared identifiers**: the share of members who share a phone or device with another member;
- **inside ratings**: the share of the members' rated vouches that come from one another;
- **low trust**: 1 − the members' median trust percentile / 100 (from :mod:`trust`).

``score = 1 − Π (1 − wᵢ·sᵢ)`` over the signals ``sᵢ ∈ [0, 1]`` with weights ``wᵢ`` — any one
strong signal raises the score, several together raise it further — times ``0.5 + 0.5·inside``
so that a group whose members mostly trade with others cannot score high. Rings scoring at least
:data:`FLAG_SCORE` (0.5) are *flagged*: the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from graph.metrics.dense import dense_blocks
from graph.metrics.insular import _seconds
from graph.model import DETECTED_RING_KINDS, DetectedRingKind, Ring, Snapshot
from graph.rings import ring_id_for

__all__ = [
    "FLAG_SCORE",
    "RING_COLUMNS",
    "RISK_COLUMNS",
    "as_rings",
    "bounded_cycles",
    "detect_rings",
    "risk_table",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Columns of :func:`risk_table`'s result, in order.
RISK_COLUMNS = [
    "member_id",
    "fraud_risk",
    "ring_score",
    "trust_doubt",
    "claims_score",
    "ring_id",
    "ring_kind",
]
#: Columns of :func:`detect_rings`'s table, in order (one row per ring).
RING_COLUMNS = [
    "ring_id",
    "kind",
    "members",
    "session_ids",
    "score",
    "reasons",
    "first_at",
    "last_at",
    "hours",
    "credits",
]

#: The trust score of a member nothing is known about (:mod:`graph.metrics.trust`'s prior).
_UNKNOWN_TRUST = 0.5
#: Detectors from the most specific pattern to the most general.
_SPECIFICITY = {kind: place for place, kind in enumerate(DETECTED_RING_KINDS)}
#: Rings scoring at least this are flagged: the review queue.
FLAG_SCORE = 0.5
_DAY = 86_400
#: Signal weights: how far each signal alone can raise the score.
_WEIGHTS = {
    "intensity": 0.6,
    "inside": 0.5,
    "youth": 0.5,
    "shared_ids": 0.5,
    "inside_ratings": 0.3,
    "low_trust": 0.4,
}


@dataclass(frozen=True)
class _Help:
    """Confirmed sessions as arrays, and per-member facts the detectors and signals share."""

    helper: IntArray
    recipient: IntArray
    started: IntArray
    hours: FloatArray
    rating: FloatArray
    row: IntArray  # the session's row in ``snapshot.sessions``
    joined: IntArray
    member_hours: FloatArray
    #: Sessions by helper: member m gave sessions ``by_helper[given[m]:given[m + 1]]``.
    by_helper: IntArray
    given: IntArray

    def given_by(self, members: IntArray) -> IntArray:
        """The sessions ``members`` gave."""
        return np.concatenate(
            [self.by_helper[self.given[m] : self.given[m + 1]] for m in members.tolist()]
        )

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Help:
        sessions = snapshot.sessions
        confirmed = np.flatnonzero((sessions["status"] == "confirmed").to_numpy())
        helper = sessions["helper"].to_numpy()[confirmed].astype(np.int64)
        recipient = sessions["recipient"].to_numpy()[confirmed].astype(np.int64)
        hours = sessions["hours"].to_numpy()[confirmed]
        n = snapshot.n_members
        return cls(
            helper=helper,
            recipient=recipient,
            started=_seconds(sessions["started_at"].to_numpy())[confirmed],
            hours=hours,
            rating=sessions["rating"].to_numpy(dtype=np.float64)[confirmed],
            row=confirmed.astype(np.int64),
            joined=_seconds(snapshot.members["joined_at"].to_numpy()),
            member_hours=np.asarray(
                np.bincount(helper, hours, n) + np.bincount(recipient, hours, n), dtype=np.float64
            ),
            by_helper=_positions(confirmed, snapshot.confirmed_by_helper),
            given=np.concatenate([[0], np.cumsum(np.bincount(helper, minlength=n))]),
        )


def _positions(rows: IntArray, some: IntArray) -> IntArray:
    """Where each of ``some`` (rows of the snapshot's sessions) is in ``rows``."""
    position = np.full(int(rows.max()) + 1 if len(rows) else 0, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return position[some]


@dataclass(frozen=True)
class _Candidate:
    kind: DetectedRingKind
    members: tuple[int, ...]
    evidence: IntArray  # indices into _Help arrays


def _windows(help_: _Help, window_days: float) -> list[IntArray]:
    """Per grid (two, offset by half a window): each confirmed session's window number."""
    width = int(window_days * _DAY)
    return [(help_.started + offset) // width for offset in (0, width // 2)]


def _pair_candidates(help_: _Help, *, window_days: float, min_hours: float) -> list[_Candidate]:
    n = len(help_.joined)
    found: dict[tuple[int, ...], set[int]] = {}
    # Only members who ever helped each other both ways can swap hours: keep their sessions.
    given = sparse.csr_array(
        (np.ones(len(help_.helper)), (help_.helper, help_.recipient)), shape=(n, n)
    )
    both_ways = given.multiply(given.T).tocoo()
    swapped = np.sort(both_ways.row.astype(np.int64) * n + both_ways.col)
    keys = help_.helper * n + help_.recipient
    at = np.minimum(np.searchsorted(swapped, keys), max(len(swapped) - 1, 0))
    kept = np.flatnonzero(swapped[at] == keys) if len(swapped) else np.zeros(0, np.int64)
    helper, recipient, hours = help_.helper[kept], help_.recipient[kept], help_.hours[kept]
    low, high = np.minimum(helper, recipient), np.maximum(helper, recipient)
    upward = helper == low
    for grid in _windows(help_, window_days):
        window = grid[kept]
        key = (window * n + low) * n + high
        frame = pd.DataFrame(
            {
                "key": key,
                "up": np.where(upward, hours, 0.0),
                "down": np.where(upward, 0.0, hours),
            }
        )
        sums = frame.groupby("key", sort=False)[["up", "down"]].sum()
        hot = sums.index[(sums["up"] >= min_hours) & (sums["down"] >= min_hours)].to_numpy()
        for session in np.flatnonzero(np.isin(key, hot)):
            members = (int(low[session]), int(high[session]))
            found.setdefault(members, set()).add(int(kept[session]))
    return [
        _Candidate("pair", members, np.array(sorted(evidence), dtype=np.int64))
        for members, evidence in found.items()
    ]


def _loop_candidates(help_: _Help, *, window_days: float, max_loop: int) -> list[_Candidate]:
    """Directed cycles of 3..max_loop members inside one window (:func:`bounded_cycles` over
    (window, member) nodes), with their evidence: the cycle's sessions in every window where
    the whole cycle traded."""
    n = len(help_.joined)
    # Per cycle length: the cycles found (member rows) and, per cycle, its sessions.
    cycles: dict[int, list[IntArray]] = {}
    sessions: dict[int, list[IntArray]] = {}
    owners: dict[int, list[IntArray]] = {}
    for window in _windows(help_, window_days):
        # Nodes are (window, member); an edge per pair that traded in the window.
        session_keys = (window * n + help_.helper) * n + help_.recipient
        by_key = np.argsort(session_keys, kind="stable")
        sorted_keys = session_keys[by_key]
        edge_keys = sorted_keys[_run_starts(sorted_keys)]
        tails = edge_keys // n
        heads = (edge_keys // (n * n)) * n + edge_keys % n
        for length, closed in bounded_cycles(tails, heads, max_loop).items():
            rows, owner = _sessions_along(closed, n, sorted_keys, by_key)
            base = sum(len(c) for c in cycles.get(length, []))
            cycles.setdefault(length, []).append(closed % n)
            sessions.setdefault(length, []).append(rows)
            owners.setdefault(length, []).append(owner + base)
    candidates = []
    for length, found in cycles.items():
        members, cycle_of = np.unique(np.concatenate(found), axis=0, return_inverse=True)
        # Each session once per distinct cycle, cycles in order.
        pairs = np.unique(
            np.stack(
                [
                    cycle_of.ravel()[np.concatenate(owners[length])],
                    np.concatenate(sessions[length]),
                ],
                axis=1,
            ),
            axis=0,
        )
        bounds = np.searchsorted(pairs[:, 0], np.arange(len(members) + 1))
        for number, row in enumerate(members):
            evidence = pairs[bounds[number] : bounds[number + 1], 1]
            candidates.append(_Candidate("loop", tuple(int(m) for m in row), evidence))
    return candidates


def bounded_cycles(tails: IntArray, heads: IntArray, max_length: int) -> dict[int, IntArray]:
    """Directed simple cycles of 3 to ``max_length`` nodes, by vectorised path extension.

    ``tails[i] → heads[i]`` are the edges, sorted by tail and without repeats. Returns, per
    length, one row per cycle listing its nodes in order from its smallest one: each cycle
    once, never a rotation of another. Paths start at every edge ``u → v`` with ``u < v`` and
    grow one edge at a time through nodes larger than ``u`` that are not on the path yet; the
    length bound keeps the work bounded on any graph.
    """
    starts = _run_starts(tails)
    nodes = tails[starts]
    ends = np.append(starts[1:], len(tails))
    up = tails < heads
    paths = np.stack([tails[up], heads[up]], axis=1)
    found: dict[int, IntArray] = {}
    for length in range(2, max_length + 1):
        last = paths[:, -1]
        at = np.searchsorted(nodes, last)
        has = (at < len(nodes)) & (nodes[np.minimum(at, max(len(nodes) - 1, 0))] == last)
        paths, at = paths[has], at[has]
        counts = ends[at] - starts[at]
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        step = np.repeat(paths, counts, axis=0)
        following = heads[np.repeat(starts[at], counts) + offsets]
        first = step[:, 0]
        if length >= 3:
            found[length] = step[following == first]
        if length == max_length:
            break
        fresh = following > first
        for column in range(1, step.shape[1]):
            fresh &= following != step[:, column]
        paths = np.column_stack([step[fresh], following[fresh]])
        if not len(paths):
            break
    return found


def _run_starts(ordered: IntArray) -> IntArray:
    """Where each run of equal values of a sorted array starts."""
    return np.flatnonzero(np.concatenate([[len(ordered) > 0], ordered[1:] != ordered[:-1]]))


def _sessions_along(
    cycles: IntArray, n: int, sorted_keys: IntArray, by_key: IntArray
) -> tuple[IntArray, IntArray]:
    """The sessions along cycles of (window, member) nodes (each edge's in that window), and
    for each session the cycle (row) it lies on."""
    keys = cycles * n + np.roll(cycles, -1, axis=1) % n
    lo = np.searchsorted(sorted_keys, keys.ravel(), side="left")
    hi = np.searchsorted(sorted_keys, keys.ravel(), side="right")
    counts = hi - lo
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = by_key[np.repeat(lo, counts) + offsets]
    owner = np.repeat(np.arange(keys.size) // cycles.shape[1], counts)
    return rows.astype(np.int64), owner.astype(np.int64)


def _farm_candidates(
    snapshot: Snapshot, help_: _Help, *, min_referees: int, share: float, burst_days: float
) -> list[_Candidate]:
    """Recruiters with a batch of referees who joined in one burst and trade mainly with them
    or with one another."""
    referrer = snapshot.referrer.astype(np.int64)
    # Each session's "family": the recruiter when both ends are the recruiter and his
    # referees (or two referees of his), else −1.
    helper_family = np.where(referrer[help_.helper] >= 0, referrer[help_.helper], -1)
    recipient_family = np.where(referrer[help_.recipient] >= 0, referrer[help_.recipient], -1)
    family = np.full(len(help_.helper), -1, dtype=np.int64)
    siblings = (helper_family == recipient_family) & (helper_family >= 0)
    family[siblings] = helper_family[siblings]
    up = helper_family == help_.recipient
    family[up] = help_.recipient[up]
    down = recipient_family == help_.helper
    family[down] = help_.helper[down]
    inside = family >= 0
    n = snapshot.n_members
    # Per referee: hours inside his recruiter's family against all his hours.
    inside_hours = np.bincount(help_.helper, np.where(inside, help_.hours, 0.0), n)
    inside_hours += np.bincount(help_.recipient, np.where(inside, help_.hours, 0.0), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        referee_share = np.where(help_.member_hours > 0, inside_hours / help_.member_hours, 0.0)
    trading = (referrer >= 0) & (referee_share >= share)
    counts = np.bincount(referrer[trading], minlength=n)
    # Each recruiter's largest batch of trading referees who joined within one burst.
    recruiters = np.flatnonzero(counts >= min_referees)
    batch_of = np.full(n, -1, dtype=np.int64)
    burst = int(burst_days * _DAY)
    farms = []
    traders = np.flatnonzero(trading)
    traders = traders[np.argsort(referrer[traders], kind="stable")]
    recruiter_of = referrer[traders]
    for recruiter in recruiters.tolist():
        referees = traders[
            np.searchsorted(recruiter_of, recruiter) : np.searchsorted(
                recruiter_of, recruiter, "right"
            )
        ]
        joined = help_.joined[referees]
        by_time = np.argsort(joined, kind="stable")
        times = joined[by_time]
        reach = np.searchsorted(times, times + burst, side="right") - np.arange(len(times))
        start = int(np.argmax(reach))
        if reach[start] >= min_referees:
            batch = np.sort(referees[by_time[start : start + reach[start]]])
            batch_of[batch] = recruiter
            farms.append((recruiter, batch))
    # A farm's evidence: its family's sessions with a batch member at one end.
    in_batch = (batch_of[help_.helper] == family) | (batch_of[help_.recipient] == family)
    evidence = np.flatnonzero(in_batch & inside)
    evidence = evidence[np.argsort(family[evidence], kind="stable")]
    owner = family[evidence]
    candidates = []
    for recruiter, batch in farms:
        rows = evidence[
            np.searchsorted(owner, recruiter) : np.searchsorted(owner, recruiter, "right")
        ]
        members = (int(recruiter), *(int(r) for r in batch))
        candidates.append(_Candidate("sybil_farm", members, np.sort(rows).astype(np.int64)))
    return candidates


def _dense_candidates(snapshot: Snapshot, help_: _Help) -> list[_Candidate]:
    """Fraudar's dense blocks (:func:`graph.metrics.dense.dense_blocks`), as candidates."""
    blocks = dense_blocks(snapshot)
    # Block sessions are snapshot rows; the help arrays hold the confirmed ones, in row order.
    return [
        _Candidate(
            "dense",
            tuple(int(m) for m in members),
            np.searchsorted(help_.row, np.asarray(sessions, dtype=np.int64)),
        )
        for members, sessions in zip(blocks["members"], blocks["sessions"], strict=True)
    ]


@dataclass(frozen=True)
class _Signals:
    intensity: float
    inside: float
    youth: float
    shared_ids: float
    inside_ratings: float
    low_trust: float
    hours_per_member_day: float
    youngest_days: float


def _signals(
    candidate: _Candidate,
    help_: _Help,
    identifiers: list[IntArray],
    trust_percentile: FloatArray | None,
) -> _Signals:
    members = np.array(candidate.members, dtype=np.int64)
    rows = candidate.evidence
    hours = float(help_.hours[rows].sum())
    days = len(set((help_.started[rows] // _DAY).tolist()))
    per_member_day = hours / (len(members) * max(days, 1))
    total = float(help_.member_hours[members].sum())
    # Evidence hours count at both ends (given and received), as the members' hours do.
    inside = min(2 * hours / total, 1.0) if total > 0 else 0.0
    began = int(help_.started[rows].min()) if len(rows) else 0
    age_days = (began - help_.joined[members]) / _DAY
    shared = np.zeros(len(members), dtype=bool)
    for codes in identifiers:
        member_codes = codes[members]
        known = np.sort(member_codes[member_codes >= 0])
        repeated = known[1:][known[1:] == known[:-1]]
        shared |= np.isin(member_codes, repeated)
    given = help_.given_by(members)
    vouched = given[help_.rating[given] > 0]  # NaN (unrated) compares False
    rated = len(vouched)
    from_inside = np.isin(help_.recipient[vouched], members)
    return _Signals(
        # 1 hour a day per member is a busy volunteer; 4 or more is minting.
        intensity=float(np.clip((per_member_day - 1.0) / 3.0, 0.0, 1.0)),
        inside=inside,
        youth=float(np.median(0.5 ** (np.maximum(age_days, 0) / 90.0))),
        shared_ids=float(shared.mean()),
        inside_ratings=float(from_inside.sum() / rated) if rated else 0.0,
        low_trust=(
            0.0
            if trust_percentile is None
            else float(1.0 - np.median(trust_percentile[members]) / 100.0)
        ),
        hours_per_member_day=per_member_day,
        youngest_days=float(np.max(age_days)) if len(age_days) else 0.0,
    )


def _score(signals: _Signals) -> float:
    clear = 1.0
    for name, weight in _WEIGHTS.items():
        clear *= 1.0 - weight * float(getattr(signals, name))
    score = (1.0 - clear) * (0.5 + 0.5 * signals.inside)
    return float(np.clip(score, 0.0, 1.0))


def _reasons(kind: DetectedRingKind, candidate: _Candidate, signals: _Signals) -> tuple[str, ...]:
    size = len(candidate.members)
    reasons = [
        {
            "loop": f"credits went round a closed loop of {size} members within one window",
            "pair": "two members gave each other large hours back and forth within days",
            "sybil_farm": f"a recruiter whose {size - 1} referees trade mainly with him or "
            "with one another",
            "dense": f"an unusually dense block of help among {size} members",
        }[kind]
    ]
    if signals.intensity > 0:
        reasons.append(f"{signals.hours_per_member_day:.1f} hours per member per active day")
    if signals.inside >= 0.5:
        reasons.append(f"{signals.inside:.0%} of the members' hours are inside the group")
    if signals.youth >= 0.5:
        reasons.append(
            f"the accounts were at most {signals.youngest_days:.0f} days old when it began"
        )
    if signals.shared_ids > 0:
        reasons.append(f"{signals.shared_ids:.0%} of the members share a phone or device")
    if signals.inside_ratings >= 0.5:
        reasons.append(f"{signals.inside_ratings:.0%} of their ratings come from one another")
    if signals.low_trust >= 0.5:
        reasons.append(f"their median trust percentile is {100 * (1 - signals.low_trust):.0f}")
    return tuple(reasons)


def detect_rings(
    snapshot: Snapshot,
    *,
    trust_percentile: pd.Series | None = None,
    window_days: float = 14,
    max_loop: int = 6,
    min_pair_hours: float = 4,
    min_farm_referees: int = 3,
    farm_share: float = 0.6,
    min_score: float = 0.3,
) -> pd.DataFrame:
    """Suspected fraud rings, most suspicious first: columns :data:`RING_COLUMNS`.

    Parameters
    ----------
    snapshot
        The network.
    trust_percentile
        Members' trust percentiles (0–100, indexed by ``member_id``), e.g. ``trust.csv``'s; a
        signal of the score when given.
    window_days
        Width of the windows loops and pairs must trade within.
    max_loop
        Longest loop looked for (3 to 8 members).
    min_pair_hours
        Hours each of a pair must give the other within one window.
    min_farm_referees, farm_share
        A sybil farm: at least this many referees, each with at least this share of his
        hours inside the recruiter's family.
    min_score
        Candidates scoring less are left out (ordinary reciprocity).

    Returns
    -------
    pandas.DataFrame
        One row per ring: ``ring_id`` (:func:`ring_id_for`), ``kind``, ``members`` and
        ``session_ids`` (tuples of ids), ``score`` in [0, 1], ``reasons`` (tuple of str),
        ``first_at`` / ``last_at`` of the evidence, its ``hours`` and ``credits`` (one credit
        per hour of help). A group found by several detectors is reported once, as the ring
        that scored highest; a group inside a higher-scoring ring is left out.
    """
    if not (np.isfinite(window_days) and window_days > 0):
        raise ValueError(f"window_days must be a finite number > 0, not {window_days}")
    if not 3 <= max_loop <= 8:
        raise ValueError(f"max_loop must be from 3 to 8, not {max_loop}")
    if not (np.isfinite(min_pair_hours) and min_pair_hours > 0):
        raise ValueError(f"min_pair_hours must be a finite number > 0, not {min_pair_hours}")
    if min_farm_referees < 2:
        raise ValueError(f"min_farm_referees must be at least 2, not {min_farm_referees}")
    if not 0 < farm_share <= 1:
        raise ValueError(f"farm_share must be in (0, 1], not {farm_share}")
    if not 0 <= min_score <= 1:
        raise ValueError(f"min_score must be in [0, 1], not {min_score}")
    help_ = _Help.of(snapshot)
    ids = snapshot.member_ids
    percentile = (
        None
        if trust_percentile is None
        else trust_percentile.reindex(snapshot.members["member_id"]).fillna(0.0).to_numpy()
    )
    identifiers = [
        snapshot.members[column].cat.codes.to_numpy().astype(np.int64)
        for column in ("phone_hash", "device_id")
    ]
    candidates = [
        *_loop_candidates(help_, window_days=window_days, max_loop=max_loop),
        *_pair_candidates(help_, window_days=window_days, min_hours=min_pair_hours),
        *_farm_candidates(
            snapshot, help_, min_referees=min_farm_referees, share=farm_share, burst_days=2
        ),
        *_dense_candidates(snapshot, help_),
    ]
    scored = []
    for candidate in candidates:
        signals = _signals(candidate, help_, identifiers, percentile)
        score = _score(signals)
        if score >= min_score and len(candidate.evidence):
            scored.append((score, candidate, signals))
    # A group several detectors found is reported by the most specific one (a loop rather than
    # a dense block of the same members); otherwise the strongest rings come first.
    specific: dict[frozenset[int], tuple[float, _Candidate, _Signals]] = {}
    for item in scored:
        group = frozenset(item[1].members)
        if (
            group not in specific
            or _SPECIFICITY[item[1].kind] < _SPECIFICITY[specific[group][1].kind]
        ):
            specific[group] = item
    scored = sorted(
        specific.values(),
        key=lambda item: (-item[0], _SPECIFICITY[item[1].kind], item[1].members),
    )
    rows = []
    kept: list[frozenset[int]] = []
    # The kept rings each member is in: a group lies inside a kept ring only if that ring holds
    # every member, so only the rings of its least-held member need comparing (comparing with
    # every kept ring took most of the time on networks with many candidates).
    holding: dict[int, list[int]] = {}
    session_ids = snapshot.sessions["session_id"].to_numpy(dtype=object)
    for score, candidate, signals in scored:
        members = frozenset(candidate.members)
        rings_of = [holding.get(member, []) for member in members]
        fewest = min(rings_of, key=len)
        if fewest and any(members <= kept[ring] for ring in fewest):
            continue
        for member in members:
            holding.setdefault(member, []).append(len(kept))
        kept.append(members)
        evidence = candidate.evidence
        names = tuple(str(ids[m]) for m in candidate.members)
        started = help_.started[evidence]
        hours = float(help_.hours[evidence].sum())
        rows.append(
            {
                "ring_id": ring_id_for(candidate.kind, names),
                "kind": candidate.kind,
                "members": names,
                "session_ids": tuple(str(i) for i in session_ids[help_.row[evidence]]),
                "score": round(score, 6),
                "reasons": _reasons(candidate.kind, candidate, signals),
                "first_at": pd.Timestamp(int(started.min()), unit="s"),
                "last_at": pd.Timestamp(int(started.max()), unit="s"),
                "hours": hours,
                "credits": hours,
            }
        )
    return pd.DataFrame(rows, columns=RING_COLUMNS)


def risk_table(
    snapshot: Snapshot,
    rings: pd.DataFrame,
    *,
    trust_score: pd.Series | None = None,
    claims: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per member, ``risk.csv``: columns :data:`RISK_COLUMNS`.

    ``ring_score`` is the score of the strongest ring the member is in (0 when none), with that
    ring's ``ring_id`` and ``ring_kind`` (empty when none). ``trust_doubt`` is how far the
    member's trust score (``trust_score``, by ``member_id``; e.g. ``trust.csv``'s) falls below
    the 0.5 of a member nothing is known about, in [0, 1]: evidence against the member from
    complaints and insular help. ``claims_score`` is the member's implausible claims
    (``claims``: :attr:`graph.metrics.claims.ClaimsResult.members`, e.g. ``claims.csv``; 0 for
    members not in it), in [0, 1]; it is 0 wherever the data's time resolution cannot show the
    claim (placeholder durations, date-only timestamps for overlaps), so it adds to risk only
    where the data lets the claim stand.

    ``fraud_risk = 1 − (1 − ring_score)·(1 − trust_doubt)·(1 − claims_score)`` in [0, 1]: any one
    alone can make a member risky, and several together more so.
    """
    members = snapshot.members["member_id"].reset_index(drop=True)
    n = len(members)
    ring_score = np.zeros(n)
    ring_id = np.full(n, "", dtype=object)
    ring_kind = np.full(n, "", dtype=object)
    if len(rings):
        listed = rings[["ring_id", "kind", "members", "score"]].explode("members")
        strongest = listed.sort_values(
            ["score", "ring_id"], ascending=[False, True], kind="stable"
        ).drop_duplicates("members")
        position = pd.Index(members).get_indexer(strongest["members"])
        ring_score[position] = strongest["score"].to_numpy(dtype=np.float64)
        ring_id[position] = strongest["ring_id"].to_numpy()
        ring_kind[position] = strongest["kind"].to_numpy()
    doubt = np.zeros(n)
    if trust_score is not None:
        score = trust_score.reindex(members).fillna(_UNKNOWN_TRUST).to_numpy(dtype=np.float64)
        doubt = np.clip((_UNKNOWN_TRUST - score) / _UNKNOWN_TRUST, 0.0, 1.0)
    claimed = np.zeros(n)
    if claims is not None and len(claims):
        position = pd.Index(members).get_indexer(claims["member_id"])
        known = position >= 0
        claimed[position[known]] = claims["claims_score"].to_numpy(dtype=np.float64)[known]
    return pd.DataFrame(
        {
            "member_id": members,
            "fraud_risk": 1.0 - (1.0 - ring_score) * (1.0 - doubt) * (1.0 - claimed),
            "ring_score": ring_score,
            "trust_doubt": doubt,
            "claims_score": claimed,
            "ring_id": pd.Series(ring_id, dtype="str"),
            "ring_kind": pd.Series(ring_kind, dtype="str"),
        },
        columns=RISK_COLUMNS,
    )


def as_rings(table: pd.DataFrame) -> list[Ring]:
    """The rows of a :func:`detect_rings` table as :class:`~graph.model.Ring` records (open)."""
    return [
        Ring(
            ring_id=str(row["ring_id"]),
            kind=row["kind"],
            members=tuple(row["members"]),
            session_ids=tuple(row["session_ids"]),
            score=float(row["score"]),
            reasons=tuple(row["reasons"]),
            first_at=pd.Timestamp(row["first_at"]).to_pydatetime().replace(tzinfo=UTC),
            last_at=pd.Timestamp(row["last_at"]).to_pydatetime().replace(tzinfo=UTC),
            hours=float(row["hours"]),
            credits=float(row["credits"]),
        )
        for row in table.to_dict("records")
    ]
