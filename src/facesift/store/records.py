"""The record store: collections, images with their provenance, faces, ingest failures.

SQLite is the source of truth. Each face row keeps its embedding, so the vector index is a
cache that can always be rebuilt or repaired from here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesift.schemas import Face, ImageAnalysis, Provenance
from facesift.store.audit import AuditLog, utc_now
from facesift.store.database import connect

DATABASE_FILE = "facesift.db"
AUDIT_ANCHOR_FILE = "audit.anchor"


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    path: str
    byte_size: int
    analysis: ImageAnalysis
    provenance: Provenance


@dataclass(frozen=True)
class Stats:
    collections: list[dict]
    images: int
    faces: int
    failures: int


class Store:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.conn = connect(data_dir / DATABASE_FILE)
        self.audit = AuditLog(self.conn, data_dir / AUDIT_ANCHOR_FILE)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work. Audit entries written inside are anchored after commit."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.audit.write_anchor()

    # -- collections -------------------------------------------------------------------------

    def collection_id(self, name: str) -> int:
        """The id of collection ``name``, created if new. Call inside a transaction."""
        row = self.conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row:
            return row["id"]
        cur = self.conn.execute(
            "INSERT INTO collections (name, created_at) VALUES (?, ?)", (name, utc_now())
        )
        return int(cur.lastrowid)

    def find_collection(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return row["id"] if row else None

    # -- images and faces --------------------------------------------------------------------

    def known_hashes(self, hashes: Iterable[str]) -> set[str]:
        hashes = list(hashes)
        found: set[str] = set()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT sha256 FROM images WHERE sha256 IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def add_image(self, collection_id: int, image: StoredImage) -> list[int]:
        """Insert an image and its faces; returns the new face ids. Call in a transaction."""
        p = image.provenance
        cur = self.conn.execute(
            "INSERT INTO images (collection_id, sha256, path, byte_size, width, height,"
            " source_url, page_url, caption, captured_at, legal_basis, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                utc_now(),
            ),
        )
        image_id = int(cur.lastrowid)
        self.conn.execute("DELETE FROM ingest_failures WHERE path = ?", (image.path,))
        return [self._add_face(image_id, face) for face in image.analysis.faces]

    def _add_face(self, image_id: int, face: Face) -> int:
        b, q = face.box, face.quality
        cur = self.conn.execute(
            "INSERT INTO faces (image_id, x1, y1, x2, y2, landmarks, detector_score, quality,"
            " size_px, sharpness, model_id, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        return int(cur.lastrowid)

    def record_failure(self, path: str, sha256: str | None, code: str, message: str) -> bool:
        """Remember why ``path`` failed. Returns False if that exact failure was known."""
        row = self.conn.execute(
            "SELECT sha256, code, message FROM ingest_failures WHERE path = ?", (path,)
        ).fetchone()
        if row and tuple(row) == (sha256, code, message):
            return False
        self.conn.execute(
            "INSERT OR REPLACE INTO ingest_failures (path, sha256, code, message, failed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (path, sha256, code, message, utc_now()),
        )
        return True

    def failures(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM ingest_failures ORDER BY path").fetchall()

    def face_ids(self) -> np.ndarray:
        rows = self.conn.execute("SELECT id FROM faces ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def face_ids_in_collection(self, collection_id: int) -> np.ndarray:
        rows = self.conn.execute(
            "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id WHERE i.collection_id = ?",
            (collection_id,),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def embeddings(self, face_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) for the given faces that exist, in id order."""
        wanted = sorted(int(i) for i in face_ids)
        rows: list[sqlite3.Row] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self.conn.execute(
                f"SELECT id, embedding FROM faces WHERE id IN ({marks}) ORDER BY id", chunk
            ).fetchall()
        return _unpack(rows)

    def face_collections(self, face_ids: np.ndarray) -> np.ndarray:
        """The collection id of each face (in the order given; -1 for an unknown face)."""
        wanted = [int(i) for i in face_ids]
        found: dict[int, int] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(
                self.conn.execute(
                    "SELECT f.id, i.collection_id FROM faces f JOIN images i ON i.id = f.image_id"
                    f" WHERE f.id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return np.asarray([found.get(i, -1) for i in wanted], dtype=np.int64)

    def embedding_chunk(self, after_id: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``limit`` (ids, vectors) with id > ``after_id``, in id order."""
        rows = self.conn.execute(
            "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
        return _unpack(rows)

    def sample_embeddings(self, count: int) -> np.ndarray:
        rows = self.conn.execute(
            "SELECT id, embedding FROM faces ORDER BY random() LIMIT ?", (count,)
        ).fetchall()
        return _unpack(rows)[1]

    def account_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]

    def data_version(self) -> int:
        """Changes whenever another connection commits to the database (not our own)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def faces_fingerprint(self) -> tuple[int, int]:
        """(count, largest id) of the faces: changes whenever faces are added or removed."""
        row = self.conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM faces").fetchone()
        return int(row[0]), int(row[1])

    def face_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]

    def face_details(self, face_ids: Iterable[int]) -> dict[int, sqlite3.Row]:
        """Face rows joined with their image and collection, keyed by face id."""
        wanted = [int(i) for i in face_ids]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self.conn.execute(
            "SELECT f.id AS face_id, f.x1, f.y1, f.x2, f.y2, f.quality, f.model_id,"
            " i.id AS image_id, i.path, i.sha256, i.source_url, i.page_url, i.caption,"
            " i.captured_at, i.legal_basis, c.name AS collection"
            " FROM faces f JOIN images i ON i.id = f.image_id"
            " JOIN collections c ON c.id = i.collection_id"
            f" WHERE f.id IN ({marks})",
            wanted,
        )
        return {row["face_id"]: row for row in rows}

    def find_images(self, path: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT id, path, sha256 FROM images WHERE path = ? OR sha256 = ?", (path, path)
        ).fetchall()

    def delete_image(self, image_id: int) -> list[int]:
        """Delete an image and its faces; returns the face ids removed. Call in a transaction."""
        face_ids = [
            r[0] for r in self.conn.execute("SELECT id FROM faces WHERE image_id = ?", (image_id,))
        ]
        self.conn.execute("DELETE FROM faces WHERE image_id = ?", (image_id,))
        self.conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
        return face_ids

    def delete_face(self, face_id: int) -> bool:
        cur = self.conn.execute("DELETE FROM faces WHERE id = ?", (face_id,))
        return cur.rowcount > 0

    def stats(self) -> Stats:
        collections = [
            dict(row)
            for row in self.conn.execute(
                "SELECT c.name, COUNT(DISTINCT i.id) AS images, COUNT(f.id) AS faces"
                " FROM collections c LEFT JOIN images i ON i.collection_id = c.id"
                " LEFT JOIN faces f ON f.image_id = i.id GROUP BY c.id ORDER BY c.name"
            )
        ]
        count = lambda table: self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        return Stats(collections, count("images"), count("faces"), count("ingest_failures"))


def _unpack(rows: list[sqlite3.Row]) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return ids, vectors.astype(np.float32)
