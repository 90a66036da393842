"""The tamper-evident audit log.

Each entry stores the hash of the entry before it, and its own hash covers its content and
that link. Editing, deleting, inserting or reordering an entry breaks the chain at that
entry, so ``verify`` can name the first bad one. Deleting entries from the *end* leaves a
valid shorter chain, which is why every append also writes the newest (id, hash) to an
anchor file outside the database: the log must reach at least that far.

The anchor sits in the data folder, which someone who can rewrite the database may also
reach. The setting ``audit_anchor_copy`` names a second place (another disk, a WORM or
``chattr +a`` mount): every anchor is *appended* there as a line, never rewritten, so an
append-only mount takes it. ``verify`` checks both and says which one disagrees. A failed
write to the copy never fails the entry (it is committed by then): it is logged, and kept in
``audit.anchor-copy.failed`` in the data folder, which ``verify`` reports until an operator
runs ``facesift audit resync-anchor-copy`` (itself an audited entry listing the failures).
Each line is flushed with ``fsync``: measured on this 2-core machine (shared, copy on the same
disk), an append took 0.96 ms without the copy and 1.98 ms with it.

``ChainWalk`` is the one check of links and hashes: ``verify`` runs it over the database,
and ``services.audit_export`` over an exported copy.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
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
ANCHOR_COPY_FAILURES_FILE = "audit.anchor-copy.failed"

log = logging.getLogger(__name__)


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

    def as_dict(self) -> dict:
        """The entry as a plain dict, sharing its ``details``: ``dataclasses.asdict`` copies
        every value deeply, and for a page of 50 entries that was most of the audit page's
        CPU (``/audit`` 8.9 ms of the server's CPU, ``/api/audit?limit=50`` 5.5)."""
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


class ChainWalk:
    """The chain checked entry by entry from the first: each must have the next id, link to
    the hash before it, and hash to what it says. ``details`` is the stored JSON text."""

    def __init__(self) -> None:
        self.expected_id, self.last_hash, self.count = 1, GENESIS_HASH, 0

    @property
    def last_id(self) -> int:
        return self.expected_id - 1

    def step(
        self, entry_id: int, at: str, actor: str, action: str, details: str, prev: str, own: str
    ) -> str | None:
        """The problem with this entry, or None (and the walk moves past it)."""
        if entry_id < self.expected_id:
            return f"entry {entry_id} is out of order (expected {self.expected_id})"
        if entry_id > self.expected_id:
            gap = (
                self.expected_id
                if entry_id == self.expected_id + 1
                else f"{self.expected_id}..{entry_id - 1}"
            )
            return f"entry {gap} was deleted before entry {entry_id}"
        if prev != self.last_hash:
            return f"entry {entry_id} does not link to the entry before it (inserted or reordered)"
        if entry_hash(prev, entry_id, at, actor, action, details) != own:
            return f"entry {entry_id} was edited after it was written"
        self.expected_id, self.last_hash, self.count = entry_id + 1, own, self.count + 1
        return None


@dataclass(frozen=True)
class Anchor:
    """An (entry id, hash) pair kept outside the database, and where it was read from."""

    where: str
    entry_id: int
    hash: str


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read: each field given narrows them (None or "": any). ``since`` and
    ``until`` are ISO dates or times, compared as text (UTC); ``until`` is excluded."""

    actor: str | None = None
    action: str | None = None
    case_id: int | None = None
    since: str | None = None
    until: str | None = None


class AuditLog:
    def __init__(self, db: Database, anchor_path: Path, anchor_copy: Path | None = None):
        self._db = db
        self._anchor_path = anchor_path
        self._anchor_copy = anchor_copy
        self._copy_failures = anchor_path.with_name(ANCHOR_COPY_FAILURES_FILE)
        # The newest id this process appended to the copy: the copy takes a line (and an
        # fsync) per entry only.
        self._copied_id: int | None = None
        # Per thread, the newest entry appended inside a transaction still open: the anchor
        # is written once it commits (``anchor_committed``), and only if there is one. Most
        # transactions write no entry; re-reading the log's head and replacing the anchor
        # file after each of them took a sixth of the server's CPU under load.
        self._unanchored = threading.local()

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
        else:
            self._unanchored.entry = (entry_id, digest)
        return AuditEntry(entry_id, at, actor, action, details, prev_hash, digest)

    def anchor_committed(self, committed: bool) -> None:
        """After this thread's outermost transaction ends: anchor the newest entry it wrote,
        if it committed one."""
        pending = getattr(self._unanchored, "entry", None)
        self._unanchored.entry = None
        if committed and pending is not None:
            self.write_anchor(*pending)

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
        if self._anchor_copy is not None and entry_id != self._copied_id:
            self._append_to_copy(entry_id, cast(str, digest))

    def _append_to_copy(self, entry_id: int, digest: str) -> None:
        """One line appended (one ``write`` on an ``O_APPEND`` descriptor, so concurrent
        writers do not interleave), flushed to the disk. A failure is logged and recorded
        for ``verify``; the entry itself is already committed and stays."""
        try:
            self._write_copy_line(entry_id, digest)
            self._copied_id = entry_id
        except OSError as exc:
            log.error(
                "audit entry %s is committed, but its anchor could not be written to the "
                "anchor copy %s: %s",
                entry_id,
                self._anchor_copy,
                exc,
            )
            failure = {"at": utc_now(), "entry_id": entry_id, "error": str(exc)}
            with self._copy_failures.open("a", encoding="utf-8") as failures:
                failures.write(canonical_json(failure) + "\n")

    def _write_copy_line(self, entry_id: int, digest: str) -> None:
        assert self._anchor_copy is not None
        fd = os.open(self._anchor_copy, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{entry_id} {digest}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def anchor_copy_failures(self) -> list[dict]:
        """The failed writes to the anchor copy not yet resynced, oldest first."""
        if not self._copy_failures.exists():
            return []
        lines = self._copy_failures.read_text(encoding="utf-8").splitlines()
        failures = []
        for line in lines:
            try:
                failures.append(json.loads(line))
            except ValueError:  # a line cut short by a crash still counts as a failure
                failures.append({"at": None, "entry_id": None, "error": line})
        return failures

    def resync_anchor_copy(self, actor: str | None = None) -> AuditEntry | None:
        """After the copy's disk is back, or to start a copy newly set: write the newest
        anchor to the copy (raises OSError if it still fails), then clear the recorded
        failures with an audit entry that lists them. None when there was nothing to do."""
        failures = self.anchor_copy_failures()
        if self._anchor_copy is None or (not failures and self._anchor_copy.exists()):
            return None
        last = self._db.execute(
            "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if last is not None:  # an empty log: the entry below starts the copy
            self._write_copy_line(last["id"], last["hash"])
        self._copy_failures.unlink(missing_ok=True)
        return self.append(
            "audit_anchor_copy_resynced",
            {"anchor_copy": str(self._anchor_copy), "failures_cleared": failures},
            actor,
        )

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
        self, match: AuditFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first."""
        where, args = self._where(match)
        rows = self._db.execute(
            f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [_row_to_entry(row) for row in rows]

    def count(self, match: AuditFilter | None = None) -> int:
        """How many entries match every filter given. With none, the newest entry's id: the
        chain numbers its entries 1, 2, 3... without a gap (``verify`` checks it), so that is
        the count, read from the primary key (under 1 ms). ``COUNT(*)`` read every entry to
        say it: 74-85 ms at a million entries on PostgreSQL, at every view of the audit log
        (``bench/audit_log.py``, four runs)."""
        where, args = self._where(match)
        if not where:
            newest = self._db.execute("SELECT MAX(id) FROM audit_log").one()[0]
            return int(newest or 0)
        return self._db.execute(f"SELECT COUNT(*) FROM audit_log{where}", args).one()[0]

    def _where(self, match: AuditFilter | None) -> tuple[str, list[object]]:
        match = match or AuditFilter()
        clauses: list[str] = []
        args: list[object] = []
        for clause, value in (
            ("actor = ?", match.actor),
            ("action = ?", match.action),
            (
                f"{self._db.json_text('details', 'case_id')} = {self._db.param_text()}",
                match.case_id,
            ),
            ("at >= ?", match.since),
            ("at < ?", match.until),
        ):
            if value is not None and value != "":
                clauses.append(clause)
                args.append(value)
        return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args

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

    def case_action_counts(self, case_id: int, since: str, until: str) -> dict[str, int]:
        """How many entries of each action are about this case from ``since`` to ``until``
        (both included)."""
        about_case = f"{self._db.json_text('details', 'case_id')} = {self._db.param_text()}"
        sql = (
            f"SELECT action, COUNT(*) FROM audit_log WHERE {about_case}"
            " AND at >= ? AND at <= ? GROUP BY action"
        )
        return {row[0]: int(row[1]) for row in self._db.execute(sql, (case_id, since, until))}

    def count_since(self, action: str, since: str, **details: object) -> int:
        """How many ``action`` entries since ``since`` have these values in their details."""
        sql = "SELECT COUNT(*) FROM audit_log WHERE action = ? AND at > ?"
        args: list[object] = [action, since]
        for key, value in details.items():
            sql += f" AND {self._db.json_text('details', key)} = {self._db.param_text()}"
            args.append(value)
        return self._db.execute(sql, args).one()[0]

    def actions(self) -> list[str]:
        """The actions in the log, alphabetically. A skip scan of the (action, at) index, one
        lookup per action (under 1 ms), where grouping every entry took 146-196 ms at a
        million entries on PostgreSQL and 86-154 on SQLite, at every view of the audit page
        (``bench/audit_log.py``, four runs)."""
        rows = self._db.execute(
            "WITH RECURSIVE known(action) AS ("
            " SELECT MIN(action) FROM audit_log"
            " UNION ALL"
            " SELECT (SELECT MIN(action) FROM audit_log WHERE action > known.action)"
            " FROM known WHERE known.action IS NOT NULL"
            ") SELECT action FROM known WHERE action IS NOT NULL"
        )
        return [row[0] for row in rows]

    def action_counts(self) -> dict[str, int]:
        """Each action in the log, alphabetically, with its number of entries."""
        rows = self._db.execute(
            "SELECT action, COUNT(*) AS n FROM audit_log GROUP BY action ORDER BY action"
        )
        return {r["action"]: r["n"] for r in rows}

    def verify(self) -> ChainReport:
        """Walk the chain from the start; report the first entry that does not fit, then
        check the log against the anchor and its copy, naming the one that disagrees.

        The anchors are read before the log. An anchor is written only after its entry is
        committed, so what the walk then reads reaches it; read after the walk, an entry
        appended meanwhile (a request, the misuse scan's thread) put the anchor past the
        walk's end, and verify said the log's end had been deleted."""
        anchor = self._read_anchor_file()
        copy = self._read_anchor_copy() if self._anchor_copy is not None else None
        walk = ChainWalk()
        for row in self._db.execute("SELECT * FROM audit_log ORDER BY id"):
            problem = walk.step(
                row["id"],
                row["at"],
                row["actor"],
                row["action"],
                row["details"],
                row["prev_hash"],
                row["hash"],
            )
            if problem:
                return ChainReport(False, walk.count, first_bad_id=row["id"], problem=problem)
        reports = [
            self._check_anchor(walk, anchor, f"the anchor file {self._anchor_path} is missing")
        ]
        if self._anchor_copy is not None:
            missing = (
                f"the anchor copy {self._anchor_copy} is missing (deleted, or newly set: "
                "`facesift audit resync-anchor-copy` starts it)"
            )
            reports.append(self._check_anchor(walk, copy, missing))
            reports.append(self._check_copy_writes(walk.count))
        bad = [r for r in reports if not r.ok]
        if not bad:
            return ChainReport(True, walk.count)
        first_bad = min((r.first_bad_id for r in bad if r.first_bad_id), default=None)
        return ChainReport(
            False, walk.count, first_bad, "; ".join(cast(str, r.problem) for r in bad)
        )

    def _read_anchor_file(self) -> Anchor | str | None:
        """The anchor file's pair, a problem, or None when there is no file."""
        where = f"the anchor file {self._anchor_path}"
        if not self._anchor_path.exists():
            return None
        try:
            anchor_id_text, anchor_hash = self._anchor_path.read_text(encoding="ascii").split()
            return Anchor(where, int(anchor_id_text), anchor_hash)
        except ValueError:  # also UnicodeDecodeError: someone wrote over the anchor
            return f"{where} is damaged"

    def _read_anchor_copy(self) -> Anchor | str | None:
        """The copy's newest pair (the highest id, as concurrent writers may append out of
        order; of equal ids the last line), a problem, or None when there is no copy yet."""
        assert self._anchor_copy is not None
        where = f"the anchor copy {self._anchor_copy}"
        try:
            text = self._anchor_copy.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return f"{where} cannot be read: {exc}"
        newest: Anchor | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                id_text, digest = line.split()
                anchor = Anchor(where, int(id_text), digest)
            except ValueError:
                return f"{where} is damaged at line {number}"
            if newest is None or anchor.entry_id >= newest.entry_id:  # the last wins
                newest = anchor
        return newest

    def _check_anchor(
        self, walk: ChainWalk, anchor: Anchor | str | None, missing: str
    ) -> ChainReport:
        """The log against one anchor; ``missing``: the problem when there is none."""
        count, last_id = walk.count, walk.last_id
        if isinstance(anchor, str):
            return ChainReport(False, count, None, anchor)
        if anchor is None:
            return ChainReport(True, 0) if count == 0 else ChainReport(False, count, None, missing)
        if anchor.entry_id > last_id:
            return ChainReport(
                False,
                count,
                last_id + 1,
                f"entries {last_id + 1}..{anchor.entry_id} were deleted from the end of the "
                f"log ({anchor.where} reaches entry {anchor.entry_id})",
            )
        stored = self._db.execute(
            "SELECT hash FROM audit_log WHERE id = ?", (anchor.entry_id,)
        ).fetchone()
        if stored is None or stored["hash"] != anchor.hash:
            return ChainReport(
                False,
                count,
                anchor.entry_id,
                f"entry {anchor.entry_id} differs from the hash in {anchor.where}",
            )
        return ChainReport(True, count)

    def _check_copy_writes(self, count: int) -> ChainReport:
        failures = self.anchor_copy_failures()
        if not failures:
            return ChainReport(True, count)
        first, last = failures[0], failures[-1]
        return ChainReport(
            False,
            count,
            None,
            f"{len(failures)} anchor(s) could not be written to the anchor copy "
            f"{self._anchor_copy} (first at {first['at']} for entry {first['entry_id']}, last "
            f"at {last['at']}: {last['error']}); once it is writable, run "
            "`facesift audit resync-anchor-copy`",
        )


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
