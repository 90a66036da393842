"""What each chip plan gives on LFW view2, for the gallery and the probe apart.

    .venv/bin/python bench/chip_plans.py [--embedder onnx-int8]   # 2-4 min on 2 cores

Each face is embedded once per chip variant of the "jitter" plan (the plain chip, shifted by
±3% with a ±3° turn, each also mirrored: ``align.CHIP_VARIANTS``), and every plan is then a
mean over a subset of those six unit vectors, exactly as ``FaceAnalyzer`` averages them. So
one pass gives every plan's accuracy, with the same detections and landmarks.

Why the gallery and the probe apart: an ingest embeds every face of every photo, a search
embeds one face. Six chips a face cost 36 ms of a core per LFW image, three quarters of an
ingest's time (bench/README.md), but nothing for the speed of a search. A gallery embedded
from fewer chips and probes from six keep the vectors in one space (the same network, the
same chips, averaged), so the question is only what the mix costs in accuracy. For a pair
(a, b), a is the probe and b the gallery face; both orders are reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LFW = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces")) / "lfw"
CACHE = REPO / "bench" / ".cache"  # chip_variants_EMBEDDER.npz
# Indexes into CHIP_VARIANTS["jitter"]: (plain, mirrored), then the two shifted-and-turned,
# each (unmirrored, mirrored). "four" is the default since 2026-11-28 (vision/align.py).
PLANS = {"none": [0], "flip": [0, 1], "four": [0, 1, 3, 4], "jitter": [0, 1, 2, 3, 4, 5]}


def variant_vectors(config, items):  # type: ignore[no-untyped-def]
    """(path, (6, 128) unit vectors) per image: the face nearest the centre, as in lfw.py."""
    from facesift.services.batch import analyzer_for
    from facesift.services.lfw import LFW_CENTRAL_BOX, _centre_distance
    from facesift.vision import decode_image
    from facesift.vision.align import CHIP_VARIANTS

    analyzer = analyzer_for(config)
    out = []
    for item in items:
        image = np.ascontiguousarray(decode_image(item.data))
        detections = analyzer.detector.detect(image)
        centre = np.array(image.shape[1::-1]) / 2
        box = (
            min(detections, key=lambda d: _centre_distance(d.box, centre)).box
            if detections
            else LFW_CENTRAL_BOX
        )
        shape = analyzer.aligner.landmarks(image, box)
        chips = analyzer.aligner.chips(image, shape, CHIP_VARIANTS["jitter"])
        vectors = analyzer.embedder.embed(chips)
        out.append((item.key, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    return out


def embed_all(lfw: Path, paths: list[str], workers: int, embedder: str) -> dict[str, np.ndarray]:
    from facesift.services.batch import BatchItem
    from facesift.services.parallel import map_batches
    from facesift.vision import VisionConfig

    cache = CACHE / f"chip_variants_{embedder}.npz"
    if cache.exists():
        with np.load(cache) as saved:
            cached = dict(zip(saved["paths"].tolist(), saved["vectors"], strict=True))
        if all(p in cached for p in paths):
            return cached
    config = VisionConfig(chip_variants="none", threads=1, embedder=embedder)
    batches = (
        [BatchItem(p, (lfw / p).read_bytes()) for p in paths[i : i + 8]]
        for i in range(0, len(paths), 8)
    )
    vectors: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for results in map_batches(variant_vectors, config, batches, workers):
        vectors.update(results)
        rate = len(vectors) / (time.perf_counter() - started)
        print(f"\r{len(vectors)}/{len(paths)} images, {rate:.1f}/s", end="", file=sys.stderr)
    print(file=sys.stderr)
    CACHE.mkdir(exist_ok=True)
    np.savez(
        cache,
        paths=np.array(sorted(vectors)),
        vectors=np.stack([vectors[k] for k in sorted(vectors)]),
    )
    return vectors


def main() -> None:
    from facesift.services import lfw as lfw_eval

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--embedder", default="onnx", help="onnx (float32) or onnx-int8")
    args = parser.parse_args()
    pairs = lfw_eval.read_pairs(args.lfw / "pairs.txt")
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    vectors = embed_all(args.lfw, paths, args.workers, args.embedder)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])

    def plan(name: str, path: str) -> np.ndarray:
        return vectors[path][PLANS[name]].mean(axis=0)

    print(f"LFW view2 ({args.embedder}), {len(pairs)} pairs, {len(paths)} images")
    print(f"{'probe':>7} {'gallery':>8} {'accuracy':>9} {'± sd':>6} {'TAR@FAR1e-3':>12} {'EER':>6}")
    for probe in PLANS:
        for gallery in PLANS:
            for order in ("first is probe", "second is probe"):
                if probe == gallery and order == "second is probe":
                    continue
                a, b = (0, 1) if order == "first is probe" else (1, 0)
                d = np.array(
                    [
                        np.linalg.norm(
                            plan(probe, (p.first, p.second)[a])
                            - plan(gallery, (p.first, p.second)[b])
                        )
                        for p in pairs
                    ]
                )
                accs = []
                for k in np.unique(folds):
                    held = folds == k
                    t = lfw_eval.best_threshold(d[~held], same[~held])
                    accs.append(lfw_eval.accuracy(d[held], same[held], t))
                tar, _ = lfw_eval.rates_at_far(d, same, 1e-3)
                eer, _ = lfw_eval.equal_error(d, same)
                note = "" if probe == gallery else f"  ({order})"
                print(
                    f"{probe:>7} {gallery:>8} {np.mean(accs):9.2%} {np.std(accs):6.2%} "
                    f"{tar:12.1%} {eer:6.2%}{note}"
                )


if __name__ == "__main__":
    main()
