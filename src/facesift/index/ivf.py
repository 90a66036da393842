"""A compressed index for large galleries: inverted lists of 4-bit product-quantised codes,
searched with SIMD "fast scan", then an exact re-ranking of the shortlist.

Memory per face: 32 bytes of code plus an 8-byte id. The float vectors stay on disk in a
memory-mapped ``VectorFile``; only the shortlist's rows are read for re-ranking, so the
distances returned are exact, and codes only decide which faces make the shortlist.
Adding and removing work in place; retraining the coarse clusters needs a rebuild.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

from facesift.index.base import IdFilter, as_batch, limit_this_thread
from facesift.index.vector_file import VectorFile

# Lists to visit, as a share of all lists. Same-person faces are far apart compared with the
# lists' size, so a face's mates are spread over many lists: measured on real LFW mates in
# galleries of 100k to 10M faces, visiting 1/8 of the lists finds over 99% of them
# (bench/search.py). A share, not a count, because recall at a given share holds or rises as
# lists get smaller (more of them), while at a fixed count it falls.
PROBE_SHARE = 1 / 8
DEFAULT_SHORTLIST = 256  # re-ranked exactly; 4-bit codes push about 1 mate in 200 past 128

MIN_LISTS = 256
SINGLE_QUERY_SCAN = 11  # IndexIVFFastScan.implem: one query at a time, a reservoir of results
MAX_LISTS = 4096  # more lists make every add slower (each vector is compared with each list)


def ivf_factory(expected_faces: int) -> str:
    return f"IVF{list_count(expected_faces)},PQ64x4fs"


def list_count(expected_faces: int) -> int:
    """About 2 * sqrt(N) lists (a power of two), between MIN_LISTS and MAX_LISTS.

    Scanning 1/8 of the codes costs about the same whatever the number of lists; what the
    number changes is the fixed cost of a query (one distance per list to choose them, and a
    start-up cost per list visited) against the recall at that share. In a sweep at 1M faces
    probing 1/8: 1024 lists gave mate recall 0.992, 2048 lists 0.996, 4096 lists 0.997, each
    doubling about 30% slower (bench/README.md). FAISS's usual 4-16 * sqrt(N) pays more of
    those fixed costs for little recall here.
    """
    nlist = MIN_LISTS
    while nlist * nlist < 4 * expected_faces and nlist < MAX_LISTS:
        nlist *= 2
    return nlist


def vector_path(index_path: Path) -> Path:
    return index_path.with_suffix(".vectors")


class IvfIndex:
    def __init__(
        self,
        index: faiss.IndexIVF,
        vectors: VectorFile,
        nprobe: int | None = None,
        shortlist: int = DEFAULT_SHORTLIST,
    ):
        self.dim = index.d
        self._index = index
        self._fast_scan = hasattr(index, "implem")  # IndexIVFFastScan (always, when built here)
        self.vectors = vectors
        nlist = faiss.extract_index_ivf(index).nlist
        self.nprobe = nprobe or max(16, round(nlist * PROBE_SHARE))
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

    def add(self, ids: np.ndarray, vectors: np.ndarray, groups: np.ndarray | None = None) -> None:
        del groups  # collections are filtered by id (IdFilter)
        if len(ids) == 0:
            return
        ids, vectors = as_batch(ids, vectors, self.dim)
        self.vectors.put(ids, vectors)  # first: a code must never point at a missing vector
        limit_this_thread()
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        limit_this_thread()
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
        self, queries: np.ndarray, k: int, allowed_ids: IdFilter | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        shortlist = max(k, self.shortlist)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        if allowed_ids is not None:
            params.sel = IdFilter.of(allowed_ids).selector()
        # FAISS's default scan groups queries by list, which pays off for batches; one query
        # without a filter is about 5% faster scanned list by list. (Setting it here is safe
        # because callers serialise searches: Gallery's lock.)
        if self._fast_scan:
            single = len(queries) == 1 and allowed_ids is None
            self._index.implem = SINGLE_QUERY_SCAN if single else 0
        limit_this_thread()
        _, candidates = self._index.search(queries, shortlist, params=params)
        return self._rerank(queries, candidates, k)

    def _rerank(
        self, queries: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
            found = found[found >= 0]
            difference = self.vectors.get(found) - query
            exact = np.sqrt(np.einsum("ij,ij->i", difference, difference))
            order = np.argsort(exact)[:k]
            distances[row, : len(order)] = exact[order]
            ids[row, : len(order)] = found[order]
        return distances, ids

    def save(self, path: Path) -> None:
        self.vectors.flush()
        # A name of this process's own: several server workers may save at once.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)
