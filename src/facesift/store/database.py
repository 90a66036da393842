"""Opening the database (SQLite or PostgreSQL) and migrating its schema.

Why SQLAlchemy, and why only its engine: SQLAlchemy 2 parses the database URL, loads the
driver (``sqlite3``, ``psycopg``) and keeps the connection pool, which are what a library is
good for. The statements themselves stay hand-written in this package, the only code that
knows SQL: they are few and plain, both databases accept nearly all of them as written, and
the audit chain needs exact control of transactions (``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL) that an ORM or Core's implicit transactions would hide.
Statements use ``?`` placeholders; on PostgreSQL they are rewritten to psycopg's ``%s``.
The few places where the dialects differ ask ``Database.dialect``.

Why our own migration runner and not Alembic: migrations are numbered SQL files, one folder
per dialect (``migrations/sqlite``, ``migrations/postgresql``), applied in order, each in one
transaction. SQLite records the last one in ``PRAGMA user_version`` exactly as before, so
every existing ``facesift.db`` keeps opening and is migrated in place; PostgreSQL records it
in a one-row ``schema_version`` table. That is the whole runner; Alembic would add a
dependency, an environment module and a second way of writing schema for no gain here.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from facesift.errors import InvalidInput

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_\w+\.sql$")
_NAMED = re.compile(r"(?<![:\w]):(\w+)")
DATABASE_FILE = "facesift.db"
DATABASE_URL_VARIABLE = "FACESIFT_DATABASE_URL"
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# The key of the advisory lock that serialises audit appends on PostgreSQL (any constant
# bigint no other code uses; these are the ASCII bytes of "fsaudit").
AUDIT_LOCK_KEY = 0x66736175646974
# The alert scan's lease on PostgreSQL: one server worker at a time judges the new entries
# (``Database.lease``); "fsalert".
ALERT_SCAN_LOCK_KEY = 0x6673616C657274


class Record(dict):
    """A row: by column name like a dict, and by position like a tuple (``row[0]``)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


class Result:
    """The rows a statement returned (already fetched), and how many rows it changed."""

    def __init__(self, rows: list[Record], rowcount: int):
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Record | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Record:
        """The first row of a statement that always returns one (a count, an aggregate)."""
        if not self._rows:
            raise LookupError("the statement returned no row")
        return self._rows[0]

    def fetchall(self) -> list[Record]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._rows)


def _plain(value: Any) -> Any:
    """psycopg returns BYTEA as memoryview; SQLite (and every caller) expects bytes."""
    return bytes(value) if isinstance(value, memoryview) else value


def _param(value: Any) -> Any:
    """Statuses are enums; both databases get their plain values (psycopg would otherwise
    be free to send an enum's name)."""
    return value.value if isinstance(value, Enum) else value


def _refuse_nul(values: Iterable[Any]) -> None:
    """PostgreSQL's text cannot hold a NUL character: such text is bad input (400), not a
    server error (the API fuzz test sent one in an audit filter). SQLite stores it."""
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise InvalidInput("text may not contain a NUL character (\\x00)")


def _table_name(table: str) -> str:
    """``table``, if it is a plain name (it is written into SQL, never passed)."""
    if not re.fullmatch(r"\w+", table):
        raise ValueError(f"bad table name {table!r}")
    return table


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def resolve_url(data_dir: Path, url: str | None = None) -> str:
    """The database to use: ``url``, else ``$FACESIFT_DATABASE_URL``, else SQLite in the data
    folder (as it always was)."""
    url = url or os.environ.get(DATABASE_URL_VARIABLE) or None
    return url if url else sqlite_url(data_dir / DATABASE_FILE)


def _engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def dialect_of(url: str) -> str:
    """``sqlite`` or ``postgresql``; any other URL is refused."""
    try:
        dialect = make_url(_engine_url(url)).get_backend_name()
    except Exception as exc:  # SQLAlchemy's ArgumentError for a malformed URL
        raise InvalidInput(f"not a database URL: {url!r}") from exc
    if dialect not in (SQLITE, POSTGRESQL):
        raise InvalidInput(f"unsupported database {dialect!r}: use sqlite or postgresql")
    return dialect


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(_engine_url(url)).render_as_string(hide_password=True)


class Database:
    """The database, for every thread of a process: each thread gets a connection of its own
    from the engine's pool the first time it asks, and keeps it, so the server's request
    threads run their statements and transactions side by side (SQLite serialises the
    writers with its lock, PostgreSQL with row locks and the audit's advisory lock).
    Statements outside ``transaction()`` commit on their own; ``transaction()`` is one
    atomic unit on the calling thread's connection."""

    def __init__(self, url: str, migrate_up_to: int | None = None):
        """``migrate_up_to``: leave the schema at that version (a test of a later migration
        on an older database); by default, migrate to the newest."""
        self.url = url
        self.dialect = dialect_of(url)
        engine_url = make_url(_engine_url(url))
        if self.dialect == SQLITE and engine_url.database:
            Path(engine_url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = _make_engine(engine_url.render_as_string(hide_password=False), self.dialect)
        self._local = threading.local()
        self._opened: list[Any] = []  # every thread's connection, to close them all
        self._opened_lock = threading.Lock()
        self._changes = 0  # SQLite: see change_counter
        if self.dialect == SQLITE:
            # Kept in the file: readers keep reading while an ingest writes.
            self.execute("PRAGMA journal_mode=WAL")
        migrate(self, migrate_up_to)

    @property
    def _raw(self) -> Any:
        """This thread's connection (a pooled DBAPI connection)."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            raw = self.engine.raw_connection()
            self._local.raw, self._local.depth = raw, 0
            with self._opened_lock:
                self._opened.append(raw)
        return raw

    @property
    def _depth(self) -> int:
        return getattr(self._local, "depth", 0)

    @_depth.setter
    def _depth(self, value: int) -> None:
        self._local.depth = value

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for raw in opened:
            raw.close()
        self._local = threading.local()
        self.engine.dispose()

    # -- statements ----------------------------------------------------------------------------

    def _sql(self, sql: str, named: bool = False) -> str:
        if self.dialect == POSTGRESQL:
            sql = sql.replace("%", "%%")
            return _NAMED.sub(r"%(\1)s", sql) if named else sql.replace("?", "%s")
        return sql

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        """``params``: a sequence for ``?`` placeholders, or a mapping for ``:name`` ones."""
        cursor = self._run(sql, params)
        try:
            return Result(self._fetch(cursor), cursor.rowcount)
        finally:
            cursor.close()

    def column(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """The first column of every row, as plain values: for reads of many ids, where a
        Record a row cost 3 s at a million faces (the index's catch-up read them all)."""
        cursor = self._run(sql, params)
        try:
            return [row[0] for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Any:
        """A cursor on which ``sql`` has run; the caller reads and closes it."""
        named = isinstance(params, Mapping)
        values: dict[str, Any] | tuple[Any, ...] = (
            {k: _param(v) for k, v in params.items()}
            if isinstance(params, Mapping)
            else tuple(map(_param, params))
        )
        if self.dialect == POSTGRESQL:
            _refuse_nul(values.values() if isinstance(values, dict) else values)
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql, named), values)
        except BaseException:
            cursor.close()
            raise
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(map(_param, r)) for r in rows]
        if not rows:
            return
        if self.dialect == POSTGRESQL:
            _refuse_nul(v for row in rows for v in row)
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
        finally:
            cursor.close()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT and return the new row's id."""
        row = self.execute(f"{sql} RETURNING id", params).fetchone()
        assert row is not None
        return int(row[0])

    def script(self, script: str) -> None:
        """Run several statements (a migration). SQLite needs its own call for that."""
        if self.dialect == SQLITE:
            self._raw.driver_connection.executescript(script)
            return
        cursor = self._raw.cursor()
        try:
            cursor.execute(script)
        finally:
            cursor.close()

    @staticmethod
    def _fetch(cursor: Any) -> list[Record]:
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        if isinstance(cursor, sqlite3.Cursor):  # its values are plain already
            return [Record(zip(names, row, strict=True)) for row in rows]
        return [Record(zip(names, map(_plain, row), strict=True)) for row in rows]

    # -- transactions --------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic unit. On SQLite it takes the write lock at once (``BEGIN IMMEDIATE``),
        as before; PostgreSQL's row locks and the audit's advisory lock do that job there."""
        self.execute("BEGIN IMMEDIATE" if self.dialect == SQLITE else "BEGIN")
        self._depth += 1
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            self.execute("ROLLBACK")
            raise
        finally:
            self._depth -= 1

    def lock_audit_head(self) -> None:
        """Inside a transaction: wait until no other transaction is appending to the audit
        log. SQLite's write lock (``BEGIN IMMEDIATE``) already does this."""
        if self.dialect == POSTGRESQL:
            self.execute("SELECT pg_advisory_xact_lock(?)", (AUDIT_LOCK_KEY,))

    @contextmanager
    def lease(self, key: int) -> Iterator[bool]:
        """Whether this thread holds the lease ``key`` for the block: on PostgreSQL, a session
        advisory lock on the thread's own connection, taken without waiting (False while
        another process holds it) and let go at the block's end, or by the server if the
        process dies. On SQLite always True: one process writes at a time there, and what
        the lease guards must stay correct without it (a compare and set)."""
        if self.dialect != POSTGRESQL:
            yield True
            return
        held = bool(self.execute("SELECT pg_try_advisory_lock(?)", (key,)).one()[0])
        try:
            yield held
        finally:
            if held:
                self.execute("SELECT pg_advisory_unlock(?)", (key,))

    # -- dialect differences ------------------------------------------------------------------

    def json_text(self, column: str, key: str) -> str:
        """An expression for the JSON text ``column``'s top-level ``key``, comparable with a
        ``?`` parameter (cast to text on PostgreSQL, where JSON values are text)."""
        if not re.fullmatch(r"\w+", key) or not re.fullmatch(r"[\w.]+", column):
            raise ValueError(f"bad JSON key {key!r}")
        if self.dialect == SQLITE:
            return f"json_extract({column}, '$.{key}')"
        return f"({column}::jsonb ->> '{key}')"

    def param_text(self) -> str:
        """A ``?`` placeholder to compare with ``json_text``."""
        return "?" if self.dialect == SQLITE else "CAST(? AS TEXT)"

    def columns_of(self, table: str) -> list[str]:
        """The names of ``table``'s columns, in order."""
        table = _table_name(table)
        if self.dialect == SQLITE:
            return [row["name"] for row in self.execute(f"PRAGMA table_info({table})")]
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [row["column_name"] for row in rows]

    def primary_key_of(self, table: str) -> list[str]:
        """The columns of ``table``'s primary key, in the key's order."""
        table = _table_name(table)
        if self.dialect == SQLITE:
            rows = self.execute(f"PRAGMA table_info({table})").fetchall()
            return [row["name"] for row in sorted(rows, key=lambda r: r["pk"]) if row["pk"]]
        keys = self.execute(
            "SELECT kcu.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu"
            " ON kcu.constraint_name = tc.constraint_name"
            " AND kcu.constraint_schema = tc.constraint_schema"
            " WHERE tc.table_schema = current_schema() AND tc.table_name = ?"
            " AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position",
            (table,),
        )
        return [row["column_name"] for row in keys]

    def change_counter(self) -> int:
        """A number that changes whenever another process commits a change to the faces.
        SQLite: ``PRAGMA data_version`` (changes on any other connection's commit).
        PostgreSQL: a counter that triggers on ``faces`` bump (migration 0004)."""
        if self.dialect == SQLITE:
            # data_version is each connection's own count, and each thread has a connection:
            # a change seen on any of them moves one counter for the whole process.
            version = int(self.execute("PRAGMA data_version").one()[0])
            if getattr(self._local, "data_version", None) != version:
                self._local.data_version = version
                with self._opened_lock:
                    self._changes += 1
            return self._changes
        return int(self.execute("SELECT counter FROM face_changes WHERE id = 1").one()[0])


def grant_app_role(db: Database, role: str) -> None:
    """Let the PostgreSQL role ``role`` (which facesift's commands and server log in as) read
    and write everything, except that the audit log may only be read and appended to: it
    gets no UPDATE, DELETE or TRUNCATE there, so even with the trigger gone the database
    refuses to change an entry. The tables stay owned by whoever ran the migrations.
    Tables that later migrations create (run by the same owner) are the role's to use too,
    by default privileges: an upgrade adds tables the triggers write to on every ingest
    (0018-0020), and the role must not lose the gallery on the day it is upgraded. A later
    table the role may not change must revoke that in its own migration."""
    if db.dialect != POSTGRESQL:
        raise ValueError("roles exist only on PostgreSQL")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", role):
        raise ValueError(f"bad role name {role!r}")
    with db.transaction():
        db.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        db.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, schema_version FROM {role}")
        db.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        for privileges, kind in (
            ("SELECT, INSERT, UPDATE, DELETE", "TABLES"),
            ("USAGE, SELECT", "SEQUENCES"),
        ):
            db.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {privileges} ON {kind} TO {role}"
            )


def _make_engine(url: str, dialect: str) -> Engine:
    if dialect == SQLITE:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly one
        # transaction and nothing is committed behind our back. NullPool: a file database
        # gains nothing from pooling; each thread keeps the connection it opened. A writer
        # waits up to 30 s for another's lock instead of failing with "database is locked".
        engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": 30.0, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_autocommit(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: never corrupt
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        return engine
    # A connection for each of the server's request threads (anyio runs up to 40) and a few
    # for the rest; connections are opened as threads first need them.
    engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=48)

    @event.listens_for(engine, "connect")
    def _pg_autocommit(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.autocommit = True  # BEGIN/COMMIT are ours, as on SQLite

    return engine


def _migrations(dialect: str) -> list[tuple[int, str]]:
    folder = resources.files("facesift.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version(dialect: str = SQLITE) -> int:
    """The version a fully migrated database has."""
    return max(number for number, _ in _migrations(dialect))


def current_version(db: Database) -> int:
    if db.dialect == SQLITE:
        return int(db.execute("PRAGMA user_version").one()[0])
    if db.execute("SELECT to_regclass('schema_version')").one()[0] is None:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT MAX(version) FROM schema_version").one()
    return int(row[0] or 0)


def migrate(db: Database, up_to: int | None = None) -> list[int]:
    """Apply the migrations the database lacks, each in one transaction; returns them.
    ``up_to``: stop after that one."""
    if db.dialect == POSTGRESQL:
        # Two processes opening a new database at once must not both create the schema.
        db.execute("SELECT pg_advisory_lock(?)", (AUDIT_LOCK_KEY + 1,))
    try:
        current = current_version(db)
        applied = []
        for number, script in _migrations(db.dialect):
            if number <= current or (up_to is not None and number > up_to):
                continue
            if db.dialect == SQLITE:
                # executescript would commit on its own; wrap it so a failure leaves nothing.
                try:
                    db.script(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
                except sqlite3.Error:
                    if db._raw.driver_connection.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            else:
                with db.transaction():
                    db.script(script)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            applied.append(number)
            log.info("applied migration %04d to the %s database", number, db.dialect)
        return applied
    finally:
        if db.dialect == POSTGRESQL:
            db.execute("SELECT pg_advisory_unlock(?)", (AUDIT_LOCK_KEY + 1,))
