"""Staged re-embeddings: new vectors for the gallery's faces, kept apart until all are made.

``facesift index rebuild --reembed`` cuts every face again from its source photo with another
model. Its vectors wait here (one row a face) while the gallery goes on serving the old ones;
an interrupted run resumes with the faces that have none. ``apply`` swaps them in, in the
caller's transaction, only when every face has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facesift.schemas import Box
from facesift.store.database import Database

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class FaceToEmbed:
    face_id: int
    box: Box
    landmarks: list[tuple[float, float]]
    detector_score: float


@dataclass(frozen=True)
class ImageToEmbed:
    """A stored image with the faces that still lack a vector of the new model."""

    image_id: int
    path: str
    sha256: str
    faces: list[FaceToEmbed]


class ReembedRecords:
    def __init__(self, db: Database):
        self._db = db

    def forget_other_models(self, model_id: str) -> int:
        """Drop staged vectors of any model but ``model_id`` (an abandoned earlier run)."""
        return self._db.execute(
            "DELETE FROM face_reembeddings WHERE model_id <> ?", (model_id,)
        ).rowcount

    def staged(self, model_id: str) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM face_reembeddings WHERE model_id = ?", (model_id,)
        ).one()[0]

    def pending(self, model_id: str, limit: int) -> list[ImageToEmbed]:
        """Up to ``limit`` images whose faces lack a staged vector of ``model_id``."""
        rows = self._db.execute(
            "SELECT f.id, f.image_id, f.x1, f.y1, f.x2, f.y2, f.landmarks, f.detector_score,"
            " i.path, i.sha256 FROM faces f JOIN images i ON i.id = f.image_id"
            " LEFT JOIN face_reembeddings r ON r.face_id = f.id AND r.model_id = ?"
            " WHERE r.face_id IS NULL AND f.image_id IN ("
            "   SELECT f2.image_id FROM faces f2"
            "   LEFT JOIN face_reembeddings r2 ON r2.face_id = f2.id AND r2.model_id = ?"
            "   WHERE r2.face_id IS NULL GROUP BY f2.image_id ORDER BY f2.image_id LIMIT ?)"
            " ORDER BY f.image_id, f.id",
            (model_id, model_id, limit),
        ).fetchall()
        images: dict[int, ImageToEmbed] = {}
        for row in rows:
            image = images.setdefault(
                row["image_id"], ImageToEmbed(row["image_id"], row["path"], row["sha256"], [])
            )
            points = [(float(x), float(y)) for x, y in json.loads(row["landmarks"])]
            box = Box(row["x1"], row["y1"], row["x2"], row["y2"])
            image.faces.append(FaceToEmbed(row["id"], box, points, float(row["detector_score"])))
        return list(images.values())

    def stage(self, model_id: str, face_ids: Sequence[int], vectors: np.ndarray) -> None:
        import numpy as np

        self._db.executemany(
            "INSERT INTO face_reembeddings (face_id, model_id, embedding) VALUES (?, ?, ?)"
            " ON CONFLICT (face_id) DO UPDATE SET model_id = excluded.model_id,"
            " embedding = excluded.embedding",
            [
                (int(i), model_id, np.asarray(v, dtype="<f4").tobytes())
                for i, v in zip(face_ids, vectors, strict=True)
            ],
        )

    def missing(self, model_id: str) -> int:
        """Faces with no staged vector of ``model_id``."""
        return self._db.execute(
            "SELECT COUNT(*) FROM faces f LEFT JOIN face_reembeddings r"
            " ON r.face_id = f.id AND r.model_id = ? WHERE r.face_id IS NULL",
            (model_id,),
        ).one()[0]

    def apply(self, model_id: str) -> int:
        """Give every face its staged vector and the new model id, then empty the staging.
        Call inside a transaction, after ``missing`` says none is left."""
        changed = self._db.execute(
            "UPDATE faces SET model_id = ?, embedding = (SELECT r.embedding FROM"
            " face_reembeddings r WHERE r.face_id = faces.id) WHERE id IN"
            " (SELECT face_id FROM face_reembeddings WHERE model_id = ?)",
            (model_id, model_id),
        ).rowcount
        self._db.execute("DELETE FROM face_reembeddings")
        return changed
