"""Vectors to neighbours: exact search while the gallery is small, compressed IVF after.

The names below load on first use (PEP 562): importing FAISS costs about 0.1 s, which a
command that only reads the database (``facesift stats``, ``facesift audit``) should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facesift.lazy import lazy_names

if TYPE_CHECKING:
    from facesift.index.base import IdFilter, VectorIndex, one_thread_per_search
    from facesift.index.flat import FlatIndex
    from facesift.index.ivf import IvfIndex, vector_path
    from facesift.index.loading import load_index
    from facesift.index.vector_file import VectorFile

# Below this many faces exact search is fast enough (a few ms) and needs no training.
IVF_MIN_FACES = 200_000

__all__ = [
    "IVF_MIN_FACES",
    "FlatIndex",
    "IdFilter",
    "IvfIndex",
    "VectorFile",
    "VectorIndex",
    "load_index",
    "one_thread_per_search",
    "vector_path",
]

_HOMES = {
    "FlatIndex": "facesift.index.flat",
    "IdFilter": "facesift.index.base",
    "IvfIndex": "facesift.index.ivf",
    "VectorFile": "facesift.index.vector_file",
    "VectorIndex": "facesift.index.base",
    "load_index": "facesift.index.loading",
    "one_thread_per_search": "facesift.index.base",
    "vector_path": "facesift.index.ivf",
}


__getattr__ = lazy_names(__name__, _HOMES)
