"""Insular exchange: help between accounts that may be one person or one coordinated group.

Two members are **linked** when they joined within ``cohort_days`` (default 30) of each other,
when one referred the other, or when the same member referred both. A member is **known** from
the moment ``witnesses`` (default 2) distinct established members outside its links had met it:
an **established** member joined at least ``window_days`` (default 90) earlier; it **met** the
member in a confirmed session that is not a complaint, whichever of the two helped, or by
referring it. A session is **insular** when its two members are linked, it started within
``window_days`` of the later one joining, and by then (at or before it started) they were not
both known: the first months of a relationship between accounts that arrived together or
through one recruiter, before the community outside could vouch for both.

Why each setting is what it is — reasons that hold in any time bank, not fits to one data set:

- ``cohort_days``: a month. Sock puppets are registered within days of each other, friends
  who sign up together within weeks; beyond a month, joining dates carry no signal.
- ``window_days``: a season. Collusion that mints credits happens early, before anyone has a
  reason to look; a relationship still going after three months is a relationship. The same
  span makes a member established: until its own first months are over, its own help may be
  insular, so its word for others is not yet independent.
- ``witnesses``: two. One established member's word is not corroboration: it may be a single
  camouflage session, or the recruiter of a sybil farm vouching for the fakes he referred (a
  referral is its referrer's word). Two distinct established members who each met the account
  are two independent words: the least that corroborates.
- Both members must be known: if only one side is, the exchange may be that account trading
  with its own sock puppet (a farm's recruiter and his fakes).

Insular help is not fraud in itself — friends join together and help each other — but it is
not independent evidence either. A sock-puppet pair, a loop of fresh accounts or a recruiter
trading with his own fake referees consists of little else; an established member's help, an
old friendship long after both joined, and friends whom established members outside their
group had come to know are never insular. Join dates only decide who is linked; whether linked
help counts as insular is decided by who outside the group knew the members by then. Trust
(:mod:`graph.metrics.trust`) uses insular help twice: vouches given in insular sessions confer
no trust, and insular hours count as evidence against the member.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from graph.model import Snapshot

__all__ = ["confirmed_hours", "insular_sessions", "known_since"]

_DAY = 86_400
#: Seconds since the epoch standing for "not (yet) known".
_NEVER = np.iinfo(np.int64).max


def insular_sessions(
    snapshot: Snapshot,
    *,
    cohort_days: float = 30,
    window_days: float = 90,
    witnesses: int = 2,
    discredited: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per row of ``snapshot.sessions``: whether the session is insular (see the module).

    Parameters
    ----------
    snapshot
        The network.
    cohort_days, window_days, witnesses
        See the module: days, days and a count of distinct members (≥ 1).
    discredited
        Per member (snapshot order): members whose word no longer counts — members of
        confirmed fraud rings — witness nobody. Default: none.

    Examples
    --------
    >>> import pandas as pd
    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["old", "elder", "new1", "new2"],
    ...     "joined_at": ["2020-01-01", "2021-01-01", "2025-03-01", "2025-03-10"]})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2", "s3", "s4", "s5", "s6", "s7"],
    ...     "helper_id": ["new1", "old", "new2", "elder", "old", "elder", "new1"],
    ...     "recipient_id": ["new2", "new1", "new1", "new1", "new2", "new2", "new2"],
    ...     "started_at": ["2025-03-12", "2025-03-12", "2025-03-20", "2025-03-25",
    ...                    "2025-04-01", "2025-04-02", "2025-04-05"], "hours": 2})
    >>> _ = ingest({"members": members, "sessions": sessions}, store)
    >>> insular_sessions(store.snapshot()).tolist()
    [True, False, True, False, False, False, False]

    ``new1`` and ``new2`` joined nine days apart: their help to each other in their first
    weeks is insular (``s1``, ``s3``). By ``s7`` two established members outside the pair had
    met each of them (``old`` and ``elder``), so their help to each other is no longer insular;
    the established members' own help never is.
    """
    links = _Links(snapshot, cohort_days=cohort_days, window_days=window_days, witnesses=witnesses)
    linked_early: npt.NDArray[np.bool_] = np.asarray(links.linked & links.early, dtype=np.bool_)
    if not linked_early.any():
        return linked_early
    # Only members with linked help in their first months can have insular sessions: the
    # witnesses of everyone else need not be counted.
    n = snapshot.n_members
    concerned = np.zeros(n, dtype=bool)
    concerned[links.helper[linked_early]] = True
    concerned[links.recipient[linked_early]] = True
    known = _known_since(snapshot, links, discredited, concerned)
    started = links.started
    known_both = (known[links.helper] <= started) & (known[links.recipient] <= started)
    return np.asarray(linked_early & ~known_both, dtype=np.bool_)


def known_since(
    snapshot: Snapshot,
    *,
    cohort_days: float = 30,
    window_days: float = 90,
    witnesses: int = 2,
    discredited: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.datetime64]:
    """Per member: when ``witnesses`` distinct established members outside its links had met
    it (see the module), as datetime64[s]; ``NaT`` for members not known (yet).

    Settings as in :func:`insular_sessions`.
    """
    links = _Links(snapshot, cohort_days=cohort_days, window_days=window_days, witnesses=witnesses)
    everyone = np.ones(snapshot.n_members, dtype=bool)
    known = _known_since(snapshot, links, discredited, everyone)
    result = known.astype("datetime64[s]")
    result[known == _NEVER] = np.datetime64("NaT")
    return result


class _Links:
    """Per session: its members, start, and whether they are linked and it is early; the
    settings, checked."""

    def __init__(
        self, snapshot: Snapshot, *, cohort_days: float, window_days: float, witnesses: int
    ) -> None:
        if not (np.isfinite(cohort_days) and cohort_days >= 0):
            raise ValueError(f"cohort_days must be a finite number ≥ 0, not {cohort_days}")
        if not (np.isfinite(window_days) and window_days >= 0):
            raise ValueError(f"window_days must be a finite number ≥ 0, not {window_days}")
        if isinstance(witnesses, bool) or witnesses < 1:
            raise ValueError(f"witnesses must be a whole number ≥ 1, not {witnesses}")
        self.witnesses = witnesses
        sessions = snapshot.sessions
        self.helper = sessions["helper"].to_numpy()
        self.recipient = sessions["recipient"].to_numpy()
        self.joined = _seconds(snapshot.members["joined_at"].to_numpy())
        self.joined_helper = joined_helper = self.joined[self.helper]
        self.joined_recipient = joined_recipient = self.joined[self.recipient]
        self.started = _seconds(sessions["started_at"].to_numpy())
        self.window = window_days * _DAY
        self.early = self.started - np.maximum(joined_helper, joined_recipient) <= self.window
        cohort = np.abs(joined_helper - joined_recipient) <= cohort_days * _DAY
        referrer = snapshot.referrer
        referrer_helper, referrer_recipient = referrer[self.helper], referrer[self.recipient]
        referral = (
            (referrer_helper == self.recipient)
            | (referrer_recipient == self.helper)
            | ((referrer_helper == referrer_recipient) & (referrer_helper >= 0))
        )
        self.linked = cohort | referral


def _known_since(
    snapshot: Snapshot,
    links: _Links,
    discredited: npt.NDArray[np.bool_] | None,
    concerned: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """Per member (seconds since the epoch): when its ``links.witnesses``-th distinct witness
    met it; :data:`_NEVER` when that has not happened, or the member is not ``concerned``."""
    sessions = snapshot.sessions
    n = snapshot.n_members
    rating = sessions["rating"].to_numpy(dtype=np.float64)
    # A confirmed session that is not a complaint, with a partner outside the member's links.
    friendly = (sessions["status"] == "confirmed").to_numpy() & ~(rating < 0) & ~links.linked
    started, joined = links.started, links.joined
    members, partners, times = [], [], []
    for member, partner, partner_joined in (
        (links.helper, links.recipient, links.joined_recipient),
        (links.recipient, links.helper, links.joined_helper),
    ):
        # Whole-column comparisons first; each gather by member number costs a random read
        # per session.
        meets = friendly & (started - partner_joined >= links.window)
        meets &= concerned[member]
        if discredited is not None:
            meets &= ~discredited[partner]
        members.append(member[meets])
        partners.append(partner[meets])
        times.append(started[meets])
    # A referral is the referrer's word for its referee, when the referrer was established.
    referrals = snapshot.referrals
    referee = referrals["referee"].to_numpy()
    referrer = referrals["referrer"].to_numpy()
    referred = _seconds(referrals["referred_at"].to_numpy())
    vouched = concerned[referee] & (referred - joined[referrer] >= links.window)
    if discredited is not None:
        vouched &= ~discredited[referrer]
    members.append(referee[vouched])
    partners.append(referrer[vouched])
    times.append(referred[vouched])
    member = np.concatenate(members).astype(np.int64)
    partner = np.concatenate(partners).astype(np.int64)
    at = np.concatenate(times)
    # The k-th distinct witness, one pass per witness: each pass takes every member's earliest
    # meeting, then drops all of its meetings with that partner. A member met by several
    # partners at the same moment gets them in consecutive passes, at that same moment.
    for _ in range(links.witnesses - 1):
        earliest = np.full(n, _NEVER, dtype=np.int64)
        np.minimum.at(earliest, member, at)
        first = at == earliest[member]
        seen = np.full(n, -1, dtype=np.int64)
        np.maximum.at(seen, member[first], partner[first])
        rest = partner != seen[member]
        member, partner, at = member[rest], partner[rest], at[rest]
    known = np.full(n, _NEVER, dtype=np.int64)
    np.minimum.at(known, member, at)
    return known


def _seconds(times: np.ndarray) -> npt.NDArray[np.int64]:
    """Seconds since the epoch, without a copy when ``times`` are datetime64[s] already."""
    return np.asarray(times.astype("datetime64[s]", copy=False).view(np.int64))


def confirmed_hours(
    snapshot: Snapshot, insular: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per member: its confirmed hours, given and received, that are insular, and all of them."""
    sessions = snapshot.sessions
    confirmed = (sessions["status"] == "confirmed").to_numpy()
    helper = sessions["helper"].to_numpy()[confirmed]
    recipient = sessions["recipient"].to_numpy()[confirmed]
    hours = sessions["hours"].to_numpy()[confirmed]
    inside = np.where(insular[confirmed], hours, 0.0)
    n = snapshot.n_members

    def per_member(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        given = np.bincount(helper, weights=values, minlength=n)
        received = np.bincount(recipient, weights=values, minlength=n)
        return np.asarray(given + received, dtype=np.float64)

    insular_total, total = per_member(inside), per_member(hours)
    return insular_total, total
