"""Vectors to neighbours."""

from facesift.index.base import VectorIndex
from facesift.index.flat import FlatIndex

__all__ = ["FlatIndex", "VectorIndex"]
