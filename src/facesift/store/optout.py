"""Rows of opt-out requests: the request, its (sealed) selfies until it is done, the gallery
faces it found and the officer's decision on each, and the sealed suppression templates.
Rows in, rows out: sealing and the rules live in governance and the services."""

from __future__ import annotations

import json

from facesift.store.audit import utc_now
from facesift.store.database import Database


class OptOutRecords:
    def __init__(self, db: Database):
        self._db = db

    def add_request(self, reference: str, contact: str, selfies: list[bytes]) -> int:
        """Call in a transaction. ``selfies``: sealed."""
        request_id = self._db.insert(
            "INSERT INTO optout_requests (reference, contact, status, selfies, created_at)"
            " VALUES (?, ?, 'received', ?, ?)",
            (reference, contact, len(selfies), utc_now()),
        )
        self._db.executemany(
            "INSERT INTO optout_selfies (request_id, n, sealed) VALUES (?, ?, ?)",
            [(request_id, n, sealed) for n, sealed in enumerate(selfies)],
        )
        return request_id

    def add_found(self, request_id: int, found: list[tuple[int, int, float]]) -> None:
        """(face id, image id, distance) for each gallery face the request found."""
        self._db.executemany(
            "INSERT INTO optout_faces (request_id, face_id, image_id, distance)"
            " VALUES (?, ?, ?, ?)",
            [(request_id, f, i, d) for f, i, d in found],
        )
        self._db.execute(
            "UPDATE optout_requests SET faces_found = ?, status = ? WHERE id = ?",
            (len(found), "in_review" if found else "received", request_id),
        )

    def add_template(self, request_id: int, sealed: bytes) -> None:
        self._db.execute(
            "INSERT INTO suppression_templates (request_id, sealed, created_at) VALUES (?, ?, ?)",
            (request_id, sealed, utc_now()),
        )

    def templates(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._db.execute("SELECT sealed FROM suppression_templates")]

    def template_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM suppression_templates").one()[0])

    def request(self, request_id: int) -> dict | None:
        row = self._db.execute(
            "SELECT * FROM optout_requests WHERE id = ?", (request_id,)
        ).fetchone()
        return dict(row) if row else None

    def by_reference(self, reference: str) -> dict | None:
        row = self._db.execute(
            "SELECT * FROM optout_requests WHERE reference = ?", (reference,)
        ).fetchone()
        return dict(row) if row else None

    def requests(self) -> list[dict]:
        rows = self._db.execute("SELECT * FROM optout_requests ORDER BY id DESC LIMIT 500")
        return [dict(r) for r in rows]

    def found(self, request_id: int) -> list[dict]:
        rows = self._db.execute(
            "SELECT * FROM optout_faces WHERE request_id = ? ORDER BY distance", (request_id,)
        )
        return [dict(r) for r in rows]

    def undecided_face(self, face_id: int) -> bool:
        """Whether the face waits for an officer's decision on some request."""
        row = self._db.execute(
            "SELECT 1 FROM optout_faces WHERE face_id = ? AND decision IS NULL LIMIT 1",
            (face_id,),
        ).fetchone()
        return row is not None

    def decide(self, request_id: int, face_id: int, decision: str, officer: str) -> None:
        self._db.execute(
            "UPDATE optout_faces SET decision = ?, decided_by = ?, decided_at = ?"
            " WHERE request_id = ? AND face_id = ?",
            (decision, officer, utc_now(), request_id, face_id),
        )
        column = "faces_removed" if decision == "removed" else "faces_kept"
        self._db.execute(
            f"UPDATE optout_requests SET {column} = {column} + 1 WHERE id = ?", (request_id,)
        )

    def selfies(self, request_id: int) -> list[bytes]:
        rows = self._db.execute(
            "SELECT sealed FROM optout_selfies WHERE request_id = ? ORDER BY n", (request_id,)
        )
        return [bytes(r[0]) for r in rows]

    def finish(self, request_id: int) -> int:
        """Delete the selfies and mark the request done; returns how many were deleted."""
        deleted = self._db.execute(
            "DELETE FROM optout_selfies WHERE request_id = ?", (request_id,)
        ).rowcount
        self._db.execute(
            "UPDATE optout_requests SET status = 'done', done_at = ? WHERE id = ?",
            (utc_now(), request_id),
        )
        return int(deleted)

    def redact_candidates(self, face_id: int, marker: str) -> int:
        """Candidate lists that named this face keep a marker in its place."""
        image = {"id": None, "path": marker, "redacted": True}
        details = json.dumps({"box": None, "image": image, "redacted": marker})
        return int(
            self._db.execute(
                "UPDATE search_candidates SET details = ? WHERE face_id = ?", (details, face_id)
            ).rowcount
        )

    def faces_of_image(self, image_id: int) -> list[int]:
        return [
            int(r[0])
            for r in self._db.execute("SELECT id FROM faces WHERE image_id = ?", (image_id,))
        ]
