"""Float vectors on disk, one row per id, memory-mapped.

The compressed index keeps only short codes in memory; the exact vectors it needs to
re-rank a shortlist are read from here, and the operating system keeps the hot rows cached.
Row ``i`` holds the vector of id ``i``; a removed id's row is zeroed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GROWTH = 1.5


class VectorFile:
    def __init__(self, path: Path, dim: int):
        self.path = path
        self.dim = dim
        self._rows = np.zeros((0, dim), dtype=np.float32)
        if path.exists() and path.stat().st_size:
            self._map(path.stat().st_size // (4 * dim))

    def _map(self, capacity: int) -> None:
        self._rows = np.memmap(self.path, dtype=np.float32, mode="r+", shape=(capacity, self.dim))

    @property
    def capacity(self) -> int:
        return len(self._rows)

    def _grow(self, needed: int) -> None:
        capacity = max(needed, int(self.capacity * GROWTH), 1024)
        self._rows = np.zeros((0, self.dim), dtype=np.float32)  # drop the old mapping first
        with self.path.open("ab") as handle:
            handle.truncate(capacity * 4 * self.dim)  # sparse: unwritten rows cost no disk
        self._map(capacity)

    def put(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if int(ids.max()) >= self.capacity:
            self._grow(int(ids.max()) + 1)
        self._rows[ids] = vectors

    def get(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._rows[ids])

    def clear(self, ids: np.ndarray) -> None:
        ids = ids[ids < self.capacity]
        self._rows[ids] = 0.0

    def flush(self) -> None:
        if isinstance(self._rows, np.memmap):
            self._rows.flush()
