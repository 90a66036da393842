"""Detection recall and cost: facesift's HOG plan against the detector it replaced, on LFW.

    .venv/bin/python bench/detect_recall.py --images 13233 --min-face 40 50 60

The reference is dlib's HOG as facesift ran it before the scale plan (and as
face_recognition runs it): one upsampling step for any minimum face from 40 to 79 px. For
each minimum face size, every reference face at least that big must be found again, i.e. a
box with IoU >= 0.5 must come out of facesift's detector
(``--exact-scale``: scanned at exactly 80 / min_face). Also checks the fixture's group
photos against their expected face counts.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces"))

Boxes = list[tuple[int, int, int, int]]


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _detect_all(args: tuple[list[str], list[int], bool]) -> list[tuple[str, Boxes, dict, dict]]:
    """(path, reference boxes, {min_face: boxes}, {min_face or 'ref': seconds}) per image."""
    import dlib

    from facesift.vision.decode import decode_image
    from facesift.vision.detect import HogDetector

    paths, min_faces, exact = args
    reference = dlib.get_frontal_face_detector()
    detectors = {m: HogDetector(m, exact_scale=exact) for m in min_faces}
    out = []
    for path in paths:
        image = decode_image(Path(path).read_bytes())
        started = time.perf_counter()
        rects = reference.run(image, 1, 0.0)[0]
        seconds = {"ref": time.perf_counter() - started}
        ref = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
        found = {}
        for m, detector in detectors.items():
            started = time.perf_counter()
            found[m] = [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in detector.detect(image)]
            seconds[m] = time.perf_counter() - started
        out.append((path, ref, found, seconds))
    return out


def lfw_paths(count: int) -> list[str]:
    """``count`` LFW images spread over labels.csv (all 13,233 when count is that big)."""
    with (DATA / "lfw" / "labels.csv").open(newline="") as handle:
        paths = [str(DATA / "lfw" / row["path"]) for row in csv.DictReader(handle)]
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--min-face", type=int, nargs="+", default=[40])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--exact-scale", action="store_true", help="scan at exactly 80/min_face (plan_scale)"
    )
    args = parser.parse_args()
    paths = lfw_paths(args.images)
    chunks = [
        (paths[i : i + 50], args.min_face, args.exact_scale) for i in range(0, len(paths), 50)
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [row for chunk in pool.map(_detect_all, chunks) for row in chunk]

    print(f"{len(rows)} LFW images; reference: dlib HOG, one upsampling step")
    ref_seconds = sum(s["ref"] for *_, s in rows)
    print(
        f"reference: {sum(len(r) for _, r, _, _ in rows)} faces, "
        f"{1000 * ref_seconds / len(rows):.2f} ms an image"
    )
    lost_any = False
    for m in args.min_face:
        wanted = kept = kept_all = extra = 0
        lost = []
        for path, ref, found, _ in rows:
            for box in ref:
                again = any(iou(box, f) >= 0.5 for f in found[m])
                kept_all += again
                if min(box[2] - box[0], box[3] - box[1]) < m:
                    continue
                wanted += 1
                kept += again
                if not again:
                    lost.append((Path(path).name, box))
            extra += sum(1 for f in found[m] if not any(iou(f, b) >= 0.5 for b in ref))
        seconds = sum(s[m] for *_, s in rows)
        print(
            f"min face {m} px: {kept}/{wanted} reference faces >= {m} px kept "
            f"({kept_all}/{sum(len(r) for _, r, _, _ in rows)} of all), "
            f"{len(lost)} lost, {extra} new boxes; {1000 * seconds / len(rows):.2f} ms an "
            f"image ({seconds / ref_seconds:.0%} of the reference)"
        )
        for name, box in lost[:20]:
            print(f"    lost: {name} {box}")
        lost_any |= bool(lost)

    from facesift.vision.decode import decode_image
    from facesift.vision.detect import HogDetector

    with (DATA / "fixture" / "labels.csv").open(newline="") as handle:
        groups = [r for r in csv.DictReader(handle) if r["role"] in ("group", "negative")]
    for m in args.min_face:
        detector = HogDetector(m, exact_scale=args.exact_scale)
        counts = [
            f"{Path(r['path']).stem}: "
            f"{len(detector.detect(decode_image((DATA / 'fixture' / r['path']).read_bytes())))}"
            f"/{r['expected_faces']}"
            for r in groups
        ]
        print(f"fixture, min face {m} px (found/expected): " + ", ".join(counts))
    sys.exit(1 if lost_any else 0)


if __name__ == "__main__":
    main()
