"""The Neo4j store: the only module that imports the ``neo4j`` driver.

Graph model (``docs/graph-model.md``)::

    (:Community)<-[:IN_COMMUNITY]-(:Member)-[:REFERRED {referred_at}]->(:Member)
    (:Member)-[:HELPED {session_id, started_at, hours, service, rating, status}]->(:Member)
    (:Member)-[:REDEEMED {redemption_id, credits, redeemed_at}]->(:Merchant)
    (:Member)-[:IN_RING {position}]->(:Ring {ring_id, kind, score, reasons, session_ids,
                                             first_at, last_at, hours, credits, status})
    (:Ring)-[:REVIEWED]->(:RingReview {seq, status, reviewer, note, reviewed_at})

A help session is a relationship: it is an event between two members, which is what graph
algorithms (GDS projections, trust propagation) walk; Neo4j 5 Community enforces a
relationship uniqueness constraint on ``session_id``; and it writes 1.4x faster than a
``(:Session)`` node with two links, 2.3x with two writers (measured; nodes contend for locks).
So a ring cannot link to its evidence sessions: it lists their ``session_ids``, which that
constraint's index finds (``MATCH ()-[s:HELPED]->() WHERE s.session_id IN r.session_ids``).
A ring's audit entries are numbered by ``seq`` in the order written.

Writes are batched ``UNWIND`` over columnar parameters in managed transactions
(``execute_write`` retries transient failures, e.g. lost connections and deadlocks between the
two writer threads). Only rows whose key is not stored are written. When a batch's fate is
unknown (the connection dropped after COMMIT), the stored rows decide and only the missing ones
are written; a batch that fails for good stops the ingest, and re-running it adds exactly what
is missing.
Every value travels as a query parameter; the only text spliced into Cypher are this module's
own labels and property names.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, LiteralString, Self

import numpy as np
import pandas as pd
from neo4j import Driver, GraphDatabase, ManagedTransaction, NotificationMinimumSeverity
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    IncompleteCommit,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph.errors import RingNotFoundError, StoreError
from graph.model import SESSION_STATUSES, Member, Ring, RingReview, RingStatus, Snapshot
from graph.rings import ring_review
from graph.schema import TABLES, TableName, canonical_columns
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

__all__ = ["BoltState", "Neo4jStore", "bolt_state", "set_initial_password"]

#: Rows per write transaction. Small transactions commit faster per row: the commit sorts and
#: serialises every record a transaction changed, and a large transaction's state churns the
#: heap. Measured on 1M sessions, two writers, 2 GB heap: 2 000 rows 55k-62k sessions/s,
#: 5 000 rows 53k/s, 10 000 rows 46k-51k/s, 20 000 rows 44k/s; 500 rows 55k/s.
BATCH_ROWS = 2_000
#: Keys per lookup of already stored rows (a read: no commit to amortise).
READ_KEYS = 10_000
#: Concurrent write transactions (the server has as many cores as this machine: two).
WRITERS = 2
#: Members per snapshot query when streaming sessions and referrals.
READ_MEMBERS = 50_000

#: Uniqueness constraints (each backed by an index): node label or relationship type, key.
_CONSTRAINTS: tuple[tuple[LiteralString, LiteralString], ...] = (
    ("(n:Member)", "n.member_id"),
    ("(n:Community)", "n.community_id"),
    ("(n:Merchant)", "n.merchant_id"),
    ("()-[n:HELPED]-()", "n.session_id"),
    ("()-[n:REDEEMED]-()", "n.redemption_id"),
    ("(n:Ring)", "n.ring_id"),
)

#: Per table: Cypher writing one batch given as columns ($<column>: a list per canonical
#: column, null = missing; a null property is simply not set). Rows are known to be new, so
#: members, sessions and redemptions are CREATEd (their uniqueness constraints still refuse a
#: duplicate); referrals have no constrained key and are MERGEd, so a retried batch cannot
#: double them. Sessions name their endpoints by node id (see ``_member_node_ids``).
_WRITE: dict[TableName, LiteralString] = {
    "members": """
        UNWIND range(0, size($member_id) - 1) AS i
        CREATE (m:Member {member_id: $member_id[i], joined_at: $joined_at[i],
                          community_id: $community_id[i], activated_at: $activated_at[i],
                          display_name: $display_name[i], phone_hash: $phone_hash[i],
                          device_id: $device_id[i], properties: $properties[i]})
        WITH m WHERE m.community_id IS NOT NULL
        MERGE (c:Community {community_id: m.community_id})
        CREATE (m)-[:IN_COMMUNITY]->(c)
    """,
    "sessions": """
        UNWIND range(0, size($session_id) - 1) AS i
        MATCH (h) WHERE id(h) = $helper[i]
        MATCH (r) WHERE id(r) = $recipient[i]
        CREATE (h)-[:HELPED {session_id: $session_id[i], started_at: $started_at[i],
                             hours: $hours[i], service: $service[i], rating: $rating[i],
                             status: $status[i], properties: $properties[i]}]->(r)
    """,
    "referrals": """
        UNWIND range(0, size($referee_id) - 1) AS i
        MATCH (a:Member {member_id: $referrer_id[i]})
        MATCH (b:Member {member_id: $referee_id[i]})
        MERGE (a)-[x:REFERRED]->(b)
        ON CREATE SET x.referred_at = $referred_at[i], x.properties = $properties[i]
    """,
    "redemptions": """
        UNWIND range(0, size($redemption_id) - 1) AS i
        MATCH (m:Member {member_id: $member_id[i]})
        MERGE (shop:Merchant {merchant_id: $merchant_id[i]})
        CREATE (m)-[:REDEEMED {redemption_id: $redemption_id[i], credits: $credits[i],
                               redeemed_at: $redeemed_at[i], properties: $properties[i]}]->(shop)
    """,
}

_STORED: dict[TableName, LiteralString] = {
    "members": """
        UNWIND $keys AS k MATCH (m:Member {member_id: k.key})
        RETURN k.position AS position, m {.*} AS node
    """,
    "sessions": """
        UNWIND $keys AS k MATCH (h:Member)-[s:HELPED {session_id: k.key}]->(r:Member)
        RETURN k.position AS position,
               s {.*, helper_id: h.member_id, recipient_id: r.member_id} AS node
    """,
    "referrals": """
        UNWIND $keys AS k MATCH (a:Member)-[x:REFERRED]->(b:Member {member_id: k.key})
        RETURN k.position AS position,
               x {.*, referrer_id: a.member_id, referee_id: b.member_id} AS node
    """,
    "redemptions": """
        UNWIND $keys AS k
        MATCH (m:Member)-[x:REDEEMED {redemption_id: k.key}]->(shop:Merchant)
        RETURN k.position AS position,
               x {.*, member_id: m.member_id, merchant_id: shop.merchant_id} AS node
    """,
}

_COUNT: dict[TableName, LiteralString] = {
    "members": "MATCH (:Member) RETURN count(*) AS n",
    "sessions": "MATCH ()-[:HELPED]->() RETURN count(*) AS n",
    "referrals": "MATCH ()-[:REFERRED]->() RETURN count(*) AS n",
    "redemptions": "MATCH ()-[:REDEEMED]->() RETURN count(*) AS n",
}


#: Per ring in $rings (as :func:`~graph.store.base.ring_record` makes them): the first member or
#: session it names that is not stored.
_UNSTORED: dict[str, LiteralString] = {
    "member_id": """
        UNWIND range(0, size($rings) - 1) AS r
        UNWIND range(0, size($rings[r].members) - 1) AS p
        WITH r, p, $rings[r].members[p] AS id
        WHERE NOT EXISTS { MATCH (:Member {member_id: id}) }
        RETURN $rings[r].ring_id AS ring_id, id ORDER BY r, p LIMIT 1
    """,
    "session_id": """
        UNWIND range(0, size($rings) - 1) AS r
        UNWIND range(0, size($rings[r].session_ids) - 1) AS p
        WITH r, p, $rings[r].session_ids[p] AS id
        WHERE NOT EXISTS { MATCH ()-[:HELPED {session_id: id}]->() }
        RETURN $rings[r].ring_id AS ring_id, id ORDER BY r, p LIMIT 1
    """,
}
#: Keep rings: their own properties, and exactly their members linked, by position.
_SAVE_RINGS: LiteralString = """
    UNWIND $rings AS ring
    MERGE (r:Ring {ring_id: ring.ring_id})
    ON CREATE SET r.status = ring.status
    SET r += ring {.kind, .score, .reasons, .session_ids, .first_at, .last_at, .hours, .credits}
    WITH r, ring
    CALL (r, ring) {
        MATCH (old:Member)-[x:IN_RING]->(r) WHERE NOT old.member_id IN ring.members
        DELETE x
    }
    CALL (r, ring) {
        UNWIND range(0, size(ring.members) - 1) AS position
        MATCH (m:Member {member_id: ring.members[position]})
        MERGE (m)-[x:IN_RING]->(r)
        SET x.position = position
    }
"""
#: Append one audit entry ($ring_id, $status, $reviewer, $note, $reviewed_at) unless the ring has
#: an equal one, and give the ring that entry's status. Writing the ring first locks it, so
#: concurrent reviews number their entries one after the other.
_APPEND_REVIEW: LiteralString = """
    MATCH (r:Ring {ring_id: $ring_id})
    SET r.status = r.status
    WITH r
    OPTIONAL MATCH (r)-[:REVIEWED]->(entry:RingReview)
    WITH r, count(entry) AS seq,
         count(CASE WHEN entry.status = $status AND entry.reviewer = $reviewer
                    AND entry.note = $note AND entry.reviewed_at = $reviewed_at THEN 1 END) AS same
    FOREACH (_ IN CASE WHEN same = 0 THEN [1] ELSE [] END |
        SET r.status = $status
        CREATE (r)-[:REVIEWED]->(:RingReview {seq: seq, status: $status, reviewer: $reviewer,
                                              note: $note, reviewed_at: $reviewed_at}))
    RETURN count(r) AS rings
"""
#: Rings (bound to r by a MATCH before this) with their members as [position, member_id] pairs.
_RETURN_RINGS: LiteralString = """
    RETURN r {.*} AS ring, [(m:Member)-[x:IN_RING]->(r) | [x.position, m.member_id]] AS members
"""


def _column(values: pd.Series) -> list[Any]:
    """A column as a list the driver sends: Python scalars, None for missing."""
    listed: list[Any] = values.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
    return listed


class Neo4jStore:
    """Store on a Neo4j 5 server (Community or Enterprise, local, cluster or Aura).

    Parameters
    ----------
    uri
        ``bolt://``, ``neo4j://`` or ``neo4j+s://`` address.
    user, password
        Credentials (never logged; ``location`` shows the URI only).
    database
        The database every query names explicitly.
    retry_seconds
        How long a managed transaction is retried on transient errors (lost connections,
        deadlocks, a leader switch) before the ingest fails; re-running it completes it.
    """

    def __init__(
        self,
        uri: str,
        *,
        user: str,
        password: str,
        database: str = "neo4j",
        retry_seconds: float = 30.0,
    ) -> None:
        self._uri = uri
        self._database = database
        self._driver: Driver = GraphDatabase.driver(
            uri,
            auth=(user, password),
            max_transaction_retry_time=retry_seconds,
            # The snapshot reads internal ids (id()), which 5.x flags as deprecated.
            notifications_min_severity=NotificationMinimumSeverity.OFF,
        )
        try:
            self._driver.verify_connectivity()
            self._ensure_schema()
        except AuthError:
            self._driver.close()
            raise StoreError(f"{uri}: authentication failed for user {user!r}") from None
        except (ServiceUnavailable, OSError) as error:
            self._driver.close()
            raise StoreError(f"{uri}: Neo4j is not reachable ({error})") from None
        except Neo4jError as error:
            self._driver.close()
            raise StoreError(f"{uri}: {error.message}") from None

    @property
    def location(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"Neo4jStore({self._uri!r}, database={self._database!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._driver.close()

    def clear(self) -> None:
        """Delete every node and relationship of the database (constraints stay).

        For tests and demo resets: Community edition has one user database, so a fresh start
        means emptying it.
        """
        # Relationships first: a community node's thousands of links would otherwise land in
        # one inner transaction.
        self.run_batched("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS")
        self.run_batched("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS")

    def run_batched(self, cypher: LiteralString, **parameters: Any) -> None:
        """Run a query that commits as it goes (``CALL { … } IN TRANSACTIONS``, ``LOAD CSV``).

        Such queries must run in an auto-commit transaction, which the driver does not retry.
        """
        with self._driver.session(database=self._database) as session:
            session.run(cypher, parameters).consume()

    def query(self, cypher: LiteralString, **parameters: Any) -> list[dict[str, Any]]:
        """Run a read query (values only as ``parameters``) and return its rows as dicts.

        For researchers and for in-database steps (GDS) built on top of this store.

        Raises
        ------
        StoreError
            When the server refuses the query or cannot be reached.
        """
        with self._errors():
            return self._read(cypher, **parameters)

    def execute(self, cypher: LiteralString, **parameters: Any) -> list[dict[str, Any]]:
        """Run a write query in a managed transaction (retried on transient errors)."""
        with self._errors(), self._driver.session(database=self._database) as session:
            return session.execute_write(_rows_of, cypher, parameters)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as :class:`StoreError`, naming the server and never the password."""
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as error:
            raise StoreError(f"{self._uri}: lost the connection to Neo4j ({error})") from error
        except Neo4jError as error:
            raise StoreError(f"{self._uri}: {error.message or error}") from error

    def _read(self, query: LiteralString, **parameters: Any) -> list[dict[str, Any]]:
        records, _, _ = self._driver.execute_query(
            query, parameters, database_=self._database, routing_="r"
        )
        return [record.data() for record in records]

    def _ensure_schema(self) -> None:
        """Uniqueness constraints (each backed by an index); idempotent."""
        for pattern, key in _CONSTRAINTS:
            name = key.removeprefix("n.") + "_unique"
            self._driver.execute_query(
                "CREATE CONSTRAINT "
                + name
                + " IF NOT EXISTS FOR "
                + pattern
                + " REQUIRE "
                + key
                + " IS UNIQUE",
                database_=self._database,
            )

    def counts(self) -> dict[str, int]:
        return {table: int(self._read(_COUNT[table])[0]["n"]) for table in COUNTED_TABLES}

    def stored_state(self) -> StoredState:
        ids = [row["id"] for row in self._read("MATCH (m:Member) RETURN m.member_id AS id")]
        links = self._read(
            "MATCH (a:Member)-[:REFERRED]->(b:Member) RETURN b.member_id AS referee, "
            "a.member_id AS referrer"
        )
        return StoredState(
            pd.Index(ids, dtype="str"),
            pd.Series(
                [link["referrer"] for link in links],
                index=pd.Index([link["referee"] for link in links], dtype="str"),
                dtype="str",
            ),
        )

    def get_member(self, member_id: str) -> Member | None:
        rows = self._read("MATCH (m:Member {member_id: $id}) RETURN m {.*} AS m", id=member_id)
        return Member.from_stored(rows[0]["m"]) if rows else None

    def write_member_results(self, results: pd.DataFrame) -> int:
        columns = result_columns(results)
        assignments = ", ".join(f"m.{column} = ${column}[i]" for column in columns)
        query = (
            "UNWIND range(0, size($member_id) - 1) AS i "
            "MATCH (m:Member {member_id: $member_id[i]}) SET " + assignments + " "
            "RETURN count(m) AS n"
        )
        updated = 0
        for start in range(0, len(results), BATCH_ROWS):
            batch = results.iloc[start : start + BATCH_ROWS]
            parameters = {column: _column(batch[column]) for column in ["member_id", *columns]}
            # Property names come from MEMBER_RESULTS, never from input.
            rows = self.execute(query, **parameters)
            updated += int(rows[0]["n"])
        return updated

    def member_results(self) -> pd.DataFrame:
        rows = self._read(
            "MATCH (m:Member) WHERE m.trust_score IS NOT NULL OR m.trust_rank IS NOT NULL "
            "OR m.tier IS NOT NULL OR m.fraud_risk IS NOT NULL "
            "RETURN m.member_id AS member_id, m.trust_score AS trust_score, "
            "m.trust_rank AS trust_rank, m.tier AS tier, m.fraud_risk AS fraud_risk "
            "ORDER BY member_id"
        )
        return pd.DataFrame(rows, columns=["member_id", *MEMBER_RESULTS])

    # -- fraud rings ---------------------------------------------------------------------------

    def save_rings(self, rings: Sequence[Ring], reviews: Sequence[RingReview] = ()) -> None:
        records = [ring_record(ring) for ring in rings]
        entries = [review_record(entry) for entry in checked_reviews(reviews)]
        with self._errors():
            for what, query in _UNSTORED.items():
                for row in self._read(query, rings=records):
                    raise StoreError(
                        f"{self._uri}: ring {row['ring_id']!r} names {what} {row['id']!r}, "
                        "which is not stored"
                    )
            with self._driver.session(database=self._database) as session:
                session.execute_write(self._save_rings, records, entries)

    def _save_rings(
        self, tx: ManagedTransaction, records: list[dict[str, Any]], entries: list[dict[str, Any]]
    ) -> None:
        tx.run(_SAVE_RINGS, rings=records).consume()
        for entry in entries:
            self._append_review(tx, entry)

    def _append_review(self, tx: ManagedTransaction, entry: dict[str, Any]) -> None:
        found = tx.run(_APPEND_REVIEW, entry).single(strict=True)
        if not found["rings"]:
            raise RingNotFoundError(entry["ring_id"], location=self._uri)

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
        with self._errors(), self._driver.session(database=self._database) as session:
            session.execute_write(self._append_review, review_record(entry))
        return entry

    def rings(self, *, status: RingStatus | None = None) -> list[Ring]:
        with self._errors():
            rows = self._read(
                "MATCH (r:Ring) WHERE $status IS NULL OR r.status = $status " + _RETURN_RINGS,
                status=status,
            )
        return rings_in_order(_ring_of(row) for row in rows)

    def ring(self, ring_id: str) -> Ring | None:
        with self._errors():
            rows = self._read(
                "MATCH (r:Ring {ring_id: $ring_id}) " + _RETURN_RINGS, ring_id=ring_id
            )
        return _ring_of(rows[0]) if rows else None

    def ring_reviews(self, ring_id: str) -> list[RingReview]:
        with self._errors():
            rows = self._read(
                "MATCH (r:Ring {ring_id: $ring_id}) "
                "OPTIONAL MATCH (r)-[:REVIEWED]->(entry:RingReview) "
                "RETURN entry {.*, ring_id: r.ring_id} AS entry "
                "ORDER BY entry.reviewed_at, entry.seq",
                ring_id=ring_id,
            )
        if not rows:
            raise RingNotFoundError(ring_id, location=self._uri)
        return [review_from_record(row["entry"]) for row in rows if row["entry"] is not None]

    # -- writing ---------------------------------------------------------------------------

    def write(
        self, tables: Mapping[TableName, pd.DataFrame], *, progress: Progress | None = None
    ) -> dict[TableName, WriteResult]:
        """Write tables in batches of :data:`BATCH_ROWS`, each its own transaction.

        A batch is all or nothing and re-running it changes nothing, so an ingest cut short
        (a crash, a lost connection) is completed by running it again.
        """
        with self._errors():
            return {
                table: self._write_table(table, tables[table], progress)
                for table in COUNTED_TABLES
                if table in tables
            }

    def _write_table(
        self, table: TableName, frame: pd.DataFrame, progress: Progress | None
    ) -> WriteResult:
        columns = canonical_columns(table)
        stored = self._stored_rows(table, frame[TABLES[table].key])
        conflicts = find_conflicts(frame, stored, columns)
        existing = np.zeros(len(frame), dtype=bool)
        existing[stored["position"].to_numpy(dtype=np.int64)] = True
        new = frame[~existing].reset_index(drop=True)
        batches = [new.iloc[start : start + BATCH_ROWS] for start in range(0, len(new), BATCH_ROWS)]
        node_ids = self._member_node_ids() if table == "sessions" and len(new) else None
        failed = threading.Event()

        def write(batch: pd.DataFrame) -> pd.DataFrame:
            # After a failed batch start no other: the ingest fails once, then is re-run.
            if failed.is_set():
                raise StoreError(f"{self._uri}: {table} write abandoned after a failed batch")
            try:
                return self._write_batch(table, batch, node_ids)
            except BaseException:
                failed.set()
                raise

        written = 0
        # Only sessions are written by several transactions at once: member and merchant MERGEs
        # would deadlock on shared community and merchant nodes for little gain.
        with ThreadPoolExecutor(WRITERS if table == "sessions" else 1) as writers:
            for batch in writers.map(write, batches):
                written += len(batch)
                if progress is not None:
                    progress(table, written, len(new))
        return WriteResult(len(new), int(existing.sum()) - len(conflicts), conflicts)

    def _member_node_ids(self) -> dict[str, int]:
        """member_id → internal node id: session batches find their endpoints by id, which is
        20% faster than two index seeks per row (measured); ids are read right before use and
        members are never deleted."""
        columns = self._collect(
            "MATCH (m:Member) RETURN collect(m.member_id) AS member_id, collect(id(m)) AS node"
        )
        return dict(zip(columns["member_id"], columns["node"], strict=True))

    def _write_batch(
        self, table: TableName, batch: pd.DataFrame, node_ids: dict[str, int] | None
    ) -> pd.DataFrame:
        """Write one batch in one managed transaction (retried on transient errors).

        When the driver cannot tell whether the batch committed (the connection dropped after
        COMMIT: ``IncompleteCommit``), or a constraint refuses a row another writer added, the
        stored rows decide: only the rows still missing are written.
        """
        parameters = {column: _column(batch[column]) for column in canonical_columns(table)}
        if node_ids is not None:
            parameters["helper"] = [node_ids[m] for m in parameters["helper_id"]]
            parameters["recipient"] = [node_ids[m] for m in parameters["recipient_id"]]
        with self._driver.session(database=self._database) as session:
            try:
                session.execute_write(_run_batch, _WRITE[table], parameters)
            except (ConstraintError, IncompleteCommit):
                stored = self._stored_rows(table, batch[TABLES[table].key])
                missing = batch.drop(index=batch.index[stored["position"].to_numpy(dtype=np.int64)])
                if len(missing):
                    self._write_batch(table, missing, node_ids)
        return batch

    def _stored_rows(self, table: TableName, keys: pd.Series) -> pd.DataFrame:
        """Stored canonical rows for the incoming ``keys`` that exist, with their ``position``."""
        columns = canonical_columns(table)
        found: list[dict[str, Any]] = []
        # The count store answers at once; a first ingest then skips a lookup per row.
        if not self._read(_COUNT[table])[0]["n"]:
            return pd.DataFrame(columns=["position", *columns])
        listed = _column(keys)
        for start in range(0, len(listed), READ_KEYS):
            chunk = [
                {"position": start + offset, "key": value}
                for offset, value in enumerate(listed[start : start + READ_KEYS])
            ]
            found.extend(self._read(_STORED[table], keys=chunk))
        return pd.DataFrame(
            [
                {"position": row["position"], **{c: row["node"].get(c) for c in columns}}
                for row in found
            ],
            columns=["position", *columns],
        )

    # -- reading -----------------------------------------------------------------------------

    def _collect(self, query: LiteralString, **parameters: Any) -> dict[str, list[Any]]:
        """Run a query returning one record of ``collect()``-ed columns.

        Whole columns in one record decode far faster than one record per row. ``collect``
        skips nulls, so queries coalesce missing values to a sentinel ('' for text: ingest
        never stores an empty string).
        """
        with self._driver.session(database=self._database, default_access_mode="READ") as session:
            record = session.run(query, parameters).single(strict=True)
        # Not record.data(): it walks every list element in Python (20x slower here).
        return dict(zip(record.keys(), record.values(), strict=True))

    def _collect_by_member(
        self, query: LiteralString, member_ids: list[str]
    ) -> dict[str, np.ndarray]:
        """:meth:`_collect` over ``$ids`` in chunks of :data:`READ_MEMBERS` members, joined."""
        parts = [
            self._collect(query, ids=member_ids[start : start + READ_MEMBERS])
            for start in range(0, max(len(member_ids), 1), READ_MEMBERS)
        ]
        return {
            name: np.array([value for part in parts for value in part[name]], dtype=object)
            for name in parts[0]
        }

    def snapshot(self, *, as_of: pd.Timestamp | None = None) -> Snapshot:
        with self._errors():
            columns = self._read_columns()
        return build_snapshot(columns, as_of=as_of)

    def _read_columns(self) -> StoreColumns:
        nat = np.iinfo(np.int64).min
        members = {
            name: np.array(values, dtype=object)
            for name, values in self._collect(
                "MATCH (m:Member) RETURN collect(id(m)) AS key, "
                "collect(m.member_id) AS member_id, collect(m.joined_at) AS joined_at, "
                f"collect(coalesce(m.activated_at, {nat})) AS activated_at, "
                "collect(coalesce(m.community_id, '')) AS community_id, "
                "collect(coalesce(m.display_name, '')) AS display_name, "
                "collect(coalesce(m.phone_hash, '')) AS phone_hash, "
                "collect(coalesce(m.device_id, '')) AS device_id"
            ).items()
        }
        for name in ("community_id", "display_name", "phone_hash", "device_id"):
            members[name][members[name] == ""] = None
        member_ids = sorted(members["member_id"].tolist())
        status_code = " ".join(
            f"WHEN '{status}' THEN {code}" for code, status in enumerate(SESSION_STATUSES)
        )
        sessions = self._collect_by_member(
            "UNWIND $ids AS id MATCH (h:Member {member_id: id})-[s:HELPED]->(r:Member) "
            "RETURN collect(s.session_id) AS session_id, collect(id(h)) AS helper_key, "
            "collect(id(r)) AS recipient_key, collect(s.started_at) AS started_at, "
            "collect(s.hours) AS hours, collect(coalesce(s.service, '')) AS service, "
            "collect(coalesce(s.rating, 127)) AS rating, "
            f"collect(CASE s.status {status_code} END) AS status_code",
            member_ids,
        )
        sessions["service"][sessions["service"] == ""] = None
        rating = sessions["rating"].astype(np.float32)
        rating[rating == 127] = np.nan
        sessions["rating"] = rating
        referrals = self._collect_by_member(
            "UNWIND $ids AS id MATCH (a:Member {member_id: id})-[x:REFERRED]->(b:Member) "
            "RETURN collect(id(a)) AS referrer_key, collect(id(b)) AS referee_key, "
            "collect(x.referred_at) AS referred_at",
            member_ids,
        )
        redemptions = self._collect_by_member(
            "UNWIND $ids AS id MATCH (m:Member {member_id: id})-[x:REDEEMED]->(shop:Merchant) "
            "RETURN collect(x.redemption_id) AS redemption_id, collect(id(m)) AS member_key, "
            "collect(shop.merchant_id) AS merchant_id, collect(x.credits) AS credits, "
            "collect(x.redeemed_at) AS redeemed_at",
            member_ids,
        )
        return StoreColumns(members, sessions, referrals, redemptions)


BoltState = Literal["up", "starting", "refused"]


def bolt_state(uri: str, user: str, password: str) -> BoltState:
    """Whether a server answers on ``uri`` with these credentials.

    ``"starting"``: not listening yet, or its databases are still coming up; ``"refused"``:
    it answers but not to these credentials.
    """
    try:
        with GraphDatabase.driver(uri, auth=(user, password)) as driver:
            driver.verify_connectivity()
    except AuthError:
        return "refused"
    except (ServiceUnavailable, SessionExpired, TransientError):
        return "starting"
    return "up"


def set_initial_password(uri: str, user: str, initial: str, password: str) -> BoltState:
    """Replace a new server's initial password (which it requires changed) by ``password``.

    ``"up"``: replaced; ``"refused"``: the initial password no longer opens it;
    ``"starting"``: the server is not ready yet.
    """
    try:
        with GraphDatabase.driver(uri, auth=(user, initial)) as driver:
            driver.execute_query(
                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                old=initial,
                new=password,
                database_="system",
            )
    except AuthError:
        return "refused"
    except (ServiceUnavailable, SessionExpired, TransientError):
        return "starting"
    return "up"


def _ring_of(row: Mapping[str, Any]) -> Ring:
    """A ring from a row of :data:`_RETURN_RINGS`."""
    members = [member_id for _, member_id in sorted(row["members"])]
    return ring_from_record({**row["ring"], "members": members})


def _rows_of(
    tx: ManagedTransaction, query: LiteralString, parameters: dict[str, Any]
) -> list[dict[str, Any]]:
    return [record.data() for record in tx.run(query, parameters)]


def _run_batch(tx: ManagedTransaction, query: LiteralString, columns: dict[str, list[Any]]) -> None:
    tx.run(query, columns).consume()
