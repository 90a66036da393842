"""Crash test: SIGKILL facesift at random moments during ingest and during an index rebuild,
and check after every restart that nothing was lost or duplicated.

    .venv/bin/python bench/crash.py --ingest-kills 20 --rebuild-kills 20

After each kill no pool worker may be left behind, and the gallery is reopened (as the next
command would) and must hold:
the SQLite database passes its integrity check; every stored face is in the index and
every indexed vector has a record; sampled faces find themselves at distance 0; the audit
chain verifies. At the end, the killed-and-resumed gallery must equal one ingested without
interruption. Exits 1 on the first violation.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesift.services.gallery import Gallery  # noqa: E402
from facesift.store.records import DATABASE_FILE  # noqa: E402

FIXTURE = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces")) / "fixture"


def facesift(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "facesift", *map(str, args)]


def fixture_photos() -> list[Path]:
    with (FIXTURE / "labels.csv").open(newline="") as handle:
        return [FIXTURE / row["path"] for row in csv.DictReader(handle)]


def check(data_dir: Path, sample: int = 50) -> dict:
    """Open the gallery as a restarted process would, and verify every invariant."""
    conn = sqlite3.connect(data_dir / DATABASE_FILE)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "database corrupt"
    duplicates = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT sha256) FROM images").fetchone()[0]
    assert duplicates == 0, "an image was stored twice"
    conn.close()
    with Gallery.open(data_dir) as gallery:
        stored, indexed = gallery.store.face_ids(), np.sort(gallery.index.ids())
        assert np.array_equal(stored, indexed), (
            f"{len(np.setdiff1d(stored, indexed))} faces unsearchable, "
            f"{len(np.setdiff1d(indexed, stored))} orphan vectors"
        )
        ids, vectors = gallery.store.embeddings(stored[:: max(1, len(stored) // sample)])
        for face_id, vector in zip(ids, vectors, strict=True):
            nearest = gallery.nearest(vector, 1)[0]
            assert nearest.face_id == face_id and nearest.distance < 1e-2, (
                f"face {face_id} was not found by its own vector (got {nearest})"
            )
        report = gallery.store.audit.verify()
        assert report.ok, f"audit chain broken: {report.problem}"
        return {"images": gallery.store.stats().images, "faces": len(stored)}


def state(data_dir: Path) -> list[tuple]:
    conn = sqlite3.connect(data_dir / DATABASE_FILE)
    rows = conn.execute(
        "SELECT i.sha256, i.path, f.x1, f.y1, f.x2, f.y2, f.embedding FROM images i"
        " LEFT JOIN faces f ON f.image_id = i.id"
    ).fetchall()
    conn.close()
    return sorted(rows, key=repr)


def kill_at_random(command: list[str], rng: random.Random, window: tuple[float, float]) -> bool:
    """Run ``command`` and SIGKILL it after a random delay. True if it was still running.
    Its pool workers must then exit on their own, not wait for work forever."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(*window))
    killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while orphaned_workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not orphaned_workers(), "pool workers outlived their killed parent"
    return killed


def orphaned_workers() -> list[int]:
    """Pool worker processes whose parent is gone (adopted by init)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == "1" and b"spawn_main" in cmdline:
            found.append(int(status.parent.name))
    return found


def crash_ingest(work: Path, kills: int, rng: random.Random) -> None:
    photos = fixture_photos()
    reference, crashed = work / "reference", work / "crashed"
    subprocess.run(
        facesift("ingest", *photos, "--data-dir", reference), check=True, capture_output=True
    )
    ingest = facesift("ingest", *photos, "--data-dir", crashed, "--write-batch", "2")
    landed = 0
    for attempt in range(1, kills + 1):
        killed = kill_at_random(ingest, rng, (1.0, 8.0))
        landed += killed
        found = check(crashed) if (crashed / DATABASE_FILE).exists() else {"images": 0}
        print(
            f"ingest kill {attempt:2d}: {'killed' if killed else 'had finished'}, "
            f"{found['images']} images stored, invariants hold"
        )
        if found["images"] == len(set(photos)):  # done: start over for more mid-run kills
            subprocess.run(["rm", "-rf", str(crashed)], check=True)
    subprocess.run(ingest, check=False, capture_output=True)
    check(crashed)
    assert state(crashed) == state(reference), "resumed gallery differs from the reference"
    print(f"ingest: {landed} kills landed mid-run; final gallery equals the uninterrupted one")


def crash_rebuild(work: Path, kills: int, rng: random.Random, faces: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.synthetic import add_synthetic

    data_dir = work / "rebuild"
    with Gallery.open(data_dir) as gallery:
        add_synthetic(gallery, faces)
    rebuild = facesift("index", "rebuild", "--kind", "ivf", "--data-dir", data_dir)
    landed = 0
    for attempt in range(1, kills + 1):
        killed = kill_at_random(rebuild, rng, (0.5, 6.0))
        landed += killed
        found = check(data_dir)
        print(
            f"rebuild kill {attempt:2d}: {'killed' if killed else 'had finished'}, "
            f"{found['faces']} faces all searchable"
        )
    subprocess.run(rebuild, check=True, capture_output=True)
    check(data_dir)
    print(f"rebuild: {landed} kills landed mid-run; the final index holds every face")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingest-kills", type=int, default=20)
    parser.add_argument("--rebuild-kills", type=int, default=20)
    parser.add_argument("--rebuild-faces", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work:
        try:
            if args.ingest_kills:
                crash_ingest(Path(work), args.ingest_kills, rng)
            if args.rebuild_kills:
                crash_rebuild(Path(work), args.rebuild_kills, rng, args.rebuild_faces)
        except AssertionError as failure:
            print(f"VIOLATION: {failure}")
            sys.exit(1)
    print("all invariants held")


if __name__ == "__main__":
    main()
