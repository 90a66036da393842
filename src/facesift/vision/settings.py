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
CHIP_PLANS = ("jitter", "four", "flip", "none")  # align.CHIP_VARIANTS' names, without loading dlib
# The default model: dlib's ResNet in 8-bit integers on four chips a face. On LFW view2 it
# scores as six chips do (99.25%, TAR at FAR 0.001 97.1% against 96.5%, rank-1 96.45%
# against 96.57%; bench/chip_plans.py) in two thirds of their embedding time, and that is
# what lifts an ingest to 10x the face_recognition library (bench/ingest.py). Two chips
# ("flip") are faster again and still at 99.23%, but every fixture probe's mate lies
# farther off with them (one, already near the threshold, falls outside it) and rank-1 is
# 0.25 points lower: a setting, not the default. A gallery made with another of the
# built-in models keeps it (``model_of``): settings left at "auto" follow the gallery.
DEFAULT_EMBEDDER = INT8_EMBEDDER
DEFAULT_CHIPS = "four"
FLOAT_MODEL_ID = "dlib_resnet_v1"
AUTO = "auto"


def model_of(model_id: str | None) -> tuple[str, str] | None:
    """(embedder, chips) of a built-in model id such as ``dlib_resnet_v1_int8+flip``; None
    for a user's plug-in model, or no model."""
    if not model_id:
        return None
    base, _, chips = model_id.partition("+")
    embedder = {FLOAT_MODEL_ID: "onnx", INT8_MODEL_ID: INT8_EMBEDDER}.get(base)
    if embedder is None or (chips or "none") not in CHIP_PLANS:
        return None
    return embedder, chips or "none"


@dataclass(frozen=True)
class VisionConfig:
    """Everything needed to build the same analyzer in another process."""

    detector: str = DEFAULT_DETECTOR
    min_face_px: int = DEFAULT_MIN_FACE_PX
    # Tried only when the detector finds no face: worth it for a probe, costly in bulk.
    fallback_detector: str | None = None
    # How many ways each face is cut out and embedded (see align.CHIP_VARIANTS). Averaging
    # variants makes a vector depend less on the exact landmarks: four or six lift LFW view2
    # from 98.90% (one) to 99.25%; two reach 99.13% in float32, 99.23% in int8
    # (bench/chip_plans.py).
    chip_variants: str = DEFAULT_CHIPS
    # "onnx": dlib's ResNet on onnxruntime, batched (same vectors, ~40x faster); "dlib";
    # "onnx-int8": the same network in 8-bit integers (vision/resnet_int8.py), ~2.9x faster
    # again, its own model id and calibration.
    embedder: str = DEFAULT_EMBEDDER
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
        from facesift.vision.onnx_embedder import EmbedderModel

        if self.embedder_model:
            base = EmbedderModel.load(self.embedder_model).model_id
        elif self.embedder == INT8_EMBEDDER:
            base = INT8_MODEL_ID
        else:
            base = FLOAT_MODEL_ID  # dlib and onnx compute the same vectors
        return base if self.chip_variants == "none" else f"{base}+{self.chip_variants}"

    def plugin(self) -> EmbedderModel | None:
        """The user's embedder model this config names, if any."""
        from facesift.vision.onnx_embedder import EmbedderModel

        return EmbedderModel.load(self.embedder_model) if self.embedder_model else None
