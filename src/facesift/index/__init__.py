"""Vectors to neighbours: exact search while the gallery is small, compressed IVF after."""

from pathlib import Path

import faiss

from facesift.index.base import IdFilter, VectorIndex
from facesift.index.flat import FlatIndex
from facesift.index.ivf import IvfIndex, vector_path
from facesift.index.vector_file import VectorFile

# Below this many faces exact search is fast enough (a few ms) and needs no training.
IVF_MIN_FACES = 200_000


def load_index(path: Path) -> VectorIndex:
    """Open a saved index of either kind."""
    index = faiss.read_index(str(path))
    if faiss.try_extract_index_ivf(index) is not None:
        return IvfIndex(index, VectorFile(vector_path(path), index.d))
    return FlatIndex(index.d, index)


__all__ = [
    "IVF_MIN_FACES",
    "FlatIndex",
    "IdFilter",
    "IvfIndex",
    "VectorIndex",
    "load_index",
    "vector_path",
]
