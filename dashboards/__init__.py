"""Dashboards and static reports over timebank-graph analytics."""
