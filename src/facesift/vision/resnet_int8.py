"""dlib's face ResNet in 8-bit integers: the same network, about 2.9 times faster.

Why: six chips a face (``align.CHIP_VARIANTS["jitter"]``) are what lift LFW view2 to 99.2%,
and at 5 ms a chip in float32 on one core (0.54 GFLOP, at that core's float32 peak) they are
three quarters of an ingest's CPU. This processor's integer dot-product instructions (AVX-512
VNNI) do the same convolutions in 8-bit integers: 1.7-2.8 ms a chip, one thread
(``bench/chip_plans.py`` measures the accuracy, ``bench/ingest.py`` the speed). Processors
without VNNI (AVX2 only) get the same vectors from kernels that cannot saturate
(``onnx_session``), at 4.9 ms a chip against float32's 6.0 on an AMD EPYC core
(``bench/embed.py --threads 1``, batch 32).

What was measured on LFW view2 (10 folds, same detections and landmarks, one run of
``bench/chip_plans.py`` each): six chips 99.25% in int8 and in float32, two chips 99.23%
against 99.13%, one chip 98.92% against 98.90%: no loss beyond the folds' spread (±0.25).
Four of the six chips (``"four"``, the default since) give 99.25% in int8.
Its vectors are 0.04-0.05 from float32's, so it is another model (``MODEL_ID``), with its own
score calibration, and a gallery never mixes the two.

How it is made, never downloaded: from the float32 model this package converts from dlib's
weights (``resnet_onnx``), by onnxruntime's static quantization (per-channel int8 weights,
uint8 activations, QDQ format). Static quantization needs each activation's range; those are
shipped (``data/int8_ranges_dlib_resnet_v1.json``, measured once by ``bench/int8_ranges.py``
on 1,800 chips of 300 LFW people who are in none of view2's pairs), so that making the model
needs no photos and gives the same file on every machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import onnx

from facesift.vision.resnet_onnx import CACHE_FILE, OnnxResnetEmbedder

MODEL_ID = "dlib_resnet_v1_int8"
INT8_CACHE_FILE = f"{MODEL_ID}.onnx"
RANGES_FILE = "int8_ranges_dlib_resnet_v1.json"
QUANTIZED_OPS = ["Conv", "MatMul", "Add", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool"]


def shipped_ranges() -> tuple[dict[str, tuple[float, float]], str]:
    """The activation ranges and the SHA-256 of the file they came from."""
    text = (resources.files("facesift.data") / RANGES_FILE).read_text(encoding="utf-8")
    ranges = {name: (float(lo), float(hi)) for name, (lo, hi) in json.loads(text)["ranges"].items()}
    return ranges, hashlib.sha256(text.encode()).hexdigest()


class _OneBatch:
    """onnxruntime's calibration reader wants data; every range it would measure is
    overridden by the shipped ones, so one batch of zeros does."""

    def __init__(self) -> None:
        self._batches = iter([{"chips": np.zeros((1, 150, 150, 3), dtype=np.uint8)}])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize(float_model: Path, out: Path) -> None:
    """Write the int8 model made from ``float_model`` with the shipped ranges."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    ranges, ranges_sha = shipped_ranges()
    model = onnx.load(str(float_model))
    missing = _activations(model) - set(ranges)
    if missing:  # an unknown range would be measured on zeros: a silently broken model
        raise RuntimeError(
            f"no shipped int8 range for {len(missing)} tensors: {sorted(missing)[:3]}"
        )
    reader = _OneBatch()
    CalibrationDataReader.register(_OneBatch)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    quiet = logging.root.manager.disable
    logging.disable(logging.WARNING)  # onnxruntime's advice on its root logger, not ours
    try:
        quantize_static(
            str(float_model),
            temp,
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTIZED_OPS,
            extra_options={
                "TensorQuantOverrides": {
                    name: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                    for name, (lo, hi) in ranges.items()
                }
            },
        )
        quantized = onnx.load(temp)
        onnx.helper.set_model_props(
            quantized,
            {"model_id": MODEL_ID, "ranges_sha256": ranges_sha, "float_model": CACHE_FILE},
        )
        onnx.save(quantized, temp)
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    finally:
        logging.disable(quiet)


def _activations(model: onnx.ModelProto) -> set[str]:
    """The tensors static quantization needs a range for: inputs and outputs of the
    quantized operators, less the weights."""
    weights = {w.name for w in model.graph.initializer}
    names: set[str] = set()
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS:
            names.update(n for n in [*node.input, *node.output] if n and n not in weights)
    return names


class OnnxResnetInt8Embedder(OnnxResnetEmbedder):
    """The int8 model on onnxruntime; otherwise exactly ``OnnxResnetEmbedder``."""

    model_id = MODEL_ID

    @classmethod
    def from_cache(  # type: ignore[override]
        cls, cache_dir: Path, threads: int | None = None
    ) -> OnnxResnetInt8Embedder:
        """Load ``cache_dir/dlib_resnet_v1_int8.onnx``, making it first when it is missing or
        was made from other ranges."""
        path = Path(cache_dir) / INT8_CACHE_FILE
        _, ranges_sha = shipped_ranges()
        if path.is_file():
            try:
                embedder = cls(path, threads=threads)
            except Exception:  # unreadable: made again below
                embedder = None
            if embedder is not None and embedder.metadata.get("ranges_sha256") == ranges_sha:
                return embedder
        OnnxResnetEmbedder.from_cache(cache_dir, threads=1)  # the float model, converted
        quantize(Path(cache_dir) / CACHE_FILE, path)
        return cls(path, threads=threads)
