"""YuNet (libfacedetection, BSD-3) rebuilt as an ONNX graph from the ``yuface`` wheel.

Why: of the detectors the issue measured, YuNet is the fastest (about a tenth of HOG's time)
and finds faces from about 10 px. The ``yuface`` wheel ships it compiled into
``libfacedetection.so``, whose own C code runs it slowly (one 3x3 conv written as loops) and
at a fixed resolution. But the library exports every weight as a named data symbol, and the
table of its 53 convolutions (``param_pConvInfo``: channels, filters, depthwise or pointwise,
weight and bias addresses). This module reads that table with ctypes and builds the same
network for onnxruntime, as ``resnet_onnx`` does for dlib's ResNet. Nothing is downloaded.

The network (libfacedetection v3, "YuNet-s"): a 3x3 stride-2 convolution over the BGR image,
then depthwise-separable blocks (1x1 convolution, then 3x3 depthwise with ReLU) and 2x2 max
pools down to strides 8, 16 and 32; a feature pyramid adds each coarser level, upsampled, to
the finer one; each level has four heads (class, box, objectness, five landmarks). A face's
score is the geometric mean of the class and objectness sigmoids. The graph takes RGB (the
first convolution's colour order is swapped) and is checked against ``yuface.detect``
itself in ``tests/test_onnx_detect.py``.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facesift.vision.detect import DEFAULT_MAX_SCAN_PIXELS, DEFAULT_MIN_FACE_PX
from facesift.vision.model_files import package_file
from facesift.vision.onnx_detect import (
    DetectorGeometry,
    DetectorSpec,
    OnnxFaceDetector,
    OrtSession,
)

FILTERS = 53
STRIDES = (8, 16, 32)
# Each head: its name, the first of its three (one per level) pairs of filters, channels out.
HEADS = (("cls", 29, 1), ("box", 35, 4), ("obj", 41, 1), ("kps", 47, 10))


class _ConvInfo(ctypes.Structure):
    _fields_ = (
        ("channels", ctypes.c_int),
        ("num_filters", ctypes.c_int),
        ("is_depthwise", ctypes.c_bool),
        ("is_pointwise", ctypes.c_bool),
        ("with_relu", ctypes.c_bool),
        ("weights", ctypes.c_void_p),
        ("biases", ctypes.c_void_p),
    )


def library_file() -> Path:
    return package_file("yuface", "libfacedetection.so")


def read_filters(path: Path) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(weights, biases, depthwise) of each of the 53 convolutions, in the library's order.
    Pointwise weights come out as (filters, channels); depthwise as (channels, 3, 3)."""
    library = ctypes.CDLL(str(path))
    table = (_ConvInfo * FILTERS).in_dll(library, "param_pConvInfo")
    filters = []
    for info in table:
        if info.is_depthwise == info.is_pointwise:
            raise ValueError(f"{path}: a convolution that is neither 1x1 nor 3x3 depthwise")
        count = info.channels * (9 if info.is_depthwise else info.num_filters)
        weights = np.ctypeslib.as_array((ctypes.c_float * count).from_address(info.weights)).copy()
        biases = np.ctypeslib.as_array(
            (ctypes.c_float * info.num_filters).from_address(info.biases)
        ).copy()
        if info.is_depthwise:  # stored tap by tap: (9, channels)
            weights = weights.reshape(9, info.channels).T.reshape(info.channels, 3, 3)
        else:
            weights = weights.reshape(info.num_filters, info.channels)
        filters.append((weights, biases, bool(info.is_depthwise)))
    return filters


class _Graph:
    def __init__(self, filters: list[tuple[np.ndarray, np.ndarray, bool]]):
        self.filters = filters
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}{self._count}"

    def _const(self, array: np.ndarray) -> str:
        name = self._name("w")
        self.weights.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def _node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def first(self, x: str) -> str:
        """Filter 0: the 3x3 stride-2 convolution over the image, stored by the library as a
        1x1 over 32 channels (27 used: 3x3 taps x BGR). Rebuilt as a 3x3 over RGB."""
        weights, biases, _ = self.filters[0]
        taps = weights[:, :27].reshape(-1, 3, 3, 3)  # (filters, ky, kx, bgr)
        kernel = taps[..., ::-1].transpose(0, 3, 1, 2)  # (filters, rgb, ky, kx)
        y = self._node(
            "Conv",
            [x, self._const(kernel), self._const(biases)],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        )
        return self._node("Relu", [y])

    def conv(self, x: str, index: int, relu: bool) -> str:
        weights, biases, depthwise = self.filters[index]
        if depthwise:
            channels = weights.shape[0]
            y = self._node(
                "Conv",
                [x, self._const(weights[:, None]), self._const(biases)],
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                group=channels,
            )
        else:
            y = self._node(
                "Conv",
                [x, self._const(weights[:, :, None, None]), self._const(biases)],
                kernel_shape=[1, 1],
            )
        return self._node("Relu", [y]) if relu else y

    def dp(self, x: str, first: int, relu: bool = True) -> str:
        """A 1x1 convolution, then a 3x3 depthwise one (ReLU after the second only)."""
        return self.conv(self.conv(x, first, False), first + 1, relu)

    def unit(self, x: str, first: int) -> str:
        return self.dp(self.dp(x, first), first + 2)

    def pool(self, x: str) -> str:
        return self._node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def up_add(self, coarse: str, fine: str) -> str:
        scales = self._const(np.array([1, 1, 2, 2], dtype=np.float32))
        up = self._node("Resize", [coarse, "", scales], mode="nearest")
        return self._node("Add", [up, fine])


def build_yunet(filters: list[tuple[np.ndarray, np.ndarray, bool]]) -> onnx.ModelProto:
    """The graph: RGB float (1, 3, H, W), sides multiples of 32, 0-255 in. Out, per stride
    8, 16, 32: cls (1, 1), box (4), obj (1), kps (10) maps, before any sigmoid or decoding."""
    g = _Graph(filters)
    x = g.first("image")
    x = g.pool(g.dp(x, 1))
    x = g.pool(g.unit(g.unit(x, 3), 7))
    fb1 = g.unit(x, 11)
    fb2 = g.unit(g.pool(fb1), 15)
    fb3 = g.unit(g.pool(fb2), 19)
    fb3 = g.dp(fb3, 27)
    fb2 = g.dp(g.up_add(fb3, fb2), 25)
    fb1 = g.dp(g.up_add(fb2, fb1), 23)
    outputs = []
    for level, feature in enumerate((fb1, fb2, fb3)):
        for head, first, channels in HEADS:
            y = g.dp(feature, first + 2 * level, relu=False)
            name = f"{head}{STRIDES[level]}"
            g.nodes.append(helper.make_node("Identity", [y], [name]))
            outputs.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, None, None])
            )
    graph = helper.make_graph(
        g.nodes,
        "yunet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        outputs,
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -88.0, 88.0)))


def decode_yunet(
    outputs: dict[str, np.ndarray], threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces scoring at least ``threshold``, in model pixels: scores (N,), landmarks
    (N, 5, 2) and box sizes (N, 2), decoded as libfacedetection does (priors at the top-left
    corner of each cell, no half-cell offset)."""
    scores, points, sizes = [], [], []
    for stride in STRIDES:
        cls, obj = outputs[f"cls{stride}"][0, 0], outputs[f"obj{stride}"][0, 0]
        score = np.sqrt(_sigmoid(cls) * _sigmoid(obj))
        rows, cols = np.nonzero(score >= threshold)
        box = outputs[f"box{stride}"][0][:, rows, cols]
        kps = outputs[f"kps{stride}"][0][:, rows, cols]
        px, py = cols * stride, rows * stride
        scores.append(score[rows, cols])
        sizes.append(np.exp(box[2:4]).T * stride)
        marks = np.stack([kps[0::2] * stride + px, kps[1::2] * stride + py], 2)  # (5, N, 2)
        points.append(marks.transpose(1, 0, 2))
    return (
        np.concatenate(scores).astype(np.float32),
        np.concatenate(points).astype(np.float32).reshape(-1, 5, 2),
        np.concatenate(sizes).astype(np.float32).reshape(-1, 2),
    )


YUNET_GEOMETRY = DetectorGeometry(
    multiple=32,
    native_min_face_px=20,
    # Fitted as CenterFace's (962 LFW images with one HOG face): median IoU with HOG's box
    # 0.87, 1st percentile 0.66, lowest 0.61.
    centre_along=0.468,
    side_per_width=0.798,
    side_per_height=0.235,
)
OUTPUTS = tuple(f"{head}{stride}" for stride in STRIDES for head in ("cls", "box", "obj", "kps"))


class YuNetDetector(OnnxFaceDetector):
    """YuNet-s (BSD-3; rebuilt from the ``yuface`` wheel's library): an anchor-free detector
    at strides 8, 16 and 32 with five landmarks, 75k parameters. RGB 0-255 in.

    Score 0.6: on dlib's 43 labelled faces (at a 40 px minimum face, so scanned at half
    size) 0.6 finds all 43 with 3 false boxes, 0.5 all with 6, 0.7 loses one; at every one
    of these it puts a box (0.86) on the dogs photo, which is why it is not the default."""

    def __init__(
        self,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        threads: int = 1,
        max_scan_pixels: int | None = DEFAULT_MAX_SCAN_PIXELS,
        score_threshold: float = 0.6,
        library: Path | None = None,
    ):
        path = library or library_file()
        spec = DetectorSpec("yunet", path, YUNET_GEOMETRY, score_threshold)
        model = build_yunet(read_filters(path)).SerializeToString()
        super().__init__(spec, OrtSession(model, threads), min_face_px, max_scan_pixels)

    def decode(
        self, outputs: list[np.ndarray], shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return decode_yunet(dict(zip(OUTPUTS, outputs, strict=True)), self.spec.score_threshold)
