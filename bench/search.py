"""Search at scale: facesift's compressed index against exact FAISS, on galleries of
synthetic face-shaped vectors with real LFW faces mixed in as the people to find.

    .venv/bin/python bench/search.py --sizes 100000 1000000 10000000
    milvus-server --data /tmp/mv --proxy-port 19530 &      # then, in the same run as FAISS:
    .venv/bin/python bench/search.py --sizes 1000000 --backend milvus://127.0.0.1:19530

The synthetic vectors follow the statistics of real embeddings: identity centres are drawn
from the spread of LFW's per-person means, and each face adds LFW's within-person spread, so
same-person and different-person distances match those measured on LFW (printed below).
The people to find are real: for every LFW person with 2+ images, one image is the query
and the others go into the gallery.

Recall is what matters for faces: of the same-person faces that exact search finds within
the threshold, the fraction the index also returns. Latency is one query on one thread.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesift.index import IdFilter, IvfIndex  # noqa: E402
from facesift.services.calibration import load_calibration  # noqa: E402
from facesift.vision import VisionConfig  # noqa: E402

MODEL_ID = VisionConfig().model_id
DEFAULT_CACHE = Path.home() / f".local/share/facesift/cache/lfw_{MODEL_ID}_hog_mmod.npz"
K = 50  # candidates asked for; every mate within the threshold should be among them


def load_lfw(cache: Path, lfw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    import csv

    with np.load(cache) as saved:
        vectors = dict(zip(map(str, saved["paths"]), saved["vectors"], strict=True))
    with (lfw_dir / "labels.csv").open(newline="") as handle:
        rows = [(r["path"], r["identity"]) for r in csv.DictReader(handle) if r["path"] in vectors]
    _, identity = np.unique([n for _, n in rows], return_inverse=True)
    return np.stack([vectors[p] for p, _ in rows]).astype(np.float32), identity


class FaceShapedGenerator:
    """Gaussian model of embeddings: between-person and within-person covariance from LFW."""

    def __init__(self, vectors: np.ndarray, identity: np.ndarray, seed: int = 0):
        counts = np.bincount(identity)
        multi = counts[identity] >= 2
        means = np.stack([vectors[identity == i].mean(0) for i in np.flatnonzero(counts >= 2)])
        within = (
            vectors[multi] - means[np.searchsorted(np.flatnonzero(counts >= 2), identity[multi])]
        )
        self.mean = vectors.mean(0)
        self.between = np.linalg.cholesky(np.cov(means.T) + 1e-6 * np.eye(vectors.shape[1]))
        self.within = np.linalg.cholesky(np.cov(within.T) + 1e-6 * np.eye(vectors.shape[1]))
        self.rng = np.random.default_rng(seed)

    def faces(self, count: int, per_person: int = 4) -> np.ndarray:
        """``count`` faces: people with ``per_person`` faces each (the last ones alone)."""
        out = np.empty((count, len(self.mean)), dtype=np.float32)
        for start in range(0, count, 200_000):
            n = min(200_000, count - start)
            people = -(-n // per_person)
            spread = self.rng.standard_normal((people, len(self.mean))) @ self.between.T
            centres = self.mean + spread
            noise = self.rng.standard_normal((n, len(self.mean))) @ self.within.T
            out[start : start + n] = centres[np.arange(n) // per_person] + noise
        return out


def describe_distances(name: str, vectors: np.ndarray, identity: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(vectors), (2, 200_000))
    different = identity[a] != identity[b]
    impostor = np.linalg.norm(vectors[a[different]] - vectors[b[different]], axis=1)
    same_pairs = [np.flatnonzero(identity == i)[:2] for i in range(identity.max() + 1)]
    same_pairs = np.array([p for p in same_pairs if len(p) == 2][:20_000])
    genuine = np.linalg.norm(vectors[same_pairs[:, 0]] - vectors[same_pairs[:, 1]], axis=1)
    print(
        f"  {name:10} same-person distance {genuine.mean():.3f} ± {genuine.std():.3f}, "
        f"different-person {impostor.mean():.3f} ± {impostor.std():.3f}"
    )


def build_gallery(size: int, lfw: np.ndarray, identity: np.ndarray, generator) -> tuple:
    """(gallery vectors, real-mate mask, query vectors, query identity, gallery identity)."""
    counts = np.bincount(identity)
    first = {}
    query_rows = []
    for row, person in enumerate(identity):
        if counts[person] >= 2 and person not in first:
            first[person] = row
            query_rows.append(row)
    query_rows = np.array(query_rows)
    gallery_rows = np.setdiff1d(np.arange(len(lfw)), query_rows)
    synthetic = generator.faces(size - len(gallery_rows))
    vectors = np.concatenate([lfw[gallery_rows], synthetic])
    gallery_identity = np.concatenate([identity[gallery_rows], np.full(len(synthetic), -1)])
    return vectors, lfw[query_rows], identity[query_rows], gallery_identity


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def time_single(search, queries: np.ndarray) -> tuple[float, float]:
    faiss.omp_set_num_threads(1)
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        times.append(time.perf_counter() - started)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return percentiles(times)


def mate_recall(found_ids, found_d, exact_ids, exact_d, threshold, mates) -> tuple[float, int]:
    """Of the real same-person faces exact search finds within the threshold, the share the
    index also returns within it."""
    wanted = found = 0
    for q in range(len(exact_ids)):
        truth = {
            i
            for i, d in zip(exact_ids[q], exact_d[q], strict=True)
            if d <= threshold and i in mates[q]
        }
        got = {i for i, d in zip(found_ids[q], found_d[q], strict=True) if d <= threshold}
        wanted += len(truth)
        found += len(truth & got)
    return found / max(wanted, 1), wanted


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    size: int, lfw, identity, generator, threshold: float, queries_n: int, backends: list[str]
) -> dict:
    print(f"\n== {size:,} faces")
    vectors, queries, query_identity, gallery_identity = build_gallery(
        size, lfw, identity, generator
    )
    ids = np.arange(len(vectors), dtype=np.int64)
    rng = np.random.default_rng(2)
    pick = rng.choice(len(queries), min(queries_n, len(queries)), replace=False)
    queries, query_identity = queries[pick], query_identity[pick]
    mates = [set(np.flatnonzero(gallery_identity == p).tolist()) for p in query_identity]
    result = {"faces": size}

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        started = time.perf_counter()
        train = vectors[rng.choice(len(vectors), min(len(vectors), 100_000), replace=False)]
        index = IvfIndex.train(train, Path(tmp) / "bench.faiss", size)
        for start in range(0, len(vectors), 500_000):
            index.add(ids[start : start + 500_000], vectors[start : start + 500_000])
        result["ivf_build_s"] = time.perf_counter() - started
        index.save(Path(tmp) / "bench.faiss")
        result["ivf_bytes_per_face"] = (Path(tmp) / "bench.faiss").stat().st_size / size

        flat = faiss.IndexFlatL2(vectors.shape[1])
        started = time.perf_counter()
        flat.add(vectors)
        result["flat_build_s"] = time.perf_counter() - started
        result["flat_bytes_per_face"] = vectors.shape[1] * 4

        started = time.perf_counter()
        exact_d2, exact_ids = flat.search(queries, K)
        result["flat_batch_qps"] = len(queries) / (time.perf_counter() - started)
        exact_d = np.sqrt(np.maximum(exact_d2, 0))
        started = time.perf_counter()
        found_d, found_ids = index.search(queries, K)
        result["ivf_batch_qps"] = len(queries) / (time.perf_counter() - started)
        result["mate_recall"], result["mates"] = mate_recall(
            found_ids, found_d, exact_ids, exact_d, threshold, mates
        )

        sample = queries[: min(200, len(queries))]
        result["ivf_p50_ms"], result["ivf_p99_ms"] = time_single(
            lambda q: index.search(q, K), sample
        )
        result["flat_p50_ms"], result["flat_p99_ms"] = time_single(
            lambda q: flat.search(q, K), sample[: 50 if size > 2_000_000 else 200]
        )

        # A collection filter that keeps every other face.
        allowed = IdFilter(ids[::2])  # built once, as the gallery keeps it per collection
        allowed_set = set(allowed.ids.tolist())
        filtered_mates = [m & allowed_set for m in mates]
        params = faiss.SearchParameters(sel=allowed.selector())
        some = queries[:300]  # exact filtered search cannot use BLAS: keep it affordable
        exact_fd2, exact_fids = flat.search(some, K, params=params)
        found_fd, found_fids = index.search(some, K, allowed_ids=allowed)
        result["filtered_mate_recall"], _ = mate_recall(
            found_fids,
            found_fd,
            exact_fids,
            np.sqrt(np.maximum(exact_fd2, 0)),
            threshold,
            filtered_mates[:300],
        )
        result["filtered_p50_ms"], result["filtered_p99_ms"] = time_single(
            lambda q: index.search(q, K, allowed_ids=allowed), sample
        )
        for backend in backends:
            result.update(
                milvus_backend(backend, vectors, ids, queries, exact_ids, exact_d, threshold, mates)
            )
        if size <= 1_000_000:
            result.update(
                reference(
                    vectors,
                    ids,
                    train,
                    queries,
                    exact_ids,
                    exact_d,
                    threshold,
                    mates,
                    sample,
                    Path(tmp),
                )
            )
    result["peak_rss_mb"] = rss_mb()
    for key, value in result.items():
        print(f"  {key:22} {value:,.4g}" if isinstance(value, float) else f"  {key:22} {value:,}")
    return result


MILVUS_INDEX_TYPES = ("IVF_SQ8", "IVF_PQ", "HNSW")
CONCURRENT_CLIENTS = 8


def milvus_server_rss_mb() -> float:
    """Resident memory of every Milvus server process on this machine."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if b"milvus" not in command or b"run" not in command:
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
    return total / 1024


def milvus_backend(url: str, vectors, ids, queries, exact_ids, exact_d, threshold, mates) -> dict:
    """Each Milvus index type on the same vectors: build time (insert, index, load), mate
    recall against exact search, one-query latency, queries/s from 8 concurrent clients,
    and the server's memory. Distances are Milvus's own, not re-ranked."""
    from concurrent.futures import ThreadPoolExecutor

    from facesift.index.milvus import MilvusIndex, MilvusTarget

    out = {}
    for index_type in MILVUS_INDEX_TYPES:
        target = MilvusTarget.parse(f"{url.rstrip('/')}/bench_{index_type.lower()}", index_type)
        index = MilvusIndex(target)
        index.drop()
        started = time.perf_counter()
        index = MilvusIndex(target)
        index.add(ids, vectors)
        index._client.flush(target.name)
        index._client.release_collection(target.name)
        index._client.load_collection(target.name)  # waits for the index on sealed segments
        out[f"milvus_{index_type}_build_s"] = time.perf_counter() - started
        strong = MilvusIndex(
            MilvusTarget(target.host, target.port, target.name, index_type, "Strong")
        )
        found_d, found_ids = np.empty((len(queries), K)), np.empty((len(queries), K), np.int64)
        for start in range(0, len(queries), 100):
            d, i = strong.search(queries[start : start + 100], K)
            found_d[start : start + 100], found_ids[start : start + 100] = d, i
        recall, _ = mate_recall(found_ids, found_d, exact_ids, exact_d, threshold, mates)
        out[f"milvus_{index_type}_mate_recall"] = recall
        sample = queries[:200]
        times = []
        for q in sample:
            began = time.perf_counter()
            index.search(q[None, :], K)
            times.append(time.perf_counter() - began)
        out[f"milvus_{index_type}_p50_ms"], out[f"milvus_{index_type}_p99_ms"] = percentiles(times)
        began = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
            list(pool.map(lambda q, i=index: i.search(q[None, :], K), queries[:800]))
        out[f"milvus_{index_type}_qps_8_clients"] = 800 / (time.perf_counter() - began)
        out[f"milvus_{index_type}_server_rss_mb"] = milvus_server_rss_mb()
        index.drop()
    return out


def reference(
    vectors, ids, train, queries, exact_ids, exact_d, threshold, mates, sample, tmp: Path
) -> dict:
    """The configuration the issue quotes (IVF4096,SQ8 at nprobe 64, no re-ranking), on the
    same vectors and queries, for a like-for-like comparison."""
    started = time.perf_counter()
    index = faiss.index_factory(vectors.shape[1], "IVF4096,SQ8")
    index.train(train)
    index.add_with_ids(vectors, ids)
    build = time.perf_counter() - started
    faiss.extract_index_ivf(index).nprobe = 64
    d2, found = index.search(queries, K)
    recall, _ = mate_recall(found, np.sqrt(np.maximum(d2, 0)), exact_ids, exact_d, threshold, mates)
    p50, p99 = time_single(lambda q: index.search(q, K), sample)
    faiss.write_index(index, str(tmp / "reference.faiss"))
    return {
        "ref_build_s": build,
        "ref_bytes_per_face": (tmp / "reference.faiss").stat().st_size / len(vectors),
        "ref_mate_recall": recall,
        "ref_p50_ms": p50,
        "ref_p99_ms": p99,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--lfw-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw")
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        help="also a Milvus server, milvus://HOST:PORT (each index type in turn, same run)",
    )
    args = parser.parse_args()
    lfw, identity = load_lfw(args.lfw_cache, args.lfw)
    generator = FaceShapedGenerator(lfw, identity)
    threshold = load_calibration(MODEL_ID).default_threshold
    print(f"{os.cpu_count()} cores, FAISS {faiss.__version__}, threshold {threshold:.3f}")
    describe_distances("LFW", lfw, identity)
    synthetic = generator.faces(40_000)
    describe_distances("synthetic", synthetic, np.arange(40_000) // 4)
    rows = [
        run(size, lfw, identity, generator, threshold, args.queries, args.backend)
        for size in args.sizes
    ]
    print(
        "\nfaces       build s   B/face  p50 ms  p99 ms  QPS    recall  filt.rec  "
        "| flat p50 ms  QPS"
    )
    for r in rows:
        print(
            f"{r['faces']:>10,} {r['ivf_build_s']:8.1f} {r['ivf_bytes_per_face']:7.1f} "
            f"{r['ivf_p50_ms']:7.2f} {r['ivf_p99_ms']:7.2f} {r['ivf_batch_qps']:6.0f} "
            f"{r['mate_recall']:7.4f} {r['filtered_mate_recall']:8.4f}  | "
            f"{r['flat_p50_ms']:10.2f} {r['flat_batch_qps']:6.0f}"
        )
    for r in rows:
        for index_type in MILVUS_INDEX_TYPES:
            key = f"milvus_{index_type}"
            if f"{key}_mate_recall" in r:
                print(
                    f"Milvus {index_type} at {r['faces']:,}: build {r[key + '_build_s']:.1f} s, "
                    f"p50 {r[key + '_p50_ms']:.2f} ms, p99 {r[key + '_p99_ms']:.2f} ms, "
                    f"{r[key + '_qps_8_clients']:.0f} q/s from {CONCURRENT_CLIENTS} clients, "
                    f"mate recall {r[key + '_mate_recall']:.4f}, server RSS "
                    f"{r[key + '_server_rss_mb']:.0f} MB"
                )
        if "ref_mate_recall" in r:
            print(
                f"reference IVF4096,SQ8 nprobe 64 at {r['faces']:,}: build "
                f"{r['ref_build_s']:.1f} s, {r['ref_bytes_per_face']:.0f} B/face, p50 "
                f"{r['ref_p50_ms']:.2f} ms, p99 {r['ref_p99_ms']:.2f} ms, mate recall "
                f"{r['ref_mate_recall']:.4f}"
            )


if __name__ == "__main__":
    main()
