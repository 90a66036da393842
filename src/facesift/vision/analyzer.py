"""The whole vision pipeline for one image: decode -> detect -> align -> assess -> embed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facesift.machine import usable_cores
from facesift.schemas import Detection, Face, ImageAnalysis
from facesift.vision import model_files
from facesift.vision.align import CHIP_VARIANTS, FivePointAligner
from facesift.vision.contract import DLIB_CHIP, ChipGeometry, EmbeddingContract
from facesift.vision.decode import decode_image
from facesift.vision.detect import FaceDetector, make_detector, make_fallback_detector
from facesift.vision.embed import DlibResnetEmbedder, FaceEmbedder
from facesift.vision.onnx_embedder import EmbedderModel, OnnxFileEmbedder
from facesift.vision.quality import assess
from facesift.vision.resnet_onnx import OnnxResnetEmbedder
from facesift.vision.settings import VisionConfig

if TYPE_CHECKING:
    import dlib

__all__ = ["FaceAnalyzer", "VisionConfig", "make_embedder"]


def make_embedder(config: VisionConfig) -> FaceEmbedder:
    """The embedder ``config`` names. The ONNX model is converted from dlib's weights on
    first use and cached (see ``model_files.cache_dir``)."""
    if config.embedder_model:
        return OnnxFileEmbedder(EmbedderModel.load(config.embedder_model), config.threads)
    if config.embedder == "onnx":
        return OnnxResnetEmbedder.from_cache(model_files.cache_dir(), threads=config.threads)
    if config.embedder == "onnx-int8":
        from facesift.vision.resnet_int8 import OnnxResnetInt8Embedder

        return OnnxResnetInt8Embedder.from_cache(model_files.cache_dir(), threads=config.threads)
    if config.embedder == "dlib":
        return DlibResnetEmbedder()
    raise ValueError(f"unknown embedder {config.embedder!r}; choose onnx, onnx-int8 or dlib")


class FaceAnalyzer:
    """Finds, aligns and embeds every face in an image. Not thread-safe; one per process."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        aligner: FivePointAligner | None = None,
        fallback: FaceDetector | None = None,
        chip_variants: str = "none",
    ):
        self.detector = detector
        self.embedder = embedder
        self.aligner = aligner or FivePointAligner()
        self.fallback = fallback
        self.chip_variants = chip_variants
        self._variants = CHIP_VARIANTS[chip_variants]

    @classmethod
    def from_config(cls, config: VisionConfig) -> FaceAnalyzer:
        fallback = None
        if config.fallback_detector:
            fallback = make_fallback_detector(config.fallback_detector, config.min_face_px)
        threads = config.threads or usable_cores()
        detector = make_detector(
            config.detector,
            config.min_face_px,
            threads,
            config.max_scan_pixels,
            config.detector_model,
        )
        return cls(
            detector, make_embedder(config), fallback=fallback, chip_variants=config.chip_variants
        )

    @property
    def model_id(self) -> str:
        """Vectors are comparable only between faces with the same model id."""
        if self.chip_variants == "none":
            return self.embedder.model_id
        return f"{self.embedder.model_id}+{self.chip_variants}"

    @property
    def contract(self) -> EmbeddingContract:
        """What this analyzer's vectors are: model id, size and chip geometry."""
        return EmbeddingContract(self.model_id, self.embedder.dim, self._chip)

    @property
    def _chip(self) -> ChipGeometry:
        contract = getattr(self.embedder, "contract", None)  # the builtins have dlib's chip
        return contract.chip if contract is not None else DLIB_CHIP

    def analyze_bytes(self, data: bytes) -> ImageAnalysis:
        """Decode and analyze an image file's bytes; raises ImageError on bad input."""
        return self.analyze(decode_image(data))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces ordered left to right; the fallback detector runs only if none is found."""
        return self._detect(image)[0]

    def _detect(self, image: np.ndarray) -> tuple[list[Detection], str]:
        """The faces, and the name of the detector that found them."""
        detections, name = self.detector.detect(image), self.detector.name
        if not detections and self.fallback is not None:
            detections, name = self.fallback.detect(image), self.fallback.name
        return sorted(detections, key=lambda d: (d.box.x1, d.box.y1)), name

    def analyze(self, image: np.ndarray) -> ImageAnalysis:
        return self.analyze_many([image])[0]

    def analyze_many(self, images: list[np.ndarray]) -> list[ImageAnalysis]:
        """``analyze`` for each image, run stage by stage across them: every image is
        detected, then every face's landmarks found, then every chip embedded in one batch.

        Why: each stage's model (the detector's weights, the landmark trees, the ResNet's)
        then stays in the core's cache for the whole batch instead of being evicted by the
        others at every image. Measured on 400 LFW images, one thread: 17.4 ms an image in
        batches of 8 against 18.8 one at a time; the landmarks alone 0.9 against 1.4 ms."""
        images = [np.ascontiguousarray(image) for image in images]  # dlib misreads views
        found = [self._detect(image) for image in images]
        shapes = [
            [self.aligner.landmarks(image, d.box) for d in detections]
            for image, (detections, _) in zip(images, found, strict=True)
        ]
        faces = self._faces_of_many(images, [d for d, _ in found], shapes)
        analyses = []
        for image, (_, detector), image_faces in zip(images, found, faces, strict=True):
            height, width = image.shape[:2]
            analyses.append(
                ImageAnalysis(
                    width=width,
                    height=height,
                    faces=image_faces,
                    smallest_face_px=self.smallest_face_px(width, height),
                    scan_capped=self.scan_capped(width, height),
                    detector=detector,
                )
            )
        return analyses

    def smallest_face_px(self, width: int, height: int) -> int:
        """The smallest face looked for in an image of this size: the configured minimum,
        or more where a big photo's scan was capped."""
        return self.detector.smallest_face_px(width, height)

    def scan_capped(self, width: int, height: int) -> bool:
        """Whether an image this size is too big to scan whole for the configured minimum."""
        return self.smallest_face_px(width, height) > self.detector.min_face_px

    def faces_at(self, image: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Align, assess and embed faces at known places (from a detector, or drawn by hand)."""
        if not detections:
            return []
        image = np.ascontiguousarray(image)  # dlib misreads some views (see detect)
        shapes = [self.aligner.landmarks(image, d.box) for d in detections]
        return self.faces_from_shapes(image, detections, shapes)

    def faces_from_shapes(
        self, image: np.ndarray, detections: list[Detection], shapes: list
    ) -> list[Face]:
        """Cut, assess and embed faces whose landmarks are known (found just now, or stored
        with a gallery face and used again to re-embed it with another model)."""
        return self._faces_of_many([image], [detections], [shapes])[0]

    def _faces_of_many(
        self, images: list[np.ndarray], detections: list[list[Detection]], shapes: list[list]
    ) -> list[list[Face]]:
        """Each image's faces, the chips of all of them embedded in one batch."""
        chips = [
            np.stack([self.aligner.chips(image, s, self._variants, self._chip) for s in marks])
            for image, marks in zip(images, shapes, strict=True)
            if marks
        ]
        if not chips:
            return [[] for _ in images]
        every_chip = np.concatenate(chips)
        cut, vectors = iter(every_chip), iter(self._embed(every_chip))
        return [
            [
                self._face(image, d, shape, next(cut)[0], next(vectors))
                for d, shape in zip(found, marks, strict=True)
            ]
            for image, found, marks in zip(images, detections, shapes, strict=True)
        ]

    def _face(
        self,
        image: np.ndarray,
        detection: Detection,
        shape: dlib.full_object_detection,
        plain_chip: np.ndarray,
        vector: np.ndarray,
    ) -> Face:
        """One face: where it is, how good it is, and its vector."""
        # Quality is always judged on dlib's 150 px chip, so its numbers mean one thing.
        if self._chip != DLIB_CHIP:
            plain_chip = self.aligner.chip(image, shape)
        points = self.aligner.points(shape)
        return Face(
            box=detection.box,
            landmarks=points,
            detector_score=detection.score,
            quality=assess(detection.box, plain_chip, points),
            model_id=self.model_id,
            embedding=vector,
        )

    def _embed(self, chips: np.ndarray) -> np.ndarray:
        """(faces, variants, H, W, 3) chips -> one vector per face, in a single batch."""
        faces, variants = chips.shape[:2]
        vectors = self.embedder.embed(chips.reshape(faces * variants, *chips.shape[2:]))
        if variants == 1:
            return vectors  # the model's own vectors, unchanged
        # Average directions, not raw vectors, so no variant weighs more than another.
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return units.reshape(faces, variants, -1).mean(axis=1).astype(np.float32)
