"""Open-set identification on LFW, drawn: DET curves for each technique, and what a fixed
per-comparison threshold does to strangers as the gallery grows, against the FPIR rule.

    .venv/bin/python bench/open_set.py --cache DATA/cache/lfw_MODEL_hog_mmod.npz

The cache is the one `facesift eval lfw DIR --open-set --data-dir DATA` fills (embeddings
with each face's quality). The protocol and the techniques are those of
`facesift.services.open_set`; the figures it prints for FNIR at FPIR 1% are the eval's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesift.services import lfw, open_set  # noqa: E402
from facesift.services.calibration import load_calibration  # noqa: E402
from facesift.vision import VisionConfig  # noqa: E402

OLD_THRESHOLD = 0.3675  # the per-comparison default before the FPIR rule
GALLERY_SIZES = (25, 50, 100, 200, 400, 800, 1680)


def det_points(searches: open_set.Searches, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(FPIR, FNIR) at every threshold that changes the FPIR."""
    thresholds = np.sort(searches.non_mated_best)
    fpir = np.arange(1, len(thresholds) + 1) / len(thresholds)
    fnir = np.array([open_set.fnir(searches, t, top) for t in thresholds])
    return fpir, fnir


def fpir_by_gallery_size(
    vectors: np.ndarray, names: list[str], calibration, target: float, rng: np.random.Generator
) -> list[tuple[int, float, float, float]]:
    """(gallery faces, FPIR at the old threshold, FPIR with the rule, FNIR with the rule),
    each on a random subset of the gallery's people (mean of 5 draws)."""
    protocol = open_set.build_protocol(names)
    rows = []
    for size in GALLERY_SIZES:
        old, new, miss = [], [], []
        for _ in range(5 if size < len(protocol.gallery) else 1):
            keep = np.sort(rng.choice(len(protocol.gallery), size, replace=False))
            subset = open_set.Protocol(
                gallery=protocol.gallery[keep],
                gallery_subject=np.arange(size),
                mated=protocol.mated[np.isin(protocol.mated_subject, keep)],
                mated_subject=np.searchsorted(
                    keep, protocol.mated_subject[np.isin(protocol.mated_subject, keep)]
                ),
                non_mated=protocol.non_mated,
            )
            searches = open_set.score_searches(vectors, subset)
            threshold = calibration.threshold_for_fpir(target, size)
            old.append(open_set.fpir(searches, OLD_THRESHOLD))
            new.append(open_set.fpir(searches, threshold))
            miss.append(open_set.fnir(searches, threshold, 10))
        rows.append((size, float(np.mean(old)), float(np.mean(new)), float(np.mean(miss))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw")
    parser.add_argument("--out", type=Path, default=REPO / "bench/open_set.png")
    parser.add_argument("--target-fpir", type=float, default=0.01)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cache = lfw.EmbeddingCache(args.cache)
    labels = sorted(lfw.read_labels(args.lfw))
    missing = [p for p, _ in labels if p not in cache.quality]
    if missing:
        sys.exit(f"{len(missing)} LFW images are not in the cache; run facesift eval lfw first")
    vectors = np.stack([cache.vectors[p] for p, _ in labels]).astype(np.float32)
    names = [n for _, n in labels]
    calibration = load_calibration(VisionConfig().model_id)

    figure, (det, growth) = plt.subplots(1, 2, figsize=(13, 5.2))
    protocol = open_set.build_protocol(names)
    multi = open_set.build_protocol(names, gallery_per_subject=2)
    curves = [
        (name, open_set.score_searches(vectors, protocol, f), "-")
        for name, f in open_set.TECHNIQUES.items()
    ]
    curves += [
        (
            f"fusion: {fusion} (2 faces/person)",
            open_set.score_searches(vectors, multi, fusion=fusion),
            "--",
        )
        for fusion in ("min", "template")
    ]
    print("technique                              FNIR at FPIR 1%")
    for name, searches, style in curves:
        fpir, fnir = det_points(searches, 10)
        det.plot(fpir, fnir, style, label=name)
        print(f"{name:38s} {open_set.fnir_at_fpir(searches, 0.01, 10):.2%}")
    plain = curves[0][1]
    rule = calibration.threshold_for_fpir(args.target_fpir, len(protocol.gallery))
    point = (open_set.fpir(plain, rule), open_set.fnir(plain, rule, 10))
    det.plot(*point, "ko", label=f"default rule, target FPIR {args.target_fpir:.0%}")
    old = (open_set.fpir(plain, OLD_THRESHOLD), open_set.fnir(plain, OLD_THRESHOLD, 10))
    det.plot(*old, "rs", label=f"old fixed threshold {OLD_THRESHOLD}")
    print(
        f"default rule: FPIR {point[0]:.2%}, FNIR {point[1]:.2%}; "
        f"old threshold: FPIR {old[0]:.2%}, FNIR {old[1]:.2%}"
    )
    det.set(
        xscale="log",
        yscale="log",
        xlim=(1e-3, 1),
        ylim=(1e-2, 1),
        xlabel="FPIR: share of searches for strangers that return a candidate",
        ylabel="FNIR: share of people in the gallery missed (top 10)",
        title=f"LFW open set: {len(protocol.gallery):,} gallery faces, "
        f"{len(protocol.non_mated):,} strangers",
    )
    det.grid(True, which="both", alpha=0.3)
    det.legend(fontsize=8)

    rows = fpir_by_gallery_size(
        vectors, names, calibration, args.target_fpir, np.random.default_rng(0)
    )
    print("gallery faces  FPIR old threshold  FPIR rule  FNIR rule")
    for size, old_fpir, new_fpir, miss in rows:
        print(f"{size:13,d}  {old_fpir:18.2%}  {new_fpir:9.2%}  {miss:9.2%}")
    sizes = [r[0] for r in rows]
    growth.plot(sizes, [r[1] for r in rows], "rs-", label=f"fixed threshold {OLD_THRESHOLD}")
    growth.plot(sizes, [r[2] for r in rows], "ko-", label="FPIR rule: threshold from size")
    growth.axhline(args.target_fpir, color="grey", ls=":", label="target FPIR")
    growth.set(
        xscale="log",
        xlabel="gallery faces (LFW people, random subsets)",
        ylabel="FPIR measured on 4,069 strangers",
        title="Strangers given candidates as the gallery grows",
    )
    growth.grid(True, which="both", alpha=0.3)
    growth.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
