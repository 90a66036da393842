"""Where HOG detection's time goes, and what the two-thread scan saves, in one run.

    flock /tmp/facesift-bench.lock .venv/bin/python bench/detect_speed.py

On a fixed slice of LFW (250x250, doubled to find 40 px faces, as an ingest scans them) and on
a fixture probe scaled to 1 megapixel (as a probe is scanned), it times dlib's frontal face
detector as shipped (five filters), the same detector cut down to one and two filters (the
rest of the time is building the pyramid and its HOG features, which no filter count
changes), the detector on the grey image, and facesift's two-thread scan. Then, on a
12-megapixel photo (a sample scaled up, as a phone takes them), facesift's detector with and
without its 16 MP cap on the scanned image, on one thread and on two.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesift.vision.detect import HogDetector  # noqa: E402
from facesift.vision.dlib_format import DlibReader, pack_int  # noqa: E402
from facesift.vision.hog_scan import SerializedHogDetector, SplitHogScan  # noqa: E402

DATA = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces"))


def with_filters(saved: SerializedHogDetector, count: int) -> dlib.fhog_object_detector:
    """The detector with only its first ``count`` filters (weight vectors)."""
    r = DlibReader(saved.data)
    r.position = saved.overlap_at[1]
    start, total = r.position, r.int()
    vectors = []
    for _ in range(total):
        begin = r.position
        rows, cols = r.int(), r.int()
        for _ in range(rows * cols):
            r.float()
        vectors.append(saved.data[begin : r.position])
    data = saved.data[:start] + pack_int(count) + b"".join(vectors[:count])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "detector.svm"
        path.write_bytes(data)
        return dlib.fhog_object_detector(str(path))


def ms_per_image(run, images: list[np.ndarray], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for image in images:
            run(image)
        best = min(best, (time.perf_counter() - started) / len(images))
    return best * 1000


def scaled(path: Path, pixels: int) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    scale = (pixels / (image.width * image.height)) ** 0.5
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale))))


def big_photo_table(repeats: int) -> None:
    photo = scaled(DATA / "samples/face_recognition_examples/examples/biden.jpg", 12_000_000)
    print(f"\n12 MP photo ({photo.shape[1]}x{photo.shape[0]}), smallest face 40 px wanted")
    print(f"{'':34} {'ms':>8} {'faces':>6} {'smallest face looked for':>25}")
    for cap in (16_000_000, None):
        for threads in (1, 2):
            detector = HogDetector(threads=threads, max_scan_pixels=cap)
            faces = detector.detect(photo)
            ms = ms_per_image(detector.detect, [photo], repeats)
            smallest = detector.smallest_face_px(photo.shape[1], photo.shape[0])
            name = f"{'16 MP cap' if cap else 'no cap'}, {threads} thread{'s' * (threads > 1)}"
            print(f"{name:34} {ms:8.0f} {len(faces):6d} {smallest:22d} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with (DATA / "lfw" / "labels.csv").open(newline="") as handle:
        paths = [DATA / "lfw" / row["path"] for row in csv.DictReader(handle)]
    lfw = [np.asarray(Image.open(p).convert("RGB")) for p in paths[:: len(paths) // args.images]]
    one_mp = [scaled(DATA / "fixture/identities/Colin_Powell/Colin_Powell_0003.jpg", 1_000_000)]

    shipped = dlib.get_frontal_face_detector()
    saved = SerializedHogDetector.of(shipped)
    split = SplitHogScan(shipped)
    two_filters, one_filter = with_filters(saved, 2), with_filters(saved, 1)
    plans = {
        "dlib, five filters (as shipped)": lambda im: shipped.run(im, 1, 0.0),
        "dlib, first two filters": lambda im: two_filters.run(im, 1, 0.0),
        "dlib, first filter only": lambda im: one_filter.run(im, 1, 0.0),
        "dlib, grey image": lambda im: shipped.run(np.ascontiguousarray(im[..., 1]), 1, 0.0),
        "facesift two-thread scan": lambda im: split.run(im, 1, 0.0),
    }
    print(
        f"{len(lfw)} LFW images (250x250) and one 1 MP probe, each doubled (40 px faces); "
        f"{os.cpu_count()} cores; best of {args.repeats}"
    )
    print(f"{'':34} {'LFW ms/image':>13} {'1 MP ms':>8}")
    for name, run in plans.items():
        print(
            f"{name:34} {ms_per_image(run, lfw, args.repeats):13.1f} "
            f"{ms_per_image(run, one_mp, args.repeats * 3):8.1f}"
        )
    big_photo_table(args.repeats)


if __name__ == "__main__":
    main()
