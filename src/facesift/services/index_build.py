"""Rebuilding the vector index from the stored embeddings: to retrain the compressed index's
clusters, or to move from exact to compressed search as the gallery grows.

The new index is built beside the old one, which keeps serving until the final rename. It
is saved after every chunk, in id order, so a rebuild that is interrupted or killed resumes
after the highest id its saved copy holds when run again.

With the vectors in Milvus, a rebuild writes every stored embedding again (an upsert, so a
rerun after an interruption simply repeats it) and removes the vectors the store no longer
holds. To change Milvus's index type, rebuild into a new collection name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facesift.index import IVF_MIN_FACES, FlatIndex, IvfIndex, VectorIndex, load_index
from facesift.index.ivf import list_count, vector_path
from facesift.services.gallery import Gallery

log = logging.getLogger(__name__)

CHUNK = 20_000
TRAINING_SAMPLE = 100_000
TRAINING_PER_LIST = 40  # FAISS's k-means wants at least 39 points per list
KINDS = ("auto", "flat", "ivf")


@dataclass(frozen=True)
class RebuildReport:
    kind: str
    faces: int
    resumed_from_id: int


def choose_kind(kind: str, faces: int) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "auto":
        return "ivf" if faces >= IVF_MIN_FACES else "flat"
    return kind


def needs_upgrade(gallery: Gallery) -> bool:
    return isinstance(gallery.index, FlatIndex) and len(gallery.index) >= IVF_MIN_FACES


def rebuild(
    gallery: Gallery,
    kind: str = "auto",
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    chunk: int = CHUNK,
) -> RebuildReport:
    total = gallery.store.face_count()
    if gallery.remote:
        return _rebuild_remote(gallery, on_progress, chunk, total)
    kind = choose_kind(kind, total)
    work_path = gallery.index_path.with_name(gallery.index_path.name + ".rebuild")
    index = _resume(work_path, kind) or _new_index(gallery, kind, work_path, total)
    last_id = resumed_from = _highest_id(index)
    done = len(index)
    on_progress(done, total)
    while True:
        ids, vectors = gallery.store.embedding_chunk(last_id, chunk)
        if len(ids) == 0:
            break
        index.add(ids, vectors)
        last_id, done = int(ids[-1]), done + len(ids)
        index.save(work_path)
        on_progress(done, total)
    index.save(work_path)
    gallery.announce_rebuild()
    _install(work_path, gallery.index_path)
    gallery.replace_index(load_index(gallery.index_path))
    gallery.store.audit.append("index_rebuild", {"kind": kind, "faces": len(gallery.index)})
    log.info(
        "rebuilt a %s index of %d faces (resumed from face %d)",
        kind,
        len(gallery.index),
        resumed_from,
    )
    return RebuildReport(kind, len(gallery.index), resumed_from)


def _rebuild_remote(
    gallery: Gallery, on_progress: Callable[[int, int], None], chunk: int, total: int
) -> RebuildReport:
    last_id, done = 0, 0
    on_progress(done, total)
    while True:
        ids, vectors = gallery.store.embedding_chunk(last_id, chunk)
        if len(ids) == 0:
            break
        gallery.index.add(ids, vectors, gallery.store.face_collections(ids))
        last_id, done = int(ids[-1]), done + len(ids)
        on_progress(done, total)
    gallery.reconcile()
    gallery.store.audit.append("index_rebuild", {"kind": "milvus", "faces": done})
    return RebuildReport("milvus", done, 0)


def _resume(work_path: Path, kind: str) -> VectorIndex | None:
    """The partly built index of an earlier run, if it is of the kind wanted."""
    if not work_path.exists():
        return None
    index = load_index(work_path)
    return index if isinstance(index, IvfIndex) == (kind == "ivf") else None


def _highest_id(index: VectorIndex) -> int:
    ids = index.ids()
    return int(ids.max()) if len(ids) else 0


def _new_index(gallery: Gallery, kind: str, work_path: Path, total: int) -> VectorIndex:
    if kind == "flat":
        return FlatIndex(gallery.dim)
    wanted = max(TRAINING_SAMPLE, TRAINING_PER_LIST * list_count(total))
    sample = gallery.store.sample_embeddings(wanted)
    if len(sample) < 1024:
        raise ValueError(f"a compressed index needs at least 1024 faces; there are {total}")
    return IvfIndex.train(sample, work_path, max(total, len(sample)))


def _install(work_path: Path, index_path: Path) -> None:
    """Move the finished index into place; the vectors first, so the index never points at
    vectors that are not there. A stale vector file of a flat index is simply unused."""
    if vector_path(work_path).exists():
        os.replace(vector_path(work_path), vector_path(index_path))
    os.replace(work_path, index_path)
