"""A probe end to end: a 1-megapixel photo in, its candidate list out, against a gallery
of 1M faces held the way facesift holds them (SQLite records, compressed index).

    .venv/bin/python bench/probe.py --faces 1000000

The gallery's faces are synthetic records (tests/synthetic.py) plus the 20 fixture gallery
photos, ingested for real; the probe is a fixture probe photo scaled up to 1 megapixel.
Timed: decode, detect, align, embed, search, candidate details and the audit entry; with
HOG on one and two threads, and with the ONNX detectors (CenterFace, YuNet) on two.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from facesift.services import index_build  # noqa: E402
from facesift.services.calibration import load_calibration  # noqa: E402
from facesift.services.gallery import Gallery  # noqa: E402
from facesift.services.ingest import IngestOptions, ingest  # noqa: E402
from facesift.services.search import SearchRequest, search  # noqa: E402
from facesift.vision import FaceAnalyzer, VisionConfig  # noqa: E402
from facesift.vision.detect import HogDetector  # noqa: E402
from tests.synthetic import add_synthetic  # noqa: E402

FIXTURE = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces")) / "fixture"


def one_megapixel(photo: Path) -> bytes:
    image = Image.open(photo).convert("RGB")
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    gallery_photos = sorted((FIXTURE / "identities").glob("*/*_000[12].jpg"))
    probe_photo = FIXTURE / "identities" / "Colin_Powell" / "Colin_Powell_0003.jpg"
    with tempfile.TemporaryDirectory() as data_dir, Gallery.open(Path(data_dir)) as gallery:
        started = time.perf_counter()
        ingest(gallery, gallery_photos, IngestOptions(workers=2))
        add_synthetic(gallery, args.faces - len(gallery_photos))
        print(
            f"gallery of {gallery.store.face_count():,} faces stored in "
            f"{time.perf_counter() - started:.0f} s"
        )
        started = time.perf_counter()
        report = index_build.rebuild(gallery, "auto")
        print(f"{report.kind} index built in {time.perf_counter() - started:.0f} s")

        analyzer = FaceAnalyzer.from_config(VisionConfig(fallback_detector="mmod"))
        calibration = load_calibration(analyzer.model_id)
        probe = one_megapixel(probe_photo)
        print(f"probe {len(probe):,} bytes, 1 megapixel; {os.cpu_count()} cores")
        # The same analyzer with dlib's one-thread HOG scan: what a probe cost before.
        one_thread = copy.copy(analyzer)
        one_thread.detector = HogDetector(analyzer.detector.min_face_px, threads=1)
        plugins = [
            (f"{name} on two threads", FaceAnalyzer.from_config(config))
            for name in ("centerface", "yunet")
            for config in [VisionConfig(detector=name, fallback_detector="mmod")]
        ]
        print(f"load average {os.getloadavg()}")
        default = f"the default ({analyzer.detector.name}) on two threads"
        for label, candidate in [
            ("HOG on one thread", one_thread),
            (default, analyzer),
            *plugins,
        ]:
            times, result = _time_search(gallery, candidate, calibration, probe, args.runs)
            top = result.candidates[0] if result.candidates else None
            print(
                f"{label}: outcome {result.outcome}, first candidate "
                f"{Path(top.image['path']).name if top else None}; over {args.runs} runs "
                f"p50 {np.percentile(times, 50):.0f} ms, p99 {np.percentile(times, 99):.0f} ms"
            )


def _time_search(gallery, analyzer, calibration, probe: bytes, runs: int):
    request = SearchRequest("BENCH-1", "probe latency benchmark", offense_category="robbery")
    times, result = [], None
    for _ in range(runs + 1):
        started = time.perf_counter()
        result = search(gallery, analyzer, calibration, probe, request)
        times.append(time.perf_counter() - started)
    return np.array(times[1:]) * 1000, result  # the first run warms caches


if __name__ == "__main__":
    main()
