"""Validated ingest: CSV / JSON Lines folders and DataFrames into a store.

``ingest("data/", store)`` validates every row, writes the good ones and returns an
:class:`IngestReport` whose ``rejects`` table names the file, line, column, value and reason of
every rejected row.
"""

from graph.ingest.load import IngestReport, TableReport, ingest
from graph.ingest.readers import DATASET_FILES, RawDataset, read_dataset, read_frames
from graph.ingest.snap import read_snap
from graph.ingest.validate import Validation, validate

__all__ = [
    "DATASET_FILES",
    "IngestReport",
    "RawDataset",
    "TableReport",
    "Validation",
    "ingest",
    "read_dataset",
    "read_frames",
    "read_snap",
    "validate",
]
