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
    "face_reembeddings",  # a re-embedding under way goes on where it was
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
READ_ROWS = 20_000  # rows read from the source at a time, in primary key order


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
        for table in _IDENTITY_TABLES:
            _never_give_again(target, table, _largest_id_given(source, table))
    return CopyReport(counts)


def _largest_id_given(db: Database, table: str) -> int:
    """The largest id ``table`` has ever given, removed rows' included: PostgreSQL's
    sequence, SQLite's high-water mark for images and faces (migration 0020), else the
    largest id it holds."""
    largest = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").one()[0]
    if db.dialect == POSTGRESQL:
        sequence = db.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')").one()[0]
        if sequence is None:  # not an identity column: its ids are what it holds
            return largest
        given = db.execute(f"SELECT last_value, is_called FROM {sequence}").one()
        # Not called yet: last_value is the next id to give (a new sequence's is 1).
        return max(largest, given["last_value"] - (0 if given["is_called"] else 1))
    mark = db.execute("SELECT largest FROM id_high_water WHERE name = ?", (table,)).fetchone()
    return max(largest, mark["largest"] if mark else 0)


def _never_give_again(db: Database, table: str, given: int) -> None:
    """Make ``db`` number ``table``'s new rows after ``given``, the largest id the source
    ever gave: the id of a face removed before the copy, kept by past searches' candidates
    and the audit log, must not come back as another face's."""
    if db.dialect == POSTGRESQL:
        db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" GREATEST(COALESCE((SELECT MAX(id) FROM {table}), 0), ?) + 1, false)",
            (given,),
        )
    else:  # SQLite keeps a mark for images and faces only; other tables' ids may come back
        db.execute(
            "UPDATE id_high_water SET largest = MAX(largest, ?) WHERE name = ?", (given, table)
        )


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
    """The table's rows, ``READ_ROWS`` at a time in the order of its primary key: a gallery
    of a million faces is 0.5 GB of embeddings alone, and read whole it was held in memory
    at once; so would a million searches' candidates be. Every copied table has a primary
    key; a part starts after the last row's key (row values compare column by column on
    both databases)."""
    key = source.primary_key_of(table)
    if not key:
        raise ValueError(f"table {table} has no primary key to read it in parts by")
    order = ", ".join(key)
    rows = source.execute(
        f"SELECT * FROM {table} ORDER BY {order} LIMIT ?", (READ_ROWS,)
    ).fetchall()
    while rows:
        yield rows
        after = [rows[-1][column] for column in key]
        rows = source.execute(
            f"SELECT * FROM {table} WHERE ({order}) > ({', '.join('?' * len(key))})"
            f" ORDER BY {order} LIMIT ?",
            (*after, READ_ROWS),
        ).fetchall()
