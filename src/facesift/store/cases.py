"""Cases and everything done within them: probes, their edits, searches, candidate lists and
reviews. Rows in, rows out; the rules live in the services and in governance."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from facesift.store.accountability import MAX_ASSIGNED
from facesift.store.audit import utc_now
from facesift.store.database import Database, Record
from facesift.store.values import CaseStatus

if TYPE_CHECKING:
    import numpy as np

CASE_COLUMNS = (
    "reference",
    "offense_category",
    "purpose",
    "authorisation_id",
    "authorisation_expires",
    "collections",  # JSON list of the collections the case may search; NULL: all
)


def _dict(row: Record | None) -> dict | None:
    return dict(row) if row is not None else None


class CaseRecords:
    def __init__(self, db: Database):
        self._db = db

    # -- cases ---------------------------------------------------------------------------------

    def add_case(self, values: dict, created_by: int) -> int:
        new_id = self._db.insert(
            f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}, created_by, created_at)"
            f" VALUES ({', '.join('?' * len(CASE_COLUMNS))}, ?, ?)",
            (*(values.get(c) for c in CASE_COLUMNS), created_by, utc_now()),
        )
        return new_id

    def case(self, case_id: int) -> dict | None:
        return _case_or_none(
            self._db.execute(
                "SELECT cases.*, users.name AS created_by_name FROM cases"
                " JOIN users ON users.id = cases.created_by WHERE cases.id = ?",
                (case_id,),
            ).fetchone()
        )

    def case_by_reference(self, reference: str) -> dict | None:
        return _dict(
            self._db.execute("SELECT * FROM cases WHERE reference = ?", (reference,)).fetchone()
        )

    def cases(
        self,
        created_by: int | None = None,
        *,
        before_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Cases newest first: all of them, or at most ``limit`` older than ``before_id``
        (the next page of a list)."""
        sql = (
            "SELECT cases.*, users.name AS created_by_name,"
            " (SELECT COUNT(*) FROM searches WHERE searches.case_id = cases.id) AS searches"
            " FROM cases JOIN users ON users.id = cases.created_by"
        )
        clauses, args = [], []
        if created_by is not None:
            clauses.append("cases.created_by = ?")
            args.append(created_by)
        if before_id is not None:
            clauses.append("cases.id < ?")
            args.append(before_id)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY cases.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_case_dict(r) for r in self._db.execute(sql, args)]

    def set_case_status(self, case_id: int, status: CaseStatus) -> None:
        # Retention periods count from closure.
        closed_at = utc_now() if status == CaseStatus.CLOSED else None
        self._db.execute(
            "UPDATE cases SET status = ?, closed_at = ? WHERE id = ?", (status, closed_at, case_id)
        )

    def set_keep_probe_images(self, case_id: int, reason: str) -> None:
        self._db.execute("UPDATE cases SET keep_probe_images = ? WHERE id = ?", (reason, case_id))

    # -- probes --------------------------------------------------------------------------------

    def add_probe(self, probe: dict, embeddings: np.ndarray) -> int:
        import numpy as np

        new_id = self._db.insert(
            "INSERT INTO probes (case_id, parent_id, edit, sha256, content, media_type, width,"
            " height, faces, embeddings, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                probe["case_id"],
                probe.get("parent_id"),
                json.dumps(probe["edit"]) if probe.get("edit") else None,
                probe["sha256"],
                probe["content"],
                probe["media_type"],
                probe["width"],
                probe["height"],
                json.dumps(probe["faces"]),
                np.ascontiguousarray(embeddings, dtype="<f4").tobytes(),
                probe["created_by"],
                utc_now(),
            ),
        )
        return new_id

    def probe(self, probe_id: int, with_content: bool = False) -> dict | None:
        columns = "probes.*" if with_content else _PROBE_COLUMNS
        row = self._db.execute(
            f"SELECT {columns}, users.name AS created_by_name FROM probes"
            " JOIN users ON users.id = probes.created_by WHERE probes.id = ?",
            (probe_id,),
        ).fetchone()
        return _probe_dict(row) if row else None

    def probes(self, case_id: int) -> list[dict]:
        rows = self._db.execute(
            f"SELECT {_PROBE_COLUMNS}, users.name AS created_by_name FROM probes"
            " JOIN users ON users.id = probes.created_by WHERE case_id = ? ORDER BY probes.id",
            (case_id,),
        )
        return [_probe_dict(r) for r in rows]

    def probe_embedding(self, probe_id: int, face_index: int) -> np.ndarray:
        import numpy as np

        blob = self._db.execute("SELECT embeddings FROM probes WHERE id = ?", (probe_id,)).one()[
            "embeddings"
        ]
        return np.frombuffer(blob, dtype="<f4").reshape(-1, 128)[face_index].astype(np.float32)

    # -- searches ------------------------------------------------------------------------------

    def add_search(self, search: dict, candidates: list[dict]) -> int:
        columns = list(search)
        new_id = self._db.insert(
            f"INSERT INTO searches ({', '.join(columns)}, created_at)"
            f" VALUES ({', '.join('?' * len(columns))}, ?)",
            (*search.values(), utc_now()),
        )
        search_id = new_id
        self._db.executemany(
            "INSERT INTO search_candidates (search_id, rank, face_id, image_id, distance, score,"
            " expected_false_candidates, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    search_id,
                    c["rank"],
                    c["face_id"],
                    c["image"]["id"],
                    c["distance"],
                    c["score"],
                    c["expected_false_candidates"],
                    json.dumps({"box": c["box"], "image": c["image"]}),
                )
                for c in candidates
            ],
        )
        return search_id

    def set_search(self, search_id: int, **values: object) -> None:
        allowed = {"status", "lead_face_id", "audit_id"}
        if set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        assignments = ", ".join(f"{column} = ?" for column in values)
        self._db.execute(
            f"UPDATE searches SET {assignments} WHERE id = ?", (*values.values(), search_id)
        )

    def search(self, search_id: int) -> dict | None:
        return _dict(
            self._db.execute(f"{_SEARCH_SELECT} WHERE searches.id = ?", (search_id,)).fetchone()
        )

    def searches(
        self,
        *,
        case_id: int | None = None,
        status: str | None = None,
        requested_by: int | None = None,
        before_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Searches newest first: all of them, or at most ``limit``, those older than
        ``before_id`` if given (the next page of a list). A case's timeline and disclosure
        packet need every one: cut at 500, a bigger case's packet would lose its oldest
        searches, and its timeline would show their reviewers' decisions before both were
        in."""
        clauses, args = [], []
        for column, value in (
            ("searches.case_id", case_id),
            ("searches.status", status),
            ("searches.requested_by", requested_by),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if before_id is not None:
            clauses.append("searches.id < ?")
            args.append(before_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        page = "" if limit is None else " LIMIT ?"
        rows = self._db.execute(
            f"{_SEARCH_SELECT}{where} ORDER BY searches.id DESC{page}",
            (*args,) if limit is None else (*args, limit),
        )
        return [dict(r) for r in rows]

    def searches_since(self, user_id: int, since: str) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM searches WHERE requested_by = ? AND created_at > ?",
            (user_id, since),
        ).one()[0]

    def candidates(self, search_id: int) -> list[dict]:
        rows = self._db.execute(
            "SELECT * FROM search_candidates WHERE search_id = ? ORDER BY rank", (search_id,)
        )
        return [{**dict(r), **json.loads(r["details"])} | {"details": None} for r in rows]

    def searches_showing(
        self, *, face_id: int | None = None, image_id: int | None = None
    ) -> list[dict]:
        """The searches whose candidate list holds this gallery face or image, newest first."""
        column, value = ("face_id", face_id) if face_id is not None else ("image_id", image_id)
        rows = self._db.execute(
            f"{_SEARCH_SELECT} WHERE searches.id IN"
            f" (SELECT search_id FROM search_candidates WHERE {column} = ?)"
            " ORDER BY searches.id DESC",
            (value,),
        )
        return [dict(r) for r in rows]

    def searches_showing_subject_of(self, face_id: int) -> list[dict]:
        """The searches whose candidate list holds a photo of the subject this gallery face
        belongs to (by the subject recorded now), newest first."""
        rows = self._db.execute(
            f"{_SEARCH_SELECT} WHERE searches.id IN (SELECT sc.search_id FROM search_candidates sc"
            " JOIN images shown ON shown.id = sc.image_id JOIN images own"
            " ON own.collection_id = shown.collection_id AND own.subject_id = shown.subject_id"
            " JOIN faces f ON f.image_id = own.id WHERE f.id = ?) ORDER BY searches.id DESC",
            (face_id,),
        )
        return [dict(r) for r in rows]

    # -- reviews -------------------------------------------------------------------------------

    def add_review(self, review: dict) -> int:
        review = dict(review)
        if review.get("candidate_face_ids") is not None:
            review["candidate_face_ids"] = json.dumps(review["candidate_face_ids"])
        columns = list(review)
        new_id = self._db.insert(
            f"INSERT INTO reviews ({', '.join(columns)}, created_at)"
            f" VALUES ({', '.join('?' * len(columns))}, ?)",
            (*review.values(), utc_now()),
        )
        return new_id

    def reviews(self, search_ids: Iterable[int]) -> list[dict]:
        ids = list(search_ids)
        if not ids:
            return []
        rows = self._db.execute(
            "SELECT reviews.*, users.name AS reviewer FROM reviews"
            " JOIN users ON users.id = reviews.reviewer_id"
            f" WHERE search_id IN ({', '.join('?' * len(ids))}) ORDER BY reviews.id",
            ids,
        )
        return [_review_dict(r) for r in rows]

    def reviews_by(self, reviewer_id: int, limit: int = 200) -> list[dict]:
        """A reviewer's own reviews, newest first, with the search's case and outcome."""
        rows = self._db.execute(
            "SELECT reviews.*, searches.status AS search_status, searches.case_id,"
            " cases.reference AS case_reference FROM reviews"
            " JOIN searches ON searches.id = reviews.search_id"
            " JOIN cases ON cases.id = searches.case_id"
            " WHERE reviews.reviewer_id = ? ORDER BY reviews.id DESC LIMIT ?",
            (reviewer_id, limit),
        )
        return [_review_dict(r) for r in rows]

    def pending_reviews_for(
        self, reviewer_id: int, *, after_id: int = 0, limit: int = 500
    ) -> list[dict]:
        """The review queue of one reviewer, oldest first: searches awaiting review that they
        did not request and have not reviewed, and that they have taken or that have fewer
        than ``MAX_ASSIGNED`` reviewers. At most ``limit``, those after ``after_id`` (the
        next page). Each comes with ``candidate_count``, ``reviews_received``,
        ``reviewers_assigned`` and ``assigned_to_you``, counted in the same query: counted
        one search at a time, the queue took 1 + 2N queries, a fifth of the server's CPU
        under ``bench/load.py``, where the queue grows."""
        rows = self._db.execute(
            "SELECT * FROM ("
            f"{_SEARCH_COLUMNS},"
            " (SELECT COUNT(*) FROM search_candidates AS c WHERE c.search_id = searches.id)"
            " AS candidate_count,"
            " (SELECT COUNT(*) FROM reviews AS r WHERE r.search_id = searches.id)"
            " AS reviews_received,"
            " (SELECT COUNT(*) FROM review_assignments AS a WHERE a.search_id = searches.id)"
            " AS reviewers_assigned,"
            " (SELECT COUNT(*) FROM review_assignments AS a WHERE a.search_id = searches.id"
            " AND a.reviewer_id = ?) AS assigned_to_you"
            f"{_SEARCH_FROM} WHERE searches.status = 'pending_review'"
            " AND searches.requested_by != ? AND searches.id > ? AND NOT EXISTS (SELECT 1"
            " FROM reviews WHERE reviews.search_id = searches.id AND reviews.reviewer_id = ?)"
            ") AS queue WHERE queue.assigned_to_you > 0 OR queue.reviewers_assigned < ?"
            " ORDER BY queue.id LIMIT ?",
            (reviewer_id, reviewer_id, after_id, reviewer_id, MAX_ASSIGNED, limit),
        )
        return [dict(r) | {"assigned_to_you": bool(r["assigned_to_you"])} for r in rows]


_PROBE_COLUMNS = (
    "probes.id, probes.case_id, probes.parent_id, probes.edit, probes.sha256, probes.media_type,"
    " probes.width, probes.height, probes.faces, probes.created_by, probes.created_at,"
    " probes.pixels_destroyed_at, probes.template_destroyed_at"
)
_SEARCH_COLUMNS = (
    "SELECT searches.*, users.name AS requested_by_name, cases.reference AS case_reference,"
    " cases.created_by AS case_created_by"
)
_SEARCH_FROM = (
    " FROM searches"
    " JOIN users ON users.id = searches.requested_by JOIN cases ON cases.id = searches.case_id"
)
_SEARCH_SELECT = _SEARCH_COLUMNS + _SEARCH_FROM


def _case_or_none(row: Record | None) -> dict | None:
    return _case_dict(row) if row is not None else None


def _case_dict(row: Record) -> dict:
    case = dict(row)
    case["collections"] = json.loads(case["collections"]) if case.get("collections") else None
    return case


def _review_dict(row: Record) -> dict:
    review = dict(row)
    faces = review.get("candidate_face_ids")
    review["candidate_face_ids"] = json.loads(faces) if faces else None
    return review


def _probe_dict(row: Record) -> dict:
    probe = dict(row)
    probe["faces"] = json.loads(probe["faces"])
    probe["edit"] = json.loads(probe["edit"]) if probe["edit"] else None
    probe.pop("embeddings", None)
    return probe
