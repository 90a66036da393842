"""Pixels to faces: decoding, detection, alignment, quality and embedding."""

from facesift.vision.analyzer import FaceAnalyzer, VisionConfig
from facesift.vision.decode import IMAGE_EXTENSIONS, decode_image

__all__ = ["IMAGE_EXTENSIONS", "FaceAnalyzer", "VisionConfig", "decode_image"]
