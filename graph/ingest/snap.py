"""Reader for SNAP signed edge lists (``source,target,rating,time``, no header) as a dataset.

SNAP publishes trust networks such as Bitcoin OTC and Bitcoin Alpha in this form. Each line is a
rating: ``source`` rated ``target`` with an integer in [−10, 10] at ``time`` (Unix seconds,
possibly fractional). We read it as the help network it describes: the rated member (``target``)
gave the rater (``source``) one confirmed hour of help, and the rater rated it — so a negative
rating is a complaint. Members join at their first appearance in the file.

The result is a :class:`~graph.ingest.readers.RawDataset`, so the same validation as for any
dataset runs on it: ``ingest(read_snap(path), store)``. Lines that do not have four fields of the
right kind are rejected here, naming the line and the SNAP field; a rating outside [−10, 10] is
rejected by the validation like any other.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from graph.errors import DatasetError
from graph.ingest.readers import RawDataset, RawTable, rejects_frame
from graph.schema import TABLES

__all__ = ["SNAP_FIELDS", "read_snap"]

#: The fields of a SNAP signed edge list, in order.
SNAP_FIELDS = ("source", "target", "rating", "time")


def read_snap(path: Path | str, *, encoding: str = "utf-8") -> RawDataset:
    """Read a SNAP signed edge list as members and one-hour confirmed sessions.

    Parameters
    ----------
    path
        The edge list (CSV, no header). Session ids are ``<file stem>-<line>``: SNAP files are
        append-only and sorted by time, so re-reading a grown file keeps every id.
    encoding
        The file's text encoding.

    Returns
    -------
    RawDataset
        ``members`` (``member_id`` = the SNAP node id, ``joined_at`` = its first appearance) and
        ``sessions`` (helper = ``target``, recipient = ``source``, 1 hour, the rating).

    Raises
    ------
    DatasetError
        When the file is missing or empty.

    Examples
    --------
    >>> import tempfile
    >>> from graph.store import SqliteStore
    >>> from graph.ingest import ingest
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "otc.csv").write_text("6,2,4,1289241911.7\\n2,6,-2,1289241941.5\\n1,2,x,9\\n")
    >>> report = ingest(read_snap(folder / "otc.csv"), SqliteStore(":memory:"))
    >>> report.tables["sessions"].inserted, report.tables["members"].inserted
    (2, 2)
    >>> report.rejects[["line", "column", "reason"]].to_numpy().tolist()
    [[3, 'rating', 'not an integer']]
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError("no such file", path=path)
    source = str(path)
    data = path.read_bytes()
    if not data.strip():
        raise DatasetError("empty file", path=path)
    bad_rows: list[tuple[int, str, int]] = []

    def keep_bad(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.text or "", row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(
            column_names=list(SNAP_FIELDS), use_threads=False, encoding=encoding
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep_bad),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in SNAP_FIELDS}, strings_can_be_null=False
        ),
    ).to_pandas()
    table = table.apply(lambda column: column.str.strip())
    # Line numbers: SNAP files have no blank lines or quoting, so row k (1-based, counting the
    # skipped ones) is line k.
    skipped = np.array([number for number, _, _ in bad_rows], dtype=np.int64)
    lines = np.delete(np.arange(1, len(table) + len(skipped) + 1), skipped - 1)
    rejects = [
        rejects_frame(
            source,
            skipped,
            "(row)",
            [text for _, text, _ in bad_rows],
            [f"row has {count} fields, a SNAP edge list has 4" for _, _, count in bad_rows],
        )
    ]
    ok = np.ones(len(table), dtype=bool)
    for field, parse, reason in (
        ("source", _integers, "not an integer node id"),
        ("target", _integers, "not an integer node id"),
        ("rating", _integers, "not an integer"),
        ("time", _numbers, "not a Unix time in seconds"),
    ):
        bad = ok & parse(table[field]).isna().to_numpy()
        rejects.append(rejects_frame(source, lines[bad], field, table[field][bad], reason))
        ok &= ~bad
    table, lines = table[ok].reset_index(drop=True), lines[ok]
    seconds = _numbers(table["time"]).to_numpy().astype(np.int64)
    started_at = pd.Series(pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%S"))
    sessions = pd.DataFrame(
        {
            "session_id": path.stem + "-" + pd.Series(lines).astype(str),
            "helper_id": table["target"],
            "recipient_id": table["source"],
            "started_at": started_at,
            "hours": "1",
            "rating": table["rating"],
            "status": "confirmed",
        },
        dtype="str",
    )
    # Each node's first appearance (as rater or rated) is when it joined.
    appearances = pd.DataFrame(
        {
            "member_id": pd.concat([table["source"], table["target"]], ignore_index=True),
            "seconds": np.concatenate([seconds, seconds]),
            "line": np.concatenate([lines, lines]),
        }
    )
    first = appearances.sort_values(["seconds", "line"], kind="stable").drop_duplicates("member_id")
    members = pd.DataFrame(
        {
            "member_id": first["member_id"].to_numpy(),
            "joined_at": pd.to_datetime(first["seconds"].to_numpy(), unit="s").strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
        },
        dtype="str",
    )
    return RawDataset(
        {
            # A source of its own, so a bad line is counted once, against the sessions it held.
            "members": RawTable(
                TABLES["members"],
                f"{source} (first appearances)",
                members,
                first["line"].to_numpy(),
            ),
            "sessions": RawTable(TABLES["sessions"], source, sessions, lines),
        },
        pd.concat(rejects, ignore_index=True),
    )


def _integers(text: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(text.where(text.str.fullmatch(r"[+-]?\d+"), None), errors="coerce")
    return pd.Series(numbers, index=text.index)


#: Unix seconds a datetime64[s] column can hold comfortably (years 1677-2262, pandas' range).
_TIME_RANGE = (-9_200_000_000.0, 9_200_000_000.0)


def _numbers(text: pd.Series) -> pd.Series:
    """Unix times in seconds; NaN for text that is not a number or not a representable time."""
    numbers = pd.to_numeric(text, errors="coerce")
    low, high = _TIME_RANGE
    return pd.Series(numbers, index=text.index).where((numbers >= low) & (numbers <= high))
