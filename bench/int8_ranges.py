"""Measure the activation ranges the int8 ResNet is made with (``vision/resnet_int8.py``).

    .venv/bin/python bench/int8_ranges.py        # about a minute; writes the shipped file

Static quantization maps each activation's range onto 256 steps, so the ranges must be those
of real faces. They are measured here once, with onnxruntime's MinMax calibrator, on the six
chips of one photo each of 300 LFW people who appear in none of view2's pairs (so the
accuracy measured on view2 is not measured on the calibration's own faces), and shipped in
``src/facesift/data/int8_ranges_dlib_resnet_v1.json``: making the model then needs no photo.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LFW = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces")) / "lfw"
OUT = REPO / "src" / "facesift" / "data" / "int8_ranges_dlib_resnet_v1.json"
PEOPLE = 300


def calibration_paths(lfw: Path) -> list[Path]:
    from facesift.services.lfw import read_pairs

    pairs = read_pairs(lfw / "pairs.txt")
    in_view2 = {Path(p.first).parent.name for p in pairs} | {
        Path(p.second).parent.name for p in pairs
    }
    first_photo: dict[str, str] = {}
    with (lfw / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["identity"]
            if name not in in_view2:
                first_photo.setdefault(name, row["path"])
    names = sorted(first_photo)
    step = max(1, len(names) // PEOPLE)
    return [lfw / first_photo[n] for n in names[::step][:PEOPLE]]


def chips_of(paths: list[Path]) -> np.ndarray:
    from facesift.services.batch import analyzer_for
    from facesift.vision import VisionConfig, decode_image
    from facesift.vision.align import CHIP_VARIANTS

    analyzer = analyzer_for(VisionConfig(chip_variants="none", threads=1))
    chips = []
    for path in paths:
        image = np.ascontiguousarray(decode_image(path.read_bytes()))
        found = analyzer.detector.detect(image)
        if found:
            shape = analyzer.aligner.landmarks(image, found[0].box)
            chips.append(analyzer.aligner.chips(image, shape, CHIP_VARIANTS["jitter"]))
    return np.concatenate(chips)


def main() -> None:
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    from facesift.vision import model_files
    from facesift.vision.resnet_int8 import QUANTIZED_OPS
    from facesift.vision.resnet_onnx import CACHE_FILE, OnnxResnetEmbedder

    lfw = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_LFW
    paths = calibration_paths(lfw)
    chips = chips_of(paths)
    print(f"{len(paths)} people, {len(chips)} chips", file=sys.stderr)
    OnnxResnetEmbedder.from_cache(model_files.cache_dir(), threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        calibrator = create_calibrator(
            model_files.cache_dir() / CACHE_FILE,
            QUANTIZED_OPS,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.MinMax,
        )

        class Chips:
            def __init__(self) -> None:
                self.batches = iter(chips[i : i + 32] for i in range(0, len(chips), 32))

            def get_next(self) -> dict | None:
                batch = next(self.batches, None)
                return None if batch is None else {"chips": batch}

        calibrator.collect_data(Chips())
        ranges = calibrator.compute_data()
    out = {
        "about": "activation ranges of dlib_resnet_v1 for int8 quantization, measured by "
        f"bench/int8_ranges.py on {len(chips)} chips of {len(paths)} LFW people in no view2 pair",
        "ranges": {
            name: [
                float(np.asarray(r.range_value[0]).min()),
                float(np.asarray(r.range_value[1]).max()),
            ]
            for name, r in sorted(ranges.data.items())
        },
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(out['ranges'])} ranges to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
