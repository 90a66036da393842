"""A compressed index for large galleries: inverted lists of 4-bit product-quantised codes,
searched with SIMD "fast scan", then an exact re-ranking of the shortlist.

Memory per face: 16 bytes of code plus an 8-byte id. The float vectors stay on disk in a
memory-mapped ``VectorFile``; only the shortlist's rows are read for re-ranking, so the
distances returned are exact, and codes only decide which faces make the shortlist.
Adding and removing work in place; retraining the coarse clusters needs a rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from facesift.index.vector_file import VectorFile

DEFAULT_NPROBE = 64
DEFAULT_SHORTLIST = 256
BITMAP_FROM = 50_000  # allowed-id sets at least this big are passed as a bitmap


def ivf_factory(expected_faces: int) -> str:
    """About sqrt(N) * 4 clusters, as FAISS's guidelines suggest, at least 256."""
    nlist = 256
    while nlist * nlist < 16 * expected_faces and nlist < 65_536:
        nlist *= 2
    return f"IVF{nlist},PQ32x4fs"


def vector_path(index_path: Path) -> Path:
    return index_path.with_suffix(".vectors")


class IvfIndex:
    def __init__(
        self,
        index: faiss.IndexIVF,
        vectors: VectorFile,
        nprobe: int = DEFAULT_NPROBE,
        shortlist: int = DEFAULT_SHORTLIST,
    ):
        self.dim = index.d
        self._index = index
        self.vectors = vectors
        self.nprobe = nprobe
        self.shortlist = shortlist

    @classmethod
    def train(cls, sample: np.ndarray, index_path: Path, expected_faces: int) -> IvfIndex:
        """A new, empty index, to be saved at ``index_path``, whose clusters and codebooks
        are learnt from ``sample``. Its float vectors go beside it."""
        dim = sample.shape[1]
        index = faiss.index_factory(dim, ivf_factory(expected_faces), faiss.METRIC_L2)
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        vectors = vector_path(index_path)
        vectors.unlink(missing_ok=True)
        return cls(index, VectorFile(vectors, dim))

    def __len__(self) -> int:
        return self._index.ntotal

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.vectors.put(ids, vectors)  # first: a code must never point at a missing vector
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        self.vectors.clear(ids)
        return removed

    def ids(self) -> np.ndarray:
        invlists = faiss.extract_index_ivf(self._index).invlists
        found = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        shortlist = max(k, self.shortlist)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        if allowed_ids is not None:
            params.sel = _selector(allowed_ids)
        _, candidates = self._index.search(queries, shortlist, params=params)
        return self._rerank(queries, candidates, k)

    def _rerank(
        self, queries: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
            found = found[found >= 0]
            exact = np.linalg.norm(self.vectors.get(found) - query, axis=1)
            order = np.argsort(exact)[:k]
            distances[row, : len(order)] = exact[order]
            ids[row, : len(order)] = found[order]
        return distances, ids

    def save(self, path: Path) -> None:
        self.vectors.flush()
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)


def _selector(allowed_ids: np.ndarray) -> faiss.IDSelector:
    allowed_ids = np.ascontiguousarray(allowed_ids, dtype=np.int64)
    if len(allowed_ids) < BITMAP_FROM:
        return faiss.IDSelectorBatch(allowed_ids)
    bits = np.zeros(int(allowed_ids.max()) // 8 + 1, dtype=np.uint8)
    np.bitwise_or.at(bits, allowed_ids // 8, (1 << (allowed_ids % 8)).astype(np.uint8))
    selector = faiss.IDSelectorBitmap(len(bits) * 8, faiss.swig_ptr(bits))
    selector.bits_owner = bits  # the selector does not own the buffer: keep it alive
    return selector
