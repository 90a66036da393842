"""The gallery: face records and their vectors, kept in step.

Every change goes to SQLite first (one transaction) and to the vector index second. A crash
between the two leaves the index behind the records, never ahead of them in a way that
matters: ``Gallery.open`` compares the two and repairs the index from the stored embeddings,
so a face can be found exactly when its record exists.

The vectors may instead live in a Milvus server (``vectors="milvus://HOST:PORT/NAME"``), for
galleries past one machine. The store stays the source of truth: Milvus answers at bounded
consistency, so a search asks it for a few more neighbours than wanted and keeps only the
faces the store still holds. A removed or opted-out face is never shown, however stale the
replica that answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import Conflict, NotFound
from facesift.index import FlatIndex, IdFilter, VectorIndex, load_index
from facesift.index.file_header import INDEX_FILE
from facesift.index.ivf import vector_path
from facesift.index.milvus import STALE_MARGIN, MilvusIndex, MilvusTarget
from facesift.schemas import Face
from facesift.store import Store, StoredImage

EMBEDDING_DIM = 128
# Which models made the gallery's vectors: {"embedder": model id, "detectors": [names]}, one
# row of the settings table (not an admin setting: services.settings lists only its own keys).
MODELS_SETTING = "gallery_models"
# A catch-up that names more faces than this looks at every face id instead: one query
# reads them all, where the log's faces are looked up 500 at a time.
CATCH_UP_MOST = 50_000
REMOVE_BATCH = 500  # images removed a transaction by remove_images
# How many times the index file was rebuilt (a settings row, not an admin setting): another
# process reloads the file only when this moved, not at every save of it (see refresh).
INDEX_BUILT_SETTING = "index_rebuilds"


def recorded_models(store: Store) -> dict | None:
    """Which models made the vectors of the gallery in ``store`` (see ``Gallery.models``)."""
    recorded = store.settings.setting(MODELS_SETTING)
    if isinstance(recorded, dict):
        return recorded
    model_id = store.some_face_model()
    return {"embedder": model_id, "detectors": []} if model_id else None


def recorded_model(store: Store) -> str | None:
    """The model id the gallery in ``store`` was made with; None while it holds no face."""
    return (recorded_models(store) or {}).get("embedder")


def _recorded_dim(store: Store) -> int:
    recorded = store.settings.setting(MODELS_SETTING)
    if isinstance(recorded, dict) and isinstance(recorded.get("dim"), int):
        return recorded["dim"]
    return EMBEDDING_DIM


# A kept filter's key: a collection's id; ("of", collection ids): those collections' faces;
# ("live", shadow collection ids): every face but those collections'.
MembersKey = int | tuple[str, tuple[int, ...]]
NO_FACES = np.zeros(0, dtype=np.int64)


def _belongs(key: MembersKey, collections: np.ndarray) -> np.ndarray:
    """Which faces, by their collection ids, a kept filter of ``key`` holds."""
    if isinstance(key, int):
        return collections == key
    scope, collection_ids = key
    inside = np.isin(collections, collection_ids)
    return ~inside if scope == "live" else inside


@dataclass(frozen=True)
class Repair:
    added: int
    removed: int


@dataclass(frozen=True)
class Neighbour:
    face_id: int
    distance: float


class Gallery:
    def __init__(self, store: Store, index: VectorIndex, index_path: Path):
        self.store = store
        self.index = index
        self._index_path = index_path
        self._dirty = False
        self._lock = threading.Lock()  # the index is shared by the API's worker threads
        # The faces a filtered search may return, by collection id or scope (MembersKey).
        self._members: dict[MembersKey, IdFilter] = {}
        self._members_changed = 0  # counts changes, so a filter read across one is not kept
        self._in_flight: set[int] = set()  # faces stored by this process, not yet indexed
        self._log_mark = store.face_log_mark()  # where this index last read the face log
        self._rebuilds = self._rebuild_count()  # the rebuilds this index's file has seen
        self._seen = (self._index_stamp(), store.faces_fingerprint())
        self._seen_version = store.data_version()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        database_url: str | None = None,
        vectors: str | None = None,
        anchor_copy: Path | None = None,
    ) -> Gallery:
        """The gallery whose records live in the database at ``database_url`` (None: SQLite
        in ``data_dir``) and whose vectors live in FAISS files in ``data_dir``, or in the
        Milvus collection at ``vectors``. ``anchor_copy``: the audit anchor's second place."""
        data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(data_dir, database_url, anchor_copy)
        index_path = data_dir / INDEX_FILE
        index: VectorIndex
        dim = _recorded_dim(store)
        if vectors:
            index = MilvusIndex(MilvusTarget.parse(vectors), dim)
        elif index_path.exists():
            index = load_index(index_path)
        else:
            index = FlatIndex(dim)
        gallery = cls(store, index, index_path)
        repair = gallery.reconcile()
        if repair.added or repair.removed:
            gallery.save()
        return gallery

    def close(self) -> None:
        self.save()
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconcile(self) -> Repair:
        """Make the index hold exactly the stored faces, looking at every one."""
        with self._lock:
            return self._reconcile_unlocked()

    def _reconcile_unlocked(self) -> Repair:
        mark = self.store.face_log_mark()  # taken before the look: later changes are read again
        stored = self.store.face_ids()
        indexed = self.index.ids()
        orphans = np.setdiff1d(indexed, stored, assume_unique=True)
        missing = self._not_in_flight(np.setdiff1d(stored, indexed, assume_unique=True))
        repair = self._apply(orphans, missing, mark)
        if repair.added or repair.removed:
            self._forget_members()
        return repair

    def catch_up(self) -> Repair:
        """Make the index agree with the faces the face log says changed since it last read
        it (migration 0021): a few rows, where ``reconcile`` reads every face id (0.7-1.8 s
        at a million faces, ``bench/catch_up.py``). A face named in the log is looked up,
        so one named twice, or already indexed by this process, changes nothing. Reconciles
        in full when the log was pruned past the mark, or names more faces than a full look
        reads."""
        with self._lock:
            changes = self.store.face_changes_since(self._log_mark)
            if not changes.complete or len(changes.face_ids) > CATCH_UP_MOST:
                return self._reconcile_unlocked()
            touched = np.unique(np.asarray(changes.face_ids, dtype=np.int64))
            stored = np.isin(touched, list(self.store.stored_face_ids(touched)))
            indexed = np.isin(touched, self.index.ids())
            missing = self._not_in_flight(touched[stored & ~indexed])
            repair = self._apply(touched[indexed & ~stored], missing, changes.mark)
            self._keep_members(touched[stored], touched[~stored])
            return repair

    def _apply(self, orphans: np.ndarray, missing: np.ndarray, mark: int) -> Repair:
        """Remove ``orphans`` from the index, add the ``missing`` faces that are still
        stored, and remember ``mark`` as read. Under ``self._lock``."""
        removed = self.index.remove(orphans)
        ids, vectors = self.store.embeddings(missing)
        # Only Milvus filters by collection itself; FAISS filters by id.
        groups = self.store.face_collections(ids) if self.remote else None
        self.index.add(ids, vectors, groups)
        self._dirty |= bool(removed or len(ids))
        self._log_mark = mark
        return Repair(added=len(ids), removed=removed)

    def refresh(self) -> bool:
        """Catch up with what other processes changed: an ingest or a removal run on the
        command line while a server holds this gallery, or an index rebuilt on disk.
        Cheap when no other process wrote (a file stat and the database's change counter);
        then the faces' fingerprint (their kept count, largest id and count of changes)
        tells a change to the faces from another write. The index file is loaded again only
        when it was rebuilt (``announce_rebuild``): another process merely saving it (an
        ingest does every 30 s) made every server load it whole (0.5 s at a million faces on
        SQLite, searches waiting) and compare every face id (0.9 s), where the face log
        tells the change."""
        stamp, version = self._index_stamp(), self.store.data_version()
        if stamp == self._seen[0] and version == self._seen_version:
            return False
        self._seen_version = version
        if self.remote:  # other processes write to Milvus themselves
            with self._lock:
                self._forget_members()
            return True
        fingerprint = self.store.faces_fingerprint()
        if (stamp, fingerprint) == self._seen:
            return False
        reloaded = False
        if stamp != self._seen[0] and self._index_path.exists():
            rebuilds = self._rebuild_count()
            reloaded, self._rebuilds = rebuilds != self._rebuilds, rebuilds
        if reloaded:  # rebuilt on disk by another process: its faces are as of its build
            with self._lock:
                self.index = load_index(self._index_path)
                self._forget_members()
            self.reconcile()
        else:
            self.catch_up()
        self._seen = (self._index_stamp(), fingerprint)
        return True

    def _rebuild_count(self) -> int:
        count = self.store.settings.setting(INDEX_BUILT_SETTING)
        return count if isinstance(count, int) else 0

    def announce_rebuild(self) -> None:
        """Tell other processes that the index file is about to be replaced by a rebuilt
        one, so they load it when it appears. Before the file is moved into place: a process
        that sees the new file then sees the new count too."""
        with self.store.transaction():
            self._rebuilds = self._rebuild_count() + 1
            self.store.settings.put_setting(INDEX_BUILT_SETTING, self._rebuilds, "index")

    def _index_stamp(self) -> int | None:
        try:
            return self._index_path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    @property
    def index_path(self) -> Path:
        return self._index_path

    def replace_index(self, index: VectorIndex) -> None:
        """Swap in a rebuilt index (already saved at ``index_path``), then catch it up."""
        with self._lock:
            self.index = index
        self.reconcile()
        self.save()

    def save(self) -> None:
        with self._lock:
            if self._dirty:
                self.index.save(self._index_path)
                self._dirty = False
                # Our own write: not a change to reload. The fingerprint stays as last seen,
                # so faces another process added meanwhile are still caught up.
                self._seen = (self._index_stamp(), self._seen[1])

    @property
    def dim(self) -> int:
        """The length of this gallery's vectors (128, dlib's, unless another embedder's)."""
        return _recorded_dim(self.store)

    def drop_index(self) -> None:
        """Forget the index, on disk and here: the next open or ``reconcile`` builds it
        again from the stored embeddings. Before the embeddings are replaced wholesale (a
        re-embedding), so no index of old vectors can outlive them."""
        with self._lock:
            work = self._index_path.with_name(self._index_path.name + ".rebuild")
            for path in (self._index_path, work):  # a half-built rebuild holds old vectors too
                path.unlink(missing_ok=True)
                vector_path(path).unlink(missing_ok=True)
            if not self.remote:
                self.index = FlatIndex(self.dim)
            self._forget_members()
            self._dirty = False
            self._seen = (None, self._seen[1])

    def models(self) -> dict | None:
        """Which models made this gallery's vectors: ``{"embedder": id, "detectors": [...]}``
        (and ``"dim"``, the vectors' length, where recorded), or None while it holds no face.
        A gallery made before this was recorded reports its faces' model id, no detectors."""
        return recorded_models(self.store)

    def recorded_model(self) -> str | None:
        """The model id this gallery's vectors were made with; None while it holds none.
        Settings left at "auto" follow it (``VisionSettings.model``)."""
        return recorded_model(self.store)

    def require_embedder(self, model_id: str) -> None:
        """Refuses (Conflict) vectors of another embedder than the gallery's own: distances
        between vectors of different models mean nothing."""
        models = self.models()
        if models is not None and models["embedder"] != model_id:
            raise Conflict(
                f"this gallery's vectors were made by the embedder {models['embedder']}, not "
                f"{model_id}; vectors of different models cannot be compared. Use that "
                "embedder, another data folder (--data-dir) for this model, or move the "
                "gallery to it: facesift index rebuild --reembed (--embedder NAME or "
                "--embedder-model FILE)"
            )

    def _record_models(self, images: Sequence[StoredImage]) -> None:
        """Check the new faces' embedder against the gallery's and record their detectors.
        Call inside the transaction that stores them."""
        embedders = {face.model_id for image in images for face in image.analysis.faces}
        if not embedders:
            return
        if len(embedders) > 1:
            raise Conflict(f"one batch holds vectors of several embedders: {sorted(embedders)}")
        (embedder,) = embedders
        self.require_embedder(embedder)
        models = self.models() or {"embedder": embedder, "detectors": []}
        detectors = set(models["detectors"])
        detectors |= {i.analysis.detector for i in images if i.analysis.faces}
        detectors.discard("")
        dim = next(len(f.embedding) for i in images for f in i.analysis.faces)
        updated = {"embedder": embedder, "detectors": sorted(detectors), "dim": dim}
        if updated != self.store.settings.setting(MODELS_SETTING):
            self.store.settings.put_setting(MODELS_SETTING, updated, "ingest")

    def add_images(
        self,
        collection: str,
        images: Sequence[StoredImage],
        audit: tuple[str, dict] | tuple[str, dict, str] | None = None,
    ) -> int:
        """Store images with their faces in one transaction, then index the faces. Refuses
        (Conflict) faces embedded by another model than the gallery's. ``audit``: an entry
        (action, details[, actor]) written in the same transaction, so no stored image goes
        unaudited even if the process is killed right after."""
        if not images:
            return 0
        face_ids: list[int] = []
        vectors: list[np.ndarray] = []
        try:
            with self.store.transaction():
                self._record_models(images)
                collection_id = self.store.collection_id(collection)
                for image in images:
                    face_ids += self._claimed(self.store.add_image(collection_id, image))
                    vectors += [face.embedding for face in image.analysis.faces]
                if audit is not None:
                    self.store.audit.append(*audit)
            if face_ids:
                with self._lock:
                    first_of_its_size = len(self.index) == 0 and self.index.dim != len(vectors[0])
                    if first_of_its_size and not self.remote:
                        self.index = FlatIndex(len(vectors[0]))
                    self._index_stored(face_ids, np.stack(vectors), collection_id)
        finally:
            self._unclaim(face_ids)
        return len(face_ids)

    def add_faces(self, image_id: int, faces: list[Face], details: dict, actor: str) -> list[int]:
        """Add faces found by a re-scan to a stored image, audited (``image_rescanned``, with
        ``details``) in the same transaction; then index them. Refuses (Conflict) another
        embedder's vectors."""
        if not faces:
            self.store.audit.append("image_rescanned", details | {"face_ids": []}, actor)
            return []
        self.require_embedder(faces[0].model_id)
        face_ids: list[int] = []
        try:
            with self.store.transaction():
                collection_id = self.store.image_collection(image_id)
                if collection_id is None:
                    raise NotFound(f"image {image_id} is no longer in the gallery")
                face_ids = self._claimed(self.store.add_faces(image_id, faces))
                self.store.audit.append("image_rescanned", details | {"face_ids": face_ids}, actor)
            with self._lock:
                self._index_stored(face_ids, np.stack([f.embedding for f in faces]), collection_id)
        finally:
            self._unclaim(face_ids)
        return face_ids

    def _index_stored(self, face_ids: list[int], vectors: np.ndarray, collection_id: int) -> None:
        """Add faces just stored, all of one collection, to the index and to the kept
        filters. Under ``self._lock``."""
        added = np.asarray(face_ids, dtype=np.int64)
        groups = np.full(len(added), collection_id, dtype=np.int64)
        self.index.add(added, vectors, groups)
        self._dirty = True
        self._keep_members(added, NO_FACES, groups)

    def _claimed(self, face_ids: list[int]) -> list[int]:
        """Mark faces this thread is storing as its own to index: another thread's catch-up
        may read them once committed, before this one adds them, and indexing them twice
        makes a search return the face twice."""
        with self._lock:
            self._in_flight.update(face_ids)
        return face_ids

    def _unclaim(self, face_ids: list[int]) -> None:
        with self._lock:
            self._in_flight.difference_update(face_ids)

    def _not_in_flight(self, face_ids: np.ndarray) -> np.ndarray:
        """Under ``self._lock``: the faces no thread of this process is about to index."""
        if not self._in_flight:
            return face_ids
        return face_ids[~np.isin(face_ids, list(self._in_flight))]

    def remove_image(
        self, path_or_sha: str, actor: str | None = None, tombstone: bool = True
    ) -> list[int]:
        """Remove every image stored under this path (or with this SHA-256) and its faces.
        ``tombstone``: keep the hash so no ingest brings it back (not for retention, whose
        expiry says nothing against a later, lawful ingest)."""
        matches = self.store.find_images(path_or_sha)
        if not matches:
            raise NotFound(f"no ingested image has the path or SHA-256 {path_or_sha!r}")
        with self.store.transaction():
            removed = self._delete_images(matches, actor, tombstone)
        self._unindex(removed)
        return removed

    def remove_images(
        self, hashes: Sequence[str], actor: str | None = None, tombstone: bool = True
    ) -> list[str]:
        """Remove the images with these SHA-256s and their faces, each audited as
        ``remove_image`` does, ``REMOVE_BATCH`` a transaction, the index saved once at the
        end; returns the hashes removed (one already gone is left out). Retention's expiry:
        one image at a time, each removal saved the whole index, 0.8 s an image at a million
        faces (its index is 0.5 GB). Prunes the face log after, as an ingest does: a gallery
        changed only by retention grew its log until the next ingest."""
        gone: list[str] = []
        for start in range(0, len(hashes), REMOVE_BATCH):
            with self.store.transaction():
                removed: list[int] = []
                for sha in hashes[start : start + REMOVE_BATCH]:
                    matches = [m for m in self.store.find_images(sha) if m["sha256"] == sha]
                    if matches:
                        removed += self._delete_images(matches, actor, tombstone)
                        gone.append(sha)
            self._unindex(removed)
        self.save()
        self.store.prune_face_log()  # a bulk removal's rows, as an ingest's: kept bounded
        return gone

    def _delete_images(
        self, matches: Sequence[Mapping[str, Any]], actor: str | None, tombstone: bool
    ) -> list[int]:
        """Delete these stored images, audited; their face ids. Inside a transaction."""
        removed: list[int] = []
        for row in matches:
            face_ids = self.store.delete_image(row["id"])
            removed += face_ids
            if tombstone:  # the hash stays: no later ingest brings the content back
                self.store.tombstones.add(row["sha256"], actor, "removed")
            self.store.audit.append(
                "remove_image",
                {
                    "image_id": row["id"],
                    "path": row["path"],
                    "sha256": row["sha256"],
                    "face_ids": face_ids,
                    "tombstoned": tombstone,
                },
                actor,
            )
        return removed

    def remove_face(self, face_id: int, actor: str | None = None) -> None:
        with self.store.transaction():
            if not self.store.delete_face(face_id):
                raise NotFound(f"no face has the id {face_id}")
            self.store.audit.append("remove_face", {"face_id": face_id}, actor)
        self._unindex([face_id])

    def _unindex(self, face_ids: list[int]) -> None:
        """Take removed faces out of the index. Not saved here: saving the whole index after
        each removal held every search up for 0.7-2.5 s at a million faces (an opt-out
        approved in the server), and no one needs the file to be current for a removal to
        hold: ``Gallery.open`` repairs a file that still holds a removed face, and other
        processes catch up from the face log. It is saved on close, and by an ingest."""
        removed = np.asarray(face_ids, dtype=np.int64)
        with self._lock:
            self.index.remove(removed)
            self._dirty = True
            self._keep_members(NO_FACES, removed)

    # -- the faces a filtered search may return, kept between changes ------------------------

    def _keep_members(
        self, stored: np.ndarray, gone: np.ndarray, collections: np.ndarray | None = None
    ) -> None:
        """Bring the kept filters up to date with faces now ``stored`` (in ``collections``,
        looked up when not given) and faces ``gone``, instead of dropping them: after each
        change, a search of one collection read its faces' ids again (a tenth of a million
        faces: 75 ms on SQLite, 690 on PostgreSQL, ``bench/catch_up.py``), and once a
        collection is shadow, any search read every face id (about a second). Under
        ``self._lock``."""
        self._members_changed += 1
        if not self._members or not (len(stored) or len(gone)):
            return
        if collections is None:
            collections = self.store.face_collections(stored)
        for key, members in list(self._members.items()):
            ids = members.ids[~np.isin(members.ids, gone)] if len(gone) else members.ids
            joining = stored[_belongs(key, collections)]
            joining = joining[~np.isin(joining, ids)]
            if len(joining) or len(ids) < len(members.ids):
                self._members[key] = IdFilter(np.concatenate([ids, joining]))

    def _forget_members(self) -> None:
        """Drop every kept filter (the index was replaced or repaired in full). Under
        ``self._lock``."""
        self._members_changed += 1
        self._members.clear()

    def _members_of(self, key: MembersKey, read: Callable[[], np.ndarray]) -> IdFilter:
        """The kept filter for ``key``, read (outside the lock) when there is none. One read
        while the gallery changed is used once and not kept: it may predate the change."""
        with self._lock:
            if key in self._members:
                return self._members[key]
            changes = self._members_changed
        members = IdFilter(read())
        with self._lock:
            if changes == self._members_changed:
                self._members[key] = members
        return members

    def nearest(self, vector: np.ndarray, k: int, collection: str | None = None) -> list[Neighbour]:
        """The ``k`` nearest faces (of ``collection``, or of every collection). Faces of
        shadow collections are never among them: see ``nearest_shadow``."""
        shadows = self.store.shadow_collections()
        if collection is not None and self._collection_id(collection) in shadows:
            return []
        if self.remote:
            return self._nearest_remote(vector, k, collection, exclude=set(shadows))
        allowed = None
        if collection is not None:
            allowed = self._collection_faces(collection)
        elif shadows:
            allowed = self._live_faces(tuple(shadows))
        return self._search(vector, k, allowed)

    def nearest_shadow(
        self, vector: np.ndarray, k: int, collection: str | None = None
    ) -> list[tuple[Neighbour, str]]:
        """The ``k`` nearest faces of the shadow collections in scope (``collection``, or
        all), each with its collection's name. For the record only: never shown."""
        shadows = self.store.shadow_collections()
        if collection is not None:
            wanted = self._collection_id(collection)
            shadows = {wanted: collection} if wanted in shadows else {}
        if not shadows:
            return []
        if self.remote:
            found = [n for cid in shadows for n in self._nearest_remote(vector, k, shadows[cid])]
            found.sort(key=lambda n: n.distance)
        else:
            found = self._search(vector, k, self._faces_of(tuple(shadows)))
        names = self.store.face_collections(np.asarray([n.face_id for n in found], np.int64))
        return [(n, shadows.get(int(c), "")) for n, c in zip(found[:k], names, strict=False)]

    def _search(self, vector: np.ndarray, k: int, allowed: IdFilter | None) -> list[Neighbour]:
        if allowed is not None and len(allowed.ids) == 0:
            return []
        with self._lock:
            distances, ids = self.index.search(vector[None, :], k, allowed)
        return [
            Neighbour(int(i), float(d)) for d, i in zip(distances[0], ids[0], strict=True) if i >= 0
        ]

    def _nearest_remote(
        self, vector: np.ndarray, k: int, collection: str | None, exclude: set[int] | None = None
    ) -> list[Neighbour]:
        """Milvus filters by collection itself. Its answer is re-ranked with the exact
        distances of the embeddings the store holds, so a face the store no longer has is
        dropped, and a quantized index's approximate distances are never shown. Faces of the
        ``exclude`` collections (shadow ones) are asked for and dropped: a search then
        returns fewer than ``k`` when more than ``k`` of the nearest are theirs."""
        group = None if collection is None else self._collection_id(collection)
        assert isinstance(self.index, MilvusIndex)  # self.remote
        extra = k if exclude else 0
        _, found = self.index.search(vector[None, :], k + extra + STALE_MARGIN, group=group)
        ids, vectors = self.store.embeddings(int(i) for i in found[0] if i >= 0)
        if exclude and len(ids):
            keep = ~np.isin(self.store.face_collections(ids), list(exclude))
            ids, vectors = ids[keep], vectors[keep]
        if len(ids) == 0:
            return []
        exact = np.linalg.norm(vectors - vector[None, :], axis=1)
        order = np.argsort(exact, kind="stable")[:k]
        return [Neighbour(int(ids[i]), float(exact[i])) for i in order]

    def _faces_of(self, collection_ids: tuple[int, ...]) -> IdFilter:
        """The faces of these collections; cached until the gallery changes."""
        return self._members_of(
            ("of", collection_ids), lambda: self.store.face_ids_in_collections(collection_ids)
        )

    def _live_faces(self, shadow_ids: tuple[int, ...]) -> IdFilter:
        """Every face but those of the shadow collections; cached until the gallery changes."""
        return self._members_of(
            ("live", shadow_ids),
            lambda: np.setdiff1d(self.store.face_ids(), self._faces_of(shadow_ids).ids),
        )

    def set_shadow(self, collection: str, shadow: bool, actor: str | None = None) -> None:
        """Mark a collection shadow (searched and recorded, never shown) or live again."""
        collection_id = self._collection_id(collection)
        with self.store.transaction():
            self.store.set_shadow(collection_id, shadow)
            self.store.audit.append(
                "collection_shadow", {"collection": collection, "shadow": shadow}, actor
            )

    def _collection_id(self, collection: str) -> int:
        collection_id = self.store.find_collection(collection)
        if collection_id is None:
            raise NotFound(f"there is no collection named {collection!r}")
        return collection_id

    def _collection_faces(self, collection: str) -> IdFilter:
        """A collection's faces; cached, because a big one takes a while to read."""
        collection_id = self._collection_id(collection)
        return self._members_of(
            collection_id, lambda: self.store.face_ids_in_collection(collection_id)
        )

    @property
    def remote(self) -> bool:
        """Whether the vectors live in a server (Milvus) rather than in the data folder."""
        return getattr(self.index, "remote", False)

    def size(self, collection: str | None = None) -> int:
        """The faces a search of ``collection`` (None: all) compares with; shadow
        collections' faces are not counted."""
        if collection is None:
            # A remote index counts at Strong consistency (about 200 ms): ask the store.
            total = self.store.face_count() if self.remote else len(self.index)
            shadows = self.store.shadow_collections()
            return total - len(self._faces_of(tuple(shadows)).ids) if shadows else total
        if self._collection_id(collection) in self.store.shadow_collections():
            return 0
        return len(self._collection_faces(collection).ids)
