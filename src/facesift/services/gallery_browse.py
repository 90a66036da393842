"""The gallery page (issue 13, section 8): browse the photos by collection, list what needs
an operator's look (files that failed with their reason, photos without a face, photos
without provenance), and re-scan one photo.

Who: the gallery holds people who are not suspected of anything, so browsing it is not part
of casework. Investigators and reviewers never browse it (an investigator who could page
through the gallery could pick a face without a search, its purpose and its review); they
see gallery photos only as candidates of a search. Admins, who run the installation,
supervisors and auditors, who oversee it, may browse, and every browse is audited. The page
lists records (path, hashes, provenance, how many faces), never the photos' pixels.
Re-scanning changes the gallery, so only an admin may, and it is audited with the faces it
added.

A re-scan reads the photo again from where it was ingested, refuses a file whose content
changed (that is a new photo: ingest it), and analyses it as a probe is analysed: the
server's detector, then its second detector where the first finds nothing (see
``config.VisionSettings.for_probes``), which is why a photo ingested without a face may
yield one. Only faces that do not overlap a face already stored are added (a face id in a
past candidate list never changes), and never a face of someone who opted out.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

from facesift.errors import (
    Conflict,
    FacesiftError,
    ImageError,
    InvalidInput,
    NotFound,
    SourceError,
)
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.schemas import Face, Provenance
from facesift.services.casework import Casework
from facesift.services.sources import SourceReader, item_for_recorded_path
from facesift.services.suppression import Suppression
from facesift.store import StoredImage
from facesift.store.gallery_browse import GalleryPhoto, IngestFailure, Problem
from facesift.vision.decode import decode_image

PAGE = 50
OVERLAP = 0.3  # a found face overlapping a stored one by more (IoU) is that face
MAX_READ_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class PhotoList:
    total: int
    photos: list[GalleryPhoto]


@dataclass(frozen=True)
class GalleryOverview:
    collections: list[dict]
    images: int
    faces: int
    failures_total: int
    failures: list[IngestFailure]
    no_face: PhotoList
    no_provenance: PhotoList


@dataclass(frozen=True)
class RetryResult:
    path: str
    stored: bool
    code: str | None = None  # why it failed again
    message: str | None = None
    faces: int = 0


@dataclass(frozen=True)
class RescanResult:
    image_id: int
    path: str
    found: int  # faces the analysis found
    added: list[int] = field(default_factory=list)  # new face ids
    already_stored: int = 0
    suppressed: int = 0  # faces of people who opted out: not stored


class GalleryPages:
    def __init__(self, casework: Casework):
        self.casework = casework
        self.gallery = casework.gallery
        self.store = casework.gallery.store

    def overview(self, actor: Principal) -> GalleryOverview:
        rules.require_browse_gallery(actor)
        self.gallery.refresh()
        stats = self.store.stats()
        failures_total, failures = self.store.browse.failures()
        self.store.audit.append("gallery_browsed", {"view": "overview"}, actor.name)
        return GalleryOverview(
            collections=stats.collections,
            images=stats.images,
            faces=stats.faces,
            failures_total=failures_total,
            failures=failures,
            no_face=PhotoList(*self.store.browse.photos(problem=Problem.NO_FACE, limit=PAGE)),
            no_provenance=PhotoList(
                *self.store.browse.photos(problem=Problem.NO_PROVENANCE, limit=PAGE)
            ),
        )

    def photos(
        self,
        actor: Principal,
        collection: str | None = None,
        problem: Problem | None = None,
        offset: int = 0,
        limit: int = PAGE,
    ) -> PhotoList:
        rules.require_browse_gallery(actor)
        if collection is not None and self.store.find_collection(collection) is None:
            raise NotFound(f"there is no collection {collection!r}")
        found = PhotoList(*self.store.browse.photos(collection, problem, limit, offset))
        view = {"collection": collection, "problem": problem, "offset": offset}
        self.store.audit.append(
            "gallery_browsed", {k: v for k, v in view.items() if v is not None}, actor.name
        )
        return found

    def rescan(self, actor: Principal, image_id: int) -> RescanResult:
        rules.require_rescan_gallery(actor)
        photo = self.store.browse.photo(image_id)
        if photo is None:
            raise NotFound(f"there is no gallery photo {image_id}")
        content = _read(photo.path)
        if hashlib.sha256(content).hexdigest() != photo.sha256:
            raise Conflict(
                f"{photo.path} has changed since it was ingested: it is another photo now; "
                "ingest it as such"
            )
        pixels = decode_image(content, max_bytes=MAX_READ_BYTES)
        found = self.casework.analyze_pixels(pixels).faces
        stored = self.store.browse.face_boxes(image_id)
        new = [f for f in found if all(_iou(f.box.as_list(), box) <= OVERLAP for box in stored)]
        kept, suppressed = _unsuppressed(self.store, new)
        details = {
            "image_id": image_id,
            "path": photo.path,
            "sha256": photo.sha256,
            "found": len(found),
            "already_stored": len(found) - len(new),
            "suppressed": suppressed,
        }
        added = self.gallery.add_faces(image_id, kept, details, actor.name)
        self.gallery.save()
        return RescanResult(
            image_id, photo.path, len(found), added, len(found) - len(new), suppressed
        )

    def retry_failure(self, actor: Principal, path: str, collection: str) -> RetryResult:
        """Ingest a file that failed once, again (an admin fixed it): stored with its faces in
        ``collection`` if it now reads and decodes, or its failure recorded anew with the
        new reason. A photo removed from the gallery stays removed (its tombstone)."""
        rules.require_rescan_gallery(actor)
        if self.store.browse.failure(path) is None:
            raise NotFound(f"no file failed at {path}")
        collection = (collection or "").strip()
        if not collection or len(collection) > 200:
            raise InvalidInput("name the collection the photo goes to")
        reader = SourceReader(max_bytes=MAX_READ_BYTES)
        try:
            content = reader.read(item_for_recorded_path(path))
            sha = hashlib.sha256(content).hexdigest()
            if self.store.tombstones.tombstoned([sha]):
                raise Conflict(f"{path} was removed from the gallery; it stays removed")
            if self.store.known_hashes([sha]):
                raise Conflict(f"the gallery already holds this photo ({sha[:12]}…)")
            analysis = self.casework.analyze_pixels(decode_image(content, max_bytes=MAX_READ_BYTES))
        except (ImageError, SourceError) as failed:
            with self.store.transaction():
                self.store.record_failure(path, None, failed.code, failed.message)
                self.store.audit.append(
                    "ingest_retried",
                    {"path": path, "collection": collection, "failed": failed.code},
                    actor.name,
                )
            return RetryResult(path, False, failed.code, failed.message)
        finally:
            reader.close()
        kept, suppressed = _unsuppressed(self.store, list(analysis.faces))
        analysis = dataclasses.replace(analysis, faces=kept)
        image = StoredImage(sha, path, len(content), analysis, Provenance())
        details = {"path": path, "collection": collection, "sha256": sha, "faces": len(kept)}
        self.gallery.add_images(
            collection,
            [image],
            audit=("ingest_retried", details | {"suppressed": suppressed}, actor.name),
        )
        self.gallery.save()
        return RetryResult(path, True, faces=len(kept))


def _read(path: str) -> bytes:
    reader = SourceReader(max_bytes=MAX_READ_BYTES)
    try:
        return reader.read(item_for_recorded_path(path))
    except FacesiftError as exc:
        raise Conflict(f"the photo can no longer be read from {path}: {exc.message}") from exc
    finally:
        reader.close()


def _unsuppressed(store, faces: list[Face]) -> tuple[list[Face], int]:
    if not faces:
        return [], 0
    suppression = Suppression.load(store, faces[0].model_id)
    return suppression.keep_faces(faces) if suppression else (faces, 0)


def _iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
