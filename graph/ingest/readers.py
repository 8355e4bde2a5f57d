"""Readers: CSV folders, JSON Lines folders and pandas DataFrames → :class:`RawDataset`.

Every reader yields the same thing — each table's cells as text plus the physical line each row
starts on — so one validation serves them all. Rows a reader cannot even split into cells (ragged
CSV rows, broken JSON) are rejected here with their line; nothing is dropped without a reject.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from graph.errors import DatasetError
from graph.schema import TABLES, TableName, TableSpec

__all__ = [
    "DATASET_FILES",
    "REJECT_COLUMNS",
    "RawDataset",
    "RawTable",
    "read_dataset",
    "read_frames",
    "rejects_frame",
]

#: Columns of every rejects report.
REJECT_COLUMNS = ["file", "line", "column", "value", "reason"]

_SUFFIXES = (".csv", ".jsonl")
#: The file names a dataset folder may hold: ``<table>.csv`` or ``<table>.jsonl``.
DATASET_FILES = frozenset(f"{name}{suffix}" for name in TABLES for suffix in _SUFFIXES)


@dataclass
class RawTable:
    """One table as read: every cell as text (``""`` = empty) and each row's first line."""

    spec: TableSpec
    source: str
    frame: pd.DataFrame
    lines: np.ndarray


@dataclass
class RawDataset:
    """The tables a source held, the rows no table could take, and files that were ignored."""

    tables: dict[TableName, RawTable]
    rejects: pd.DataFrame
    ignored_files: list[str] = field(default_factory=list)


def rejects_frame(
    source: str,
    lines: np.ndarray | list[int],
    column: str,
    values: pd.Series | list[str],
    reasons: pd.Series | list[str] | str,
) -> pd.DataFrame:
    """Rejects report rows: one per line, all in ``source`` and ``column``."""
    n = len(lines)
    return pd.DataFrame(
        {
            "file": [source] * n,
            "line": np.asarray(lines, dtype=np.int64),
            "column": [column] * n,
            "value": list(values),
            "reason": [reasons] * n if isinstance(reasons, str) else list(reasons),
        },
        columns=REJECT_COLUMNS,
    )


def _no_rejects() -> pd.DataFrame:
    return rejects_frame("", [], "", [], [])


def read_dataset(folder: Path, *, encoding: str = "utf-8") -> RawDataset:
    """Read every schema table found in ``folder`` as ``<table>.csv`` or ``<table>.jsonl``.

    Parameters
    ----------
    folder
        A dataset folder (see ``shared/SCHEMA.md``).
    encoding
        The files' encoding. Files are checked against it byte for byte: a GBK export read as
        UTF-8 raises :class:`DatasetError` naming the file and line instead of producing mojibake.

    Raises
    ------
    DatasetError
        When the folder holds no table, a file has two encodings' worth of problems, or a header
        lacks a required column.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError("no such folder", path=folder)
    if not folder.is_dir():
        raise DatasetError(_a_file_not_a_folder(folder), path=folder)
    tables: dict[TableName, RawTable] = {}
    rejects = [_no_rejects()]
    for name, spec in TABLES.items():
        found = [
            folder / f"{name}{suffix}"
            for suffix in _SUFFIXES
            if (folder / f"{name}{suffix}").exists()
        ]
        if len(found) > 1:
            raise DatasetError(
                f"both {found[0].name} and {found[1].name} present; keep one", path=folder
            )
        if not found:
            continue
        path = found[0]
        reader = _read_csv if path.suffix == ".csv" else _read_jsonl
        table, bad_rows = reader(path, _utf8_bytes(path, encoding), spec)
        tables[name] = table
        rejects.append(bad_rows)
    if not tables:
        expected = ", ".join(f"{name}.csv" for name in TABLES)
        raise DatasetError(f"no dataset files found (expected {expected})", path=folder)
    ignored = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.name not in DATASET_FILES
    )
    return RawDataset(tables, pd.concat(rejects, ignore_index=True), ignored)


def _a_file_not_a_folder(path: Path) -> str:
    if path.name in DATASET_FILES:
        return f"a file, not a folder: pass the folder that holds it ({path.parent})"
    return "a file, not a dataset folder (a SNAP edge list? it is read with --format snap)"


def read_frames(frames: Mapping[TableName, pd.DataFrame]) -> RawDataset:
    """Take tables already in pandas through the same validation as files.

    A row's ``line`` in reports is its 1-based position in its DataFrame.
    """
    tables: dict[TableName, RawTable] = {}
    for name, frame in frames.items():
        if name not in TABLES:
            raise DatasetError(f"unknown table {name!r} (expected one of {', '.join(TABLES)})")
        source = f"{name} (DataFrame)"
        text = pd.DataFrame(
            {str(c).strip(): _as_text(frame[c]) for c in frame.columns}, index=range(len(frame))
        )
        _check_header(source, list(text.columns), TABLES[name])
        tables[name] = RawTable(TABLES[name], source, text, np.arange(1, len(text) + 1))
    return RawDataset(tables, _no_rejects())


def _as_text(column: pd.Series) -> pd.Series:
    return pd.Series(
        ["" if pd.isna(value) else str(value).strip() for value in column], dtype="str"
    )


def _utf8_bytes(path: Path, encoding: str) -> bytes:
    """Return the file as UTF-8 bytes, or say clearly where it is not in ``encoding``."""
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        hint = ""
        if encoding.replace("-", "").lower() in {"utf8", "utf8sig"}:
            try:
                data.decode("gb18030")
                hint = (
                    "; it decodes as GBK/GB18030 (a Chinese spreadsheet export?): declare the "
                    "encoding gbk (--encoding gbk)"
                )
            except UnicodeDecodeError:
                hint = "; declare the file's encoding (--encoding)"
        raise DatasetError(
            f"not valid {encoding}: byte 0x{data[error.start]:02x} at offset {error.start}{hint}",
            path=path,
            line=line,
        ) from None
    text = text.removeprefix("\ufeff")
    if encoding.replace("-", "").lower() == "utf8" and not data.startswith(b"\xef\xbb\xbf"):
        return data
    return text.encode("utf-8")


def _check_header(source: str, header: list[str], spec: TableSpec) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DatasetError(f"header repeats column(s) {', '.join(duplicated)}", path=source, line=1)
    missing = [name for name in spec.required_names if name not in header]
    if not missing:
        return
    # Unknown columns are kept as properties, so a misspelt required one is only noticed here.
    unknown = [name for name in header if name not in spec.column_names]
    guesses = {name: difflib.get_close_matches(name, unknown, n=1) for name in missing}
    named = [
        f"{name} (found {guess[0]}: a misspelling?)" if guess else name
        for name, guess in guesses.items()
    ]
    required = f"required column{'s' if len(missing) > 1 else ''} {', '.join(named)}"
    if not any(guesses.values()):
        required += f" ({spec.name} needs {', '.join(spec.required_names)})"
    raise DatasetError(f"missing {required}", path=source, line=1)


def _record_lines(data: bytes) -> np.ndarray:
    """Physical line on which each non-blank CSV record starts (header included).

    A newline ends a record only outside quotes, i.e. after an even number of ``"``; RFC 4180's
    doubled quotes keep that parity, so a quote count is all it takes.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == ord("\n"))
    quotes = np.flatnonzero(buffer == ord('"'))
    ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0] if len(quotes) else newlines
    if not len(ends) or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    # A lone "\r" before "\n" is a blank line in a CRLF file.
    carriage = np.zeros(len(starts), dtype=bool)
    has_char = lengths == 1
    carriage[has_char] = buffer[starts[has_char]] == ord("\r")
    blank = (lengths == 0) | carriage
    lines: np.ndarray = np.searchsorted(newlines, starts[~blank]) + 1
    return lines


def _read_csv(path: Path, data: bytes, spec: TableSpec) -> tuple[RawTable, pd.DataFrame]:
    source = str(path)
    record_lines = _record_lines(data)
    if not len(record_lines):
        raise DatasetError("empty file: no header row", path=source)
    first_end = data.find(b"\n")
    header_bytes = data if first_end < 0 else data[:first_end]
    header = [
        name.strip() for name in next(csv.reader([header_bytes.decode("utf-8").rstrip("\r")]))
    ]
    _check_header(source, header, spec)
    ragged: list[tuple[int, int, str]] = []

    def keep_ragged(row: pacsv.InvalidRow) -> str:
        ragged.append((row.number, row.actual_columns, row.text or ""))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep_ragged),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False
        ),
    )
    # pyarrow numbers rows among non-blank records, counting the header we skipped as row 1.
    ragged_rows = np.array([number for number, _, _ in ragged], dtype=np.int64)
    data_lines = np.delete(record_lines, np.concatenate(([0], ragged_rows - 1)))
    frame = table.to_pandas()
    frame = frame.apply(lambda column: column.str.strip())
    rejects = rejects_frame(
        source,
        record_lines[ragged_rows - 1] if len(ragged_rows) else [],
        "(row)",
        [text for _, _, text in ragged],
        [f"row has {count} fields, header has {len(header)}" for _, count, _ in ragged],
    )
    return RawTable(spec, source, frame, data_lines), rejects


def _read_jsonl(path: Path, data: bytes, spec: TableSpec) -> tuple[RawTable, pd.DataFrame]:
    source = str(path)
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for number, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as error:
            bad.append((number, raw, f"not valid JSON: {error.msg}"))
            continue
        if not isinstance(row, dict):
            bad.append((number, raw, "a JSON Lines row must be an object"))
            continue
        rows.append({str(k).strip(): "" if v is None else str(v).strip() for k, v in row.items()})
        lines.append(number)
    frame = pd.DataFrame(rows, dtype="str").fillna("")
    rejects = rejects_frame(
        source, [n for n, _, _ in bad], "(row)", [r for _, r, _ in bad], [m for _, _, m in bad]
    )
    return RawTable(spec, source, frame, np.asarray(lines, dtype=np.int64)), rejects
