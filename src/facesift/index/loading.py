"""Opening a saved index of either kind."""

from pathlib import Path

import faiss

from facesift.index.base import VectorIndex
from facesift.index.flat import FlatIndex
from facesift.index.ivf import IvfIndex, vector_path
from facesift.index.vector_file import VectorFile


def load_index(path: Path) -> VectorIndex:
    """Open a saved index of either kind."""
    index = faiss.read_index(str(path))
    if faiss.try_extract_index_ivf(index) is not None:
        return IvfIndex(index, VectorFile(vector_path(path), index.d))
    return FlatIndex(index.d, index)
