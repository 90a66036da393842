"""Reading the gallery's photos for the gallery page: by collection, and the photos that need
an operator's attention (no face found, no provenance). Typed values out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from facesift.store.database import Database, Record


class Problem(StrEnum):
    """A list of photos that need a look."""

    NO_FACE = "no_face"
    NO_PROVENANCE = "no_provenance"


@dataclass(frozen=True)
class GalleryPhoto:
    id: int
    collection: str
    path: str
    sha256: str
    byte_size: int
    width: int
    height: int
    faces: int
    source_url: str | None
    page_url: str | None
    caption: str | None
    captured_at: str | None
    legal_basis: str | None
    ingested_at: str

    @property
    def has_provenance(self) -> bool:
        """Where it came from and why it may be held: a source and a legal basis."""
        return bool((self.source_url or self.page_url) and self.legal_basis)


@dataclass(frozen=True)
class IngestFailure:
    path: str
    sha256: str | None
    code: str
    message: str
    failed_at: str


# A photo's provenance is missing when it has no source (file or page URL) or no legal basis.
# Word for word the condition of the partial index images_no_provenance (migration 0019):
# a planner uses that index only for the very same condition.
_NO_PROVENANCE = (
    "((source_url IS NULL OR source_url = '') AND (page_url IS NULL OR page_url = ''))"
    " OR legal_basis IS NULL OR legal_basis = ''"
)
_FACES = "(SELECT COUNT(*) FROM faces f WHERE f.image_id = i.id)"
_SELECT = (
    "SELECT i.id, c.name AS collection, i.path, i.sha256, i.byte_size, i.width, i.height,"
    f" {_FACES} AS faces, i.source_url, i.page_url, i.caption, i.captured_at, i.legal_basis,"
    " i.ingested_at FROM images i JOIN collections c ON c.id = i.collection_id"
)


class GalleryBrowse:
    def __init__(self, db: Database):
        self._db = db

    def _where(self, collection: str | None, problem: Problem | None) -> tuple[str, list]:
        clauses, values = [], []
        if collection is not None:
            clauses.append("c.name = ?")
            values.append(collection)
        if problem is Problem.NO_FACE:  # kept by triggers (migration 0019)
            clauses.append("i.id IN (SELECT image_id FROM faceless_images)")
        elif problem is Problem.NO_PROVENANCE:
            clauses.append(f"({_NO_PROVENANCE})")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), values

    def photos(
        self,
        collection: str | None = None,
        problem: Problem | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[GalleryPhoto]]:
        """(how many match, one page of them in path order)."""
        where, values = self._where(collection, problem)
        rows = self._db.execute(
            _SELECT + where + " ORDER BY i.path, i.id LIMIT ? OFFSET ?", [*values, limit, offset]
        ).fetchall()
        return self._count(where, values, collection, problem), [_photo(row) for row in rows]

    def _count(
        self, where: str, values: list, collection: str | None, problem: Problem | None
    ) -> int:
        if problem is None:  # a collection's size, or the gallery's: kept (migration 0018)
            kept = "SELECT COALESCE(SUM(n.images), 0) FROM collection_counts n"
            if collection is not None:
                kept += " JOIN collections c ON c.id = n.collection_id WHERE c.name = ?"
            return int(self._db.execute(kept, values).one()[0])
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM images i JOIN collections c ON c.id = i.collection_id"
                + where,
                values,
            ).one()[0]
        )

    def photo(self, image_id: int) -> GalleryPhoto | None:
        row = self._db.execute(_SELECT + " WHERE i.id = ?", (image_id,)).fetchone()
        return _photo(row) if row else None

    def failures(self, limit: int = 200) -> tuple[int, list[IngestFailure]]:
        total = self._db.execute("SELECT COUNT(*) FROM ingest_failures").one()[0]
        rows = self._db.execute(
            "SELECT path, sha256, code, message, failed_at FROM ingest_failures"
            " ORDER BY failed_at DESC, path LIMIT ?",
            (limit,),
        ).fetchall()
        return int(total), [IngestFailure(**dict(row)) for row in rows]

    def failure(self, path: str) -> IngestFailure | None:
        row = self._db.execute(
            "SELECT path, sha256, code, message, failed_at FROM ingest_failures WHERE path = ?",
            (path,),
        ).fetchone()
        return IngestFailure(**dict(row)) if row else None

    def face_boxes(self, image_id: int) -> list[tuple[int, int, int, int]]:
        rows = self._db.execute(
            "SELECT x1, y1, x2, y2 FROM faces WHERE image_id = ? ORDER BY id", (image_id,)
        ).fetchall()
        return [(int(r["x1"]), int(r["y1"]), int(r["x2"]), int(r["y2"])) for r in rows]


def _photo(row: Record) -> GalleryPhoto:
    values = dict(row)
    values["faces"] = int(values["faces"])
    return GalleryPhoto(**values)
