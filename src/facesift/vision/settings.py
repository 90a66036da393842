"""What a face analyzer is built from: a detector, its minimum face, the chips and the
embedder. Kept apart from the pipeline's code so that reading the settings (the command
line's configuration, ``facesift stats``) never loads onnxruntime, dlib or the models: the
command line answers in a few hundred ms only if those stay unloaded until used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facesift.vision.onnx_embedder import EmbedderModel

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000  # a 50-megapixel photo is big; a 100k x 100k PNG is an attack
DEFAULT_MIN_FACE_PX = 40
DEFAULT_MAX_SCAN_PIXELS = 16_000_000  # a 4 MP photo doubled for 40 px faces
DETECTORS = ("hog", "mmod", "centerface", "yunet")
EMBEDDERS = ("onnx", "onnx-int8", "dlib")
INT8_EMBEDDER = "onnx-int8"
INT8_MODEL_ID = "dlib_resnet_v1_int8"  # vision/resnet_int8.py; here to spare its imports
# CenterFace finds every face HOG finds at the default 40 px minimum, and more, in about a
# quarter of the time (vision/onnx_detect.py, bench/README.md). HOG stays available as "hog".
DEFAULT_DETECTOR = "centerface"


@dataclass(frozen=True)
class VisionConfig:
    """Everything needed to build the same analyzer in another process."""

    detector: str = DEFAULT_DETECTOR
    min_face_px: int = DEFAULT_MIN_FACE_PX
    # Tried only when the detector finds no face: worth it for a probe, costly in bulk.
    fallback_detector: str | None = None
    # How many ways each face is cut out and embedded (see align.CHIP_VARIANTS). Six
    # variants lift LFW view2 from 98.85% (one) to 99.23%, for 6 embeddings a face.
    chip_variants: str = "jitter"
    # "onnx": dlib's ResNet on onnxruntime, batched (same vectors, ~40x faster); "dlib";
    # "onnx-int8": the same network in 8-bit integers (vision/resnet_int8.py), ~2.9x faster
    # again, its own model id and calibration.
    embedder: str = "onnx"
    # Threads one image may use (onnxruntime, and HOG's pyramid scan); None: every core.
    # A pool of one process per core wants 1.
    threads: int | None = None
    # HOG scans at most this many pixels a photo; bigger photos are searched for bigger
    # faces only (see detect.plan_scale). None: no cap, however long it takes.
    max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS
    # A user's own ONNX embedder (see vision.onnx_embedder), used instead of ``embedder``.
    embedder_model: str | None = None
    # A user's own CenterFace-format detector file, used instead of the shipped one.
    detector_model: str | None = None

    @property
    def model_id(self) -> str:
        """Vectors are comparable only between faces with the same model id."""
        from facesift.vision.embed import DlibResnetEmbedder
        from facesift.vision.onnx_embedder import EmbedderModel

        if self.embedder_model:
            base = EmbedderModel.load(self.embedder_model).model_id
        elif self.embedder == INT8_EMBEDDER:
            base = INT8_MODEL_ID
        else:
            base = DlibResnetEmbedder.model_id  # dlib and onnx compute the same vectors
        return base if self.chip_variants == "none" else f"{base}+{self.chip_variants}"

    def plugin(self) -> EmbedderModel | None:
        """The user's embedder model this config names, if any."""
        from facesift.vision.onnx_embedder import EmbedderModel

        return EmbedderModel.load(self.embedder_model) if self.embedder_model else None
