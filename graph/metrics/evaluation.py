"""Scoring a score against labels: what the trust and fraud-ring benchmarks and tests report."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

__all__ = ["auc"]


def auc(score: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a positive scores higher than a negative,
    ties counting half (the Mann–Whitney U statistic over both class sizes).

    Pass ``-trust`` to score "low trust means fraud".

    >>> auc([0.9, 0.8, 0.1, 0.8], [True, False, False, True])
    0.875

    Raises
    ------
    ValueError
        When the lengths differ or a class is empty.
    """
    values = np.asarray(score, dtype=np.float64)
    labels = np.asarray(positive, dtype=bool)
    if values.shape != labels.shape:
        raise ValueError(f"{values.shape[0]} scores for {labels.shape[0]} labels")
    p, q = int(labels.sum()), int((~labels).sum())
    if not p or not q:
        raise ValueError("auc needs both positives and negatives")
    ranks = rankdata(values)
    return float((ranks[labels].sum() - p * (p + 1) / 2) / (p * q))
