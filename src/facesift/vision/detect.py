"""Face detectors: an image in, face boxes out.

Both dlib detectors scan a fixed 80x80 window over an image pyramid, so the smallest face
they find is about 80 px. To find faces down to ``min_face_px`` the image is scaled by
``80 / min_face_px`` first (see ``plan_scale``): upsampled for small faces, downscaled (much
faster) when the caller only wants large ones. Boxes are mapped back to the original pixels.

The cost of HOG grows with the pixels scanned: upsampling by 2 costs about 4 times as much,
which is why a 40 px minimum makes detection the dearest step of an ingest. The scan is
capped at ``max_scan_pixels`` (16 MP: a 4 MP photo doubled), so that a 12 MP phone photo
takes 1.8 s of a core and 150 MB, not 5.4 s and 560 MB: a bigger photo is scanned at the
size that fits, and the smallest face it is searched for grows with it (70 px at 12 MP; the
analysis reports it as ``smallest_face_px``). Where one image may use two cores (a probe,
not an ingest worker), ``hog_scan`` splits the scan between two threads with the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import dlib
import numpy as np
from PIL import Image

from facesift.errors import InvalidInput
from facesift.schemas import Box, Detection
from facesift.vision import model_files
from facesift.vision.hog_scan import SplitHogScan
from facesift.vision.settings import (
    DEFAULT_DETECTOR,
    DEFAULT_MAX_SCAN_PIXELS,
    DEFAULT_MIN_FACE_PX,
    DETECTORS,
)

DETECTOR_WINDOW_PX = 80
FALLBACK_MMOD_MAX_SIDE = 640  # about 2 s on one core of this machine's class


class FaceDetector(Protocol):
    name: str
    min_face_px: int  # the smallest face wanted (a big photo's scan may find only larger)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an RGB uint8 image. Boxes are clipped to the image."""
        ...

    def smallest_face_px(self, width: int, height: int) -> int:
        """The smallest face this detector looks for in an image of this size."""
        ...


@dataclass(frozen=True)
class ScalePlan:
    """How to scan an image for faces of ``min_face_px`` and up: resize it by ``factor``
    (1.0: not at all), then let dlib double it ``upsample`` times. ``skip``: the image is
    smaller than the smallest face wanted, so it cannot hold one."""

    factor: float = 1.0
    upsample: int = 0
    skip: bool = False

    @property
    def scale(self) -> float:
        """Work-image pixels per original pixel."""
        return self.factor * 2**self.upsample

    @property
    def smallest_face_px(self) -> int:
        """The smallest face the scan can find, in the original image's pixels."""
        return math.ceil(DETECTOR_WINDOW_PX / self.scale - 1e-9)


def plan_scale(
    min_face_px: int,
    width: int,
    height: int,
    exact: bool = False,
    max_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
) -> ScalePlan:
    """A scan that brings a ``min_face_px`` face up to the 80 px window.

    * ``min_face_px`` >= 80: downscale by ``80 / min_face_px`` (a 160 px minimum scans a
      quarter of the pixels). Big photos are where this pays.
    * below 80 px: dlib's own upsampling, doubling as often as needed (40 px: once).
    * ``exact``, between powers of two (50 or 60 px): resize by exactly ``80 / min_face_px``
      instead of doubling: 1.6x or 1.33x scans 64% or 44% of doubling's pixels, but finds a
      slightly different set of faces (on LFW 0.4-0.5% of those doubling finds are lost and
      0.9% new ones found; bench/README.md), so it is not the default.
    * ``max_pixels``: a scan that would cover more pixels is made at the largest size that
      fits instead (a plain resize), and finds correspondingly larger faces only.
    """
    min_face_px = max(1, min_face_px)
    if min(width, height) < min_face_px:
        return ScalePlan(skip=True)
    plan = _plan_for(DETECTOR_WINDOW_PX / min_face_px, exact)
    if max_pixels and width * height * plan.scale**2 > max_pixels:
        return ScalePlan(factor=math.sqrt(max_pixels / (width * height)))
    return plan


def _plan_for(scale: float, exact: bool) -> ScalePlan:
    if scale <= 1.0:
        return ScalePlan(factor=scale)
    steps = math.log2(scale)
    if exact and abs(steps - round(steps)) >= 1e-9:
        return ScalePlan(factor=scale)
    return ScalePlan(upsample=math.ceil(steps - 1e-9))


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
    """dlib's HOG + linear SVM frontal face detector: fast on a CPU, frontal faces only.

    With ``threads=2`` one image's pyramid is scanned by two threads (``hog_scan``): the
    same boxes in a little over half the time, for a probe. A pool of one process per core
    wants the default, 1."""

    name = "dlib_hog"

    def __init__(
        self,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        threshold: float = 0.0,
        exact_scale: bool = False,
        threads: int = 1,
        max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
    ):
        detector = dlib.get_frontal_face_detector()
        self._scan = SplitHogScan(detector) if threads > 1 else detector
        self.min_face_px = min_face_px
        self.exact_scale = exact_scale  # see plan_scale
        self.max_scan_pixels = max_scan_pixels
        self._threshold = threshold

    def plan(self, width: int, height: int) -> ScalePlan:
        return plan_scale(self.min_face_px, width, height, self.exact_scale, self.max_scan_pixels)

    def smallest_face_px(self, width: int, height: int) -> int:
        plan = self.plan(width, height)
        return min(width, height) + 1 if plan.skip else plan.smallest_face_px

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        plan = self.plan(width, height)
        if plan.skip:
            return []
        work = image if plan.factor == 1.0 else _resize(image, plan.factor)
        # dlib-bin misreads some views (a crop of a read-only array gave other boxes, or none).
        work = np.ascontiguousarray(work)
        rects, scores, _ = self._scan.run(work, plan.upsample, self._threshold)
        found = [
            Detection(_to_box(rect, plan.factor, width, height), float(score))
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
        self.min_face_px = min_face_px
        self._max_side = max_side

    def _factor(self, width: int, height: int) -> float:
        return min(DETECTOR_WINDOW_PX / self.min_face_px, self._max_side / max(height, width))

    def smallest_face_px(self, width: int, height: int) -> int:
        return math.ceil(DETECTOR_WINDOW_PX / self._factor(width, height) - 1e-9)

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        factor = self._factor(width, height)
        work = np.ascontiguousarray(image if factor == 1.0 else _resize(image, factor))
        found = [
            Detection(_to_box(d.rect, factor, width, height), float(d.confidence))
            for d in self._detector(work, 0)
        ]
        return [d for d in found if d.box.width > 1 and d.box.height > 1]


def make_detector(
    name: str = DEFAULT_DETECTOR,
    min_face_px: int = DEFAULT_MIN_FACE_PX,
    threads: int = 1,
    max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
    model_file: str | None = None,
) -> FaceDetector:
    """``threads``: cores one image's detection may use (only HOG uses more than one);
    ``max_scan_pixels``: HOG's cap on the scanned image (see ``plan_scale``).
    ``model_file``: a user's own CenterFace-format ONNX file (same outputs, other weights)
    instead of the shipped one; the detector is then named after the file's SHA-256."""
    if model_file is not None:
        if name != "centerface":
            raise InvalidInput(
                "a detector model file can replace CenterFace's only (--detector centerface): "
                "facesift decodes that model's outputs"
            )
        from facesift.vision.onnx_detect import CenterFaceDetector

        return CenterFaceDetector.from_user_file(model_file, min_face_px, threads, max_scan_pixels)
    if name == "hog":
        return HogDetector(min_face_px, threads=threads, max_scan_pixels=max_scan_pixels)
    if name == "mmod":
        return MmodDetector(min_face_px)
    if name == "centerface":
        from facesift.vision.onnx_detect import CenterFaceDetector

        return CenterFaceDetector(min_face_px, threads, max_scan_pixels)
    if name == "yunet":
        from facesift.vision.yunet_onnx import YuNetDetector

        return YuNetDetector(min_face_px, threads, max_scan_pixels)
    raise ValueError(f"unknown detector {name!r}; choose {', '.join(DETECTORS)}")


def make_fallback_detector(name: str, min_face_px: int = DEFAULT_MIN_FACE_PX) -> FaceDetector:
    """A second detector for images the first found no face in, kept to about 2 s a photo."""
    if name == "mmod":
        return MmodDetector(min_face_px, max_side=FALLBACK_MMOD_MAX_SIDE)
    return make_detector(name, min_face_px)
