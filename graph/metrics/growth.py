"""Growth of the network month by month, overall and per community, and cohort retention.

:func:`growth` is the monthly series of ``growth.csv``; :func:`cohorts` the retention table of
``cohorts.csv``. Months run from the first event in the snapshot (a member joining or being
activated, a confirmed session, a redemption) to the last one, or to the month of
``snapshot.as_of`` when the snapshot was cut at a moment: that last month is then partial.

Attribution
    A member counts in their own community. A session counts in its helper's community and in
    the month it started; only confirmed sessions count, since only they earn credits. A
    referral counts in the month its referee joined (``referred_at`` is normally that moment;
    the joining date keeps ``referred_members`` a part of ``new_members``): ``referred_members``
    in the referee's community, ``referrers`` in the referrer's.

Ledger
    Every confirmed hour earns its helper one credit. Under the ``"minting"`` ledger (the 同壹
    model) that credit is new money and a member's balance is *earned − redeemed*; under the
    ``"classic"`` time-bank ledger the recipient pays for it, and the balance is *earned −
    received − redeemed*, negative for members who took more help than they gave.
    ``credits_outstanding`` is what members hold at the month's end: under minting the sum of
    balances, i.e. credits minted so far minus credits redeemed, the issuer's liability (a
    balance overdrawn by redemptions, which the schema does not forbid, lowers it); under classic
    the sum of *positive* balances, since a negative balance is a debt of hours, not credit
    (the plain sum of classic balances is always minus the credits redeemed).
    ``balance_gini`` is the Gini coefficient of credits *held*, ``max(balance, 0)``, so that it
    stays in [0, 1] under both ledgers: a member in debt holds nothing.

Recruitment versus service
    A network that grows by recruiting faster than its members actually help each other is
    turning into a pyramid. ``recruitment_balance`` weighs, over the trailing ``window`` months,
    members gained by referral against hours of help, one recruit against ``hours_per_referral``
    hours (the exchange rate :func:`graph.metrics.fanout.fanout` uses per member, 10 by default):
    ``R / (R + H / hours_per_referral)``. It is below 0.5 while the network delivers more
    than ``hours_per_referral`` hours of help per referred newcomer (service-driven) and tends to
    1 when recruits arrive with no help behind them. ``recruitment_driven`` is the early
    warning of a pyramid-like turn. It switches on in a month when

    - the balance is at least ``threshold`` (default 0.5: fewer than ``hours_per_referral``
      hours of help per referred newcomer over the window),
    - it has risen by at least ``rise`` (default 0.1) since ``window`` months before, i.e. since
      the previous, non-overlapping window: recruitment grew faster than service, and
    - the window holds at least ``min_referred`` (default 30) referred newcomers, so that a few
      referrals in a quiet community raise nothing;

    and it stays on while the balance stays at or above ``threshold`` with ``min_referred``
    referrals. Requiring a rise keeps a network's (or a community's) launch, when everybody is
    new and service is only starting, from raising the warning: the balance is high then, but
    falling. With the defaults a turn shows within a quarter: in a generated 100,000-member
    network, communities helping 70–200 hours a month were flagged in the
    third or fourth month after their referrals started doubling monthly (5, 10, 20, …), while
    the network itself never was and 6 of its 250 communities were at some point of their
    first two years (young communities do recruit ahead of their service). The defaults suit a
    time bank whose active members give a few hours a month: a mature, service-driven network
    delivers tens of hours per newcomer (balance 0.2–0.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from graph.model import Snapshot

__all__ = [
    "BALANCE_COLUMNS",
    "COHORT_COLUMNS",
    "GROWTH_COLUMNS",
    "RECRUITMENT_COLUMNS",
    "Ledger",
    "balances",
    "cohorts",
    "growth",
]

Ledger = Literal["minting", "classic"]

#: The growth columns that weigh recruiting against service (the pyramid indicators).
RECRUITMENT_COLUMNS = [
    "referred_members",
    "referral_share",
    "referrers",
    "referrals_per_referrer",
    "k_factor",
    "service_hours_per_new_member",
    "recruitment_balance",
    "recruitment_driven",
]
#: Columns of :func:`growth`'s result, in order.
GROWTH_COLUMNS = [
    "month",
    "scope",
    "community_id",
    "new_members",
    "members_total",
    "activated",
    "active_members",
    "sessions",
    "hours",
    "credits_minted",
    "credits_redeemed",
    "credits_outstanding",
    "balance_gini",
    "velocity",
    *RECRUITMENT_COLUMNS,
]

#: Columns of :func:`cohorts`'s result, in order.
COHORT_COLUMNS = [
    "cohort",
    "scope",
    "community_id",
    "months_since_joining",
    "cohort_size",
    "active",
    "retention",
]


@dataclass(frozen=True, slots=True)
class _Events:
    """The snapshot's events as month numbers (0 = first month) and compact arrays.

    Groups are the communities in category order, then one group for members without a
    community. Confirmed sessions and redemptions are in time order; those of month ``t`` are
    ``[bounds[t], bounds[t + 1])``.
    """

    months: np.ndarray  # datetime64[M], first .. last
    labels: list[str | None]
    group: np.ndarray  # member → group
    joined: np.ndarray  # member → month joined
    activated: np.ndarray  # month of each activation
    activated_group: np.ndarray
    helper: np.ndarray
    recipient: np.ndarray
    hours: np.ndarray
    session_bounds: np.ndarray
    redeemer: np.ndarray
    credits: np.ndarray
    redemption_bounds: np.ndarray
    referrer: np.ndarray
    referee: np.ndarray

    @property
    def n_months(self) -> int:
        return len(self.months)

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def tally(
        self, month: np.ndarray, group: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """(group, month) sums of ``weights`` (counts when None)."""
        cell = group.astype(np.int64) * self.n_months + month
        counts = np.bincount(cell, weights=weights, minlength=self.n_groups * self.n_months)
        return counts.reshape(self.n_groups, self.n_months)


def _in_time_order(times: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """``times`` and ``columns`` sorted by time (a snapshot's are already: then no copy)."""
    if len(times) > 1 and not (times[1:] >= times[:-1]).all():
        order = np.argsort(times, kind="stable")
        return tuple(column[order] for column in (times, *columns))
    return (times, *columns)


def _events(snapshot: Snapshot) -> _Events | None:
    """The snapshot's events month by month, or None when it holds none."""
    members = snapshot.members
    categories = members["community_id"].cat.categories
    group = members["community_id"].cat.codes.to_numpy().astype(np.int64)
    # Members without a community go to the last group.
    group[group < 0] = len(categories)
    # 16-bit group numbers let numpy's stable sort use a radix sort (see _held_gini).
    group = group.astype(np.int16 if len(categories) < np.iinfo(np.int16).max else np.int32)
    joined_at = members["joined_at"].to_numpy().astype("datetime64[s]")
    activated_at = members["activated_at"].to_numpy().astype("datetime64[s]")
    has_activation = ~np.isnat(activated_at)

    sessions = snapshot.sessions
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    started, helper, recipient, hours = _in_time_order(
        sessions["started_at"].to_numpy().astype("datetime64[s]")[confirmed],
        sessions["helper"].to_numpy()[confirmed],
        sessions["recipient"].to_numpy()[confirmed],
        sessions["hours"].to_numpy().astype(np.float64)[confirmed],
    )
    redemptions = snapshot.redemptions
    redeemed_at, redeemer, credits = _in_time_order(
        redemptions["redeemed_at"].to_numpy().astype("datetime64[s]"),
        redemptions["member"].to_numpy(),
        redemptions["credits"].to_numpy().astype(np.float64),
    )

    ends = [
        times[[0, -1]] if sorted_ else np.array([times.min(), times.max()])
        for times, sorted_ in (
            (joined_at, False),
            (activated_at[has_activation], False),
            (started, True),
            (redeemed_at, True),
        )
        if len(times)
    ]
    if not ends:
        return None
    bounds = np.concatenate(ends).astype("datetime64[M]")
    first, last = bounds.min(), bounds.max()
    if snapshot.as_of is not None:
        last = max(last, snapshot.as_of.to_datetime64().astype("datetime64[M]"))
    months = np.arange(first, last + 1)
    edges = np.arange(first, last + 2).astype("datetime64[s]")

    def month_of(times: np.ndarray) -> np.ndarray:
        number: np.ndarray = np.searchsorted(edges, times, side="right") - 1
        return number.astype(np.int64)

    referee = snapshot.referrals["referee"].to_numpy().astype(np.int64)
    return _Events(
        months=months,
        labels=[*categories.astype(str), None],
        group=group,
        joined=month_of(joined_at),
        activated=month_of(activated_at[has_activation]),
        activated_group=group[has_activation],
        helper=helper.astype(np.int64),
        recipient=recipient.astype(np.int64),
        hours=hours,
        session_bounds=np.searchsorted(started, edges),
        redeemer=redeemer.astype(np.int64),
        credits=credits,
        redemption_bounds=np.searchsorted(redeemed_at, edges),
        referrer=snapshot.referrals["referrer"].to_numpy().astype(np.int64),
        referee=referee,
    )


def _active_by_month(events: _Events, n_members: int) -> Iterator[np.ndarray]:
    """For each month in turn, the members who gave or received a confirmed session then."""
    last_active = np.full(n_members, -1, dtype=np.int32)
    bounds = events.session_bounds
    for month in range(events.n_months):
        in_month = slice(bounds[month], bounds[month + 1])
        last_active[events.helper[in_month]] = month
        last_active[events.recipient[in_month]] = month
        yield np.flatnonzero(last_active == month)


def _held_gini(
    held: np.ndarray, group: np.ndarray, population: np.ndarray, n_groups: int
) -> tuple[np.ndarray, float]:
    """Gini of ``held`` (≥ 0) within each group and overall; NaN where nobody holds anything.

    ``population[g]`` is how many members group ``g`` counts, holders of nothing included. With
    a group's ``p`` positive holdings sorted ascending as ``x_0 ≤ … ≤ x_{p-1}`` behind its
    ``n − p`` zeros, the population Gini ``Σ_i Σ_j |x_i − x_j| / (2 n² mean)`` is
    ``(2 Σ_k k·x_k + (n − 2p + 1) S) / (n S)`` with ``S = Σ x``: only positive holdings are
    sorted, once by value and once (stable, a radix sort for 16-bit groups) by group.
    """
    holders = np.flatnonzero(held > 0)
    values = held[holders]
    by_value = np.argsort(values)
    values = values[by_value]
    holder_group = group[holders][by_value]
    by_group = np.argsort(holder_group, kind="stable")
    grouped = values[by_group]
    grouped_group = holder_group[by_group]
    positive = np.bincount(grouped_group, minlength=n_groups)
    start = np.cumsum(positive) - positive
    rank = np.arange(len(grouped)) - start[grouped_group]
    ranked = np.bincount(grouped_group, weights=rank * grouped, minlength=n_groups)
    total = np.bincount(grouped_group, weights=grouped, minlength=n_groups)

    def gini(ranked: np.ndarray, total: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (2 * ranked + (n - 2 * p + 1) * total) / (n * total)
        # Rounding can leave an equal distribution a hair below zero.
        return np.where(total > 0, np.maximum(value, 0.0), np.nan)

    overall = gini(
        np.array([np.dot(np.arange(len(values), dtype=np.float64), values)]),
        np.array([values.sum()]),
        np.array([population.sum()]),
        np.array([len(values)]),
    )
    return gini(ranked, total, population, positive), float(overall[0])


#: Columns of :func:`balances`.
BALANCE_COLUMNS = [
    "member_id",
    "credits_earned",
    "credits_paid",
    "credits_redeemed",
    "balance",
]


def balances(snapshot: Snapshot, *, ledger: Ledger = "minting") -> pd.DataFrame:
    """Each member's time-credit account: what it earned, paid and redeemed, and its balance.

    Credits are hours of confirmed help. ``credits_earned`` is the hours the member gave;
    ``credits_paid`` the hours it received under the ``"classic"`` ledger (0 under
    ``"minting"``, where help is paid in new credit); ``credits_redeemed`` the credits it
    spent with merchants; ``balance`` is earned − paid − redeemed (negative: an overdrawn
    account). One row per member, in ``member_id`` order; columns :data:`BALANCE_COLUMNS`.

    Examples
    --------
    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["ann", "bo"], "joined_at": "2025-01-01"})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2"], "helper_id": ["ann", "ann"],
    ...     "recipient_id": ["bo", "bo"], "started_at": "2025-02-01", "hours": [2.0, 1.5]})
    >>> redemptions = pd.DataFrame({"redemption_id": ["r1"], "member_id": ["ann"],
    ...     "merchant_id": ["tea"], "credits": [1.0], "redeemed_at": "2025-03-01"})
    >>> _ = ingest({"members": members, "sessions": sessions, "redemptions": redemptions}, store)
    >>> balances(store.snapshot(), ledger="classic")["balance"].tolist()
    [2.5, -3.5]
    """
    n = snapshot.n_members
    sessions = snapshot.sessions
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    hours = sessions["hours"].to_numpy(dtype=np.float64)[confirmed]
    earned = np.bincount(sessions["helper"].to_numpy()[confirmed], weights=hours, minlength=n)
    paid = (
        np.bincount(sessions["recipient"].to_numpy()[confirmed], weights=hours, minlength=n)
        if ledger == "classic"
        else np.zeros(n)
    )
    redemptions = snapshot.redemptions
    redeemed = np.bincount(
        redemptions["member"].to_numpy(),
        weights=redemptions["credits"].to_numpy(dtype=np.float64),
        minlength=n,
    )
    return pd.DataFrame(
        {
            "member_id": snapshot.members["member_id"].reset_index(drop=True),
            "credits_earned": earned,
            "credits_paid": paid,
            "credits_redeemed": redeemed,
            "balance": earned - paid - redeemed,
        }
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _previous(values: np.ndarray) -> np.ndarray:
    """Each (group, month) value of the month before; 0 before the first month."""
    shifted = np.zeros_like(values)
    shifted[:, 1:] = values[:, :-1]
    return shifted


def _trailing(values: np.ndarray, window: int) -> np.ndarray:
    """Sums over the trailing ``window`` months (fewer at the start), along the month axis."""
    running = np.cumsum(values, axis=1)
    running[:, window:] -= running[:, :-window].copy()
    return running


def _recruitment_driven(
    balance: np.ndarray,
    referred: np.ndarray,
    *,
    window: int,
    threshold: float,
    rise: float,
    min_referred: int,
) -> np.ndarray:
    """The warning: on when a balance ≥ ``threshold`` rose by ``rise`` over ``window`` months
    (or already stands at ``threshold + rise`` or more without falling), held while the balance
    stays ≥ ``threshold`` (see the module docstring)."""
    warning = np.zeros(balance.shape, dtype=bool)
    high = (balance >= threshold) & (referred >= min_referred)
    rising = np.zeros(balance.shape, dtype=bool)
    earlier, now = balance[:, :-window], balance[:, window:]
    # A balance already past threshold + rise that is not falling counts as rising too: a
    # network that recruits from its first month never "rises", yet is the clearest case.
    rising[:, window:] = (now >= earlier + rise) | ((now >= threshold + rise) & ~(now < earlier))
    for month in range(balance.shape[1]):
        held = warning[:, month - 1] if month else False
        warning[:, month] = high[:, month] & (rising[:, month] | held)
    return warning


def growth(
    snapshot: Snapshot,
    *,
    ledger: Ledger = "minting",
    hours_per_referral: float = 10.0,
    window: int = 3,
    threshold: float = 0.5,
    rise: float = 0.1,
    min_referred: int = 30,
) -> pd.DataFrame:
    """Monthly growth series, one row per (month, community) plus one per month overall.

    Parameters
    ----------
    snapshot
        The network.
    ledger
        ``"minting"`` (helpers' credits are new money; the default, the 同壹 model) or
        ``"classic"`` (recipients pay for the help they get). Changes ``credits_outstanding``,
        ``balance_gini`` and ``velocity`` only; see the module docstring.
    hours_per_referral
        Hours of help (> 0) weighed as much as one referred newcomer in
        ``recruitment_balance`` (default 10).
    window
        Months (≥ 1) ``recruitment_balance`` sums over, this one included (default 3).
    threshold
        ``recruitment_balance`` in (0, 1] from which a rising balance raises
        ``recruitment_driven`` (default 0.5).
    rise
        How much (≥ 0) ``recruitment_balance`` must have risen over ``window`` months to raise
        ``recruitment_driven`` (default 0.1).
    min_referred
        Referred newcomers the window must hold before the warning can be on (default 30).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`GROWTH_COLUMNS`. ``month`` is the first day of the month (UTC);
        ``scope`` is ``"all"`` (``community_id`` empty) or ``"community"``. Every month from the
        first event to the last (or to ``snapshot.as_of``) appears, with zeros where nothing
        happened. Ratios are NaN where their denominator is zero. Counts are members or
        sessions; ``hours`` and the credit columns are hours (one credit per hour).

        - ``new_members``, ``members_total`` (joined by the month's end), ``activated``;
        - ``active_members``: members who gave or received a confirmed session that month;
        - ``sessions``, ``hours``, ``credits_minted`` (= ``hours``), ``credits_redeemed``;
        - ``credits_outstanding``: credits members hold at the month's end (per ``ledger``);
        - ``balance_gini`` in [0, 1]: Gini coefficient of credits held, ``max(balance, 0)``,
          over the members who joined by the month's end (and any member already holding
          credit before the joining date the data gives), ``Σ_i Σ_j |x_i − x_j| / (2 n² mean)``:
          0 when all hold the same, ``(n − 1) / n`` when one member holds everything; NaN when
          nobody holds anything;
        - ``velocity``: credits spent in the month over ``credits_outstanding`` at its start
          (the previous month's end). Spent is redeemed, plus, under ``"classic"``, the hours
          the community's members received;
        - ``referred_members``: new members who joined through a referral; ``referral_share`` =
          ``referred_members / new_members`` in [0, 1];
        - ``referrers``: distinct members whose referees joined that month;
          ``referrals_per_referrer``: those referees per referrer (≥ 1);
        - ``k_factor``: the viral coefficient, ``referred_members`` over the previous month's
          ``active_members`` — newcomers each active member brought in within a month; the
          network reproduces itself by referral alone above 1. (Dividing by ``referrers``
          instead, as ``referrals_per_referrer`` does, counts only those who did recruit and
          cannot fall below 1, so it cannot tell a network that reproduces from one that
          does not.) NaN in the first month;
        - ``service_hours_per_new_member``: ``hours / new_members``;
        - ``recruitment_balance`` in [0, 1] and ``recruitment_driven`` (bool): referred
          newcomers against hours of help over the trailing ``window`` months, and the
          pyramid warning; see the module docstring.

    Examples
    --------
    >>> from graph.store import SqliteStore
    >>> from graph.ingest import ingest
    >>> import pandas as pd
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["a", "b"], "joined_at": ["2025-01-05", "2025-02-01"],
    ...                         "community_id": ["c1", "c1"]})
    >>> sessions = pd.DataFrame({"session_id": ["s1"], "helper_id": ["a"], "recipient_id": ["b"],
    ...                          "started_at": ["2025-02-03"], "hours": [2.0]})
    >>> referrals = pd.DataFrame({"referrer_id": ["a"], "referee_id": ["b"],
    ...                           "referred_at": ["2025-02-01"]})
    >>> report = ingest({"members": members, "sessions": sessions, "referrals": referrals}, store)
    >>> table = growth(store.snapshot())
    >>> overall = table[table.scope == "all"]
    >>> overall[["new_members", "active_members", "sessions", "referred_members"]].to_numpy().tolist()
    [[1, 0, 0, 0], [1, 2, 1, 1]]
    >>> overall["credits_outstanding"].tolist(), overall["balance_gini"].tolist()
    ([0.0, 2.0], [nan, 0.5])
    >>> classic = growth(store.snapshot(), ledger="classic")
    >>> classic.loc[classic.scope == "all", "credits_outstanding"].tolist()
    [0.0, 2.0]
    """
    if ledger not in ("minting", "classic"):
        raise ValueError(f"ledger must be 'minting' or 'classic', not {ledger!r}")
    if hours_per_referral <= 0 or window < 1:
        raise ValueError("hours_per_referral must be > 0 and window ≥ 1")
    events = _events(snapshot)
    if events is None:
        return pd.DataFrame(columns=GROWTH_COLUMNS)
    n_months, n_groups, group = events.n_months, events.n_groups, events.group
    session_month = np.repeat(np.arange(n_months), np.diff(events.session_bounds))
    redemption_month = np.repeat(np.arange(n_months), np.diff(events.redemption_bounds))

    table = {
        "new_members": events.tally(events.joined, group),
        "activated": events.tally(events.activated, events.activated_group),
        "sessions": events.tally(session_month, group[events.helper]),
        "hours": events.tally(session_month, group[events.helper], events.hours),
        "credits_redeemed": events.tally(redemption_month, group[events.redeemer], events.credits),
    }
    received = events.tally(session_month, group[events.recipient], events.hours)
    referral_month = events.joined[events.referee]
    table["referred_members"] = events.tally(referral_month, group[events.referee])
    # Distinct (referrer, month) pairs, each counted in the referrer's community.
    pairs = np.sort(events.referrer * n_months + referral_month)
    pairs = pairs[np.flatnonzero(np.diff(pairs, prepend=-1))]
    table["referrers"] = events.tally(pairs % n_months, group[pairs // n_months])
    referrals_made = events.tally(referral_month, group[events.referrer])
    table["members_total"] = np.cumsum(table["new_members"], axis=1)

    active = np.zeros((n_groups, n_months))
    outstanding = np.zeros((n_groups + 1, n_months))
    gini = np.zeros((n_groups + 1, n_months))
    balance = np.zeros(snapshot.n_members)
    session_bounds, redemption_bounds = events.session_bounds, events.redemption_bounds
    for month, active_members in enumerate(_active_by_month(events, snapshot.n_members)):
        active[:, month] = np.bincount(group[active_members], minlength=n_groups)
        in_month = slice(session_bounds[month], session_bounds[month + 1])
        np.add.at(balance, events.helper[in_month], events.hours[in_month])
        if ledger == "classic":
            np.subtract.at(balance, events.recipient[in_month], events.hours[in_month])
        in_month = slice(redemption_bounds[month], redemption_bounds[month + 1])
        np.subtract.at(balance, events.redeemer[in_month], events.credits[in_month])

        held = np.maximum(balance, 0.0)
        early = np.flatnonzero((held > 0) & (events.joined > month))
        population = table["members_total"][:, month] + np.bincount(
            group[early], minlength=n_groups
        )
        gini[:n_groups, month], gini[n_groups, month] = _held_gini(
            held, group, population, n_groups
        )
        if ledger == "classic":
            outstanding[:n_groups, month] = np.bincount(group, weights=held, minlength=n_groups)
    table["active_members"] = active
    for name in ("new_members", "activated", "active_members", "sessions", "members_total"):
        table[name] = table[name].astype(np.int64)
    for name in ("referred_members", "referrers"):
        table[name] = table[name].astype(np.int64)

    # Row n_groups of every table from here on is the whole network.
    total = {name: np.vstack([values, values.sum(axis=0)]) for name, values in table.items()}
    received, referrals_made = (
        np.vstack([values, values.sum(axis=0)]) for values in (received, referrals_made)
    )
    total["credits_minted"] = total["hours"]
    spent = total["credits_redeemed"] + (received if ledger == "classic" else 0.0)
    if ledger == "minting":
        outstanding = np.cumsum(total["hours"] - total["credits_redeemed"], axis=1)
    else:
        outstanding[n_groups] = outstanding[:n_groups].sum(axis=0)
    total["credits_outstanding"] = outstanding
    total["balance_gini"] = gini
    total["velocity"] = _ratio(spent, _previous(outstanding))
    referred = total["referred_members"]
    total["referral_share"] = _ratio(referred, total["new_members"])
    total["referrals_per_referrer"] = _ratio(referrals_made, total["referrers"])
    total["k_factor"] = _ratio(referred, _previous(total["active_members"]))
    total["service_hours_per_new_member"] = _ratio(total["hours"], total["new_members"])
    recruited = _trailing(referred.astype(np.float64), window)
    service = _trailing(total["hours"], window) / hours_per_referral
    total["recruitment_balance"] = _ratio(recruited, recruited + service)
    total["recruitment_driven"] = _recruitment_driven(
        total["recruitment_balance"],
        recruited,
        window=window,
        threshold=threshold,
        rise=rise,
        min_referred=min_referred,
    )
    return _monthly_frame(events, total, GROWTH_COLUMNS)


def _monthly_frame(
    events: _Events, total: dict[str, np.ndarray], columns: list[str]
) -> pd.DataFrame:
    """Rows (month, all) and (month, community) from (group + whole network, month) tables."""
    n_months, n_groups = events.n_months, events.n_groups
    used = np.flatnonzero(total["members_total"][:n_groups, -1] > 0)
    months = events.months.astype("datetime64[s]")
    per_community = pd.DataFrame(
        {
            "month": np.tile(months, len(used)),
            "scope": "community",
            "community_id": np.repeat(np.array(events.labels, dtype=object)[used], n_months),
            **{name: values[used].ravel() for name, values in total.items()},
        }
    )
    overall = pd.DataFrame(
        {
            "month": months,
            "scope": "all",
            "community_id": None,
            **{name: values[n_groups] for name, values in total.items()},
        }
    )
    result = pd.concat([overall, per_community], ignore_index=True)[columns]
    return result.sort_values(
        ["month", "scope", "community_id"], ignore_index=True, na_position="first"
    )


def cohorts(snapshot: Snapshot, *, per_community: bool = False) -> pd.DataFrame:
    """Retention of each joining-month cohort, month by month since joining.

    Parameters
    ----------
    snapshot
        The network.
    per_community
        Also give each community's cohorts (``scope = "community"``), members in their own
        community. Off by default: a thousand communities make a million rows.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COHORT_COLUMNS`, long format: one row per cohort and month since
        joining, from 0 (the joining month) to the last month of :func:`growth`'s series.
        ``cohort`` is the first day of the month the cohort's members joined (UTC); ``scope``
        and ``community_id`` as in :func:`growth`; ``cohort_size`` the members who joined that
        month (cohorts nobody joined are left out); ``active`` how many of them gave or
        received a confirmed session in month ``cohort + months_since_joining``;
        ``retention = active / cohort_size`` in [0, 1]. Sessions dated before a member's
        joining month count for no cohort month.

    Examples
    --------
    >>> from graph.store import SqliteStore
    >>> from graph.ingest import ingest
    >>> import pandas as pd
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["a", "b", "c"],
    ...                         "joined_at": ["2025-01-05", "2025-01-09", "2025-02-01"]})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2"], "helper_id": ["a", "a"],
    ...                          "recipient_id": ["b", "c"],
    ...                          "started_at": ["2025-01-10", "2025-02-03"], "hours": [1.0, 2.0]})
    >>> report = ingest({"members": members, "sessions": sessions}, store)
    >>> table = cohorts(store.snapshot())
    >>> table[["months_since_joining", "cohort_size", "active"]].to_numpy().tolist()
    [[0, 2, 2], [1, 2, 1], [0, 1, 1]]
    >>> table["retention"].tolist()
    [1.0, 0.5, 1.0]
    """
    events = _events(snapshot)
    if events is None:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    n_months = events.n_months
    n_scopes = events.n_groups + 1 if per_community else 1
    scope_of = events.group.astype(np.int64) if per_community else None
    cells = []
    for month, active in enumerate(_active_by_month(events, snapshot.n_members)):
        cohort = events.joined[active]
        joined = cohort <= month
        cell = cohort[joined] * n_months + (month - cohort[joined])
        if scope_of is not None:
            cell += scope_of[active[joined]] * n_months * n_months
        cells.append(cell)
    active_counts = np.bincount(
        np.concatenate(cells), minlength=n_scopes * n_months * n_months
    ).reshape(n_scopes, n_months, n_months)
    sizes = np.bincount(events.joined, minlength=n_months)[np.newaxis]
    if per_community:
        sizes = events.tally(events.joined, events.group)
        # The whole network as one more scope, last.
        sizes = np.vstack([sizes, sizes.sum(axis=0)])
        active_counts[-1] = active_counts[:-1].sum(axis=0)

    scope, cohort, since = np.nonzero(
        (sizes[:, :, np.newaxis] > 0)
        & (np.arange(n_months)[:, np.newaxis] + np.arange(n_months) < n_months)
    )
    size = sizes[scope, cohort]
    active = active_counts[scope, cohort, since]
    is_all = scope == n_scopes - 1
    # The whole network is the scope after the groups (or the only one): no community.
    labels = np.array([*events.labels, None] if per_community else [None], dtype=object)
    result = pd.DataFrame(
        {
            "cohort": events.months[cohort].astype("datetime64[s]"),
            "scope": np.where(is_all, "all", "community"),
            # Object, as in growth(): None for the whole network and communityless members.
            "community_id": pd.Series(labels[scope], dtype=object),
            "months_since_joining": since,
            "cohort_size": size.astype(np.int64),
            "active": active.astype(np.int64),
            "retention": active / size,
        }
    )
    return result.sort_values(
        ["cohort", "scope", "community_id", "months_since_joining"],
        ignore_index=True,
        na_position="first",
    )
