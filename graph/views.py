"""Questions people ask of an analysed network, answered from memory: what the API and the
dashboards serve, and what researchers can call in a notebook.

An :class:`AnalyticsView` holds one snapshot and every result :func:`graph.analyze.run_analytics`
computed on it, indexed once so that each question — a page of members, one member's profile, a
ring's evidence drawn as a graph — costs the rows it returns, not the network. It never touches a
store: the caller decides when to build a new view (after an ingest, say) and swaps it in whole,
so readers never see half of one analysis and half of the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from graph.analyze import Analysis
from graph.metrics import growth as growth_metrics
from graph.metrics import tiers
from graph.metrics.growth import RECRUITMENT_COLUMNS, Ledger, balances
from graph.metrics.tiers import MEASURE_COLUMNS, TIER_LEVELS, Policy, TierComparison
from graph.metrics.trust import EXPLANATION_COLUMNS, TrustModel
from graph.model import Ring, Snapshot

__all__ = [
    "MEMBER_SORT_KEYS",
    "PROMOTION_COLUMNS",
    "AnalyticsView",
    "MemberFilter",
    "Rows",
    "records",
]

#: Columns of the member listing (:meth:`AnalyticsView.member_page`), in this order.
MEMBER_COLUMNS = [
    "member_id",
    "display_name",
    "community_id",
    "joined_at",
    "activated_at",
    "trust_score",
    "trust_rank",
    "trust_percentile",
    "tier",
    "next_tier",
    "fraud_risk",
    "direct_referrals",
    "active_referrals",
    "downline_size",
    "downline_depth",
    "balance",
]
#: Columns of :meth:`AnalyticsView.closest_to_promotion`, in this order.
PROMOTION_COLUMNS = ["member_id", "tier", "next_tier", "unmet", "shortfall", "missing"]
#: The member's own record in a profile (besides its id).
_PROFILE_FIELDS = ("member_id", "display_name", "community_id", "joined_at", "activated_at")
#: What the member listing sorts by (prefix ``-`` for descending).
MEMBER_SORT_KEYS = (
    "member_id",
    "joined_at",
    "trust_score",
    "trust_rank",
    "fraud_risk",
    "downline_size",
    "direct_referrals",
    "balance",
)


@dataclass(frozen=True)
class MemberFilter:
    """Which members a listing shows; every field left None lets everyone through.

    Trust bounds are on ``trust_score`` in [0, 1], inclusive; ``joined_from`` is inclusive and
    ``joined_before`` exclusive (UTC).
    """

    community_id: str | None = None
    tier: str | None = None
    trust_min: float | None = None
    trust_max: float | None = None
    joined_from: datetime | None = None
    joined_before: datetime | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _plain(value: Any) -> Any:
    """One numpy or pandas value as a plain JSON-ready one: NaN, NaT and NA become None,
    times a timezone-aware UTC datetime (the snapshot's times are naive UTC)."""
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _EPOCH + timedelta(seconds=int(value.astype(np.int64)))
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.generic):
        return value.item()
    if value is None or value is pd.NA or value is pd.NaT or value != value:
        return None
    return value


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


#: Converters by numpy dtype kind for :class:`Rows` (anything else: :func:`_plain`).
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "f": _finite,
    "i": int,
    "u": int,
    "b": bool,
}


class Rows:
    """A table's columns as numpy arrays, read back row by row as dicts of plain values.

    Reading one row of a pandas table costs tens of microseconds per column; reading it here
    costs one array lookup per column, which is what keeps a member's profile well under a
    millisecond.
    """

    def __init__(self, table: pd.DataFrame, *, drop: Sequence[str] = ()) -> None:
        self.columns: dict[str, np.ndarray] = {}
        for name, column in table.items():
            if name in drop:
                continue
            if pd.api.types.is_datetime64_any_dtype(column):
                if getattr(column.dt, "tz", None) is not None:
                    column = column.dt.tz_convert("UTC").dt.tz_localize(None)
                array = column.to_numpy(dtype="datetime64[s]")
            elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
                array = column.to_numpy()
            else:
                array = column.to_numpy(dtype=object)
            self.columns[str(name)] = array
        # One converter per column, chosen once: a row costs one call per column.
        self._converters = [
            (name, array, _CONVERTERS.get(array.dtype.kind, _plain))
            for name, array in self.columns.items()
        ]

    def row(self, position: int) -> dict[str, Any]:
        """Row ``position`` as plain values."""
        return {name: convert(array[position]) for name, array, convert in self._converters}

    def rows(self, positions: Iterable[int]) -> list[dict[str, Any]]:
        """Rows at ``positions``, in that order (converted column by column: the same values
        as :meth:`row` gives, at a fraction of the cost per row)."""
        chosen = np.fromiter(positions, dtype=np.intp)
        names = list(self.columns)
        values = [_plain_values(self.columns[name][chosen]) for name in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _plain_values(array: np.ndarray) -> list[Any]:
    """:func:`_plain` of every value of a column."""
    if array.dtype.kind == "M":
        return [
            None if moment is None else moment.replace(tzinfo=UTC)
            for moment in array.astype("datetime64[us]").astype(object)
        ]
    if array.dtype.kind == "f":
        listed: list[Any] = array.tolist()
        for position in np.flatnonzero(~np.isfinite(array)):
            listed[position] = None
        return listed
    if array.dtype.kind in "biu":
        return array.tolist()  # type: ignore[no-any-return]
    return [_plain(value) for value in array]


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``table`` as dicts of plain Python values: NaN and NaT become None, times
    timezone-aware UTC datetimes, numpy scalars Python ones (ready for JSON)."""
    return Rows(table).rows(range(len(table)))


@dataclass
class AnalyticsView:
    """One analysed snapshot, indexed for questions about members, trust, tiers, rings and
    growth.

    Build it with :meth:`of`. Member positions are the snapshot's (``member_id`` order).
    """

    snapshot: Snapshot
    analysis: Analysis
    policy: Policy
    ledger: Ledger
    computed_at: datetime
    #: One row per member: the listing's columns (:data:`MEMBER_COLUMNS`).
    members: pd.DataFrame = field(init=False)
    _orders: dict[str, npt.NDArray[np.intp]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        tables = self.analysis.tables
        members = self.snapshot.members.reset_index(drop=True)
        trust = tables["trust.csv"]
        fanout = tables["fanout.csv"]
        tier_table = tables["tiers.csv"]
        self.members = pd.DataFrame(
            {
                "member_id": members["member_id"],
                "display_name": members["display_name"],
                "community_id": members["community_id"],
                "joined_at": members["joined_at"],
                "activated_at": members["activated_at"],
                "trust_score": trust["trust_score"].to_numpy(),
                "trust_rank": trust["trust_rank"].to_numpy(),
                "trust_percentile": trust["trust_percentile"].to_numpy(),
                "tier": tier_table["tier"].to_numpy(),
                "next_tier": tier_table["next_tier"].to_numpy(),
                "fraud_risk": tables["risk.csv"]["fraud_risk"].to_numpy(),
                "direct_referrals": fanout["direct_referrals"].to_numpy(),
                "active_referrals": fanout["active_referrals"].to_numpy(),
                "downline_size": fanout["downline_size"].to_numpy(),
                "downline_depth": fanout["downline_depth"].to_numpy(),
                "balance": self.balances["balance"].to_numpy(),
            }
        )

    @classmethod
    def of(
        cls,
        snapshot: Snapshot,
        analysis: Analysis,
        *,
        policy: Policy,
        ledger: Ledger = "minting",
        computed_at: datetime | None = None,
    ) -> AnalyticsView:
        """Index ``analysis`` (computed on ``snapshot`` under ``policy`` and ``ledger``)."""
        return cls(snapshot, analysis, policy, ledger, computed_at or datetime.now(UTC))

    @property
    def trust_model(self) -> TrustModel:
        if self.analysis.trust_model is None:
            raise ValueError("the analysis kept no trust model to explain scores with")
        return self.analysis.trust_model

    @cached_property
    def balances(self) -> pd.DataFrame:
        """Each member's credit account (:func:`graph.metrics.growth.balances`)."""
        return balances(self.snapshot, ledger=self.ledger)

    def position(self, member_id: str) -> int:
        """The member's number in the snapshot.

        Raises
        ------
        KeyError
            When no member has that id.
        """
        position = self.snapshot.member_positions.get(member_id)
        if position is None:
            raise KeyError(member_id)
        return position

    # Members -------------------------------------------------------------------------------

    def _order(self, key: str) -> npt.NDArray[np.intp]:
        """Member positions sorted by ``key`` (``-key``: descending), ties by member id."""
        if key not in self._orders:
            name = key.removeprefix("-")
            if name not in MEMBER_SORT_KEYS:
                raise ValueError(f"cannot sort members by {key!r}")
            values = self.members[name]
            if name == "member_id":
                order = np.arange(len(values))
                if key[0] == "-":
                    order = order[::-1]
            else:
                numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
                if name == "joined_at":
                    numbers = values.to_numpy(dtype="datetime64[s]").astype(np.float64)
                # lexsort keeps member order among equals; missing values sort last.
                numbers = np.where(
                    np.isnan(numbers), np.inf, -numbers if key[0] == "-" else numbers
                )
                order = np.lexsort((np.arange(len(values)), numbers))
            self._orders[key] = order.astype(np.intp)
        return self._orders[key]

    def _mask(self, where: MemberFilter) -> npt.NDArray[np.bool_] | None:
        members = self.members
        mask: npt.NDArray[np.bool_] | None = None

        def narrow(condition: npt.NDArray[np.bool_]) -> None:
            nonlocal mask
            mask = condition if mask is None else mask & condition

        if where.community_id is not None:
            narrow((members["community_id"] == where.community_id).to_numpy(dtype=bool))
        if where.tier is not None:
            narrow((members["tier"] == where.tier).to_numpy(dtype=bool))
        score = members["trust_score"].to_numpy()
        if where.trust_min is not None:
            narrow(score >= where.trust_min)
        if where.trust_max is not None:
            narrow(score <= where.trust_max)
        joined = members["joined_at"].to_numpy(dtype="datetime64[s]")
        if where.joined_from is not None:
            narrow(joined >= _utc_naive(where.joined_from))
        if where.joined_before is not None:
            narrow(joined < _utc_naive(where.joined_before))
        return mask

    def member_page(
        self,
        where: MemberFilter | None = None,
        *,
        sort: str = "member_id",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, pd.DataFrame]:
        """Members matching ``where``, sorted by ``sort`` (a :data:`MEMBER_SORT_KEYS` name,
        ``-`` first for descending; ties by member id): how many match, and the ``limit``
        of them from ``offset`` on (columns :data:`MEMBER_COLUMNS`)."""
        total, page = self._member_positions(where, sort=sort, limit=limit, offset=offset)
        return total, self.members.iloc[page].reset_index(drop=True)

    def member_records(
        self,
        where: MemberFilter | None = None,
        *,
        sort: str = "member_id",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """:meth:`member_page` with the page as dicts of plain values (see :func:`records`)."""
        total, page = self._member_positions(where, sort=sort, limit=limit, offset=offset)
        return total, self._member_rows.rows(page)

    @cached_property
    def _member_rows(self) -> Rows:
        return Rows(self.members)

    def _member_positions(
        self, where: MemberFilter | None, *, sort: str, limit: int, offset: int
    ) -> tuple[int, npt.NDArray[np.intp]]:
        order = self._order(sort)
        mask = self._mask(where or MemberFilter())
        matching = order if mask is None else order[mask[order]]
        return len(matching), matching[offset : offset + limit]

    def downline(
        self, member_id: str, *, depth: int = 2, max_nodes: int = 500
    ) -> tuple[dict[str, Any], bool]:
        """The member's referral tree, ``depth`` levels down, breadth first and at most
        ``max_nodes`` members: ``{"member_id", "children": [...]}`` nested, and whether the
        tree was cut short by ``max_nodes`` (levels beyond ``depth`` are not a cut)."""
        root = self.position(member_id)
        children_start, children = self._children
        ids = self.snapshot.member_ids
        nodes: dict[int, dict[str, Any]] = {root: {"member_id": ids[root], "children": []}}
        level = [root]
        truncated = False
        for _ in range(depth):
            following: list[int] = []
            for parent in level:
                for child in children[children_start[parent] : children_start[parent + 1]]:
                    if len(nodes) >= max_nodes:
                        truncated = True
                        break
                    node = {"member_id": ids[child], "children": []}
                    nodes[int(child)] = node
                    nodes[parent]["children"].append(node)
                    following.append(int(child))
            level = following
        return nodes[root], truncated

    @cached_property
    def _children(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Each member's referees as a slice: ``children[start[m]:start[m + 1]]``."""
        parent = self.snapshot.referrer
        referred = np.flatnonzero(parent >= 0)
        by_parent = referred[np.argsort(parent[referred], kind="stable")]
        counts = np.bincount(parent[referred], minlength=self.snapshot.n_members)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
        return start, by_parent.astype(np.intp)

    def profile(self, member_id: str, *, explain_top: int = 10) -> dict[str, Any]:
        """Everything known about one member, as plain values: record, credit account, trust
        (score, rank, percentile and the explanation's ``explain_top`` largest terms of each
        kind), tier (next tier and what it lacks), fan-out and fraud risk.

        Raises
        ------
        KeyError
            When no member has that id.
        """
        position = self.position(member_id)
        rows = self._profile_rows
        tier = rows["tiers"].row(position)
        gaps = {
            name.removeprefix("gap_"): tier.pop(name)
            for name in list(tier)
            if name.startswith("gap_")
        }
        measures = {name: tier.pop(name) for name in MEASURE_COLUMNS[1:]}
        explanation = [
            {column: _plain(row.get(column)) for column in EXPLANATION_COLUMNS}
            for row in self.trust_model.explanation_rows(member_id, top=explain_top)
        ]
        return {
            "member_id": member_id,
            **rows["member"].row(position),
            "account": rows["account"].row(position),
            "trust": {**rows["trust"].row(position), "explanation": explanation},
            "tier": {**tier, "gaps": gaps, "measures": measures},
            "referrals": rows["fanout"].row(position),
            "risk": {
                name: value or None if name in ("ring_id", "ring_kind") else value
                for name, value in rows["risk"].row(position).items()
            },
        }

    @cached_property
    def _profile_rows(self) -> dict[str, Rows]:
        tables = self.analysis.tables
        ids = ("member_id",)
        return {
            "member": Rows(self.snapshot.members[list(_PROFILE_FIELDS)], drop=ids),
            "account": Rows(self.balances, drop=ids),
            "trust": Rows(tables["trust.csv"], drop=ids),
            "tiers": Rows(tables["tiers.csv"], drop=ids),
            "fanout": Rows(tables["fanout.csv"], drop=ids),
            "risk": Rows(tables["risk.csv"], drop=ids),
        }

    # Trust ---------------------------------------------------------------------------------

    def trust_distribution(self, *, bins: int = 20) -> dict[str, Any]:
        """How trust is spread: ``bins`` equal-width histogram bins over [0, 1], quantiles,
        mean, and how many members sit exactly at the 0.5 of a member nothing is known
        about."""
        scores = self.members["trust_score"].to_numpy()
        counts, edges = np.histogram(scores, bins=bins, range=(0.0, 1.0))
        quantiles = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
        values = np.quantile(scores, quantiles) if len(scores) else np.full(len(quantiles), np.nan)
        return {
            "members": len(scores),
            "mean": float(scores.mean()) if len(scores) else None,
            "unknown": int(np.count_nonzero(scores == 0.5)),
            "bins": [
                {"low": float(low), "high": float(high), "members": int(count)}
                for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
            ],
            "quantiles": {
                f"p{round(q * 100)}": None if np.isnan(v) else float(v)
                for q, v in zip(quantiles, values, strict=True)
            },
        }

    # Tiers ---------------------------------------------------------------------------------

    def tier_counts(self) -> dict[str, int]:
        """Members per tier (every tier of :data:`TIER_LEVELS`, none included)."""
        counts = self.members["tier"].value_counts()
        return {str(tier): int(counts.get(tier, 0)) for tier in TIER_LEVELS}

    def closest_to_promotion(self, *, limit: int = 50) -> pd.DataFrame:
        """The ``limit`` members below the top tier closest to their next one, closest first.

        Closeness must compare requirements of different units (2.5 hours against 1 active
        referral), so it is the :func:`~graph.metrics.tiers.promotion_shortfall`: the share of
        each unmet requirement's threshold still missing, summed over the unmet requirements
        (2.5 of 20 hours = 0.125; an unpaid activation, a flag, = 1). Ties go to the smaller
        summed gap (in the requirements' own units: it separates members short of the same
        requirement), then to the member id.

        Columns :data:`PROMOTION_COLUMNS`: ``member_id``, ``tier``, ``next_tier``, ``unmet``
        (how many requirements are unmet), ``shortfall`` (≥ 0; 1 = one whole requirement's
        worth) and ``missing`` (each gap in its unit, as ``tiers.csv`` says it).
        """
        table = self.analysis.tables["tiers.csv"]
        gaps = table[[c for c in table.columns if c.startswith("gap_")]].astype(np.float64)
        unmet = (gaps > 0).sum(axis=1)
        chosen = table.assign(
            unmet=unmet,
            shortfall=tiers.promotion_shortfall(table, policy=self.policy),
            gap_total=gaps.sum(axis=1),
        )[table["next_tier"].notna() & (unmet > 0)]
        chosen = chosen.sort_values(["shortfall", "gap_total", "member_id"], kind="stable")
        return chosen.head(limit)[PROMOTION_COLUMNS].reset_index(drop=True)

    def tier_what_if(self, alternative: Policy, *, current: Policy | None = None) -> TierComparison:
        """How members would move from ``current`` (default: the view's policy) to
        ``alternative``, judged on the same measured values."""
        measures = self.analysis.tables["tiers.csv"][MEASURE_COLUMNS]
        return tiers.what_if(measures, current=current or self.policy, alternative=alternative)

    # Growth --------------------------------------------------------------------------------

    @property
    def communities(self) -> list[str]:
        """Community ids, sorted."""
        return sorted(str(c) for c in self.snapshot.members["community_id"].cat.categories)

    def growth(
        self,
        *,
        community_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """The monthly series (``growth.csv``) of the whole network or one community, months
        from ``start`` to ``end`` inclusive (the months containing them)."""
        chosen = _in_scope(self.analysis.tables["growth.csv"], community_id)
        months = chosen["month"].to_numpy(dtype="datetime64[s]")
        keep = np.ones(len(chosen), dtype=bool)
        if start is not None:
            keep &= months >= _utc_naive(start).astype("datetime64[M]").astype("datetime64[s]")
        if end is not None:
            keep &= months <= _utc_naive(end)
        return chosen[keep].reset_index(drop=True)

    def recruitment(self, *, community_id: str | None = None) -> pd.DataFrame:
        """K-factor and the recruitment-vs-service balance month by month, with the
        ``recruitment_driven`` warning: ``month``, ``new_members`` and
        :data:`~graph.metrics.growth.RECRUITMENT_COLUMNS`."""
        return self.growth(community_id=community_id)[
            ["month", "new_members", *RECRUITMENT_COLUMNS]
        ]

    def cohorts(self, *, community_id: str | None = None) -> pd.DataFrame:
        """Cohort retention (``cohorts.csv``) of the whole network or one community."""
        table = (
            self.analysis.tables["cohorts.csv"] if community_id is None else self._community_cohorts
        )
        return _in_scope(table, community_id).reset_index(drop=True)

    @cached_property
    def _community_cohorts(self) -> pd.DataFrame:
        # Not in the analysis: cohorts.csv is the network's, and per community it grows with
        # communities × cohorts × months; computed once, when first asked for.
        return growth_metrics.cohorts(self.snapshot, per_community=True)

    # Rings ---------------------------------------------------------------------------------

    @cached_property
    def _session_index(self) -> pd.Index:
        index: pd.Index = pd.Index(self.snapshot.sessions["session_id"].to_numpy(dtype=object))
        return index

    def ring_evidence(self, ring: Ring) -> dict[str, Any]:
        """A ring's evidence as a graph ready to draw: ``nodes`` (its members, with
        community, join date, trust score and fraud risk), ``edges`` (one per helper →
        recipient pair among its sessions: sessions, hours, first and last) and ``sessions``
        (each evidence session). Members or sessions this snapshot lacks are left out and
        counted in ``missing``."""
        positions = [self._maybe_position(m) for m in ring.members]
        known = [p for p in positions if p is not None]
        nodes = records(
            self.members.iloc[known][
                [
                    "member_id",
                    "display_name",
                    "community_id",
                    "joined_at",
                    "trust_score",
                    "fraud_risk",
                    "tier",
                ]
            ]
        )
        located = self._session_index.get_indexer(pd.Index(list(ring.session_ids)))
        found = located[located >= 0]
        sessions = self.snapshot.sessions.iloc[np.sort(found)]
        ids = self.snapshot.member_ids
        evidence = pd.DataFrame(
            {
                "session_id": sessions["session_id"].to_numpy(dtype=object),
                "helper_id": ids[sessions["helper"].to_numpy()],
                "recipient_id": ids[sessions["recipient"].to_numpy()],
                "started_at": sessions["started_at"].to_numpy(),
                "hours": sessions["hours"].to_numpy(),
                "rating": sessions["rating"].to_numpy(dtype=np.float64),
                "status": sessions["status"].astype(str).to_numpy(),
            }
        )
        edges = (
            evidence.groupby(["helper_id", "recipient_id"], sort=True)
            .agg(
                sessions=("session_id", "size"),
                hours=("hours", "sum"),
                first_at=("started_at", "min"),
                last_at=("started_at", "max"),
            )
            .reset_index()
        )
        return {
            "nodes": nodes,
            "edges": records(edges),
            "sessions": records(evidence),
            "missing": {
                "members": len(positions) - len(known),
                "sessions": int(np.count_nonzero(located < 0)),
            },
        }

    def _maybe_position(self, member_id: str) -> int | None:
        try:
            return self.position(member_id)
        except KeyError:
            return None


def _in_scope(table: pd.DataFrame, community_id: str | None) -> pd.DataFrame:
    """The rows of a growth or cohort table for the whole network (``scope == "all"``), or for
    one community."""
    if community_id is None:
        return table[table["scope"] == "all"]
    return table[(table["scope"] == "community") & (table["community_id"] == community_id)]


def _utc_naive(moment: datetime) -> np.datetime64:
    """``moment`` as naive UTC datetime64[s], the snapshot's time unit (naive input is UTC)."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.floor("s").isoformat(), "s")
