"""timebank-graph: graph analytics for time-bank trust networks."""

__version__ = "0.1.0"
