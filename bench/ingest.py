"""Ingest throughput: facesift against the face_recognition library, same images, same run.

    .venv/bin/pip install --no-deps face_recognition   # on top of dlib-bin; once
    .venv/bin/python bench/ingest.py --images 1000
    .venv/bin/python bench/ingest.py --images 400 --cluster   # the Dask cluster's overhead

facesift runs at its defaults (CenterFace, dlib's ResNet in int8 on four chips a face)
unless told otherwise; the library runs HOG with one upsampling step, 5-point landmarks and
dlib's ResNet, once in one process (its API) and once with a process per core. facesift uses
its whole ingest path (read, hash, decode, detect, embed, store, index) with a process per
core.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LFW = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces")) / "lfw"


def lfw_sample(lfw: Path, count: int) -> list[Path]:
    """A fixed, spread-out slice of LFW: every k-th image in label order."""
    with (lfw / "labels.csv").open(newline="") as handle:
        paths = [lfw / row["path"] for row in csv.DictReader(handle)]
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def bench_facesift(
    images: list[Path],
    workers: int,
    variants: str,
    min_face: int,
    detector: str = "hog",
    cluster: str | None = None,
    embedder: str = "onnx",
) -> tuple[float, int]:
    from facesift.services.gallery import Gallery
    from facesift.services.ingest import IngestOptions, ingest
    from facesift.vision import VisionConfig

    vision = VisionConfig(
        chip_variants=variants, min_face_px=min_face, detector=detector, embedder=embedder
    )
    options = IngestOptions(workers=workers, vision=vision, cluster=cluster)
    with tempfile.TemporaryDirectory() as data_dir, Gallery.open(Path(data_dir)) as gallery:
        started = time.perf_counter()
        summary = ingest(gallery, images, options)
        seconds = time.perf_counter() - started
    assert summary.failed == 0, summary.failures
    return seconds, summary.faces


def bench_on_cluster(
    images: list[Path], workers: int, variants: str, min_face: int, detector: str
) -> tuple[float, int]:
    """The same ingest through a Dask cluster started here as a user would start one: a
    scheduler process and ``workers`` single-threaded worker processes, on 127.0.0.1 only.
    A cluster's workers outlive an ingest and load the models once, on their first batch: a
    first, untimed ingest of a few images warms them, as any earlier ingest would have (the
    local pool starts anew, and loads the models, in every ingest)."""
    import signal
    import socket
    import subprocess

    from distributed import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **quiet,
        ),
        subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nworkers",
                str(workers),
                "--nthreads",
                "1",
                "--no-dashboard",
            ],
            **quiet,
        ),
    ]
    try:
        time.sleep(1.0)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
        warm_up = images[: workers * 4]
        cold, _ = bench_facesift(warm_up, workers, variants, min_face, detector, address)
        print(f"cluster warm-up: {workers * 4} images in {cold:.1f} s (the workers load models)")
        return bench_facesift(images, workers, variants, min_face, detector, address)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()


def bench_face_recognition(images: list[Path]) -> tuple[float, int]:
    import face_recognition  # noqa: F401  (ImportError here: the library is not installed)

    started = time.perf_counter()
    faces = _library_faces(images)
    return time.perf_counter() - started, faces


def _library_faces(paths: list[Path]) -> int:
    """The library's API over ``paths``: HOG with one upsampling step, then the encodings."""
    import face_recognition

    faces = 0
    for path in paths:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        faces += len(face_recognition.face_encodings(image, boxes, model="small"))
    return faces


def bench_face_recognition_pool(images: list[Path], workers: int) -> tuple[float, int]:
    """The library on every core, as its own command line runs it (``face_recognition
    --cpus N``: a multiprocessing pool over the images), including the pool's start and
    each process loading the models, as facesift's ingest includes its own."""
    from concurrent.futures import ProcessPoolExecutor

    chunks = [images[i : i + 25] for i in range(0, len(images), 25)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        faces = sum(pool.map(_library_faces, chunks))
    return time.perf_counter() - started, faces


def cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the pool's workers)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def main() -> None:
    from facesift.vision.settings import DEFAULT_CHIPS, DEFAULT_DETECTOR, DEFAULT_EMBEDDER

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--chip-variants",
        nargs="+",
        default=[DEFAULT_CHIPS],
        help="facesift's chips per face, one run each: four (the default, 4), jitter (6), "
        "flip (2) or none (1, like the library)",
    )
    parser.add_argument(
        "--detectors",
        nargs="+",
        default=[DEFAULT_DETECTOR],
        help="facesift's detectors, one run each (with each chip setting): centerface (the "
        "default), hog, yunet",
    )
    parser.add_argument(
        "--embedders",
        nargs="+",
        default=[DEFAULT_EMBEDDER],
        help="facesift's embedders, one run each (with each detector and chip setting): "
        "onnx-int8 (the default, vision/resnet_int8.py) or onnx (float32)",
    )
    parser.add_argument(
        "--min-face",
        type=int,
        default=40,
        help="facesift's smallest face in px (40, the default, is what the library finds)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also ingest through a Dask cluster of --workers single-threaded workers on "
        "127.0.0.1, in the same run, and compare it with the local process pool",
    )
    args = parser.parse_args()
    images = lfw_sample(args.lfw, args.images)
    print(
        f"{len(images)} LFW images, {os.cpu_count()} cores, facesift workers={args.workers}, "
        f"smallest face {args.min_face} px"
    )

    rows, cpu = [], {}
    print(f"load average at the start: {os.getloadavg()}")
    for detector, embedder, variants in itertools.product(
        args.detectors, args.embedders, args.chip_variants
    ):
        int8 = ", int8" if embedder == "onnx-int8" else ""
        name = f"facesift ({detector}, {variants}{int8})"
        cpu_before = cpu_seconds()
        seconds, faces = bench_facesift(
            images, args.workers, variants, args.min_face, detector, embedder=embedder
        )
        cpu[name] = (cpu_seconds() - cpu_before) / seconds
        rows.append((name, seconds, faces))
    if args.cluster:
        pool_seconds = rows[0][1]
        detector, variants = args.detectors[0], args.chip_variants[0]
        seconds, faces = bench_on_cluster(images, args.workers, variants, args.min_face, detector)
        rows.append((f"facesift on Dask, {detector}, {variants}", seconds, faces))
        print(
            f"Dask cluster against the local pool, {args.workers} workers each: "
            f"{pool_seconds / seconds:.3f}x the pool's images/s "
            f"({(seconds / pool_seconds - 1):+.1%} time)"
        )
    library_pool = None
    try:
        seconds_fr, faces_fr = bench_face_recognition(images)
        baseline = ("face_recognition API", seconds_fr, faces_fr)
        if args.workers > 1:
            seconds_pool, faces_pool = bench_face_recognition_pool(images, args.workers)
            library_pool = (f"face_recognition, {args.workers} procs", seconds_pool, faces_pool)
    except ImportError:
        baseline = None
        print(
            "face_recognition is not installed: pip install --no-deps face_recognition",
            file=sys.stderr,
        )

    print(
        f"{'':30} {'seconds':>8} {'images/s':>9} {'faces':>6} {'faces/s':>8} "
        f"{'CPU':>5} {'ratio':>6} {'pooled':>7}"
    )
    libraries = [r for r in (baseline, library_pool) if r is not None]
    for name, secs, found in rows + libraries:
        usage = f"{cpu[name]:5.0%}" if name in cpu else f"{'':5}"
        ratio = f"{baseline[1] / secs:5.2f}x" if baseline else ""
        pooled = f"{library_pool[1] / secs:5.2f}x" if library_pool else ""
        print(
            f"{name:30} {secs:8.1f} {len(images) / secs:9.2f} {found:6d} {found / secs:8.2f} "
            f"{usage} {ratio:>6} {pooled:>7}"
        )
    print(
        "CPU: facesift's processes, 100% = one core busy; ratio: images/s against the "
        "library's one-process API; pooled: against the library on every core"
    )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
