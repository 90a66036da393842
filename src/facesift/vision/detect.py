"""Face detectors: an image in, face boxes out.

Both dlib detectors scan a fixed 80x80 window over an image pyramid, so the smallest face
they find is about 80 px. To find faces down to ``min_face_px`` we scale the image by
``80 / min_face_px`` first: upsample for small faces, or downscale (much faster) when the
caller only wants large ones. Boxes are mapped back to the original pixels.
"""

from __future__ import annotations

import math
from typing import Protocol

import dlib
import numpy as np
from PIL import Image

from facesift.schemas import Box, Detection
from facesift.vision import model_files

DETECTOR_WINDOW_PX = 80
DEFAULT_MIN_FACE_PX = 40
FALLBACK_MMOD_MAX_SIDE = 640  # about 2 s on one core of this machine's class


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an RGB uint8 image. Boxes are clipped to the image."""
        ...


def _plan_scale(min_face_px: int) -> tuple[int, float]:
    """(dlib upsample steps, downscale factor) that make ``min_face_px`` faces detectable."""
    scale = DETECTOR_WINDOW_PX / max(1, min_face_px)
    if scale > 1:
        return math.ceil(math.log2(scale) - 1e-9), 1.0
    return 0, scale


def _downscale(image: np.ndarray, factor: float) -> np.ndarray:
    return image if factor >= 1.0 else _resize(image, factor)


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def _to_box(rect: dlib.rectangle, factor: float, width: int, height: int) -> Box:
    inv = 1.0 / factor
    return Box(
        x1=max(0, round(rect.left() * inv)),
        y1=max(0, round(rect.top() * inv)),
        x2=min(width, round((rect.right() + 1) * inv)),
        y2=min(height, round((rect.bottom() + 1) * inv)),
    )


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector: fast on a CPU, frontal faces only."""

    name = "dlib_hog"

    def __init__(self, min_face_px: int = DEFAULT_MIN_FACE_PX, threshold: float = 0.0):
        self._detector = dlib.get_frontal_face_detector()
        self._upsample, self._factor = _plan_scale(min_face_px)
        self._threshold = threshold

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        small = _downscale(image, self._factor)
        rects, scores, _ = self._detector.run(small, self._upsample, self._threshold)
        found = [
            Detection(_to_box(rect, self._factor, width, height), float(score))
            for rect, score in zip(rects, scores, strict=True)
        ]
        return [d for d in found if d.box.width > 1 and d.box.height > 1]


class MmodDetector:
    """dlib's CNN (max-margin object detection) detector: finds turned faces HOG misses,
    at many times the cost on a CPU. Its work image is capped at ``max_side`` pixels so a
    big photo cannot take minutes; faces smaller than planned may then be missed."""

    name = "dlib_mmod"

    def __init__(self, min_face_px: int = DEFAULT_MIN_FACE_PX, max_side: int = 1000):
        self._detector = dlib.cnn_face_detection_model_v1(str(model_files.mmod_detector()))
        self._min_face_px = min_face_px
        self._max_side = max_side

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        factor = min(DETECTOR_WINDOW_PX / self._min_face_px, self._max_side / max(height, width))
        work = image if factor == 1.0 else _resize(image, factor)
        found = [
            Detection(_to_box(d.rect, factor, width, height), float(d.confidence))
            for d in self._detector(work, 0)
        ]
        return [d for d in found if d.box.width > 1 and d.box.height > 1]


DETECTORS = {"hog": HogDetector, "mmod": MmodDetector}


def make_detector(name: str = "hog", min_face_px: int = DEFAULT_MIN_FACE_PX) -> FaceDetector:
    try:
        return DETECTORS[name](min_face_px=min_face_px)
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose one of {sorted(DETECTORS)}") from None


def make_fallback_detector(name: str, min_face_px: int = DEFAULT_MIN_FACE_PX) -> FaceDetector:
    """A second detector for images the first found no face in, kept to about 2 s a photo."""
    if name == "mmod":
        return MmodDetector(min_face_px, max_side=FALLBACK_MMOD_MAX_SIDE)
    return make_detector(name, min_face_px)
