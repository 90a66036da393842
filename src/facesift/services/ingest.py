"""Ingest: find every face in a set of photos and add it to the gallery.

The main process lists and reads the files, hashes them, and skips what is already stored;
a process pool decodes, detects and embeds; the main process writes results in batches of
one transaction each. Because an image is stored only with all its faces, in one
transaction, an interrupted or killed run resumes by simply running again.

Audit: an ``ingest_started`` entry when the run begins, an ``ingest_batch`` entry in each
batch's own transaction (a run killed with SIGKILL still accounts for every image it stored:
issue 12 found a killed ingest that had stored 56 images with no audit entry), and the
closing ``ingest`` entry with the summary; all three carry the run's number (the id of its
``ingest_started`` entry).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facesift.errors import AlreadyHeld, FacesiftError
from facesift.services.batch import BatchItem, BatchResult, analyze_batch
from facesift.services.gallery import Gallery
from facesift.services.ingest_options import (  # noqa: F401  (re-exported)
    DEFAULT_COLLECTION,
    WRITE_BATCH_IMAGES,
    WRITE_BATCH_SECONDS,
    IngestOptions,
)
from facesift.services.parallel import map_batches
from facesift.services.sources import SourceFailure, SourceItem, SourceReader, discover
from facesift.services.suppression import Suppression
from facesift.store import StoredImage

INDEX_SAVE_SECONDS = 30.0


@dataclass
class IngestSummary:
    total: int = 0  # images found in the sources
    ingested: int = 0
    faces: int = 0
    skipped: int = 0  # already in the gallery, or the same content twice in this run
    tombstoned: int = 0  # removed from the gallery before (``facesift remove``): not stored
    suppressed: int = 0  # faces near an opt-out's suppression template: not stored
    failed: int = 0
    no_face: int = 0
    # Photos already held whose subject a manifest (re)named: recorded, not analysed again.
    subjects_recorded: int = 0
    # Photos too big to scan for the configured smallest face (see detect.plan_scale), and
    # the largest smallest face one of them was searched for.
    scan_capped: int = 0
    capped_smallest_face_px: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ingested + self.skipped + self.tombstoned + self.failed

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[IngestSummary], None]


def ingest(
    gallery: Gallery,
    paths: list[Path],
    options: IngestOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (and ``options.manifest``) into ``gallery``. Ctrl-C stops cleanly."""
    options = options or IngestOptions()
    run = _IngestRun(gallery, options, on_progress or (lambda _summary: None))
    try:
        run.execute(paths)
    except KeyboardInterrupt:
        run.summary.interrupted = True
    finally:
        run.finish(paths)
    return run.summary


class _IngestRun:
    def __init__(self, gallery: Gallery, options: IngestOptions, on_progress: ProgressCallback):
        self.gallery = gallery
        self.options = options
        self.on_progress = on_progress
        self.summary = IngestSummary()
        self.started = time.monotonic()
        self._pending: dict[str, tuple[SourceItem, str, int]] = {}  # key -> item, sha, size
        self._to_write: list[StoredImage] = []
        self._last_write = time.monotonic()
        self._last_index_save = time.monotonic()
        self._hashes_this_run: set[str] = set()
        self._suppression: Suppression | None = None  # loaded with the first face found
        self.run_id: int | None = None

    # -- the loop ----------------------------------------------------------------------------

    def execute(self, paths: list[Path]) -> None:
        # Refused before any work when the gallery's vectors come from another embedder.
        self.gallery.require_embedder(self.options.vision.model_id)
        self.run_id = self.gallery.store.audit.append("ingest_started", self._describe(paths)).id
        found = list(discover(paths, self.options.manifest))
        self.summary.total = len(found)
        self.on_progress(self.summary)
        batches = self._tasks(found)
        options = self.options
        for results in map_batches(
            analyze_batch, options.vision, batches, options.workers, options.cluster
        ):
            self._absorb(results)
        self._flush()

    def _tasks(self, found: list[SourceItem | SourceFailure]) -> Iterator[list[BatchItem]]:
        """Read, hash and de-duplicate; yield what still needs analysis, a few at a time."""
        reader = SourceReader(self.options.max_bytes)
        batch: list[BatchItem] = []
        try:
            for item in found:
                if isinstance(item, SourceFailure):
                    self._fail(item.path, None, item.code, item.message)
                    continue
                data = self._read(reader, item)
                if data is None:
                    continue
                sha = hashlib.sha256(data).hexdigest()
                if sha in self._hashes_this_run or self.gallery.store.known_hashes([sha]):
                    self._record_subject(sha, item)
                    self.summary.skipped += 1
                    self._tick()
                    continue
                if self.gallery.store.tombstones.tombstoned([sha]):
                    self.summary.tombstoned += 1  # removed once: stays removed
                    self._tick()
                    continue
                self._hashes_this_run.add(sha)
                self._pending[item.path] = (item, sha, len(data))
                batch.append(BatchItem(item.path, data))
                if len(batch) >= self.options.images_per_task:
                    yield batch
                    batch = []
            if batch:
                yield batch
        finally:
            reader.close()

    def _record_subject(self, sha: str, item: SourceItem) -> None:
        """A manifest may name the subject of a photo the gallery already holds (record
        numbers often come later than the photos): the subject is set, the faces stay.
        Counted in the run's summary, which the ``ingest`` audit entry carries."""
        subject = item.provenance.subject_id
        if subject is None:
            return
        with self.gallery.store.transaction():
            changed = self.gallery.store.record_subject(sha, subject, item.provenance.subject_label)
        self.summary.subjects_recorded += int(changed)

    def _read(self, reader: SourceReader, item: SourceItem) -> bytes | None:
        try:
            return reader.read(item)
        except FacesiftError as exc:
            self._fail(item.path, None, exc.code, exc.message)
            return None

    # -- results -----------------------------------------------------------------------------

    def _absorb(self, results: list[BatchResult]) -> None:
        for result in results:
            item, sha, size = self._pending.pop(result.key)
            if result.analysis is None:
                self._fail(item.path, sha, result.error_code or "error", result.error or "")
                continue
            analysis = result.analysis
            if analysis.faces and self._suppression is None:
                model_id = analysis.faces[0].model_id
                self._suppression = Suppression.load(self.gallery.store, model_id)
            if self._suppression and analysis.faces:
                # Faces of people who opted out are never stored.
                kept, dropped = self._suppression.keep_faces(analysis.faces)
                if dropped:
                    analysis = dataclasses.replace(analysis, faces=kept)
                    self.summary.suppressed += dropped
            self._to_write.append(StoredImage(sha, item.path, size, analysis, item.provenance))
        if (
            len(self._to_write) >= self.options.write_batch
            or time.monotonic() - self._last_write > WRITE_BATCH_SECONDS
        ):
            self._flush()
        self._tick()

    def _flush(self) -> None:
        if self._to_write:
            self._write(self._to_write)
            self._to_write = []
        self._last_write = time.monotonic()
        if time.monotonic() - self._last_index_save > INDEX_SAVE_SECONDS:
            self.gallery.save()
            self._last_index_save = time.monotonic()

    def _write(self, images: list[StoredImage]) -> None:
        """Store a batch, leaving out photos the gallery came to hold since they were read:
        stored by this run when a Ctrl-C landed after a batch's commit but before it was
        cleared (``finish`` writes what is pending again; a CI run once crashed on it), or
        by another ingest beside this one. Such photos count as skipped."""
        for _attempt in range(len(images) + 1):
            held = self.gallery.store.known_hashes(image.sha256 for image in images)
            fresh = [image for image in images if image.sha256 not in held]
            batch = {
                "run": self.run_id,
                "collection": self.options.collection,
                "images": len(fresh),
                "faces": sum(len(i.analysis.faces) for i in fresh),
            }
            try:
                faces = self.gallery.add_images(
                    self.options.collection, fresh, audit=("ingest_batch", batch)
                )
                break
            except AlreadyHeld:
                continue  # stored by another process since the check: rolled back; again
        else:
            raise AlreadyHeld("photos of this batch kept being stored by another ingest")
        self.summary.skipped += len(images) - len(fresh)
        self.summary.ingested += len(fresh)
        self.summary.faces += faces
        self.summary.no_face += sum(1 for i in fresh if not i.analysis.faces)
        capped = [i.analysis.smallest_face_px for i in fresh if i.analysis.scan_capped]
        self.summary.scan_capped += len(capped)
        self.summary.capped_smallest_face_px = max([self.summary.capped_smallest_face_px, *capped])

    def _fail(self, path: str, sha: str | None, code: str, message: str) -> None:
        self.summary.failed += 1
        self.summary.failures.append({"path": path, "code": code, "message": message})
        with self.gallery.store.transaction():
            self.gallery.store.record_failure(path, sha, code, message)
        self._tick()

    def _tick(self) -> None:
        self.summary.seconds = time.monotonic() - self.started
        self.on_progress(self.summary)

    def finish(self, paths: list[Path]) -> None:
        # Results already computed are written even when Ctrl-C cut the run short.
        try:
            self._flush()
        finally:
            self.gallery.save()
            self.gallery.store.prune_face_log()  # the ingest wrote most of the log's rows
            self._tick()
            details = {
                **self._describe(paths),
                **{k: v for k, v in self.summary.as_dict().items() if k != "failures"},
            }
            self.gallery.store.audit.append("ingest", details)

    def _describe(self, paths: list[Path]) -> dict:
        return {
            "run": self.run_id,
            "paths": [str(p) for p in paths],
            "manifest": str(self.options.manifest) if self.options.manifest else None,
            "collection": self.options.collection,
        }
