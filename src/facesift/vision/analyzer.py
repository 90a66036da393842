"""The whole vision pipeline for one image: decode -> detect -> align -> assess -> embed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facesift.schemas import Detection, Face, ImageAnalysis
from facesift.vision.align import FivePointAligner
from facesift.vision.decode import decode_image
from facesift.vision.detect import (
    DEFAULT_MIN_FACE_PX,
    FaceDetector,
    make_detector,
    make_fallback_detector,
)
from facesift.vision.embed import DlibResnetEmbedder, FaceEmbedder
from facesift.vision.quality import assess


@dataclass(frozen=True)
class VisionConfig:
    """Everything needed to build the same analyzer in another process."""

    detector: str = "hog"
    min_face_px: int = DEFAULT_MIN_FACE_PX
    # Tried only when the detector finds no face: worth it for a probe, costly in bulk.
    fallback_detector: str | None = None


class FaceAnalyzer:
    """Finds, aligns and embeds every face in an image. Not thread-safe; one per process."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        aligner: FivePointAligner | None = None,
        fallback: FaceDetector | None = None,
    ):
        self.detector = detector
        self.embedder = embedder
        self.aligner = aligner or FivePointAligner()
        self.fallback = fallback

    @classmethod
    def from_config(cls, config: VisionConfig) -> FaceAnalyzer:
        fallback = None
        if config.fallback_detector:
            fallback = make_fallback_detector(config.fallback_detector, config.min_face_px)
        detector = make_detector(config.detector, config.min_face_px)
        return cls(detector, DlibResnetEmbedder(), fallback=fallback)

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def analyze_bytes(self, data: bytes) -> ImageAnalysis:
        """Decode and analyze an image file's bytes; raises ImageError on bad input."""
        return self.analyze(decode_image(data))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces ordered left to right; the fallback detector runs only if none is found."""
        detections = self.detector.detect(image)
        if not detections and self.fallback is not None:
            detections = self.fallback.detect(image)
        return sorted(detections, key=lambda d: (d.box.x1, d.box.y1))

    def analyze(self, image: np.ndarray) -> ImageAnalysis:
        detections = self.detect(image)
        height, width = image.shape[:2]
        return ImageAnalysis(width=width, height=height, faces=self.faces_at(image, detections))

    def faces_at(self, image: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Align, assess and embed faces at known places (from a detector, or drawn by hand)."""
        if not detections:
            return []
        shapes = [self.aligner.landmarks(image, d.box) for d in detections]
        chips = np.stack([self.aligner.chip(image, s) for s in shapes])
        vectors = self.embedder.embed(chips)
        return [
            Face(
                box=d.box,
                landmarks=self.aligner.points(shape),
                detector_score=d.score,
                quality=assess(d.box, chip),
                model_id=self.embedder.model_id,
                embedding=vector,
            )
            for d, shape, chip, vector in zip(detections, shapes, chips, vectors, strict=True)
        ]
