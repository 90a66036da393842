"""Pixels to faces: decoding, detection, alignment, quality and embedding.

The names below load on first use (PEP 562): ``from facesift.vision import VisionConfig``
must not pull onnxruntime and dlib into a command that only reads the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facesift.lazy import lazy_names

if TYPE_CHECKING:
    from facesift.vision.analyzer import FaceAnalyzer
    from facesift.vision.decode import IMAGE_EXTENSIONS, decode_image
    from facesift.vision.settings import VisionConfig

__all__ = ["IMAGE_EXTENSIONS", "FaceAnalyzer", "VisionConfig", "decode_image"]

_HOMES = {
    "FaceAnalyzer": "facesift.vision.analyzer",
    "VisionConfig": "facesift.vision.settings",
    "IMAGE_EXTENSIONS": "facesift.vision.decode",
    "decode_image": "facesift.vision.decode",
}


__getattr__ = lazy_names(__name__, _HOMES)
