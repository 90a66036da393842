"""Detectors side by side, in one run: HOG (today's default) against the ONNX plug-ins.

    .venv/bin/python bench/detect_compare.py --images 3000 --plugins centerface:24:0.4 yunet:20:0.6

For each detector at the default minimum face (40 px), all on one thread, interleaved
image by image so that both see the same machine load:

* LFW: of the faces HOG finds on an LFW slice (every Nth of ``labels.csv``), how many the
  other finds again (IoU >= 0.5 with its dlib-style box), and how many faces it adds;
* ``detection/dlib_examples``: recall and false boxes against the 43 hand-labelled faces
  (IoU >= 0.5; the labels are dlib-style boxes, as the plug-ins' boxes are);
* the fixture's groups (6, 2, 2) and the dogs photo (0);
* speed: the median of 5 runs at 250 px (an LFW image), 1 MP and 12 MP (the ``biden.jpg``
  sample scaled, as ``bench/detect_speed.py`` does), each with its own scan cap.

``--plugins NAME:NATIVE:SCORE ...``: the ONNX detectors to compare (centerface, yunet), each
with its smallest reliable face in its own pixels (the image is scaled by NATIVE / 40 for a
40 px minimum face) and its score threshold. The load average is printed at the start and
the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from facesift.schemas import Detection
from facesift.vision.decode import decode_image
from facesift.vision.detect import HogDetector
from facesift.vision.onnx_detect import CenterFaceDetector, OnnxFaceDetector
from facesift.vision.yunet_onnx import YuNetDetector

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces"))
Box4 = tuple[int, int, int, int]


def iou(a: Box4, b: Box4) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def same_face(a: Box4, b: Box4) -> bool:
    """IoU >= 0.5, or each box holds the other's centre (the test for boxes drawn in two
    styles, as detection/README asks; HOG's box is sometimes a part of a turned face)."""
    if iou(a, b) >= 0.5:
        return True
    ca, cb = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    inside = lambda c, r: r[0] <= c[0] < r[2] and r[1] <= c[1] < r[3]  # noqa: E731
    return inside(ca, b) and inside(cb, a)


def boxes(found: list[Detection]) -> list[Box4]:
    return [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in found]


def lfw_paths(count: int) -> list[Path]:
    with (DATA / "lfw" / "labels.csv").open(newline="") as handle:
        paths = [DATA / "lfw" / row["path"] for row in csv.DictReader(handle)]
    return paths[:: max(1, len(paths) // count)][:count]


def labelled() -> list[tuple[Path, list[Box4]]]:
    folder = DATA / "detection" / "dlib_examples"
    out = []
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / name).getroot().iter("image"):
            truth = []
            for b in image.iter("box"):
                x, y = int(b.get("left")), int(b.get("top"))
                truth.append((x, y, x + int(b.get("width")), y + int(b.get("height"))))
            out.append((folder / image.get("file"), truth))
    out.append((folder / "dogs.jpg", []))
    return out


def scaled(image: np.ndarray, megapixels: float) -> np.ndarray:
    h, w = image.shape[:2]
    f = (megapixels * 1e6 / (w * h)) ** 0.5
    size = (round(w * f), round(h * f))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def median_ms(detect: Callable[[np.ndarray], list[Detection]], image: np.ndarray) -> float:
    detect(image)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        detect(image)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument(
        "--plugins",
        nargs="+",
        default=["centerface:24:0.4", "yunet:20:0.6"],
        metavar="NAME:NATIVE:SCORE",
        help="ONNX detectors: name, smallest reliable face in its own pixels, score threshold",
    )
    parser.add_argument("--min-face", type=int, default=40)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load {os.getloadavg()}")

    hog = HogDetector(args.min_face)
    others: dict[str, OnnxFaceDetector] = {}
    for variant in args.plugins:
        name, native, score = variant.split(":")
        plugin = {"centerface": CenterFaceDetector, "yunet": YuNetDetector}[name]
        detector = plugin(args.min_face, score_threshold=float(score))
        geometry = replace(detector.spec.geometry, native_min_face_px=int(native))
        detector.spec = replace(detector.spec, geometry=geometry)
        others[f"{name} {native} px, score {score}"] = detector
    names = ["hog", *others]
    detectors = {"hog": hog.detect, **{n: d.detect for n, d in others.items()}}

    # LFW against HOG's faces
    seconds = dict.fromkeys(names, 0.0)
    reference = 0
    kept = dict.fromkeys(others, 0)
    added = dict.fromkeys(others, 0)
    by_centre = dict.fromkeys(others, 0)
    lost: dict[str, list[str]] = {n: [] for n in others}
    moved: dict[str, list[str]] = {n: [] for n in others}
    paths = lfw_paths(args.images)
    for path in paths:
        image = decode_image(path.read_bytes())
        found = {}
        for name in names:
            started = time.perf_counter()
            found[name] = boxes(detectors[name](image))
            seconds[name] += time.perf_counter() - started
        ref = [b for b in found["hog"] if min(b[2] - b[0], b[3] - b[1]) >= args.min_face]
        reference += len(ref)
        for name in others:
            for b in ref:
                if any(iou(b, f) >= 0.5 for f in found[name]):
                    kept[name] += 1
                elif any(same_face(b, f) for f in found[name]):
                    by_centre[name] += 1
                    moved[name].append(f"{path.name} {b}")
                else:
                    lost[name].append(f"{path.name} {b}")
            added[name] += sum(1 for f in found[name] if not any(same_face(f, b) for b in ref))
    print(f"\nLFW, {len(paths)} images; HOG finds {reference} faces >= {args.min_face} px")
    print(
        "| detector | HOG's faces found again: IoU >= 0.5 | by centre only | lost "
        "| other faces | ms an image |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| hog | {reference} | | | | {1000 * seconds['hog'] / len(paths):.1f} |")
    for name in others:
        ms = 1000 * seconds[name] / len(paths)
        print(
            f"| {name} | {kept[name]} | {by_centre[name]} | {len(lost[name])} "
            f"| {added[name]} | {ms:.1f} |"
        )
        for line in lost[name][:20]:
            print(f"    lost: {line}")
        for line in moved[name][:20]:
            print(f"    by centre: {line}")

    # hand-labelled faces
    print("\ndetection/dlib_examples: 43 labelled faces (12 photos) and dogs.jpg")
    print("| detector | labelled faces found | false boxes | boxes on dogs.jpg |")
    print("|---|---:|---:|---:|")
    for name in names:
        found_count = false = dogs = total = 0
        for path, truth in labelled():
            found = boxes(detectors[name](decode_image(path.read_bytes())))
            total += len(truth)
            found_count += sum(1 for t in truth if any(same_face(t, f) for f in found))
            extra = sum(1 for f in found if not any(same_face(t, f) for t in truth))
            false += extra
            dogs += extra if path.name == "dogs.jpg" else 0
        print(f"| {name} | {found_count}/{total} | {false} | {dogs} |")

    # fixture groups
    with (DATA / "fixture" / "labels.csv").open(newline="") as handle:
        groups = [r for r in csv.DictReader(handle) if r["role"] in ("group", "negative")]
    print("\nfixture (found/expected)")
    for name in names:
        counts = []
        for r in groups:
            image = decode_image((DATA / "fixture" / r["path"]).read_bytes())
            counts.append(f"{len(detectors[name](image))}/{r['expected_faces']}")
        print(f"| {name} | {', '.join(counts)} |")

    # speed
    lfw_image = decode_image(paths[0].read_bytes())
    big = decode_image(
        (DATA / "samples" / "face_recognition_examples" / "examples" / "biden.jpg").read_bytes()
    )
    probes = {"250 px": lfw_image, "1 MP": scaled(big, 1.0), "12 MP": scaled(big, 12.0)}
    print("\nspeed, one thread, median of 5 (ms)")
    print("| detector | " + " | ".join(probes) + " |")
    print("|---|" + "---:|" * len(probes))
    for name in names:
        cells = [f"{median_ms(detectors[name], image):.1f}" for image in probes.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nload at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
