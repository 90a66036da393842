"""The interface every vector index implements. Ids are face ids; distances are Euclidean."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

BITMAP_FROM = 50_000  # id sets at least this big are tested with a bitmap, not a hash set


_one_thread = False  # set once by a server process; read by every thread that uses FAISS


def one_thread_per_search() -> None:
    """For a server: each search runs on its request's own thread, and FAISS starts none.

    FAISS splits one query's exact search over OpenMP threads, which then spin waiting for
    the next. A server answers many requests at once, one query each, so that split only
    burns the cores the other requests need. Measured on this 2-core machine, one query at
    a time with 2 ms between them: 25 faces, 2.11 ms of CPU a search on two threads against
    0.07 on one; 100,000 faces, 15.9 ms of CPU and 7.0 ms wall on two against 3.4 and 3.4.
    Builds and batch searches (``index rebuild``, ``bench/search.py``) keep every core."""
    global _one_thread
    _one_thread = True
    faiss.omp_set_num_threads(1)


def limit_this_thread() -> None:
    """Called by the indexes before each FAISS call. OpenMP keeps its thread count per
    thread, and a new thread starts from the default, every core: set once at a server's
    start, in its main thread, the limit held there only. Each request thread's first
    search started a team of its own (28 threads in a server after 450 searches, against
    20), and a lone thread's search cost 2.2 ms of CPU at 25 faces against 0.07. In the
    server, one search at a time, a search's whole CPU was within the noise either way
    (4.6-7.0 ms): likely because OpenMP spins less once it manages more threads than
    cores. Found 2026-11-29. Costs a microsecond."""
    if _one_thread:
        faiss.omp_set_num_threads(1)


class IdFilter:
    """The ids a search may return (a collection, say). It builds FAISS's selector once, so
    a caller that keeps the filter pays for a big collection only once."""

    def __init__(self, ids: np.ndarray):
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._selector: faiss.IDSelector | None = None
        self._bits: np.ndarray | None = None  # FAISS does not own the bitmap: keep it alive

    @classmethod
    def of(cls, allowed: IdFilter | np.ndarray) -> IdFilter:
        return allowed if isinstance(allowed, IdFilter) else cls(allowed)

    def selector(self) -> faiss.IDSelector:
        if self._selector is None:
            if len(self.ids) < BITMAP_FROM:
                self._selector = faiss.IDSelectorBatch(self.ids)
            else:
                mask = np.zeros(int(self.ids.max()) + 1, dtype=bool)
                mask[self.ids] = True
                self._bits = np.packbits(mask, bitorder="little")  # bit id % 8 of byte id // 8
                self._selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(self._bits))
        return self._selector


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray, groups: np.ndarray | None = None) -> None:
        """Add (N,) int64 ids with their (N, dim) float32 vectors and, for indexes that filter
        by it, the collection id of each."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: IdFilter | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances, ids), each (Q, k), nearest first; missing slots have id -1."""
        ...

    def save(self, path: Path) -> None: ...


def as_batch(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The contiguous int64 ids and float32 (N, dim) vectors that FAISS expects."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), dim)
    return np.ascontiguousarray(ids, dtype=np.int64), vectors
