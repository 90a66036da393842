"""The record store: collections, images with their provenance, faces, ingest failures; and
``Store``, the one object that holds the database and every repository on it.

The database (SQLite or PostgreSQL) is the source of truth. Each face row keeps its
embedding, so the vector index is a cache that can always be rebuilt or repaired from here.
``Store`` is built once per process (``facesift.compose``) and handed to the services; they
reach records, cases, accounts, settings and audit through it and never see a connection,
a row or a dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from facesift.errors import AlreadyHeld
from facesift.schemas import Face, ImageAnalysis, Provenance
from facesift.store.accountability import ReviewAssignments, Tombstones
from facesift.store.accounts import AccountRecords, SettingRecords, SignOnRecords
from facesift.store.audit import AuditLog, utc_now
from facesift.store.cases import CaseRecords
from facesift.store.database import DATABASE_FILE, SQLITE, Database, Record, resolve_url
from facesift.store.gallery_browse import GalleryBrowse
from facesift.store.optout import OptOutRecords
from facesift.store.oversight import OversightRecords
from facesift.store.reembedding import ReembedRecords
from facesift.store.retention import RetentionRecords

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DATABASE_FILE", "FaceChanges", "Stats", "Store", "StoredImage"]
AUDIT_ANCHOR_FILE = "audit.anchor"
V = TypeVar("V")
# The face log keeps at least this many changes, and at least as many as the gallery holds
# faces: a reader further behind than that would read more rows than a full look at the
# gallery's face ids, which it then takes instead.
FACE_LOG_KEPT = 100_000


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    path: str
    byte_size: int
    analysis: ImageAnalysis
    provenance: Provenance


@dataclass(frozen=True)
class FaceChanges:
    """What the face log (migration 0021) holds since a reader's mark."""

    face_ids: list[int]  # added or removed since the mark; some may have been read before
    mark: int  # where the next read starts
    complete: bool  # False: the log was pruned past the mark; look at every face instead


@dataclass(frozen=True)
class Stats:
    collections: list[dict]
    images: int
    faces: int
    failures: int


class Store:
    """The database and its repositories: ``self`` for the gallery's records, ``cases``,
    ``accounts``, ``settings`` and ``audit``. ``database_url`` None: SQLite in ``data_dir``
    (or ``$FACESIFT_DATABASE_URL``). The data folder holds the audit anchor either way;
    ``anchor_copy`` (the setting ``audit_anchor_copy``) a second copy of it."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, anchor_copy: Path | None = None
    ):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(resolve_url(data_dir, database_url))
        self.audit = AuditLog(self.db, data_dir / AUDIT_ANCHOR_FILE, anchor_copy)
        self.accounts = AccountRecords(self.db)
        self.settings = SettingRecords(self.db)
        self.sign_ons = SignOnRecords(self.db)
        self.cases = CaseRecords(self.db)
        self.tombstones = Tombstones(self.db)
        self.review_assignments = ReviewAssignments(self.db)
        self.optout = OptOutRecords(self.db)
        self.retention = RetentionRecords(self.db)
        self.reembedding = ReembedRecords(self.db)
        self.oversight = OversightRecords(self.db)
        self.browse = GalleryBrowse(self.db)

    @property
    def database_url(self) -> str:
        return self.db.url

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work. Audit entries written inside are anchored after commit."""
        outermost = not self.db.in_transaction
        try:
            with self.db.transaction():
                yield
        except BaseException:
            if outermost:
                self.audit.anchor_committed(False)
            raise
        if outermost:
            self.audit.anchor_committed(True)

    # -- collections -------------------------------------------------------------------------

    def collection_id(self, name: str) -> int:
        """The id of collection ``name``, created if new. Call inside a transaction."""
        row = self.db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row:
            return row["id"]
        return self.db.insert(
            "INSERT INTO collections (name, created_at) VALUES (?, ?)", (name, utc_now())
        )

    def find_collection(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return row["id"] if row else None

    def shadow_collections(self) -> dict[int, str]:
        """The collections marked shadow: id -> name."""
        rows = self.db.execute("SELECT id, name FROM collections WHERE shadow = 1 ORDER BY id")
        return {int(row["id"]): row["name"] for row in rows}

    def set_shadow(self, collection_id: int, shadow: bool) -> None:
        self.db.execute(
            "UPDATE collections SET shadow = ? WHERE id = ?", (int(shadow), collection_id)
        )

    def face_ids_in_collections(self, collection_ids: Iterable[int]) -> np.ndarray:
        import numpy as np

        wanted = [int(i) for i in collection_ids]
        if not wanted:
            return np.zeros(0, dtype=np.int64)
        ids = self.db.column(
            "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id"
            f" WHERE i.collection_id IN ({','.join('?' * len(wanted))}) ORDER BY f.id",
            wanted,
        )
        return np.asarray(ids, dtype=np.int64)

    # -- images and faces --------------------------------------------------------------------

    def known_hashes(self, hashes: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for marks, chunk in _in_lists(list(hashes)):
            rows = self.db.execute(f"SELECT sha256 FROM images WHERE sha256 IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def add_image(self, collection_id: int, image: StoredImage) -> list[int]:
        """Insert an image and its faces; returns the new face ids. Call in a transaction.
        Raises AlreadyHeld when the gallery holds these bytes already, stored by another
        process since the caller checked: roll back, and leave that image out."""
        p = image.provenance
        id_column, id_value = self._fresh_id("images")
        inserted = self.db.execute(
            f"INSERT INTO images ({id_column}collection_id, sha256, path, byte_size, width,"
            " height, source_url, page_url, caption, captured_at, legal_basis, retain_until,"
            " subject_id, subject_label, ingested_at)"
            f" VALUES ({id_value}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256) DO NOTHING RETURNING id",
            (
                collection_id,
                image.sha256,
                image.path,
                image.byte_size,
                image.analysis.width,
                image.analysis.height,
                p.source_url,
                p.page_url,
                p.caption,
                p.captured_at,
                p.legal_basis,
                p.retain_until,
                p.subject_id,
                p.subject_label,
                utc_now(),
            ),
        ).fetchone()
        if inserted is None:
            raise AlreadyHeld(f"the gallery already holds this photo ({image.sha256[:12]}…)")
        image_id = int(inserted[0])
        self.db.execute("DELETE FROM ingest_failures WHERE path = ?", (image.path,))
        return [self._add_face(image_id, face) for face in image.analysis.faces]

    def add_faces(self, image_id: int, faces: list[Face]) -> list[int]:
        """Add faces found later (a re-scan) to a stored image. Call in a transaction."""
        return [self._add_face(image_id, face) for face in faces]

    def image_collection(self, image_id: int) -> int | None:
        row = self.db.execute(
            "SELECT collection_id FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        return int(row["collection_id"]) if row else None

    def _fresh_id(self, table: str) -> tuple[str, str]:
        """(column, value) in SQL for a new image's or face's id. SQLite would give the id of
        a removed newest row again; it gets one past the largest the table ever gave
        (migration 0020). PostgreSQL's identity columns never give one again."""
        if self.db.dialect != SQLITE:
            return "", ""
        return "id, ", f"(SELECT largest + 1 FROM id_high_water WHERE name = '{table}'), "

    def _add_face(self, image_id: int, face: Face) -> int:
        import numpy as np

        b, q = face.box, face.quality
        id_column, id_value = self._fresh_id("faces")
        return self.db.insert(
            f"INSERT INTO faces ({id_column}image_id, x1, y1, x2, y2, landmarks, detector_score,"
            " quality, size_px, sharpness, model_id, embedding)"
            f" VALUES ({id_value}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                image_id,
                b.x1,
                b.y1,
                b.x2,
                b.y2,
                json.dumps(face.landmarks),
                face.detector_score,
                q.score,
                q.size_px,
                q.sharpness,
                face.model_id,
                np.asarray(face.embedding, dtype="<f4").tobytes(),
            ),
        )

    def record_subject(self, sha256: str, subject_id: str, label: str | None) -> bool:
        """Name the subject of the image with this content; False if it was named so already."""
        row = self.db.execute(
            "SELECT subject_id, subject_label FROM images WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None or (row["subject_id"], row["subject_label"]) == (subject_id, label):
            return False
        self.db.execute(
            "UPDATE images SET subject_id = ?, subject_label = ? WHERE sha256 = ?",
            (subject_id, label, sha256),
        )
        return True

    def subject_faces(self, subjects: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """How many gallery faces each (collection, subject id) has now."""
        wanted = list(dict.fromkeys(subjects))
        if not wanted:
            return {}
        where = " OR ".join("(c.name = ? AND i.subject_id = ?)" for _ in wanted)
        rows = self.db.execute(
            "SELECT c.name AS collection, i.subject_id, COUNT(f.id) AS faces FROM images i"
            " JOIN collections c ON c.id = i.collection_id JOIN faces f ON f.image_id = i.id"
            f" WHERE {where} GROUP BY c.name, i.subject_id",
            [value for pair in wanted for value in pair],
        )
        return {(row["collection"], row["subject_id"]): int(row["faces"]) for row in rows}

    def subject_face_ids(self, collection: str, subject_id: str, limit: int) -> list[int]:
        """The gallery faces of one subject, oldest first, at most ``limit``."""
        rows = self.db.execute(
            "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id"
            " JOIN collections c ON c.id = i.collection_id"
            " WHERE c.name = ? AND i.subject_id = ? ORDER BY f.id LIMIT ?",
            (collection, subject_id, limit),
        )
        return [int(row[0]) for row in rows]

    def record_failure(self, path: str, sha256: str | None, code: str, message: str) -> bool:
        """Remember why ``path`` failed. Returns False if that exact failure was known."""
        row = self.db.execute(
            "SELECT sha256, code, message FROM ingest_failures WHERE path = ?", (path,)
        ).fetchone()
        if row and tuple(row.values()) == (sha256, code, message):
            return False
        self.db.execute(
            "INSERT INTO ingest_failures (path, sha256, code, message, failed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256,"
            " code = excluded.code, message = excluded.message, failed_at = excluded.failed_at",
            (path, sha256, code, message, utc_now()),
        )
        return True

    def failures(self) -> list[Record]:
        return self.db.execute("SELECT * FROM ingest_failures ORDER BY path").fetchall()

    def face_ids(self) -> np.ndarray:
        import numpy as np

        return np.asarray(self.db.column("SELECT id FROM faces ORDER BY id"), dtype=np.int64)

    def face_ids_in_collection(self, collection_id: int) -> np.ndarray:
        import numpy as np

        ids = self.db.column(
            "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id WHERE i.collection_id = ?",
            (collection_id,),
        )
        return np.asarray(ids, dtype=np.int64)

    def embeddings(self, face_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) for the given faces that exist, in id order."""
        rows: list[Record] = []
        for marks, chunk in _in_lists(sorted(int(i) for i in face_ids)):
            rows += self.db.execute(
                f"SELECT id, embedding FROM faces WHERE id IN ({marks}) ORDER BY id", chunk
            ).fetchall()
        return _unpack(rows)

    def some_face_model(self) -> str | None:
        """The model id of any one stored face (None: no face yet)."""
        row = self.db.execute("SELECT model_id FROM faces LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def face_collections(self, face_ids: np.ndarray) -> np.ndarray:
        """The collection id of each face (in the order given; -1 for an unknown face)."""
        import numpy as np

        wanted = [int(i) for i in face_ids]
        found: dict[int, int] = {}
        for marks, chunk in _in_lists(wanted):
            rows = self.db.execute(
                "SELECT f.id, i.collection_id FROM faces f JOIN images i ON i.id = f.image_id"
                f" WHERE f.id IN ({marks})",
                chunk,
            ).fetchall()
            found.update((int(row[0]), int(row[1])) for row in rows)
        return np.asarray([found.get(i, -1) for i in wanted], dtype=np.int64)

    def embedding_chunk(self, after_id: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``limit`` (ids, vectors) with id > ``after_id``, in id order."""
        rows = self.db.execute(
            "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
        return _unpack(rows)

    def sample_embeddings(self, count: int) -> np.ndarray:
        rows = self.db.execute(
            "SELECT id, embedding FROM faces ORDER BY random() LIMIT ?", (count,)
        ).fetchall()
        return _unpack(rows)[1]

    def account_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM users").one()[0]

    def data_version(self) -> int:
        """Changes whenever another process commits a change to the faces (on SQLite, any
        change; on PostgreSQL, our own changes to the faces count too)."""
        return self.db.change_counter()

    def image_path(self, image_id: int) -> str | None:
        row = self.db.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()
        return row["path"] if row else None

    def faces_fingerprint(self) -> tuple[int, int, int]:
        """(count, largest id, changes) of the faces: moves whenever a face is added or
        removed. The count of changes (migrations 0004 and 0020) is what catches a removal
        and an addition that leave the count and the largest id as they were."""
        largest = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM faces").one()[0]
        changes = self.db.execute("SELECT counter FROM face_changes WHERE id = 1").one()[0]
        return self.face_count(), int(largest), int(changes)

    # -- the face log (migration 0021) ---------------------------------------------------------

    def face_log_mark(self) -> int:
        """Where the face log stands now: ``face_changes_since`` this mark misses no change
        committed after this call. SQLite: the newest row's number (rows commit in order).
        PostgreSQL: the oldest transaction still running (every one before it has ended)."""
        if self.db.dialect == SQLITE:
            row = self.db.execute(
                "SELECT COALESCE((SELECT MAX(seq) FROM face_log),"
                " (SELECT through FROM face_log_pruned WHERE id = 1))"
            ).one()
            return int(row[0])
        xmin = self.db.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(xmin.one()[0])

    def face_changes_since(self, mark: int) -> FaceChanges:
        """The faces added or removed since ``mark`` (from ``face_log_mark`` or an earlier
        call). The log is read before its pruning mark: a prune between the two reads then
        shows, and costs the reader a full look, never a missed change."""
        if self.db.dialect == SQLITE:
            rows = self.db.execute(
                "SELECT seq, face_id FROM face_log WHERE seq > ? ORDER BY seq", (mark,)
            ).fetchall()
            through = self.db.execute("SELECT through FROM face_log_pruned WHERE id = 1").one()
            newest = int(rows[-1][0]) if rows else mark
            return FaceChanges([int(r[1]) for r in rows], newest, int(through[0]) <= mark)
        now = self.face_log_mark()  # first: a transaction ending after it is read next time
        face_ids = self.db.column("SELECT face_id FROM face_log WHERE xid >= ?", (mark,))
        pruned = self.db.execute("SELECT xid FROM face_log_pruned WHERE id = 1").one()
        return FaceChanges([int(i) for i in face_ids], now, int(pruned[0]) < mark)

    def prune_face_log(self) -> int:
        """Forget the oldest changes beyond ``FACE_LOG_KEPT`` and the gallery's size; returns
        how many rows went. Readers whose mark they pass look at every face once."""
        keep = max(FACE_LOG_KEPT, self.face_count())
        with self.transaction():
            newest = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM face_log").one()[0]
            cutoff = int(newest) - keep
            if cutoff <= 0:
                return 0
            if self.db.dialect == SQLITE:
                gone = self.db.execute("DELETE FROM face_log WHERE seq <= ?", (cutoff,))
                self.db.execute(
                    "UPDATE face_log_pruned SET through = MAX(through, ?) WHERE id = 1", (cutoff,)
                )
                return gone.rowcount
            gone = self.db.execute(
                "WITH gone AS (DELETE FROM face_log WHERE seq <= ? RETURNING xid),"
                " counted AS (UPDATE face_log_pruned"
                "   SET through = GREATEST(through, ?),"
                "       xid = GREATEST(xid, COALESCE((SELECT MAX(xid) FROM gone), xid))"
                "   WHERE id = 1)"
                " SELECT COUNT(*) FROM gone",
                (cutoff, cutoff),
            )
            return int(gone.one()[0])

    def stored_face_ids(self, face_ids: Iterable[int]) -> set[int]:
        """Which of these faces the gallery still holds."""
        held: set[int] = set()
        for marks, chunk in _in_lists(sorted({int(i) for i in face_ids})):
            held.update(self.db.column(f"SELECT id FROM faces WHERE id IN ({marks})", chunk))
        return held

    def face_count(self) -> int:
        """Kept by triggers (migration 0018), not counted: ``COUNT(*)`` took 4-6 ms on SQLite
        and 93-110 ms on PostgreSQL at a million faces (``bench/gallery_counts.py``)."""
        row = self.db.execute("SELECT COALESCE(SUM(faces), 0) FROM collection_counts").one()
        return int(row[0])

    def face_details(self, face_ids: Iterable[int]) -> dict[int, Record]:
        """Face rows joined with their image and collection, keyed by face id."""
        wanted = [int(i) for i in face_ids]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self.db.execute(
            "SELECT f.id AS face_id, f.x1, f.y1, f.x2, f.y2, f.landmarks, f.quality, f.model_id,"
            " i.id AS image_id, i.path, i.sha256, i.source_url, i.page_url, i.caption,"
            " i.captured_at, i.legal_basis, i.subject_id, i.subject_label, c.name AS collection"
            " FROM faces f JOIN images i ON i.id = f.image_id"
            " JOIN collections c ON c.id = i.collection_id"
            f" WHERE f.id IN ({marks})",
            wanted,
        )
        return {row["face_id"]: row for row in rows}

    def find_images(self, path: str) -> list[Record]:
        return self.db.execute(
            "SELECT id, path, sha256 FROM images WHERE path = ? OR sha256 = ?", (path, path)
        ).fetchall()

    def delete_image(self, image_id: int) -> list[int]:
        """Delete an image and its faces; returns the face ids removed. Call in a transaction."""
        face_ids = [
            r[0] for r in self.db.execute("SELECT id FROM faces WHERE image_id = ?", (image_id,))
        ]
        self.db.execute("DELETE FROM faces WHERE image_id = ?", (image_id,))
        self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))
        return face_ids

    def delete_face(self, face_id: int) -> bool:
        cur = self.db.execute("DELETE FROM faces WHERE id = ?", (face_id,))
        return cur.rowcount > 0

    def stats(self) -> Stats:
        """The gallery's size by collection, from the counts its triggers keep (migration
        0018): constant time, where counting read every image and face."""
        collections = [
            dict(row)
            for row in self.db.execute(
                "SELECT c.name, COALESCE(n.images, 0) AS images, COALESCE(n.faces, 0) AS faces"
                " FROM collections c LEFT JOIN collection_counts n ON n.collection_id = c.id"
                " ORDER BY c.name"
            )
        ]
        images = sum(c["images"] for c in collections)
        faces = sum(c["faces"] for c in collections)
        failures = self.db.execute("SELECT COUNT(*) FROM ingest_failures").one()[0]
        return Stats(collections, images, faces, failures)


def _unpack(rows: list[Record]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return ids, vectors.astype(np.float32)


def _in_lists(values: list[V], size: int = 500) -> Iterator[tuple[str, list[V]]]:
    """``values`` ``size`` at a time, each with its ``?`` marks for an ``IN (...)`` list: a
    statement's parameters are limited (SQLite's to 32,766)."""
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield ",".join("?" * len(chunk)), chunk
