"""The interface every vector index implements. Ids are face ids; distances are Euclidean."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (N,) int64 ids with their (N, dim) float32 vectors."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances, ids), each (Q, k), nearest first; missing slots have id -1."""
        ...

    def save(self, path: Path) -> None: ...
