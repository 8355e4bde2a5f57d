"""Validated ingest: CSV / JSON Lines folders and DataFrames into a store.

>>> from graph.ingest import ingest          # doctest: +SKIP
>>> report = ingest("data/", store)          # doctest: +SKIP
>>> report.rejects                           # doctest: +SKIP
"""

from graph.ingest.load import IngestReport, TableReport, ingest
from graph.ingest.readers import RawDataset, read_dataset, read_frames
from graph.ingest.validate import Validation, validate

__all__ = [
    "IngestReport",
    "RawDataset",
    "TableReport",
    "Validation",
    "ingest",
    "read_dataset",
    "read_frames",
    "validate",
]
