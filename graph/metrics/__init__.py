"""Analytics: pure functions from a :class:`~graph.model.Snapshot` to a pandas DataFrame.

One module per analytic, each importable on its own (``from graph.metrics import growth``).
Nothing here reads files, stores or settings: parameters arrive as keyword arguments.
"""

from graph.metrics import (
    centrality,
    claims,
    dense,
    evaluation,
    fanout,
    growth,
    insular,
    rings,
    tiers,
    trust,
)

__all__ = [
    "centrality",
    "claims",
    "dense",
    "evaluation",
    "fanout",
    "growth",
    "insular",
    "rings",
    "tiers",
    "trust",
]
