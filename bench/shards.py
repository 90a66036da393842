"""A sharding simulation: one gallery split into S shards, every shard searched and the
top-k merged, against one index over the whole gallery. The model for a sharded cluster
(docs/scale.md): each shard is what one query node would hold.

    .venv/bin/python bench/shards.py --faces 10000000 --shards 8 16 --lfw-cache CACHE

Same face-shaped vectors and real LFW mates as bench/search.py. Each shard is facesift's own
compressed index (IVF with re-ranking), trained on its own faces, as a node would train it.
Latency is one query on one thread, searching the shards one after another: on a cluster
they run in parallel, so the figures to read are the per-shard time (what a node adds) and
the merge time (what the coordinator adds), next to the recall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from search import (  # noqa: E402
    DEFAULT_CACHE,
    FaceShapedGenerator,
    K,
    build_gallery,
    load_lfw,
    mate_recall,
    percentiles,
)

from facesift.index import IvfIndex  # noqa: E402
from facesift.services.calibration import load_calibration  # noqa: E402
from facesift.vision import VisionConfig  # noqa: E402


@dataclass
class Shard:
    """One node's index. Its faces have ids of their own (0..n-1), as a node's store would
    give them, so its re-rank vectors file holds its faces only: addressed by the gallery's
    ids, each of 8 shards' files spanned all 10M ids (6.1 GB, sparse) and the 10M runs
    spent their time reading the disk."""

    index: IvfIndex
    gallery_ids: np.ndarray  # the gallery's id of each of this shard's faces


def build_shards(vectors: np.ndarray, count: int, folder: Path) -> tuple[list[Shard], float]:
    """Faces dealt to shards by id (id % count), as a hash-partitioned cluster would."""
    started = time.perf_counter()
    ids = np.arange(len(vectors), dtype=np.int64)
    shards = []
    for shard in range(count):
        mine = ids[ids % count == shard]
        rng = np.random.default_rng(shard)
        train = vectors[rng.choice(mine, min(len(mine), 100_000), replace=False)]
        index = IvfIndex.train(train, folder / f"shard{shard}.faiss", len(mine))
        for start in range(0, len(mine), 500_000):
            chunk = mine[start : start + 500_000]
            index.add(np.arange(start, start + len(chunk), dtype=np.int64), vectors[chunk])
        shards.append(Shard(index, mine))
    return shards, time.perf_counter() - started


def search_shards(shards: list[Shard], query: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(distances, ids) of the merged top-k, and the seconds the merge alone took."""
    parts = [shard.index.search(query, K) for shard in shards]
    started = time.perf_counter()
    distances = np.concatenate([d for d, _ in parts], axis=1)
    ids = np.concatenate(
        [
            np.where(local >= 0, shard.gallery_ids[np.maximum(local, 0)], -1)
            for shard, (_, local) in zip(shards, parts, strict=True)
        ],
        axis=1,
    )
    order = np.argsort(distances, axis=1, kind="stable")[:, :K]
    merged = np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)
    return merged[0], merged[1], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--lfw-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    lfw, identity = load_lfw(args.lfw_cache, args.lfw)
    threshold = load_calibration(VisionConfig().model_id).default_threshold
    vectors, queries, query_identity, gallery_identity = build_gallery(
        args.faces, lfw, identity, FaceShapedGenerator(lfw, identity)
    )
    pick = np.random.default_rng(2).choice(len(queries), args.queries, replace=False)
    queries, query_identity = queries[pick], query_identity[pick]
    mates = [set(np.flatnonzero(gallery_identity == p).tolist()) for p in query_identity]
    print(f"{len(vectors):,} faces, {len(queries)} queries, threshold {threshold:.4f}")

    faiss.omp_set_num_threads(2)
    exact = faiss.IndexFlatL2(vectors.shape[1])
    exact.add(vectors)
    exact_d2, exact_ids = exact.search(queries, K)
    exact_d = np.sqrt(np.maximum(exact_d2, 0))
    del exact
    faiss.omp_set_num_threads(1)

    print(
        f"{'layout':>10} {'build s':>8} {'recall':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'per shard ms':>12} {'merge ms':>9}"
    )
    for count in [1, *args.shards]:
        with tempfile.TemporaryDirectory() as tmp:
            shards, build = build_shards(vectors, count, Path(tmp))
            found_d = np.empty((len(queries), K), np.float32)
            found_ids = np.empty((len(queries), K), np.int64)
            times, merges = [], []
            for q, query in enumerate(queries):
                started = time.perf_counter()
                d, i, merge = search_shards(shards, query[None, :])
                times.append(time.perf_counter() - started)
                merges.append(merge)
                found_d[q], found_ids[q] = d[0], i[0]
            recall, _ = mate_recall(found_ids, found_d, exact_ids, exact_d, threshold, mates)
            p50, p99 = percentiles(times)
            merge_p50, _ = percentiles(merges)
            print(
                f"{count:>4} shard{'s' if count > 1 else ' '} {build:8.1f} {recall:7.4f} "
                f"{p50:7.2f} {p99:7.2f} {p50 / count:12.3f} {merge_p50:9.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
