"""Exact search with FAISS: every query is compared with every vector.

Right for galleries up to a few hundred thousand faces; a query over 100k faces takes a few
milliseconds on one core.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

from facesift.index.base import IdFilter, as_batch, limit_this_thread


class FlatIndex:
    def __init__(self, dim: int, index: faiss.Index | None = None):
        self.dim = dim
        # IDMap2 keeps an id -> position map, so vectors can be removed and listed by id.
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatL2(dim))

    @classmethod
    def load(cls, path: Path) -> FlatIndex:
        index = faiss.read_index(str(path))
        return cls(index.d, index)

    def __len__(self) -> int:
        return self._index.ntotal

    def add(self, ids: np.ndarray, vectors: np.ndarray, groups: np.ndarray | None = None) -> None:
        del groups  # collections are filtered by id (IdFilter)
        if len(ids) == 0:
            return
        ids, vectors = as_batch(ids, vectors, self.dim)
        limit_this_thread()
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        limit_this_thread()
        return int(self._index.remove_ids(selector))

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: IdFilter | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            empty = np.full((len(queries), 1), -1, dtype=np.int64)
            return np.full(empty.shape, np.inf, dtype=np.float32), empty
        params = None
        if allowed_ids is not None:
            params = faiss.SearchParameters(sel=IdFilter.of(allowed_ids).selector())
        limit_this_thread()
        squared, ids = self._index.search(queries, k, params=params)
        # FAISS reports squared L2; the model's thresholds are plain Euclidean distances.
        return np.sqrt(np.maximum(squared, 0)), ids

    def save(self, path: Path) -> None:
        # A name of this process's own: several server workers may save at once.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)
