"""Trust scores that come from who vouches for whom, not from how much is logged.

Method: a seeded, complaint-aware member of the EigenTrust / TrustRank / SybilRank family
(personalised PageRank from pre-trusted members), with REV2's fairness idea for complaints and,
as REV2 does with behaviour, evidence from insular exchange.

1. **Opinions.** A confirmed session is its recipient's opinion of its helper. A rating
   ``r > 0`` vouches with strength ``r / 10``; an unrated session with ``unrated_weight``
   (default 0.5, as a 5/10 would); a rating ``r < 0`` is a complaint of strength ``−r / 10``; a
   rating of 0 says nothing. A disputed session is a complaint of strength ``dispute_weight``
   (default 1, as a −10) or its own rating's, whichever is stronger; pending sessions say
   nothing yet. Each (recipient, helper) pair holds one opinion of each kind: the mean strength
   over its sessions. A hundred sessions between two accounts count as much as one, so volume
   buys nothing; trust grows with the number of distinct members who vouch.
2. **Seeds.** Trust enters the network only at pre-trusted members: ``seeds`` when given, else
   the ``seed_share`` (default 1%, at least ``min_seeds``) best-established members, ranked by
   the product of their rank by tenure and their rank by distinct vouchers among members whom
   more members vouch for than complain about. New accounts are never seeds, however busy.
3. **Propagation.** Personalised PageRank from the seeds along vouches: each member passes
   ``damping`` of its trust on to the members it vouches for, in proportion to the strength of
   its opinions; the rest returns to the seeds. Accounts that only vouch for one another get no
   trust unless trust reaches them from outside (the TrustRank / SybilRank property).
4. **Insular help** (:mod:`graph.metrics.insular`): help between accounts that joined within
   ``cohort_days`` (30) of each other or through one recruiter, in the ``window_days`` (90)
   after the later joined, before ``witnesses`` (2) distinct established members outside
   their links had met both, is not independent evidence. Friends whom established members
   have come to know are not insular, however they joined. The part of a pair's opinion that
   its insular sessions make is an insular vouch, and the trust that reaches a member along
   insular vouches is **self-conferred**: it counts against the member, not for it. What a
   closed group passes around itself keeps circulating in step 3, so the more a sock-puppet
   loop vouches for itself, the more evidence against it piles up. A member's insular hours
   also count as ``insular / (other confirmed hours + 1)`` observations against it: the more
   of its help is with others, the less they weigh.
5. **Complaints.** ``distrust(m) = Σ strength(c→m) · goodness(c) · positive(c)`` over the
   members ``c`` who complain about ``m``: a complaint weighs as much as its author is trusted,
   so complaints from unknown or discredited accounts weigh almost nothing (REV2's fairness).
6. **Goodness** is the share of the evidence about a member that is for it:
   ``positive / (positive + self-conferred + distrust + insular observations / n)``, solved as a
   fixed point since it also weighs each complainant (1 when there is no evidence either way).
7. **Rounds.** Vouches from members with low goodness are worth less: from the second round on
   (``rounds``, default 2), each member passes on ``goodness`` times its share and the rest
   returns to the seeds, so a well-connected fraudster cannot launder trust into a sybil crowd.
8. **Score.** The mean of a Beta posterior: ``trust_score = (x + κ·p) / (x + y + κ)``, with
   ``x`` the member's positive trust relative to an even share (``n · positive``), ``y`` the
   evidence against it on the same scale (self-conferred trust and distrust, plus its insular
   observations), and the prior ``p = prior`` weighing ``κ = prior_weight`` observations
   (defaults 0.5 and 1). A member nothing is known about scores the prior, 0.5: above
   everyone with evidence against them, below everyone vouched for; an average share of trust
   and nothing against scores 0.75, and well-vouched members approach 1. The score is 0 for
   nobody: the more evidence against a member, the lower it scores, so members at the bottom
   are ordered by how much is against them (complaint weight, insular hours, self-conferred
   trust), not tied. ``low_reason`` names which of the three weighs most for each member that
   scores below the prior.

The decomposition is exact and explains every score (:meth:`TrustModel.explain`): a member's
trust is its seed share plus one term per voucher (independent or insular), its distrust one
term per complainant.

On Bitcoin OTC (``bench/bench_trust.py``) the unsupervised AUC of low trust against REV2's
fraud labels is 0.99+ with these defaults, and the lowest scores are the members most
complained about; the defaults were not tuned on anything else. On generated time banks
(``tests/test_trust.py``), planted loops, minting pairs and sybil farms rank at the bottom
(AUC ≥ 0.95) while honest circles of long-standing neighbours stay above the median and
friends who joined together, once established members have met them, score like other
newcomers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata

from graph.errors import ConvergenceError
from graph.metrics.centrality import iterations_needed, power_iteration
from graph.metrics.insular import confirmed_hours, insular_sessions
from graph.model import Snapshot

__all__ = [
    "EXPLANATION_COLUMNS",
    "LOW_REASONS",
    "TRUST_COLUMNS",
    "TrustModel",
    "trust_model",
    "trust_scores",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.integer[Any]]

#: Columns of :func:`trust_scores`'s result, in order.
TRUST_COLUMNS = [
    "member_id",
    "trust_score",
    "trust_rank",
    "trust_percentile",
    "low_reason",
    "positive_trust",
    "self_conferred_trust",
    "distrust",
    "insular_share",
    "insular_evidence",
    "goodness",
    "seed",
    "vouchers",
    "complainants",
    "top_voucher",
    "top_voucher_share",
    "top_complainant",
    "top_complainant_share",
]

#: ``low_reason`` values: the evidence against a member that weighs most, by the column that
#: holds its amount (``trust.csv``), in the order ties between them are settled.
LOW_REASONS = {
    "complaints": "distrust",
    "insular_help": "insular_evidence",
    "self_conferred_trust": "self_conferred_trust",
}

#: Columns of :meth:`TrustModel.explain`'s result, in order.
EXPLANATION_COLUMNS = [
    "kind",
    "partner_id",
    "share",
    "strength",
    "partner_trust",
    "sessions",
    "hours",
    "mean_rating",
    "first_at",
    "last_at",
    "session_ids",
]


@dataclass(frozen=True)
class _Opinions:
    """Per (helper, recipient) pair: mean vouch and complaint strength (helper × recipient).

    ``insular_vouches`` has the entries of ``vouches`` and holds the part of each mean that
    insular sessions contribute (see :mod:`graph.metrics.insular`).
    """

    vouches: sparse.csr_array
    insular_vouches: sparse.csr_array
    complaints: sparse.csr_array


#: What a session says depends only on its kind: its rating (a whole number from −10 to 10, see
#: :class:`graph.model.HelpSession`) or none, whether it is confirmed or disputed, and whether it
#: is insular. Kind ``rating + 10`` is a rated confirmed session, :data:`_UNRATED` an unrated
#: one; disputed sessions are the same kinds shifted by :data:`_DISPUTED`, and insular sessions
#: all of those shifted by :data:`_INSULAR`.
_UNRATED = 21
_DISPUTED = 22
_INSULAR = 44
_KIND_RATING = np.tile(np.append(np.arange(-10.0, 11.0), np.nan), 4)
_KIND_DISPUTED = np.arange(len(_KIND_RATING)) % _INSULAR >= _DISPUTED
_KIND_INSULAR = np.arange(len(_KIND_RATING)) >= _INSULAR
#: Kinds (88) take the low bits of a session's sort key, after its pair's number (members · helper
#: + recipient): 63 bits hold that for up to 268 million members.
_KIND_BITS = 7


@dataclass(frozen=True)
class _Pairs:
    """The sessions that say something, in (helper, recipient) pair order."""

    #: Per session: its pair's number and its kind.
    pair: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int64]
    #: Per pair, sorted by helper then recipient.
    helper: npt.NDArray[np.int64]
    recipient: npt.NDArray[np.int64]
    n_members: int


def _opinions(
    snapshot: Snapshot,
    insular: npt.NDArray[np.bool_],
    silenced: npt.NDArray[np.bool_],
    *,
    unrated_weight: float,
    dispute_weight: float,
) -> _Opinions:
    pairs = _sessions_by_pair(snapshot, insular, silenced)
    # The strengths of each kind of session. Each is (whole tenths) / 10 or a default weight.
    # Pairs sum whole tenths and count defaults separately: integer sums are exact in any order,
    # so a pair's mean does not depend on the order of its sessions.
    confirmed, disputed = ~_KIND_DISPUTED, _KIND_DISPUTED
    unrated = np.isnan(_KIND_RATING)
    rated = np.nan_to_num(_KIND_RATING)
    vouch_tenths = np.where(confirmed & ~unrated, np.clip(rated, 0, None), 0.0)
    vouch_defaults = (confirmed & unrated).astype(np.float64)
    against = np.clip(-rated, 0, None)
    strong_dispute = disputed & (against / 10.0 >= dispute_weight)
    complaint_tenths = np.where(confirmed | strong_dispute, against, 0.0)
    complaint_defaults = (disputed & ~strong_dispute).astype(np.float64)
    insular_vouches = _pair_means(
        vouch_tenths, vouch_defaults, unrated_weight, pairs, within=_KIND_INSULAR
    )
    insular_vouches.eliminate_zeros()
    return _Opinions(
        _pair_means(vouch_tenths, vouch_defaults, unrated_weight, pairs),
        insular_vouches,
        _pair_means(complaint_tenths, complaint_defaults, dispute_weight, pairs),
    )


def _sessions_by_pair(
    snapshot: Snapshot, insular: npt.NDArray[np.bool_], silenced: npt.NDArray[np.bool_]
) -> _Pairs:
    """Confirmed and disputed sessions grouped by pair: pending ones say nothing yet, and
    ``silenced`` members' (as recipients) say nothing at all."""
    sessions = snapshot.sessions
    n = snapshot.n_members
    # Comparing the categorical column compares its small integer codes: no strings touched.
    is_disputed = (sessions["status"] == "disputed").to_numpy()
    speaking = is_disputed | (sessions["status"] == "confirmed").to_numpy()
    speaking &= ~silenced[sessions["recipient"].to_numpy()]
    rating = sessions["rating"].to_numpy()[speaking]
    kind = np.where(np.isnan(rating), _UNRATED, rating + 10).astype(np.int64)
    kind[is_disputed[speaking]] += _DISPUTED
    kind[insular[speaking]] += _INSULAR
    # One sort of (helper, recipient, kind) keys groups each pair's sessions: sorting integers
    # is several times faster than an argsort, and leaves no column to reorder.
    keys = sessions["helper"].to_numpy()[speaking].astype(np.int64)
    keys *= n
    keys += sessions["recipient"].to_numpy()[speaking]
    keys <<= _KIND_BITS
    keys += kind
    keys.sort()
    np.bitwise_and(keys, (1 << _KIND_BITS) - 1, out=kind)
    keys >>= _KIND_BITS
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    helper, recipient = np.divmod(keys[first], n)
    pair = np.cumsum(first)
    pair -= 1
    return _Pairs(pair, kind, helper, recipient, n)


def _pair_means(
    tenths: FloatArray,
    defaults: FloatArray,
    default_weight: float,
    pairs: _Pairs,
    *,
    within: npt.NDArray[np.bool_] | None = None,
) -> sparse.csr_array:
    """Per (helper, recipient) pair, the mean strength of the sessions that say something.

    ``tenths`` and ``defaults`` are per kind of session. A session says ``tenths / 10`` when
    ``tenths > 0``, else ``default_weight`` when ``defaults`` is 1 (and that weight is positive),
    else nothing. With ``within`` (per kind), only those kinds' strengths are summed, over the
    count of all sessions that say something: that part of the full mean, at the same entries.
    """
    said = (tenths > 0) | ((defaults > 0) & (default_weight > 0))
    saying = said[pairs.kind]
    pair, kind = pairs.pair[saying], pairs.kind[saying]
    n_pairs = len(pairs.helper)
    counts = np.bincount(pair, minlength=n_pairs)
    if within is not None:
        tenths, defaults = np.where(within, tenths, 0.0), np.where(within, defaults, 0.0)
    # Sessions come in pair order: bincount adds up each pair's in one sequential pass.
    sums = np.bincount(pair, weights=tenths[kind], minlength=n_pairs)
    default_counts = np.bincount(pair, weights=defaults[kind], minlength=n_pairs)
    kept = counts > 0
    means = (sums[kept] / 10.0 + default_counts[kept] * default_weight) / counts[kept]
    n = pairs.n_members
    index = np.int32 if max(n, len(means)) <= np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index)
    np.cumsum(np.bincount(pairs.helper[kept], minlength=n), out=indptr[1:])
    matrix = sparse.csr_array((means, pairs.recipient[kept].astype(index), indptr), shape=(n, n))
    # Pairs come sorted by helper, then recipient, and once each.
    matrix.has_canonical_format = True
    return matrix


@dataclass
class TrustModel:
    """Everything a trust computation produced: scores, and the terms that explain them.

    Build it with :func:`trust_model`; :meth:`scores` is the ``trust.csv`` table and
    :meth:`explain` one member's explanation. Arrays are per member in snapshot order; trust
    and distrust sum-normalised (trust sums to 1 over members). ``iterations`` counts the power
    iterations of all rounds.
    """

    snapshot: Snapshot
    vouches: sparse.csr_array
    insular_vouches: sparse.csr_array
    complaints: sparse.csr_array
    seeds: npt.NDArray[np.bool_]
    teleport: FloatArray
    damping: float
    out_weight: FloatArray
    passed: FloatArray
    trust: FloatArray
    self_conferred: FloatArray
    distrust: FloatArray
    insular_hours: FloatArray
    hours: FloatArray
    goodness: FloatArray
    prior: float
    prior_weight: float
    iterations: int = 0

    @cached_property
    def positive_trust(self) -> FloatArray:
        """Per member: trust that reached it along independent vouches or as a seed."""
        return np.maximum(self.trust - self.self_conferred, 0.0)

    @cached_property
    def insular_share(self) -> FloatArray:
        """Per member: the share of its confirmed hours that are insular (0 without hours)."""
        share: FloatArray = np.divide(
            self.insular_hours, self.hours, out=np.zeros_like(self.hours), where=self.hours > 0
        )
        return share

    @cached_property
    def insular_evidence(self) -> FloatArray:
        """Per member: observations against it from insular hours, ``insular / (other + 1)``."""
        return np.asarray(
            self.insular_hours / (self.hours - self.insular_hours + 1.0), dtype=np.float64
        )

    @cached_property
    def evidence_against(self) -> FloatArray:
        """Per member: ``y``, the observations against it (see the module documentation):
        self-conferred trust and distrust relative to an even share, plus insular evidence."""
        n = len(self.trust)
        return np.asarray(
            n * (self.self_conferred + self.distrust) + self.insular_evidence, dtype=np.float64
        )

    @cached_property
    def trust_score(self) -> FloatArray:
        """Per member: ``(x + κ·p) / (x + y + κ)`` in [0, 1] (see the module documentation)."""
        positive = len(self.trust) * self.positive_trust
        return np.asarray(
            (positive + self.prior_weight * self.prior)
            / (positive + self.evidence_against + self.prior_weight),
            dtype=np.float64,
        )

    @cached_property
    def low_reason(self) -> npt.NDArray[np.object_]:
        """Per member scoring below the prior: the :data:`LOW_REASONS` key of the evidence
        against it that weighs most; ``None`` for everyone else."""
        n = len(self.trust)
        amounts = np.stack(
            [n * self.distrust, self.insular_evidence, n * self.self_conferred], axis=1
        )
        reasons = np.array(list(LOW_REASONS), dtype=object)[np.argmax(amounts, axis=1)]
        return np.asarray(np.where(self.trust_score < self.prior, reasons, None), dtype=object)

    @cached_property
    def _per_unit(self) -> FloatArray:
        """Per voucher: the trust it passes per unit of opinion."""
        per_unit: FloatArray = np.divide(
            self.damping * self.passed * self.trust,
            self.out_weight,
            out=np.zeros_like(self.trust),
            where=self.out_weight > 0,
        )
        return per_unit

    def _independent_terms(self) -> sparse.csr_array:
        """``[m, v]``: the trust voucher ``v`` passes to ``m`` in sessions that are not insular."""
        return _scale_columns(self.vouches - self.insular_vouches, self._per_unit)

    def _complaint_terms(self) -> sparse.csr_array:
        """``[m, c]``: the distrust complainant ``c`` lays on ``m`` (rows sum to distrust)."""
        return _scale_columns(self.complaints, self._complaint_factor)

    def scores(self) -> pd.DataFrame:
        """The ``trust.csv`` table: columns :data:`TRUST_COLUMNS`, one row per member.

        ``trust_rank`` is 1 for the most trusted (ties share the better rank);
        ``trust_percentile`` is the share of members strictly less trusted, in [0, 100).
        ``low_reason`` (only for members scoring below the ``prior``, empty for the others)
        says what weighs most against the member: ``complaints`` (its ``distrust``),
        ``insular_help`` (its ``insular_evidence``) or ``self_conferred_trust``.
        ``positive_trust`` (seed and independent vouches), ``self_conferred_trust`` (along
        insular vouches) and ``distrust`` are relative to an even share (1 = average);
        ``insular_share`` is the share of the member's confirmed hours that are insular and
        ``insular_evidence`` the observations against it they make. ``top_voucher`` /
        ``top_complainant`` name the partner who contributes most to the member's positive
        trust / distrust, with that contribution's share in [0, 1].
        """
        members = self.snapshot.members["member_id"].reset_index(drop=True)
        n = len(members)
        score = self.trust_score
        top_voucher, voucher_share = _row_top(self._independent_terms(), self.positive_trust)
        top_complainant, complainant_share = _row_top(self._complaint_terms(), self.distrust)
        ids = members.to_numpy(dtype=object)
        return pd.DataFrame(
            {
                "member_id": members,
                "trust_score": score,
                "trust_rank": rankdata(-score, method="min").astype(np.int64),
                "trust_percentile": 100.0 * (rankdata(score, method="min") - 1) / max(n, 1),
                "low_reason": pd.Series(self.low_reason, dtype="str"),
                "positive_trust": self.positive_trust * n,
                "self_conferred_trust": self.self_conferred * n,
                "distrust": self.distrust * n,
                "insular_share": self.insular_share,
                "insular_evidence": self.insular_evidence,
                "goodness": self.goodness,
                "seed": self.seeds,
                "vouchers": np.diff(self.vouches.indptr).astype(np.int64),
                "complainants": np.diff(self.complaints.indptr).astype(np.int64),
                "top_voucher": pd.Series(
                    np.where(top_voucher >= 0, ids[np.maximum(top_voucher, 0)], None), dtype="str"
                ),
                "top_voucher_share": voucher_share,
                "top_complainant": pd.Series(
                    np.where(top_complainant >= 0, ids[np.maximum(top_complainant, 0)], None),
                    dtype="str",
                ),
                "top_complainant_share": complainant_share,
            },
            columns=TRUST_COLUMNS,
        )

    def explain(self, member_id: str, *, top: int = 10) -> pd.DataFrame:
        """Why ``member_id`` has its score: the largest contributions to its trust and distrust.

        Parameters
        ----------
        member_id
            The member to explain.
        top
            At most this many vouches and this many complaints (largest first).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`EXPLANATION_COLUMNS`. ``kind`` is ``"seed"`` (trust the member holds
            as a pre-trusted seed), ``"vouch"`` (a partner whose help sessions with the member
            pass trust to it), ``"insular_vouch"`` (the same along insular sessions: trust that
            counts against the member), ``"complaint"`` (a partner whose negative ratings or
            disputes lay distrust on it) or ``"insular_hours"`` (one row: the member's insular
            hours, and their share of its confirmed hours as ``share``). Otherwise ``share`` is
            the contribution's share of the member's trust (seed, vouches and insular vouches
            sum to 1) or distrust (complaints sum to 1). ``strength`` is the pair's opinion in
            [0, 1] (its insular part for an insular vouch); ``partner_trust`` the partner's
            trust relative to an even share. The session columns describe the pair's sessions
            with the member as helper.

        Raises
        ------
        KeyError
            When no member has that id.
        """
        return pd.DataFrame(self.explanation_rows(member_id, top=top), columns=EXPLANATION_COLUMNS)

    def explanation_rows(self, member_id: str, *, top: int = 10) -> list[dict[str, object]]:
        """:meth:`explain`'s rows as dicts, each with the :data:`EXPLANATION_COLUMNS` it has
        values for (times as ``numpy.datetime64``): for callers that want no DataFrame."""
        position = self.snapshot.member_positions.get(member_id)
        if position is None:
            raise KeyError(member_id)
        n = len(self.trust)
        rows: list[dict[str, object]] = []
        # One member's row of each matrix, read straight from the CSR arrays: an explanation
        # costs that row's entries, not the network (nor scipy's per-call overhead).
        vouch_partners, vouch_opinions = _csr_row(self.vouches, position)
        if self.seeds[position] and self.trust[position] > 0:
            vouched = float(vouch_opinions @ self._per_unit[vouch_partners])
            rows.append(
                {"kind": "seed", "share": 1.0 - vouched / self.trust[position], "strength": 1.0}
            )
        trust, distrust = self.trust[position], self.distrust[position]
        insular = _csr_row(self.insular_vouches, position)
        for kind, (partners, opinions), factor, total in (
            (
                "vouch",
                _row_difference((vouch_partners, vouch_opinions), insular),
                self._per_unit,
                trust,
            ),
            ("insular_vouch", insular, self._per_unit, trust),
            ("complaint", _csr_row(self.complaints, position), self._complaint_factor, distrust),
        ):
            amounts = opinions * factor[partners]
            # A partner who passes nothing (a voucher with no trust) contributes nothing.
            given = np.flatnonzero(amounts)
            order = given[np.argsort(-amounts[given], kind="stable")[:top]]
            for partner, amount, strength in zip(
                partners[order], amounts[order], opinions[order], strict=True
            ):
                rows.append(
                    {
                        "kind": kind,
                        "partner": int(partner),
                        "share": float(amount / total) if total > 0 else 0.0,
                        "strength": float(strength),
                        "partner_trust": float(self.trust[partner] * n),
                    }
                )
        if self.insular_hours[position] > 0:
            rows.append(
                {
                    "kind": "insular_hours",
                    "share": float(self.insular_share[position]),
                    "hours": float(self.insular_hours[position]),
                }
            )
        self._add_sessions(position, rows)
        return rows

    @cached_property
    def _complaint_factor(self) -> FloatArray:
        """Per complainant: the distrust it lays per unit of complaint."""
        return np.asarray(self.goodness * self.positive_trust, dtype=np.float64)

    @cached_property
    def _sessions_by_helper(self) -> dict[str, np.ndarray]:
        """Session columns grouped by helper, in time order within a helper: one member's
        sessions are a slice (found by ``searchsorted`` on ``helper``)."""
        sessions = self.snapshot.sessions
        order = np.argsort(sessions["helper"].to_numpy(), kind="stable")
        return {
            "helper": sessions["helper"].to_numpy()[order],
            "recipient": sessions["recipient"].to_numpy()[order],
            "hours": sessions["hours"].to_numpy()[order],
            "rating": sessions["rating"].to_numpy(dtype=np.float64)[order],
            "started_at": sessions["started_at"].to_numpy()[order],
            "session_id": sessions["session_id"].to_numpy(dtype=object)[order],
        }

    def _add_sessions(self, position: int, rows: list[dict[str, object]]) -> None:
        """Name each row's partner and describe the pair's sessions with the member helping."""
        by_helper = self._sessions_by_helper
        helpers = by_helper["helper"]
        # Needles of the haystack's dtype: mixed dtypes would make numpy cast all of it.
        first, last = np.searchsorted(helpers, np.array([position, position + 1], helpers.dtype))
        helped = {name: column[first:last] for name, column in by_helper.items()}
        ids = self.snapshot.member_ids
        for row in rows:
            partner = cast("int | None", row.pop("partner", None))
            row["partner_id"] = "" if partner is None else ids[partner]
            pair = np.flatnonzero(helped["recipient"] == partner)
            if partner is None or not len(pair):
                continue
            ratings = helped["rating"][pair]
            rated = ratings[~np.isnan(ratings)]
            started = helped["started_at"][pair]
            row.update(
                sessions=len(pair),
                hours=float(helped["hours"][pair].sum()),
                mean_rating=float(rated.mean()) if len(rated) else np.nan,
                first_at=started.min(),
                last_at=started.max(),
                session_ids=" ".join(helped["session_id"][pair[-5:][::-1]]),
            )


def _csr_row(matrix: sparse.csr_array, row: int) -> tuple[IntArray, FloatArray]:
    """Row ``row`` of a CSR matrix as (column indices, values), in column order."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def _row_difference(
    left: tuple[IntArray, FloatArray], right: tuple[IntArray, FloatArray]
) -> tuple[IntArray, FloatArray]:
    """``left − right`` of two sparse rows, zeros dropped, in column order (as scipy's
    subtraction of the matrices would give that row)."""
    columns = np.union1d(left[0], right[0])
    values = np.zeros(len(columns))
    values[np.searchsorted(columns, left[0])] += left[1]
    values[np.searchsorted(columns, right[0])] -= right[1]
    kept = values != 0
    return columns[kept], values[kept]


def _scale_columns(matrix: sparse.csr_array, factors: FloatArray) -> sparse.csr_array:
    """``matrix @ diag(factors)`` without building the n × n diagonal (one row costs its
    entries, not n)."""
    scaled = sparse.csr_array(matrix, copy=True)
    scaled.data *= factors[scaled.indices]
    return scaled


def _row_top(terms: sparse.csr_array, totals: FloatArray) -> tuple[np.ndarray, FloatArray]:
    """Per row: the column of its largest entry (−1 for an empty row; the last of equal ones)
    and that entry's share of the row's total."""
    n = terms.shape[0]
    column = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n, dtype=np.float64)
    counts = np.diff(terms.indptr)
    filled = np.flatnonzero(counts)
    if not len(filled):
        return column, share
    largest = np.maximum.reduceat(terms.data, terms.indptr[filled])
    rows = np.repeat(np.arange(n), counts)
    at_largest = np.flatnonzero(terms.data == np.repeat(largest, counts[filled]))
    # Entries come row by row: the last of a row's largest entries closes its run.
    last = np.append(rows[at_largest][1:] != rows[at_largest][:-1], True)
    winners = at_largest[last]
    column[filled] = terms.indices[winners]
    share[filled] = np.divide(
        terms.data[winners], totals[filled], out=np.zeros(len(filled)), where=totals[filled] > 0
    )
    return column, share


def _default_seeds(
    snapshot: Snapshot, opinions: _Opinions, *, seed_share: float, min_seeds: int
) -> npt.NDArray[np.bool_]:
    """The best-established members: tenure rank × distinct-voucher rank, top ``seed_share``."""
    n = snapshot.n_members
    vouchers = np.diff(opinions.vouches.indptr)
    complainants = np.diff(opinions.complaints.indptr)
    joined = snapshot.members["joined_at"].to_numpy(dtype="datetime64[s]").astype(np.int64)
    tenure = snapshot.reference_time.astype(np.int64) - joined
    candidate = vouchers > complainants
    established = rankdata(tenure) * rankdata(vouchers)
    established[~candidate] = -1.0
    count = min(int(candidate.sum()), max(min_seeds, int(np.ceil(seed_share * n))))
    # Most established first; ties go to the earlier member number, so seeds are reproducible.
    order = np.lexsort((np.arange(n), -established))[:count]
    seeds = np.zeros(n, dtype=bool)
    seeds[order] = True
    return seeds


def _seed_mask(snapshot: Snapshot, seeds: Collection[str]) -> npt.NDArray[np.bool_]:
    ids = snapshot.members["member_id"]
    wanted = pd.Index(list(seeds))
    unknown = wanted.difference(pd.Index(ids))
    if len(unknown):
        raise ValueError(f"seeds: unknown members {list(unknown[:5])}")
    if not len(wanted):
        raise ValueError("seeds: give at least one member")
    return np.asarray(ids.isin(wanted).to_numpy(), dtype=bool)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], not {value}")


def _locality_order(snapshot: Snapshot) -> npt.NDArray[np.intp]:
    """Members by community, in snapshot order within one: ``order[i]`` is the member at place i.

    Members of a community vouch mostly for one another, so in this order the scores a row of
    the vouch matrix reads lie close together: the power iteration reads them from cache.
    """
    return np.argsort(snapshot.members["community_id"].cat.codes.to_numpy(), kind="stable")


def _in_order(matrix: sparse.csr_array, order: npt.NDArray[np.intp]) -> sparse.csr_array:
    """``matrix`` with rows and columns renumbered: new member i is old member ``order[i]``.

    Each row keeps its entries in their old order, so it sums its products as before.
    """
    rows = matrix[order]
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    return sparse.csr_array(
        (rows.data, place[rows.indices].astype(rows.indices.dtype), rows.indptr),
        shape=matrix.shape,
    )


def _discounted(vouches: sparse.csr_array, passed: FloatArray) -> sparse.csr_array:
    """``vouches[m, v] · passed[v]``: each voucher's vouches, at the share it passes on."""
    return sparse.csr_array(
        (vouches.data * passed[vouches.indices], vouches.indices, vouches.indptr),
        shape=vouches.shape,
    )


def trust_model(
    snapshot: Snapshot,
    *,
    seeds: Collection[str] | None = None,
    seed_share: float = 0.01,
    min_seeds: int = 10,
    damping: float = 0.85,
    unrated_weight: float = 0.5,
    dispute_weight: float = 1.0,
    rounds: int = 2,
    cohort_days: float = 30,
    window_days: float = 90,
    witnesses: int = 2,
    prior: float = 0.5,
    prior_weight: float = 1.0,
    discredited: Collection[str] = (),
    tol: float = 1e-10,
    max_iter: int | None = None,
) -> TrustModel:
    """Compute trust (see the module documentation for the method) and keep its terms.

    Parameters
    ----------
    snapshot
        The network.
    seeds
        Pre-trusted member ids. Default: the best-established members (see ``seed_share``).
    seed_share, min_seeds
        Default seeds: this share of all members, at least ``min_seeds`` (fewer only when fewer
        members qualify).
    damping
        Share of its trust a member passes on along its vouches, in [0, 1).
    unrated_weight
        Vouch strength of a confirmed session without a rating, in [0, 1].
    dispute_weight
        Complaint strength of a disputed session, in [0, 1].
    rounds
        Propagation rounds (≥ 1); from the second on, vouches are discounted by goodness.
    cohort_days, window_days, witnesses
        What makes help insular (:func:`graph.metrics.insular.insular_sessions`).
    prior, prior_weight
        The score of a member nothing is known about, in [0, 1], and how many observations it
        weighs (> 0).
    discredited
        Member ids whose opinions no longer count — members of confirmed fraud rings: their
        vouches and complaints pass nothing on, and they witness nobody (an insular group is
        not cleared by having met them). Ids not in the snapshot are ignored.
    tol, max_iter
        Convergence of each propagation (L1 change of trust; see
        :func:`graph.metrics.centrality.pagerank`).

    Raises
    ------
    ValueError
        For a setting out of range or unknown seeds.
    graph.errors.ConvergenceError
        When a propagation does not converge within ``max_iter``, or goodness does not settle.
    """
    _check("damping", damping, 0.0, 0.999999)
    _check("unrated_weight", unrated_weight, 0.0, 1.0)
    _check("dispute_weight", dispute_weight, 0.0, 1.0)
    _check("seed_share", seed_share, 0.0, 1.0)
    _check("prior", prior, 0.0, 1.0)
    if not (np.isfinite(prior_weight) and prior_weight > 0):
        raise ValueError(f"prior_weight must be a finite number > 0, not {prior_weight}")
    if rounds < 1:
        raise ValueError(f"rounds must be ≥ 1, not {rounds}")
    if max_iter is None:
        max_iter = iterations_needed(damping=damping, tol=tol)
    silenced = snapshot.members["member_id"].isin(list(discredited)).to_numpy()
    insular = insular_sessions(
        snapshot,
        cohort_days=cohort_days,
        window_days=window_days,
        witnesses=witnesses,
        discredited=silenced,
    )
    insular_hours, hours = confirmed_hours(snapshot, insular)
    opinions = _opinions(
        snapshot,
        insular,
        silenced,
        unrated_weight=unrated_weight,
        dispute_weight=dispute_weight,
    )
    n = snapshot.n_members
    seed_mask = (
        _default_seeds(snapshot, opinions, seed_share=seed_share, min_seeds=min_seeds)
        if seeds is None
        else _seed_mask(snapshot, seeds)
    )
    teleport = seed_mask / max(int(seed_mask.sum()), 1)
    # inflow[m, v]: vouch of v for m — the helper × recipient opinions are already that way.
    out_weight = np.asarray(opinions.vouches.sum(axis=0), dtype=np.float64).ravel()
    passed = np.ones(n)
    goodness = np.ones(n)
    trust = self_conferred = distrust = np.zeros(n)
    # Insular hours weigh against a member as observations do; as trust, they are a share of 1/n.
    insular_against = (insular_hours / (hours - insular_hours + 1.0)) / max(n, 1)
    iterations = 0
    # Trust propagates among members in locality order, and maps back to snapshot order.
    order = _locality_order(snapshot)
    local_vouches = _in_order(opinions.vouches, order)
    for round_ in range(rounds):
        if round_:
            passed = goodness
        if n and seed_mask.any():
            # inflow[m, v]: the vouch of v for m, at the share of its trust v passes on (all of
            # it in the first round).
            inflow = _discounted(local_vouches, passed[order]) if round_ else local_vouches
            # Later rounds start from the last round's trust, which differs only where
            # goodness discounted a vouch.
            local_trust, ran = power_iteration(
                inflow,
                teleport[order],
                damping=damping,
                tol=tol,
                max_iter=max_iter,
                out_weight=out_weight[order],
                start=trust[order] if round_ else None,
            )
            trust = np.empty(n)
            trust[order] = local_trust
            iterations += ran
        # Trust that came along insular vouches is the group's own: it counts against.
        per_unit = np.divide(
            damping * passed * trust, out_weight, out=np.zeros(n), where=out_weight > 0
        )
        self_conferred = opinions.insular_vouches @ per_unit
        goodness, distrust = _goodness(
            opinions.complaints,
            np.maximum(trust - self_conferred, 0.0),
            self_conferred + insular_against,
        )
    return TrustModel(
        snapshot=snapshot,
        vouches=opinions.vouches,
        insular_vouches=opinions.insular_vouches,
        complaints=opinions.complaints,
        seeds=seed_mask,
        teleport=teleport,
        damping=damping,
        out_weight=out_weight,
        passed=passed,
        trust=trust,
        self_conferred=self_conferred,
        distrust=distrust,
        insular_hours=insular_hours,
        hours=hours,
        goodness=goodness,
        prior=prior,
        prior_weight=prior_weight,
        iterations=iterations,
    )


def _goodness(
    complaints: sparse.csr_array,
    positive: FloatArray,
    against: FloatArray,
    *,
    tol: float = 1e-12,
    max_iter: int = 500,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``g = p / (p + a + C·(g·p))`` for positive trust ``p`` and other evidence against
    ``a``; returns goodness and distrust ``C·(g·p)``.

    The map is antitone — more goodness for complainants means less for the accused — so plain
    iteration can swing between two states (two factions complaining about each other);
    averaging each step with the last damps the swing until the change is below ``tol``.
    Members with no evidence either way keep goodness 1.

    Raises
    ------
    ConvergenceError
        When ``max_iter`` damped steps do not reach ``tol``.
    """
    total = positive + against
    settled = np.divide(positive, total, out=np.ones_like(positive), where=total > 0)
    # Members nobody complains about are settled already: solve for the accused alone, over the
    # complainants' columns alone (a short vector the product reads from cache). Rows and
    # columns keep their order, so each row sums its products as it would over all members.
    accused = np.flatnonzero(np.diff(complaints.indptr))
    rows = complaints[accused]
    complainants, column = np.unique(rows.indices, return_inverse=True)
    complaint_matrix = sparse.csr_array(
        (rows.data, column.astype(rows.indices.dtype), rows.indptr),
        shape=(len(accused), len(complainants)),
    )
    accused_positive, accused_against = positive[accused], against[accused]
    # goodness · positive trust of each complainant; those accused too change as we go.
    weighted = settled[complainants] * positive[complainants]
    both = np.flatnonzero(np.isin(complainants, accused, assume_unique=True))
    both_as_accused = np.searchsorted(accused, complainants[both])
    both_positive = positive[complainants[both]]

    goodness = settled[accused]
    for _ in range(max_iter):
        weighted[both] = goodness[both_as_accused] * both_positive
        total = accused_positive + accused_against + complaint_matrix @ weighted
        updated = np.divide(accused_positive, total, out=np.ones_like(total), where=total > 0)
        if np.abs(updated - goodness).max(initial=0.0) < tol:
            weighted[both] = updated[both_as_accused] * both_positive
            distrust = np.zeros_like(positive)
            settled[accused] = updated
            distrust[accused] = complaint_matrix @ weighted
            return settled, distrust
        goodness = (goodness + updated) / 2
    raise ConvergenceError(f"goodness did not settle below a change of {tol:g} in {max_iter} steps")


def trust_scores(snapshot: Snapshot, **settings: Any) -> pd.DataFrame:
    """Trust of every member: the ``trust.csv`` table (columns :data:`TRUST_COLUMNS`).

    Keyword settings are those of :func:`trust_model`; see the module documentation for the
    method.

    Examples
    --------
    Ann and Bo are long-standing members who vouch for each other and for Cai; Dan and Eve
    joined last week and rate each other 10/10 over forty hours. Eve also helped Ann once and
    Ann complained.

    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo", "cai", "dan", "eve"],
    ...     "joined_at": ["2024-01-01", "2024-01-01", "2024-06-01", "2025-03-01", "2025-03-01"]})
    >>> pairs = [("ann", "bo", 9), ("bo", "ann", 8), ("cai", "ann", 7), ("cai", "bo", 9),
    ...          ("dan", "eve", 10), ("eve", "dan", 10), ("eve", "ann", -6)]
    >>> sessions = pd.DataFrame({"session_id": [f"s{i}" for i in range(len(pairs))],
    ...     "helper_id": [p[0] for p in pairs], "recipient_id": [p[1] for p in pairs],
    ...     "started_at": "2025-03-05", "hours": [2, 2, 1, 1, 20, 20, 1],
    ...     "rating": [p[2] for p in pairs]})
    >>> report = ingest({"members": members, "sessions": sessions}, store)
    >>> table = trust_scores(store.snapshot(), seeds=["ann", "bo"]).set_index("member_id")
    >>> table["trust_rank"].to_dict()
    {'ann': 2, 'bo': 1, 'cai': 3, 'dan': 5, 'eve': 4}

    No trust reaches Dan and Eve, however many hours they log: their forty hours, days after
    joining together and before anyone else knew them, are insular and count against them;
    Ann's complaint adds to Eve's.

    >>> columns = ["trust_score", "insular_share", "low_reason"]
    >>> table.loc[["dan", "eve"], columns].round(3).to_numpy().tolist()
    [[0.012, 1.0, 'insular_help'], [0.023, 0.976, 'insular_help']]
    """
    return trust_model(snapshot, **settings).scores()
