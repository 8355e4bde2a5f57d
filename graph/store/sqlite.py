"""The embedded store: one SQLite file (standard library), durable and transactional.

Why SQLite: it ships with Python, is ACID with one file per store, survives crashes (WAL), and
lets analysts open the store with any SQLite tool. Members get an integer surrogate key that
sessions, referrals and redemptions point to, so a snapshot streams integers, not id strings.
Each table has a ``<table>_v`` view showing it with member ids, the way it was ingested.

Fraud rings live in ``rings`` (one row per ring, ``reasons`` as a JSON array), their members and
evidence sessions in ``ring_members`` / ``ring_sessions`` (in order, by ``position``) and their
audit trail in ``ring_reviews`` (``seq`` numbers a ring's entries in the order written); the
``_v`` views show them with ring, member and session ids.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from graph.errors import RingNotFoundError, StoreError, StoreNotFoundError
from graph.model import (
    RING_KINDS,
    RING_STATUSES,
    SESSION_STATUSES,
    Member,
    Ring,
    RingReview,
    RingStatus,
    Snapshot,
)
from graph.rings import ring_review
from graph.schema import MEMBER_REFERENCES, TABLES, TableName, canonical_columns
from graph.snapshot import StoreColumns, build_snapshot
from graph.store.base import (
    COUNTED_TABLES,
    MEMBER_RESULTS,
    Progress,
    StoredState,
    WriteResult,
    checked_reviews,
    find_conflicts,
    result_columns,
    review_from_record,
    review_record,
    ring_from_record,
    ring_record,
    rings_in_order,
)

__all__ = ["SqliteStore"]

SCHEMA_VERSION = "1"
_BATCH = 50_000
_NAT = np.iinfo(np.int64).min
_CHUNK = 1_000_000


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


#: Columns of ``rings`` besides its key, as :func:`~graph.store.base.ring_record` names them.
_RING_COLUMNS = ("kind", "score", "reasons", "first_at", "last_at", "hours", "credits", "status")
#: What ``ring_<table>`` links a ring to: table, key column, the ring record's list of ids.
_RING_LINKS: tuple[tuple[TableName, str, str], ...] = (
    ("members", "member", "members"),
    ("sessions", "session", "session_ids"),
)
_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    idx INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL UNIQUE,
    joined_at INTEGER NOT NULL,
    community_id TEXT,
    activated_at INTEGER,
    display_name TEXT,
    phone_hash TEXT,
    device_id TEXT,
    properties TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    idx INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    helper INTEGER NOT NULL REFERENCES members (idx),
    recipient INTEGER NOT NULL REFERENCES members (idx),
    started_at INTEGER NOT NULL,
    hours REAL NOT NULL CHECK (hours > 0 AND hours <= 24),
    service TEXT,
    rating INTEGER CHECK (rating BETWEEN -10 AND 10),
    status TEXT NOT NULL CHECK (status IN ({_one_of(SESSION_STATUSES)})),
    properties TEXT,
    CHECK (helper <> recipient)
);
CREATE TABLE IF NOT EXISTS referrals (
    referee INTEGER PRIMARY KEY REFERENCES members (idx),
    referrer INTEGER NOT NULL REFERENCES members (idx),
    referred_at INTEGER NOT NULL,
    properties TEXT,
    CHECK (referrer <> referee)
);
CREATE TABLE IF NOT EXISTS member_results (
    member INTEGER PRIMARY KEY REFERENCES members (idx),
    trust_score REAL,
    trust_rank INTEGER,
    tier TEXT,
    fraud_risk REAL
);
CREATE TABLE IF NOT EXISTS redemptions (
    idx INTEGER PRIMARY KEY,
    redemption_id TEXT NOT NULL UNIQUE,
    member INTEGER NOT NULL REFERENCES members (idx),
    merchant_id TEXT NOT NULL,
    credits REAL NOT NULL CHECK (credits > 0),
    redeemed_at INTEGER NOT NULL,
    properties TEXT
);
CREATE TABLE IF NOT EXISTS rings (
    idx INTEGER PRIMARY KEY,
    ring_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ({_one_of(RING_KINDS)})),
    score REAL NOT NULL,
    reasons TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    hours REAL NOT NULL,
    credits REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_one_of(RING_STATUSES)}))
);
CREATE TABLE IF NOT EXISTS ring_reviews (
    ring INTEGER NOT NULL REFERENCES rings (idx),
    seq INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_one_of(RING_STATUSES)})),
    reviewer TEXT NOT NULL,
    note TEXT NOT NULL,
    reviewed_at INTEGER NOT NULL,
    PRIMARY KEY (ring, seq)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS ring_reviews_v AS
    SELECT r.ring_id, t.seq, t.status, t.reviewer, t.note, t.reviewed_at FROM ring_reviews t
    JOIN rings r ON r.idx = t.ring;
""" + "".join(
    # ring_members and ring_sessions: a ring's members or sessions in order, and a view of them
    # by id.
    f"""
CREATE TABLE IF NOT EXISTS ring_{table} (
    ring INTEGER NOT NULL REFERENCES rings (idx),
    position INTEGER NOT NULL,
    {column} INTEGER NOT NULL REFERENCES {table} (idx),
    PRIMARY KEY (ring, position)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS ring_{table}_v AS
    SELECT r.ring_id, t.position, x.{TABLES[table].key} FROM ring_{table} t
    JOIN rings r ON r.idx = t.ring JOIN {table} x ON x.idx = t.{column};
"""
    for table, column, _ in _RING_LINKS
)


def _stored_column(column: str, table: TableName) -> str:
    """Name of ``column`` in the stored table: member references hold the member's ``idx``."""
    return column.removesuffix("_id") if column in MEMBER_REFERENCES[table] else column


def _view_ddl(table: TableName) -> str:
    """``<table>_v``: the stored table with member references shown as member ids."""
    select, joins = [], []
    for column in canonical_columns(table):
        if column in MEMBER_REFERENCES[table]:
            alias = f"m_{column}"
            select.append(f"{alias}.member_id AS {column}")
            joins.append(f"JOIN members {alias} ON {alias}.idx = t.{_stored_column(column, table)}")
        else:
            select.append(f"t.{column}")
    return (
        f"CREATE VIEW IF NOT EXISTS {table}_v AS SELECT {', '.join(select)} "
        f"FROM {table} t {' '.join(joins)}"
    )


def _python_values(column: pd.Series) -> list[Any]:
    """Column values sqlite3 can bind: None for missing, plain ints/floats/strings otherwise."""
    if isinstance(column.dtype, pd.Int64Dtype):
        listed_ints: list[Any] = column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]  # stubs lack na_value=None
        return listed_ints
    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    listed: list[Any] = values.tolist()
    return listed


def _check_location(path: Path, *, create: bool) -> None:
    """Refuse a folder, and a missing file unless ``create``; say where a new one cannot go."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder; a store is one file (e.g. {path / 'timebank.db'})")
    if path.exists():
        if not create and path.stat().st_size == 0:
            raise StoreError(f"{path}: an empty file, not a timebank store")
        return
    if not create:
        raise StoreNotFoundError(path)
    if not path.parent.is_dir():
        raise StoreError(f"{path}: no folder {path.parent} to create the store in")


class SqliteStore:
    """Embedded store in one SQLite file (or ``":memory:"``).

    Parameters
    ----------
    path
        The store file, or ``":memory:"``.
    create
        Create the file with its schema when it does not exist. When False, a missing file
        raises :class:`~graph.errors.StoreNotFoundError` and an empty one
        :class:`~graph.errors.StoreError`, and nothing is written.

    Examples
    --------
    >>> with SqliteStore(":memory:") as store:
    ...     store.counts()
    {'members': 0, 'sessions': 0, 'referrals': 0, 'redemptions': 0}
    """

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            _check_location(Path(path), create=create)
        try:
            self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 10000")
            if self._path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA cache_size = -65536")
            # The REFERENCES clauses document the schema; enforcing them per row would cost a
            # third of ingest time for nothing: every member reference is resolved to a stored
            # key before insert (see _member_keys) and rows are never deleted.
            self._db.execute("PRAGMA foreign_keys = OFF")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self._path}: not a timebank store ({error})") from None

    def _migrate(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise StoreError(f"{self._path}: an SQLite file, but not a timebank store")
        with self._transaction():
            for statement in _DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            for table in COUNTED_TABLES:
                if table != "members":
                    self._db.execute(_view_ddl(table))
            version = self._db.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if version is None:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)",
                    (SCHEMA_VERSION, datetime.now(UTC).isoformat(timespec="seconds")),
                )
            elif version[0] != SCHEMA_VERSION:
                raise StoreError(
                    f"{self._path}: store schema version {version[0]}, this timebank-graph "
                    f"reads version {SCHEMA_VERSION}"
                )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same state of the store, even
        while another connection writes."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    @property
    def location(self) -> str:
        return self._path

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    def counts(self) -> dict[str, int]:
        return {
            table: int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in COUNTED_TABLES
        }

    def stored_state(self) -> StoredState:
        ids = [row[0] for row in self._db.execute("SELECT member_id FROM members")]
        links = self._db.execute("SELECT referee_id, referrer_id FROM referrals_v").fetchall()
        referrer_of = pd.Series(
            [referrer for _, referrer in links],
            index=pd.Index([referee for referee, _ in links], dtype="str"),
            dtype="str",
        )
        return StoredState(pd.Index(ids, dtype="str"), referrer_of)

    def get_member(self, member_id: str) -> Member | None:
        cursor = self._db.execute("SELECT * FROM members WHERE member_id = ?", (member_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return Member.from_stored(dict(zip([c[0] for c in cursor.description], row, strict=True)))

    def write_member_results(self, results: pd.DataFrame) -> int:
        columns = result_columns(results)
        keys = self._resolve(self._member_keys(), results["member_id"]).tolist()
        values = [_python_values(results[column]) for column in columns]
        assignments = ", ".join(f"{column} = excluded.{column}" for column in columns)
        with self._transaction():
            self._db.executemany(
                f"INSERT INTO member_results (member, {', '.join(columns)}) "
                f"VALUES (?, {', '.join('?' * len(columns))}) "
                f"ON CONFLICT (member) DO UPDATE SET {assignments}",
                zip(keys, *values, strict=True),
            )
        return len(keys)

    def member_results(self) -> pd.DataFrame:
        rows = self._db.execute(
            f"SELECT m.member_id, {', '.join(f'r.{c}' for c in MEMBER_RESULTS)} "
            "FROM member_results r JOIN members m ON m.idx = r.member ORDER BY m.member_id"
        ).fetchall()
        return pd.DataFrame(rows, columns=["member_id", *MEMBER_RESULTS])

    # -- fraud rings ---------------------------------------------------------------------------

    def save_rings(self, rings: Sequence[Ring], reviews: Sequence[RingReview] = ()) -> None:
        records = [ring_record(ring) for ring in rings]
        entries = checked_reviews(reviews)
        # A stored ring's status changes only with a new audit entry (below, or a review), so a
        # decision taken while an analysis ran is not undone when the analysis saves.
        updates = ", ".join(
            f"{column} = excluded.{column}" for column in _RING_COLUMNS if column != "status"
        )
        upsert = (
            f"INSERT INTO rings (ring_id, {', '.join(_RING_COLUMNS)}) "
            f"VALUES (:ring_id, {', '.join(f':{column}' for column in _RING_COLUMNS)}) "
            f"ON CONFLICT (ring_id) DO UPDATE SET {updates}"
        )
        with self._transaction():
            for record in records:
                self._db.execute(
                    upsert, {**record, "reasons": json.dumps(record["reasons"], ensure_ascii=False)}
                )
                ring = self._ring_key(record["ring_id"])
                for table, column, field in _RING_LINKS:
                    keys = self._keys_of(table, record[field], ring_id=record["ring_id"])
                    self._db.execute(f"DELETE FROM ring_{table} WHERE ring = ?", (ring,))
                    self._db.executemany(
                        f"INSERT INTO ring_{table} (ring, position, {column}) VALUES (?, ?, ?)",
                        ((ring, position, key) for position, key in enumerate(keys)),
                    )
            for entry in entries:
                self._append_review(entry)

    def _keys_of(self, table: TableName, ids: Sequence[str], *, ring_id: str) -> list[int]:
        """Surrogate keys of the members or sessions a ring names, in order; all must be stored."""
        key = TABLES[table].key
        found = self._db.execute(
            f"SELECT j.value, t.idx FROM json_each(?) j LEFT JOIN {table} t ON t.{key} = j.value "
            "ORDER BY j.key",
            (json.dumps(list(ids)),),
        ).fetchall()
        missing = [value for value, idx in found if idx is None]
        if missing:
            raise StoreError(
                f"{self._path}: ring {ring_id!r} names {key} {missing[0]!r}, which is not stored"
            )
        return [idx for _, idx in found]

    def _ring_key(self, ring_id: str) -> int:
        row = self._db.execute("SELECT idx FROM rings WHERE ring_id = ?", (ring_id,)).fetchone()
        if row is None:
            raise RingNotFoundError(ring_id, location=self._path)
        key: int = row[0]
        return key

    def _append_review(self, entry: RingReview) -> None:
        """Add an audit entry after the ring's others and give the ring its status, unless the
        ring has an entry equal to it."""
        added = self._db.execute(
            "INSERT INTO ring_reviews (ring, seq, status, reviewer, note, reviewed_at) "
            "SELECT :ring, (SELECT count(*) FROM ring_reviews WHERE ring = :ring), "
            ":status, :reviewer, :note, :reviewed_at "
            "WHERE NOT EXISTS (SELECT 1 FROM ring_reviews WHERE ring = :ring "
            "AND status = :status AND reviewer = :reviewer AND note = :note "
            "AND reviewed_at = :reviewed_at)",
            {**review_record(entry), "ring": self._ring_key(entry.ring_id)},
        ).rowcount
        if added:
            self._db.execute(
                "UPDATE rings SET status = ? WHERE ring_id = ?", (entry.status, entry.ring_id)
            )

    def review_ring(
        self,
        ring_id: str,
        status: RingStatus,
        *,
        reviewer: str,
        note: str,
        at: datetime | None = None,
    ) -> RingReview:
        entry = ring_review(ring_id, status, reviewer=reviewer, note=note, at=at)
        with self._transaction():
            self._append_review(entry)
        return entry

    def rings(self, *, status: RingStatus | None = None) -> list[Ring]:
        if status is None:
            return self._read_rings("", ())
        return self._read_rings("WHERE status = ?", (status,))

    def ring(self, ring_id: str) -> Ring | None:
        found = self._read_rings("WHERE ring_id = ?", (ring_id,))
        return found[0] if found else None

    def _read_rings(self, where: str, parameters: Sequence[str]) -> list[Ring]:
        """Rings of ``rings`` rows ``where`` selects, with their members and sessions."""
        listed: dict[str, dict[str, list[str]]] = {}
        with self._reading():
            rows = self._db.execute(
                f"SELECT ring_id, {', '.join(_RING_COLUMNS)} FROM rings {where}", parameters
            ).fetchall()
            for view, column in (
                ("ring_members_v", "member_id"),
                ("ring_sessions_v", "session_id"),
            ):
                for ring_id, value in self._db.execute(
                    f"SELECT ring_id, {column} FROM {view} "
                    f"WHERE ring_id IN (SELECT ring_id FROM rings {where}) "
                    "ORDER BY ring_id, position",
                    parameters,
                ):
                    listed.setdefault(ring_id, {}).setdefault(column, []).append(value)
        records = [dict(zip(("ring_id", *_RING_COLUMNS), row, strict=True)) for row in rows]
        return rings_in_order(
            ring_from_record(
                {
                    **record,
                    "reasons": json.loads(record["reasons"]),
                    "members": listed.get(record["ring_id"], {}).get("member_id", []),
                    "session_ids": listed.get(record["ring_id"], {}).get("session_id", []),
                }
            )
            for record in records
        )

    def ring_reviews(self, ring_id: str) -> list[RingReview]:
        with self._reading():
            self._ring_key(ring_id)
            rows = self._db.execute(
                "SELECT ring_id, status, reviewer, note, reviewed_at FROM ring_reviews_v "
                "WHERE ring_id = ? ORDER BY reviewed_at, seq",
                (ring_id,),
            ).fetchall()
        columns = ("ring_id", "status", "reviewer", "note", "reviewed_at")
        return [review_from_record(dict(zip(columns, row, strict=True))) for row in rows]

    def write(
        self, tables: Mapping[TableName, pd.DataFrame], *, progress: Progress | None = None
    ) -> dict[TableName, WriteResult]:
        results: dict[TableName, WriteResult] = {}
        with self._transaction():
            if "members" in tables:
                results["members"] = self._write_table("members", tables["members"], None, progress)
            referring = [table for table in COUNTED_TABLES[1:] if table in tables]
            # Read every member's key once, and only when some table refers to members.
            member_keys = self._member_keys() if referring else None
            for table in referring:
                results[table] = self._write_table(table, tables[table], member_keys, progress)
        return results

    def _write_table(
        self,
        table: TableName,
        frame: pd.DataFrame,
        member_keys: pd.Series | None,
        progress: Progress | None,
    ) -> WriteResult:
        """Insert rows with new keys; compare rows with stored keys and report differences.

        Member references are resolved to member keys here, in one vectorised lookup, so rows go
        straight into their table: no per-row join inside SQLite.
        """
        columns = canonical_columns(table)
        stored = {column: _python_values(frame[column]) for column in columns}
        for column in MEMBER_REFERENCES[table]:
            assert member_keys is not None, "members are written before what refers to them"
            stored[column] = self._resolve(member_keys, frame[column]).tolist()
        stored_rows = self._stored_rows(table, frame[TABLES[table].key])
        conflicts = find_conflicts(frame, stored_rows, columns)
        existing = np.zeros(len(frame), dtype=bool)
        existing[stored_rows["position"].to_numpy(dtype=np.int64)] = True

        new = np.flatnonzero(~existing)
        targets = ", ".join(_stored_column(column, table) for column in columns)
        insert = f"INSERT INTO {table} ({targets}) VALUES ({', '.join('?' * len(columns))})"
        rows = [stored[column] for column in columns]
        for start in range(0, len(new), _BATCH):
            batch = new[start : start + _BATCH].tolist()
            self._db.executemany(
                insert, zip(*([values[i] for i in batch] for values in rows), strict=True)
            )
            if progress is not None:
                progress(table, min(start + _BATCH, len(new)), len(new))
        unchanged = int(existing.sum()) - len(conflicts)
        return WriteResult(len(new), unchanged, conflicts)

    def _member_keys(self) -> pd.Series:
        """Every stored member's surrogate key, indexed by member_id."""
        pairs = self._db.execute("SELECT member_id, idx FROM members").fetchall()
        return pd.Series(
            np.array([idx for _, idx in pairs], dtype=np.int64),
            index=pd.Index([member_id for member_id, _ in pairs], dtype=object),
        )

    def _resolve(self, member_keys: pd.Series, member_ids: pd.Series) -> np.ndarray:
        """Surrogate keys of members, who must be stored (validation made sure)."""
        positions = member_keys.index.get_indexer(pd.Index(member_ids.to_numpy(dtype=object)))
        if (positions < 0).any():
            missing = member_ids[positions < 0].iloc[0]
            raise StoreError(f"{self._path}: member {missing!r} is not stored")
        found: np.ndarray = member_keys.to_numpy()[positions]
        return found

    def _stored_rows(self, table: TableName, keys: pd.Series) -> pd.DataFrame:
        """Stored canonical rows for the incoming ``keys`` that exist, with their ``position``."""
        columns = canonical_columns(table)
        if self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None:
            return pd.DataFrame(columns=["position", *columns])
        view = "members" if table == "members" else f"{table}_v"
        self._db.execute("CREATE TEMP TABLE incoming (position INTEGER PRIMARY KEY, key TEXT)")
        self._db.executemany("INSERT INTO incoming VALUES (?, ?)", enumerate(_python_values(keys)))
        found = self._db.execute(
            f"SELECT i.position, {', '.join(f'v.{c}' for c in columns)} "
            f"FROM incoming i JOIN {view} v ON v.{TABLES[table].key} = i.key"
        ).fetchall()
        self._db.execute("DROP TABLE temp.incoming")
        return pd.DataFrame(found, columns=["position", *columns])

    def _numbers(
        self,
        table: str,
        columns: dict[str, tuple[str, type]],
        order: str,
        parameters: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Numeric columns of ``table`` (name → (SQL expression, dtype)), read in one pass.

        One query for all of them, flattened straight into numpy, is about twice as fast as a
        query per column: SQLite walks the table once and Python builds one tuple per row.
        Values pass through float64 (exact below 2**53) a chunk at a time, so memory peaks at
        the typed columns plus one chunk.
        """
        (count,) = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
        result = {name: np.empty(count, dtype=dtype) for name, (_, dtype) in columns.items()}
        expressions = ", ".join(expression for expression, _ in columns.values())
        cursor = self._db.execute(f"SELECT {expressions} FROM {table} ORDER BY {order}", parameters)
        start = 0
        while rows := cursor.fetchmany(_CHUNK):
            block = np.fromiter(
                itertools.chain.from_iterable(rows),
                dtype=np.float64,
                count=len(rows) * len(columns),
            ).reshape(len(rows), len(columns))
            for position, column in enumerate(result.values()):
                column[start : start + len(rows)] = block[:, position]
            start += len(rows)
        return result

    def _texts(self, table: str, column: str, order: str) -> np.ndarray:
        sql = f"SELECT {column} FROM {table} ORDER BY {order}"
        return np.array([value for (value,) in self._db.execute(sql)], dtype=object)

    def _coded(self, table: str, column: str) -> tuple[str, list[str]]:
        """A SQL expression numbering the distinct values of a text column, and the values.

        Few distinct values (services) travel as small integers instead of 10M strings.
        """
        values = sorted(
            value
            for (value,) in self._db.execute(f"SELECT DISTINCT {column} FROM {table}")
            if value is not None
        )
        cases = " ".join(f"WHEN ? THEN {code}" for code in range(len(values)))
        return (f"CASE {column} {cases} ELSE -1 END" if values else "-1"), values

    def snapshot(self, *, as_of: pd.Timestamp | None = None) -> Snapshot:
        with self._reading():
            columns = self._read_columns()
        return build_snapshot(columns, as_of=as_of)

    def _read_columns(self) -> StoreColumns:
        members = self._numbers(
            "members",
            {
                "key": ("idx", np.int64),
                "joined_at": ("joined_at", np.int64),
                "activated_at": (f"ifnull(activated_at, {_NAT})", np.int64),
            },
            "idx",
        )
        for column in ("member_id", "community_id", "display_name", "phone_hash", "device_id"):
            members[column] = self._texts("members", column, "idx")

        status_code = " ".join(
            f"WHEN '{status}' THEN {code}" for code, status in enumerate(SESSION_STATUSES)
        )
        service_code, services = self._coded("sessions", "service")
        sessions = self._numbers(
            "sessions",
            {
                "helper_key": ("helper", np.int64),
                "recipient_key": ("recipient", np.int64),
                "started_at": ("started_at", np.int64),
                "hours": ("hours", np.float64),
                "rating": ("ifnull(rating, 127)", np.float32),
                "status_code": (f"CASE status {status_code} END", np.int8),
                "service_code": (service_code, np.int16),
            },
            "idx",
            services,
        )
        sessions["rating"][sessions["rating"] == 127] = np.nan
        sessions["session_id"] = self._texts("sessions", "session_id", "idx")
        sessions["service"] = pd.Categorical.from_codes(
            sessions.pop("service_code").astype(np.int64), categories=pd.Index(services)
        )
        referrals = self._numbers(
            "referrals",
            {
                "referrer_key": ("referrer", np.int64),
                "referee_key": ("referee", np.int64),
                "referred_at": ("referred_at", np.int64),
            },
            "referee",
        )
        redemptions = self._numbers(
            "redemptions",
            {
                "member_key": ("member", np.int64),
                "credits": ("credits", np.float64),
                "redeemed_at": ("redeemed_at", np.int64),
            },
            "idx",
        )
        for column in ("redemption_id", "merchant_id"):
            redemptions[column] = self._texts("redemptions", column, "idx")
        return StoreColumns(members, sessions, referrals, redemptions)
