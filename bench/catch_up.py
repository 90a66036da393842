"""What it costs a server to see another process's change to a big gallery: the index's
catch-up from the face log (migration 0021) against the full look at every face id it did
before, and what the log's triggers cost each write.

    .venv/bin/python bench/catch_up.py --faces 1000000

A server holding the gallery's vectors in memory (FAISS) catches up when another process,
an ingest beside it or a removal on the command line, commits a change. In SQLite and in
PostgreSQL (a server the script starts), the script fills ``--faces`` images of one face
each (zero vectors: only the ids matter here), opens the gallery as a server does, and then,
``--changes`` times, lets a second connection store one image of one face and remove the
oldest remaining one, and times the server's ``refresh()`` (the catch-up from the log) and,
after the next such change, ``reconcile()`` (every face id, the way before); then a search
of one collection (a tenth of the gallery) after a change, with its kept filter brought up
to date (now) and read again whole (before). Then it stores
``--writes`` images the way an ingest does (one face each, 50 a transaction), with the face
log's triggers and with them dropped, and prints the time an image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from bench.gallery_counts import fill, measure_writes  # noqa: E402
from facesift.services.gallery import EMBEDDING_DIM, Gallery  # noqa: E402
from facesift.store import Store  # noqa: E402
from tests.postgres import start_postgres  # noqa: E402
from tests.synthetic import synthetic_images  # noqa: E402

HOW = {
    "reconcile": "a change seen, every face id compared (before)",
    "refresh": "a change seen, from the face log (now)",
    "filter read again": "a change seen, then a search of one collection: its faces read (before)",
    "filter kept": "a change seen, then a search of one collection: its filter kept (now)",
}
LOG_TRIGGERS = {"face_logged_added": "faces", "face_logged_removed": "faces"}


def change(other: Store, image_number: int) -> None:
    """One image of one face stored, and the oldest image removed (its face with it)."""
    (image,) = synthetic_images(1, seed=image_number)
    with other.transaction():
        other.add_image(other.collection_id("c0"), image)
        oldest = other.db.execute("SELECT MIN(id) FROM images").one()[0]
        other.delete_image(int(oldest))


def measure_catch_up(folder: Path, url: str | None, label: str, changes: int) -> None:
    started = time.perf_counter()
    server = Gallery.open(folder, url)
    opened = time.perf_counter() - started
    print(f"| {label} | opening the gallery (every face read) | {opened:.1f} s |", flush=True)
    other = Store(folder, url)
    timings: dict[str, list[float]] = {how: [] for how in HOW}
    probe = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    try:
        for number in range(changes):
            for kind, how in enumerate(
                ("refresh", "reconcile", "filter kept", "filter read again")
            ):
                server.nearest(probe, 10, "c0")  # its filter kept (a full reconcile drops it)
                change(other, 1_000_000 + 4 * number + kind)
                started = time.perf_counter()
                if how == "reconcile":
                    server.reconcile()
                else:
                    assert server.refresh(), "the server saw no change"
                if how.startswith("filter"):
                    if how == "filter read again":  # what every change did before
                        with server._lock:
                            server._forget_members()
                    server.nearest(probe, 10, "c0")
                timings[how].append((time.perf_counter() - started) * 1000)
        assert sorted(server.index.ids().tolist()) == sorted(other.face_ids().tolist())
    finally:
        other.close()
        server.store.close()
    for how, name in HOW.items():
        times = timings[how]
        print(
            f"| {label} | {name} | {statistics.median(times):.1f} ms"
            f" (min {min(times):.1f}, max {max(times):.1f}) |",
            flush=True,
        )


def run(folder: Path, url: str | None, label: str, args: argparse.Namespace) -> None:
    store = Store(folder, url)
    fill(store, args.faces, url, dim=EMBEDDING_DIM)
    store.close()
    measure_catch_up(folder, url, label, args.changes)
    store = Store(folder, url)
    measure_writes(store, label, args.writes, LOG_TRIGGERS, "the face log's triggers")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--writes", type=int, default=5000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"\n{args.faces:,} images of one face; {args.changes} changes of each kind\n")
    print("| database | what | time |\n|---|---|---:|")
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder) / "sqlite", None, "SQLite", args)
        with start_postgres() as server:
            run(Path(folder) / "postgresql", server.new_database(), "PostgreSQL", args)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
