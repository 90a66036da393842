"""Accuracy on Labeled Faces in the Wild, with LFW's own protocol files.

- view2 (``pairs.txt``): 10 folds of 300 same + 300 different pairs; each fold's threshold
  is the most accurate one on the other nine; we report the mean and standard deviation.
- view1: the threshold is chosen on ``pairsDevTrain.txt`` and applied to ``pairsDevTest.txt``.
- identification: every image of a person with 2+ images searches all other images.

Images where the detector (``--detector``; CenterFace by default) finds no face are not
dropped: the CNN detector tries them, and if it finds none either, LFW's images being
centred on the labelled face, we align and embed the fixed central box. Both are counted,
and a strict figure that scores every pair with a face the detector missed as an error is
reported too.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facesift.errors import FacesiftError
from facesift.schemas import Box, Detection
from facesift.services.batch import BatchItem, analyzer_for
from facesift.services.open_set import OpenSetReport
from facesift.services.parallel import map_batches
from facesift.vision import VisionConfig, decode_image

# Where the face sits in a 250x250 deep-funneled LFW image when the detector misses it.
LFW_CENTRAL_BOX = Box(68, 68, 182, 182)
CACHE_SAVE_EVERY = 512


@dataclass(frozen=True)
class Pair:
    first: str  # path relative to the LFW folder
    second: str
    same: bool
    fold: int


@dataclass
class Verification:
    protocol: str
    pairs: int
    accuracy: float
    accuracy_std: float
    strict_accuracy: float  # pairs with a face the main detector missed scored as errors
    threshold: float  # mean of the chosen thresholds
    fold_accuracies: list[float]
    tar_at_far_1e3: float
    far_1e3_threshold: float
    eer: float
    eer_threshold: float
    images: int
    images_without_detected_face: int  # missed by the main detector
    images_found_by_fallback_detector: int
    images_using_central_box: int
    pairs_with_fallback_face: int


@dataclass
class Identification:
    probes: int
    gallery: int
    rank1: float
    rank5: float


@dataclass
class LfwReport:
    model_id: str
    detector: str
    verification: Verification | None = None
    identification: Identification | None = None
    open_set: OpenSetReport | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def image_path(name: str, number: int) -> str:
    return f"images/{name}/{name}_{number:04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    """Parse pairs.txt / pairsDevTrain.txt / pairsDevTest.txt."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    header = lines[0]
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs = []
    for position, parts in enumerate(lines[1:]):
        fold = position // (2 * per_fold)
        if len(parts) == 3:
            name, a, b = parts
            pairs.append(Pair(image_path(name, int(a)), image_path(name, int(b)), True, fold))
        elif len(parts) == 4:
            name_a, a, name_b, b = parts
            pairs.append(Pair(image_path(name_a, int(a)), image_path(name_b, int(b)), False, fold))
        else:
            raise FacesiftError(f"{path}: line {position + 2} is not a pair: {' '.join(parts)}")
    if len(pairs) != folds * per_fold * 2:
        raise FacesiftError(f"{path}: expected {folds * per_fold * 2} pairs, found {len(pairs)}")
    return pairs


def read_labels(lfw_dir: Path) -> list[tuple[str, str]]:
    with (lfw_dir / "labels.csv").open(newline="") as handle:
        return [(row["path"], row["identity"]) for row in csv.DictReader(handle)]


# -- embeddings -------------------------------------------------------------------------------


# How each image's face was found.
BY_DETECTOR, BY_FALLBACK_DETECTOR, BY_CENTRAL_BOX = 0, 1, 2


def embed_lfw_batch(
    config: VisionConfig, items: list[BatchItem]
) -> list[tuple[str, np.ndarray, int, float]]:
    """(path, embedding, how found, quality score) per image, for the face nearest the
    image's centre."""
    analyzer = analyzer_for(config)
    results = []
    for item in items:
        image = decode_image(item.data)
        detections, found = analyzer.detector.detect(image), BY_DETECTOR
        if not detections and analyzer.fallback is not None:
            detections, found = analyzer.fallback.detect(image), BY_FALLBACK_DETECTOR
        centre = np.array(image.shape[1::-1]) / 2
        if detections:
            chosen = min(detections, key=lambda d: _centre_distance(d.box, centre))
        else:
            chosen, found = Detection(LFW_CENTRAL_BOX, 0.0), BY_CENTRAL_BOX
        face = analyzer.faces_at(image, [chosen])[0]
        results.append((item.key, face.embedding, found, face.quality.score))
    return results


def _centre_distance(box: Box, centre: np.ndarray) -> float:
    return float(np.hypot((box.x1 + box.x2) / 2 - centre[0], (box.y1 + box.y2) / 2 - centre[1]))


class EmbeddingCache:
    """LFW embeddings on disk, saved as we go, so an interrupted run resumes."""

    def __init__(self, path: Path):
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.found_by: dict[str, int] = {}
        self.quality: dict[str, float] = {}  # the face's quality score, for the open-set study
        if path.exists():
            with np.load(path) as saved:
                # Caches written before the quality column lack it: those images are embedded
                # again, once.
                if "quality" not in saved:
                    return
                for key, vector, found, quality in zip(
                    saved["paths"],
                    saved["vectors"],
                    saved["found_by"],
                    saved["quality"],
                    strict=True,
                ):
                    self.vectors[str(key)] = vector
                    self.found_by[str(key)] = int(found)
                    self.quality[str(key)] = float(quality)

    def detected(self, path: str) -> bool:
        """Whether the main detector found the face (no fallback needed)."""
        return self.found_by[path] == BY_DETECTOR

    def save(self) -> None:
        if not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.vectors)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(
            tmp,
            paths=np.array(keys),
            vectors=np.stack([self.vectors[k] for k in keys]),
            found_by=np.array([self.found_by[k] for k in keys], dtype=np.int8),
            quality=np.array([self.quality[k] for k in keys], dtype=np.float32),
        )
        os.replace(tmp, self.path)


def embed_images(
    lfw_dir: Path,
    paths: list[str],
    cache: EmbeddingCache,
    config: VisionConfig,
    workers: int,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Fill ``cache`` with embeddings for ``paths`` (skipping those it already has)."""
    todo = [p for p in dict.fromkeys(paths) if p not in cache.vectors]
    total, done = len(todo), 0
    on_progress(done, total)

    def batches():
        for start in range(0, len(todo), 4):
            yield [BatchItem(p, (lfw_dir / p).read_bytes()) for p in todo[start : start + 4]]

    try:
        for results in map_batches(embed_lfw_batch, config, batches(), workers):
            for key, vector, found, quality in results:
                cache.vectors[key] = vector
                cache.found_by[key] = found
                cache.quality[key] = quality
            done += len(results)
            on_progress(done, total)
            if done % CACHE_SAVE_EVERY < len(results):
                cache.save()
    finally:
        cache.save()


# -- verification -----------------------------------------------------------------------------


def pair_distances(pairs: list[Pair], cache: EmbeddingCache) -> np.ndarray:
    first = np.stack([cache.vectors[p.first] for p in pairs])
    second = np.stack([cache.vectors[p.second] for p in pairs])
    return np.linalg.norm(first - second, axis=1)


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy (accept when distance <= threshold)."""
    order = np.argsort(distances)
    d, s = distances[order], same[order]
    # Accepting the first i pairs: correct = same pairs accepted + different pairs rejected.
    accepted_same = np.concatenate([[0], np.cumsum(s)])
    rejected_diff = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    best = int(np.argmax(accepted_same + rejected_diff))
    if best == 0:
        return float(d[0]) - 1e-6
    if best == len(d):
        return float(d[-1])
    return float((d[best - 1] + d[best]) / 2)


def accuracy(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def rates_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the largest threshold whose false accept rate is <= ``far``."""
    impostors = np.sort(distances[~same])
    allowed = int(np.floor(far * len(impostors)))
    threshold = float(impostors[allowed]) - 1e-6 if allowed < len(impostors) else np.inf
    return float(np.mean(distances[same] <= threshold)), threshold


def equal_error(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    candidates = np.unique(distances)
    far = np.array([np.mean(distances[~same] <= t) for t in candidates])
    frr = np.array([np.mean(distances[same] > t) for t in candidates])
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(candidates[i])


def verify(
    protocol: str, test: list[Pair], train: list[Pair] | None, cache: EmbeddingCache
) -> Verification:
    distances = pair_distances(test, cache)
    same = np.array([p.same for p in test])
    fallback = np.array([not (cache.detected(p.first) and cache.detected(p.second)) for p in test])
    if train is None:  # view2: cross-validate over the folds
        folds = np.array([p.fold for p in test])
        thresholds, fold_acc, correct = [], [], np.zeros(len(test), dtype=bool)
        for k in np.unique(folds):
            held_out = folds == k
            t = best_threshold(distances[~held_out], same[~held_out])
            thresholds.append(t)
            fold_acc.append(accuracy(distances[held_out], same[held_out], t))
            correct[held_out] = (distances[held_out] <= t) == same[held_out]
    else:  # view1: one threshold from the training pairs
        t = best_threshold(pair_distances(train, cache), np.array([p.same for p in train]))
        thresholds, fold_acc = [t], [accuracy(distances, same, t)]
        correct = (distances <= t) == same
    tar, far_threshold = rates_at_far(distances, same, 1e-3)
    eer, eer_threshold = equal_error(distances, same)
    images = {p.first for p in test} | {p.second for p in test}
    return Verification(
        protocol=protocol,
        pairs=len(test),
        accuracy=float(np.mean(fold_acc)),
        accuracy_std=float(np.std(fold_acc)),
        strict_accuracy=float(np.mean(correct & ~fallback)),
        threshold=float(np.mean(thresholds)),
        fold_accuracies=[round(a, 4) for a in fold_acc],
        tar_at_far_1e3=tar,
        far_1e3_threshold=far_threshold,
        eer=eer,
        eer_threshold=eer_threshold,
        images=len(images),
        images_without_detected_face=sum(1 for i in images if not cache.detected(i)),
        images_found_by_fallback_detector=sum(
            1 for i in images if cache.found_by[i] == BY_FALLBACK_DETECTOR
        ),
        images_using_central_box=sum(1 for i in images if cache.found_by[i] == BY_CENTRAL_BOX),
        pairs_with_fallback_face=int(fallback.sum()),
    )


# -- identification and calibration -----------------------------------------------------------


def identify(labels: list[tuple[str, str]], cache: EmbeddingCache) -> Identification:
    """Rank-1/5 for every image whose person has another image; all others are distractors."""
    paths = [p for p, _ in labels]
    names = np.array([n for _, n in labels])
    vectors = np.stack([cache.vectors[p] for p in paths]).astype(np.float32)
    _, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    probes = np.flatnonzero(counts[inverse] >= 2)
    squared_norms = (vectors**2).sum(axis=1)
    hits1 = hits5 = 0
    for start in range(0, len(probes), 512):
        rows = probes[start : start + 512]
        d2 = squared_norms[rows, None] + squared_norms[None, :] - 2 * vectors[rows] @ vectors.T
        d2[np.arange(len(rows)), rows] = np.inf  # leave the probe's own image out
        top5 = np.argpartition(d2, 5, axis=1)[:, :5]
        top5 = np.take_along_axis(top5, np.argsort(np.take_along_axis(d2, top5, 1), 1), 1)
        same = inverse[top5] == inverse[rows, None]
        hits1 += int(same[:, 0].sum())
        hits5 += int(same.any(axis=1).sum())
    return Identification(len(probes), len(paths), hits1 / len(probes), hits5 / len(probes))


def distance_histograms(
    labels: list[tuple[str, str]], cache: EmbeddingCache, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of same-person and different-person pair distances, over every pair of images."""
    vectors = np.stack([cache.vectors[p] for p, _ in labels]).astype(np.float32)
    _, identity = np.unique([n for _, n in labels], return_inverse=True)
    squared_norms = (vectors**2).sum(axis=1)
    genuine = np.zeros(len(edges) - 1, dtype=np.int64)
    impostor = np.zeros(len(edges) - 1, dtype=np.int64)
    for start in range(0, len(vectors), 512):
        rows = np.arange(start, min(start + 512, len(vectors)))
        d2 = squared_norms[rows, None] + squared_norms[None, :] - 2 * vectors[rows] @ vectors.T
        distances = np.sqrt(np.maximum(d2, 0))
        upper = np.arange(len(vectors))[None, :] > rows[:, None]  # each unordered pair once
        same = identity[rows, None] == identity[None, :]
        genuine += np.histogram(distances[upper & same], edges)[0]
        impostor += np.histogram(distances[upper & ~same], edges)[0]
    return genuine, impostor
