"""Reads for oversight: the usage report, the misuse alerts and the public transparency page.

Rows in, typed values out; the counting and the rules live in ``services.usage`` and
``services.alerts``. Times are ISO text in UTC (as every table stores them), so a period is
``since <= at < until`` compared as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facesift.store.audit import AuditEntry, _row_to_entry, utc_now
from facesift.store.database import ALERT_SCAN_LOCK_KEY, Database

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SearchUsage:
    """One search that ran: who asked, for which case and offense, and how it ended."""

    search_id: int
    at: str
    requester: str
    case_id: int
    offense_category: str
    outcome: str  # candidates, no_candidate
    status: str  # pending_review, released, no_lead, inconclusive, no_candidate
    edited_probe: bool


@dataclass(frozen=True)
class ReviewUsage:
    search_id: int
    reviewer: str
    decision: str
    candidate_face_id: int | None


@dataclass(frozen=True)
class Holding:
    """What one collection holds under one legal basis (None: none recorded)."""

    collection: str
    legal_basis: str | None
    images: int
    faces: int


@dataclass(frozen=True)
class SearchedProbe:
    """A probe face searched in a case, with its template (None once retention destroyed it)."""

    search_id: int
    case_id: int
    probe_id: int
    face_index: int
    sha256: str
    at: str
    template: np.ndarray | None


class OversightRecords:
    def __init__(self, db: Database):
        self._db = db

    def searches_between(self, since: str, until: str) -> list[SearchUsage]:
        rows = self._db.execute(
            "SELECT s.id, s.created_at, u.name, s.case_id, c.offense_category, s.outcome,"
            " s.status, s.edited_probe FROM searches s JOIN cases c ON c.id = s.case_id"
            " JOIN users u ON u.id = s.requested_by"
            " WHERE s.created_at >= ? AND s.created_at < ? ORDER BY s.id",
            (since, until),
        )
        return [
            SearchUsage(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], r[6], bool(r[7]))
            for r in rows
        ]

    def reviews_of_searches_between(self, since: str, until: str) -> list[ReviewUsage]:
        """The reviews of the searches that ran in the period (whenever they were written)."""
        rows = self._db.execute(
            "SELECT r.search_id, u.name, r.decision, r.candidate_face_id FROM reviews r"
            " JOIN searches s ON s.id = r.search_id JOIN users u ON u.id = r.reviewer_id"
            " WHERE s.created_at >= ? AND s.created_at < ? ORDER BY r.id",
            (since, until),
        )
        return [
            ReviewUsage(int(r[0]), r[1], r[2], None if r[3] is None else int(r[3])) for r in rows
        ]

    def audit_between(self, since: str, until: str, actions: Iterable[str]) -> list[AuditEntry]:
        wanted = list(actions)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT * FROM audit_log WHERE action IN ({marks}) AND at >= ? AND at < ? ORDER BY id",
            (*wanted, since, until),
        )
        return [_row_to_entry(row) for row in rows]

    def audit_after(self, after_id: int, actions: Iterable[str], limit: int) -> list[AuditEntry]:
        """At most ``limit`` entries of these actions with an id above ``after_id``, oldest
        first."""
        wanted = list(actions)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT * FROM audit_log WHERE id > ? AND action IN ({marks}) ORDER BY id LIMIT ?",
            (after_id, *wanted, limit),
        )
        return [_row_to_entry(row) for row in rows]

    # -- the alert scan's mark: how far the audit log has been judged --------------------------

    def scan_mark(self, key: str) -> int:
        """The id the alert scan has judged through (0 at first, recorded then). Read first,
        written only the first time: the insert that made sure of the row was a write at
        every scan (SQLite's write lock; a round trip more on PostgreSQL)."""
        read = "SELECT value FROM settings WHERE key = ?"
        row = self._db.execute(read, (key,)).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, '0', ?, ?)"
                " ON CONFLICT(key) DO NOTHING",
                (key, utc_now(), "alerts"),
            )
            row = self._db.execute(read, (key,)).one()
        return int(json.loads(row["value"]))

    def scan_lease(self) -> AbstractContextManager[bool]:
        """Whether this process may judge new entries now: False while another server worker
        is (PostgreSQL; see ``Database.lease``). Its judging would be thrown away."""
        return self._db.lease(ALERT_SCAN_LOCK_KEY)

    def advance_scan_mark(self, key: str, seen: int, through: int) -> bool:
        """Move the mark from ``seen`` to ``through``; False when another scanner moved it
        first (compare and set: on PostgreSQL the second waits for the first's row lock, then
        finds the value changed). Call first in the transaction that writes the alerts."""
        changed = self._db.execute(
            "UPDATE settings SET value = ?, updated_at = ?, updated_by = ?"
            " WHERE key = ? AND value = ?",
            (json.dumps(through), utc_now(), "alerts", key, json.dumps(seen)),
        )
        return changed.rowcount == 1

    def holdings(self) -> list[Holding]:
        rows = self._db.execute(
            # Named: a row is keyed by column name, and PostgreSQL calls both counts "count".
            "SELECT c.name, i.legal_basis, COUNT(DISTINCT i.id) AS images, COUNT(f.id) AS faces"
            " FROM collections c JOIN images i ON i.collection_id = c.id"
            " LEFT JOIN faces f ON f.image_id = i.id"
            " GROUP BY c.name, i.legal_basis ORDER BY c.name, i.legal_basis"
        )
        return [Holding(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    def searched_probes_after(
        self, search_id: int, since: str, skip: frozenset[int] = frozenset()
    ) -> list[SearchedProbe]:
        """The probe faces of the searches after ``search_id`` run since ``since``, less the
        searches in ``skip`` (already read). Their ids are read first and only the new ones'
        probes after: the scan reads the last few dozen searches again each time (see
        ``Alerts._read_new_searches``), and fetching their probes' faces and templates again
        was half the scan's CPU (2 ms of 3.8 a scan, 200 searches in one case)."""
        ids = [
            int(r[0])
            for r in self._db.execute(
                "SELECT id FROM searches WHERE id > ? AND created_at >= ? ORDER BY id",
                (search_id, since),
            )
        ]
        new = [i for i in ids if i not in skip]
        if not new:
            return []
        rows = self._db.execute(
            "SELECT s.id, s.case_id, s.probe_id, s.face_index, p.sha256, s.created_at,"
            " p.faces, p.embeddings FROM searches s JOIN probes p ON p.id = s.probe_id"
            " WHERE s.id >= ? AND s.id <= ? ORDER BY s.id",
            (new[0], new[-1]),
        )
        wanted = set(new)
        return [
            SearchedProbe(
                int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], _template(r[6], r[7], r[3])
            )
            for r in rows
            if int(r[0]) in wanted
        ]

    def probe_template(self, probe_id: int, face_index: int) -> np.ndarray | None:
        row = self._db.execute(
            "SELECT faces, embeddings FROM probes WHERE id = ?", (probe_id,)
        ).fetchone()
        return None if row is None else _template(row[0], row[1], face_index)


def _template(faces_json: str, blob: bytes | None, face_index: int) -> np.ndarray | None:
    import numpy as np

    count = len(json.loads(faces_json or "[]"))
    if not blob or not count or face_index >= count:
        return None
    vectors = np.frombuffer(bytes(blob), dtype="<f4")
    if vectors.size % count:
        return None
    return vectors.reshape(count, -1)[face_index].astype(np.float32)
