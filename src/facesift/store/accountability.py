"""Rows for the accountability rules: tombstones of removed photos, and which reviewers a
search is assigned to. Rows in, rows out; the rules live in the services."""

from __future__ import annotations

from collections.abc import Iterable

from facesift.store.audit import utc_now
from facesift.store.database import POSTGRESQL, Database

MAX_ASSIGNED = 2  # the slots of migration 0006


class Tombstones:
    def __init__(self, db: Database):
        self._db = db

    def add(self, sha256: str, removed_by: str | None, reason: str) -> None:
        """Call in a transaction. A hash tombstoned twice keeps its first record."""
        if self.tombstoned([sha256]):
            return
        self._db.execute(
            "INSERT INTO tombstones (sha256, removed_at, removed_by, reason) VALUES (?, ?, ?, ?)",
            (sha256, utc_now(), removed_by, reason),
        )

    def tombstoned(self, hashes: Iterable[str]) -> set[str]:
        hashes = list(hashes)
        found: set[str] = set()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256 FROM tombstones WHERE sha256 IN ({marks})", chunk
            )
            found.update(row[0] for row in rows)
        return found

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM tombstones").one()[0])


class ReviewAssignments:
    def __init__(self, db: Database):
        self._db = db

    def reviewers(self, search_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT reviewer_id FROM review_assignments WHERE search_id = ? ORDER BY slot",
            (search_id,),
        )
        return [int(r[0]) for r in rows]

    def assign(self, search_id: int, reviewer_id: int) -> bool:
        """Give the reviewer the next free slot; False when both are taken. Call in a
        transaction; a rival taking the same slot at once fails on the key instead."""
        if self._db.dialect == POSTGRESQL:
            # Takers of the same search queue here; SQLite's BEGIN IMMEDIATE already does.
            self._db.execute("SELECT id FROM searches WHERE id = ? FOR UPDATE", (search_id,))
        taken = self.reviewers(search_id)
        if len(taken) >= MAX_ASSIGNED:
            return False
        self._db.execute(
            "INSERT INTO review_assignments (search_id, slot, reviewer_id, assigned_at)"
            " VALUES (?, ?, ?, ?)",
            (search_id, len(taken) + 1, reviewer_id, utc_now()),
        )
        return True

    def is_assigned(self, search_id: int, reviewer_id: int) -> bool:
        return reviewer_id in self.reviewers(search_id)

    def reviews_probe(self, reviewer_id: int, probe_id: int) -> bool:
        """Whether the reviewer is assigned a search of this probe."""
        row = self._db.execute(
            "SELECT 1 FROM review_assignments JOIN searches ON searches.id ="
            " review_assignments.search_id WHERE review_assignments.reviewer_id = ?"
            " AND searches.probe_id = ? LIMIT 1",
            (reviewer_id, probe_id),
        ).fetchone()
        return row is not None
