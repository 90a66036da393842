"""Copying a whole gallery database to another one: ``facesift db copy``.

The typical move is a single operator's SQLite file into a team's PostgreSQL. Every table is
copied row for row with its ids, so face ids still match the vector index in the data folder,
and the audit log keeps its ids and hashes: the copied chain verifies against the same anchor.
The target must be empty (freshly migrated): merging two galleries would renumber faces and
fork two audit chains, which is not a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from facesift.errors import Conflict
from facesift.store.database import POSTGRESQL, Database, Record

# Parents before children, so foreign keys hold at every insert.
TABLES = (
    "collections",
    "images",
    "faces",
    "ingest_failures",
    "users",
    "user_roles",
    "sessions",
    "api_tokens",
    "account_requests",
    "settings",
    "cases",
    "probes",
    "searches",
    "search_candidates",
    "reviews",
    "review_assignments",
    "tombstones",
    "optout_requests",
    "optout_selfies",
    "optout_faces",
    "suppression_templates",
    "audit_log",
)
# Tables whose ids the database gives out (identity columns on PostgreSQL); the audit log's
# ids are given by the chain, not by a sequence.
_IDENTITY_TABLES = (
    "collections",
    "images",
    "faces",
    "users",
    "api_tokens",
    "account_requests",
    "cases",
    "probes",
    "searches",
    "reviews",
    "optout_requests",
    "suppression_templates",
)
BATCH_ROWS = 500  # rows an INSERT statement
READ_ROWS = 20_000  # rows read from the source at a time, in id order where there are ids


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]


def copy_database(source: Database, target: Database) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``, in one transaction."""
    for table in TABLES:
        if target.execute(f"SELECT COUNT(*) FROM {table}").one()[0]:
            raise Conflict(f"the target database is not empty (table {table} has rows)")
    counts: dict[str, int] = {}
    with target.transaction():
        for table in TABLES:
            counts[table] = _copy_table(source, target, table)
        if target.dialect == POSTGRESQL:
            for table in _IDENTITY_TABLES:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
    return CopyReport(counts)


def _copy_table(source: Database, target: Database, table: str) -> int:
    copied = 0
    for rows in _read_in_parts(source, table):
        columns = list(rows[0].keys())
        row_marks = f"({', '.join('?' * len(columns))})"
        for start in range(0, len(rows), BATCH_ROWS):
            # One statement a batch, not one a row: PostgreSQL's count triggers (migration
            # 0018) run once a statement, and a row-by-row copy would update them row by row.
            batch = rows[start : start + BATCH_ROWS]
            target.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([row_marks] * len(batch)),
                [value for row in batch for value in row.values()],
            )
        copied += len(rows)
    return copied


def _read_in_parts(source: Database, table: str) -> Iterator[list[Record]]:
    """The table's rows, ``READ_ROWS`` at a time by id where it has ids: a gallery of a
    million faces is 0.5 GB of embeddings alone, and read whole it was held in memory at
    once. Tables without an id (roles, settings, candidates) are read in one go."""
    if "id" not in source.columns_of(table):
        rows = source.execute(f"SELECT * FROM {table}").fetchall()
        if rows:
            yield rows
        return
    rows = source.execute(f"SELECT * FROM {table} ORDER BY id LIMIT ?", (READ_ROWS,)).fetchall()
    while rows:
        yield rows
        rows = source.execute(
            f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (rows[-1]["id"], READ_ROWS)
        ).fetchall()
