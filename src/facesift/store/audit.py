"""The tamper-evident audit log.

Each entry stores the hash of the entry before it, and its own hash covers its content and
that link. Editing, deleting, inserting or reordering an entry breaks the chain at that
entry, so ``verify`` can name the first bad one. Deleting entries from the *end* leaves a
valid shorter chain, which is why every append also writes the newest (id, hash) to an
anchor file outside the database: the log must reach at least that far.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from facesift.store.database import Database, Record

GENESIS_HASH = "0" * 64


CLI_ACTOR_PREFIX = "cli:"  # no account name has a colon: a command-line actor is never a user


def current_os_user() -> str:
    """The actor of a command run on the machine: ``cli:`` and the OS user's name."""
    try:
        return CLI_ACTOR_PREFIX + getpass.getuser()
    except (KeyError, OSError):
        return f"{CLI_ACTOR_PREFIX}uid:{os.getuid()}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without_nul(value: object) -> object:
    """Details with every NUL character replaced by U+FFFD. A request's text reaches the log
    (a refused purpose, an audit filter), and PostgreSQL's JSON functions refuse a ``\\u0000``
    anywhere in a column: one such entry broke every later filtered read of the log. The entry
    is still written, with the character marked as replaced."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def entry_hash(
    prev_hash: str, entry_id: int, at: str, actor: str, action: str, details: str
) -> str:
    body = canonical_json([entry_id, at, actor, action, details])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    details: dict
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


class AuditLog:
    def __init__(self, db: Database, anchor_path: Path):
        self._db = db
        self._anchor_path = anchor_path

    def append(self, action: str, details: dict, actor: str | None = None) -> AuditEntry:
        """Add an entry. Runs in the caller's transaction if one is open."""
        actor = actor or current_os_user()
        details = cast(dict, _without_nul(details))
        details_json = canonical_json(details)
        own_transaction = not self._db.in_transaction
        # Serialised: SQLite's BEGIN IMMEDIATE takes the write lock, PostgreSQL's advisory
        # lock is held to the end of the transaction, so two writers cannot fork the chain.
        with nullcontext() if not own_transaction else self._db.transaction():
            self._db.lock_audit_head()
            at = utc_now()  # under the lock, so times never go backwards along the chain
            last = self._db.execute(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
            ).fetchone()
            entry_id, prev_hash = (last["id"] + 1, last["hash"]) if last else (1, GENESIS_HASH)
            digest = entry_hash(prev_hash, entry_id, at, actor, action, details_json)
            self._db.execute(
                "INSERT INTO audit_log (id, at, actor, action, details, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry_id, at, actor, action, details_json, prev_hash, digest),
            )
        if own_transaction:
            self.write_anchor(entry_id, digest)
        return AuditEntry(entry_id, at, actor, action, details, prev_hash, digest)

    def write_anchor(self, entry_id: int | None = None, digest: str | None = None) -> None:
        """Record the newest entry outside the database (atomically replaced)."""
        if entry_id is None:
            last = self._db.execute(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if last is None:
                return
            entry_id, digest = last["id"], last["hash"]
        # A temp name per process and thread: several writers may anchor at once.
        tmp = self._anchor_path.with_name(
            f".{self._anchor_path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        )
        tmp.write_text(f"{entry_id} {digest}\n", encoding="ascii")
        os.replace(tmp, self._anchor_path)

    def entries(
        self, *, action: str | None = None, since_id: int = 0, limit: int | None = None
    ) -> list[AuditEntry]:
        sql = "SELECT * FROM audit_log WHERE id > ?"
        args: list[int | str] = [since_id]
        if action:
            sql += " AND action = ?"
            args.append(action)
        sql += " ORDER BY id"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [_row_to_entry(row) for row in self._db.execute(sql, args)]

    def filtered(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        case_id: int | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, list[AuditEntry]]:
        """Entries matching every filter given, newest first, and how many match in all.
        ``since`` and ``until`` are ISO dates or times, compared as text (UTC)."""
        clauses, args = [], []
        for clause, value in (
            ("actor = ?", actor),
            ("action = ?", action),
            (f"{self._db.json_text('details', 'case_id')} = {self._db.param_text()}", case_id),
            ("at >= ?", since),
            ("at < ?", until),
        ):
            if value is not None and value != "":
                clauses.append(clause)
                args.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        total = self._db.execute(f"SELECT COUNT(*) FROM audit_log{where}", args).one()[0]
        rows = self._db.execute(
            f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return total, [_row_to_entry(row) for row in rows]

    def case_entries(self, case_id: int, skip: tuple[str, ...] = ()) -> list[AuditEntry]:
        """Every entry about this case (its details name it), oldest first, less the
        actions in ``skip``."""
        sql = (
            f"SELECT * FROM audit_log WHERE {self._db.json_text('details', 'case_id')}"
            f" = {self._db.param_text()}"
        )
        args: list[object] = [case_id]
        if skip:
            sql += f" AND action NOT IN ({', '.join('?' * len(skip))})"
            args += skip
        return [_row_to_entry(row) for row in self._db.execute(sql + " ORDER BY id", args)]

    def count_since(self, action: str, since: str, **details: object) -> int:
        """How many ``action`` entries since ``since`` have these values in their details."""
        sql = "SELECT COUNT(*) FROM audit_log WHERE action = ? AND at > ?"
        args: list[object] = [action, since]
        for key, value in details.items():
            sql += f" AND {self._db.json_text('details', key)} = {self._db.param_text()}"
            args.append(value)
        return self._db.execute(sql, args).one()[0]

    def actions(self) -> list[str]:
        return list(self.action_counts())

    def action_counts(self) -> dict[str, int]:
        """Each action in the log, alphabetically, with its number of entries."""
        rows = self._db.execute(
            "SELECT action, COUNT(*) AS n FROM audit_log GROUP BY action ORDER BY action"
        )
        return {r["action"]: r["n"] for r in rows}

    def verify(self) -> ChainReport:
        """Walk the chain from the start; report the first entry that does not fit."""
        expected_prev, expected_id, count = GENESIS_HASH, 1, 0
        for row in self._db.execute("SELECT * FROM audit_log ORDER BY id"):
            problem = _check_row(row, expected_id, expected_prev)
            if problem:
                return ChainReport(False, count, first_bad_id=row["id"], problem=problem)
            expected_prev, expected_id, count = row["hash"], row["id"] + 1, count + 1
        return self._check_anchor(count, expected_id - 1, expected_prev)

    def _check_anchor(self, count: int, last_id: int, last_hash: str) -> ChainReport:
        if not self._anchor_path.exists():
            if count == 0:
                return ChainReport(True, 0)
            return ChainReport(False, count, None, "the anchor file is missing")
        try:
            anchor_id_text, anchor_hash = self._anchor_path.read_text(encoding="ascii").split()
            anchor_id = int(anchor_id_text)
        except ValueError:  # also UnicodeDecodeError: someone wrote over the anchor
            return ChainReport(False, count, None, "the anchor file is damaged")
        if anchor_id > last_id:
            return ChainReport(
                False,
                count,
                last_id + 1,
                f"entries {last_id + 1}..{anchor_id} were deleted from the end of the log",
            )
        stored = self._db.execute(
            "SELECT hash FROM audit_log WHERE id = ?", (anchor_id,)
        ).fetchone()
        if stored is None or stored["hash"] != anchor_hash:
            return ChainReport(False, count, anchor_id, "entry differs from the anchored hash")
        return ChainReport(True, count)


def _check_row(row: Record, expected_id: int, expected_prev: str) -> str | None:
    if row["id"] < expected_id:
        return f"entry {row['id']} is out of order (expected {expected_id})"
    if row["id"] > expected_id:
        missing = expected_id if row["id"] == expected_id + 1 else f"{expected_id}..{row['id'] - 1}"
        return f"entry {missing} was deleted before entry {row['id']}"
    if row["prev_hash"] != expected_prev:
        return f"entry {row['id']} does not link to the entry before it (inserted or reordered)"
    recomputed = entry_hash(
        row["prev_hash"], row["id"], row["at"], row["actor"], row["action"], row["details"]
    )
    if recomputed != row["hash"]:
        return f"entry {row['id']} was edited after it was written"
    return None


def _row_to_entry(row: Record) -> AuditEntry:
    return AuditEntry(
        row["id"],
        row["at"],
        row["actor"],
        row["action"],
        json.loads(row["details"]),
        row["prev_hash"],
        row["hash"],
    )
