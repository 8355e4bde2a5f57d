"""Insular exchange: help between accounts that may be one person or one coordinated group.

Two members are **linked** when they joined within ``cohort_days`` (default 30) of each other,
when one referred the other, or when the same member referred both. A session is **insular**
when its two members are linked and it started within ``window_days`` (default 90) of the
later one joining: the first months of a relationship between accounts that arrived together
or through one recruiter, before either could be vouched for by anyone else.

Insular help is not fraud in itself — friends join together and help each other — but it is
not independent evidence either. A sock-puppet pair, a loop of fresh accounts or a recruiter
trading with his own fake referees consists of little else; an established member's help, and
an old friendship long after both joined, is never insular. Trust (:mod:`graph.metrics.trust`)
uses it twice: vouches given in insular sessions confer no trust, and a member whose hours are
mostly insular starts from a lower prior.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from graph.model import Snapshot

__all__ = ["confirmed_hours", "insular_sessions"]

_DAY = 86_400


def insular_sessions(
    snapshot: Snapshot, *, cohort_days: float = 30, window_days: float = 90
) -> npt.NDArray[np.bool_]:
    """Per row of ``snapshot.sessions``: whether the session is insular (see the module).

    Examples
    --------
    >>> import pandas as pd
    >>> from graph.ingest import ingest
    >>> from graph.store import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> members = pd.DataFrame({"member_id": ["old", "new1", "new2"],
    ...     "joined_at": ["2020-01-01", "2025-03-01", "2025-03-10"]})
    >>> sessions = pd.DataFrame({"session_id": ["s1", "s2", "s3"],
    ...     "helper_id": ["new1", "old", "new2"], "recipient_id": ["new2", "new1", "new1"],
    ...     "started_at": ["2025-03-12", "2025-03-12", "2025-09-01"], "hours": 2})
    >>> _ = ingest({"members": members, "sessions": sessions}, store)
    >>> insular_sessions(store.snapshot()).tolist()
    [True, False, False]

    ``new1`` and ``new2`` joined nine days apart: their first months together are insular, the
    help ``new2`` gives half a year later is not; the long-standing member's help never is.
    """
    if not (np.isfinite(cohort_days) and cohort_days >= 0):
        raise ValueError(f"cohort_days must be a finite number ≥ 0, not {cohort_days}")
    if not (np.isfinite(window_days) and window_days >= 0):
        raise ValueError(f"window_days must be a finite number ≥ 0, not {window_days}")
    sessions = snapshot.sessions
    helper = sessions["helper"].to_numpy()
    recipient = sessions["recipient"].to_numpy()
    joined = _seconds(snapshot.members["joined_at"].to_numpy())
    joined_helper, joined_recipient = joined[helper], joined[recipient]
    started = _seconds(sessions["started_at"].to_numpy())
    early = started - np.maximum(joined_helper, joined_recipient) <= window_days * _DAY
    cohort = np.abs(joined_helper - joined_recipient) <= cohort_days * _DAY
    referrer = snapshot.referrer
    referrer_helper, referrer_recipient = referrer[helper], referrer[recipient]
    referral = (
        (referrer_helper == recipient)
        | (referrer_recipient == helper)
        | ((referrer_helper == referrer_recipient) & (referrer_helper >= 0))
    )
    return np.asarray(early & (cohort | referral), dtype=np.bool_)


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
