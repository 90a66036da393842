"""What the gallery's size and the gallery page's lists cost to read when the gallery is big,
counted at each call (before migrations 0018 and 0019) and kept by triggers (since), and what
the triggers cost each write.

    .venv/bin/python bench/gallery_counts.py --faces 1000000

``GET /api/stats`` (open to every signed-in user, and in bench/load.py's mix), the gallery
page and a Milvus gallery's size at each search all read the gallery's size, and the gallery
page lists the photos with no face and those with no provenance. In SQLite and in PostgreSQL
(a server the script starts), the script fills ``--faces`` images in 10 collections with one
INSERT ... SELECT each (the triggers fire on every row; one image in 1,000 gets no face, one
in 500 no provenance), then times in the same run the old queries (a join of every image and
face, grouped by collection, and ``COUNT(*)``s; a face count an image; a scan for missing
provenance) against ``Store.stats()``, ``face_count()`` and the page's lists now: medians of
``--repeat`` calls. Then it stores ``--writes`` images the way an ingest does (one face
each, 50 a transaction), with the triggers and with them dropped, and prints the time an
image. PostgreSQL's tables are vacuumed after the fill, as autovacuum would.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from bench.audit_log import median_ms  # noqa: E402
from facesift.store import Store  # noqa: E402
from facesift.store.database import POSTGRESQL  # noqa: E402
from facesift.store.gallery_browse import _NO_PROVENANCE, _SELECT, Problem  # noqa: E402
from tests.postgres import start_postgres  # noqa: E402
from tests.synthetic import synthetic_images  # noqa: E402

COLLECTIONS = 10
# name -> table: the counts' triggers (migrations 0018 and 0019); 0020's stay, since on SQLite
# the store numbers new rows from what they keep.
TRIGGERS = {
    "collection_counted": "collections",
    "image_counted": "images",
    "image_uncounted": "images",
    "image_moved": "images",
    "face_counted": "faces",
    "face_uncounted": "faces",
    "image_faceless": "images",  # migration 0019
    "image_faced": "faces",
    "image_faceless_again": "faces",
}
BEFORE = (
    "SELECT c.name, COUNT(DISTINCT i.id) AS images, COUNT(f.id) AS faces"
    " FROM collections c LEFT JOIN images i ON i.collection_id = c.id"
    " LEFT JOIN faces f ON f.image_id = i.id GROUP BY c.id ORDER BY c.name"
)
# One image in 1,000 has no face, one in 500 no provenance: the gallery page's two lists.
FACE = (
    "INSERT INTO faces (image_id, x1, y1, x2, y2, landmarks, detector_score, quality, size_px,"
    " sharpness, model_id, embedding) SELECT id, 1, 1, 2, 2, '[]', 1, 0.5, 50, 1, 'm', {blob}"
    " FROM images WHERE id % 1000 <> 0"
)
NO_FACE_BEFORE = "(SELECT COUNT(*) FROM faces f WHERE f.image_id = i.id) = 0"


def fill(store: Store, faces: int, url: str | None = None, dim: int = 0) -> None:
    """``faces`` images of one face (but one in 1,000), in 10 collections; each face's
    embedding ``dim`` zeros (0: a one-byte stand-in, for benchmarks that never read it)."""
    db = store.db
    with store.transaction():
        ids = [store.collection_id(f"c{number}") for number in range(COLLECTIONS)]
        if db.dialect == POSTGRESQL:
            numbers, sha = f"generate_series(1, {faces}) n", "md5(n::text)"
            blob = f"decode(repeat('00', {4 * dim}), 'hex')" if dim else "'\\x00'::bytea"
        else:
            numbers = f"(WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {faces}) SELECT n FROM g)"  # noqa: E501
            sha, blob = "hex(n)", f"zeroblob({4 * dim})" if dim else "x'00'"
        db.execute(
            "INSERT INTO images (collection_id, sha256, path, byte_size, width, height,"
            " ingested_at, source_url, legal_basis)"
            f" SELECT {ids[0]} + (n % {COLLECTIONS}), {sha}, '/p/' || n, 1000, 100, 100,"
            " '2026-01-01', CASE WHEN n % 500 = 0 THEN NULL ELSE 'file:///p' END, 'consent'"
            f" FROM {numbers}" + (" AS n" if db.dialect != POSTGRESQL else "")
        )
        db.execute(FACE.format(blob=blob))
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def measure_reads(store: Store, label: str, repeat: int) -> None:
    db = store.db
    counts = [
        (
            "the size, before: join and COUNT(*)s",
            lambda: (
                list(db.execute(BEFORE)),
                *[db.execute(f"SELECT COUNT(*) FROM {t}").one() for t in ("images", "faces")],
            ),
        ),
        ("the size, now: stats()", store.stats),
        ("faces, before: COUNT(*)", lambda: db.execute("SELECT COUNT(*) FROM faces").one()),
        ("faces, now: face_count()", store.face_count),
    ]
    for name, call in counts:
        print(f"| {label} | {name} | {median_ms(call, repeat):.2f} |", flush=True)
    measure_lists(store, label, repeat)


def measure_lists(store: Store, label: str, repeat: int) -> None:
    """The gallery page's lists: how many, and the first 50 in path order."""

    def listed_before(condition: str) -> Callable[[], object]:
        joined = " FROM images i JOIN collections c ON c.id = i.collection_id WHERE "
        return lambda: (
            store.db.execute("SELECT COUNT(*)" + joined + condition).one(),
            list(store.db.execute(f"{_SELECT} WHERE {condition} ORDER BY i.path, i.id LIMIT 50")),
        )

    lists = [
        ("no face, before: a face count an image", listed_before(NO_FACE_BEFORE)),
        ("no face, now: faceless_images", lambda: store.browse.photos(problem=Problem.NO_FACE)),
        (
            "no provenance, now: the partial index",
            lambda: store.browse.photos(problem=Problem.NO_PROVENANCE),
        ),
        ("no provenance, before: without it", listed_before(f"({_NO_PROVENANCE})")),
    ]
    for name, call in lists:
        if name.startswith("no provenance, before"):
            store.db.execute("DROP INDEX images_no_provenance")
        print(f"| {label} | {name} | {median_ms(call, repeat):.2f} |", flush=True)


def measure_writes(
    store: Store,
    label: str,
    writes: int,
    triggers: dict[str, str] = TRIGGERS,
    named: str = "the count triggers",
) -> None:
    """``writes`` images of one face stored as an ingest does (50 a transaction), with
    ``triggers`` (name -> table) and with them dropped; the time an image, ms."""
    collection = store.collection_id("c0")
    for kept in (True, False):
        if not kept:
            for name, table in triggers.items():
                on = f" ON {table}" if store.db.dialect == POSTGRESQL else ""
                store.db.execute(f"DROP TRIGGER IF EXISTS {name}{on}")
        images = synthetic_images(writes, seed=int(kept) + 1)
        started = time.perf_counter()
        for start in range(0, writes, 50):
            with store.transaction():
                for image in images[start : start + 50]:
                    store.add_image(collection, image)
        each = (time.perf_counter() - started) * 1000 / writes
        state = f"with {named}" if kept else "without them"
        print(f"| {label} | storing an image of one face, {state} | {each:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--writes", type=int, default=5000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"\n{args.faces:,} images of one face, median of {args.repeat} calls\n")
    print("| database | what | ms |\n|---|---|---:|")
    with tempfile.TemporaryDirectory() as folder:
        sqlite = Store(Path(folder) / "sqlite")
        fill(sqlite, args.faces)
        measure_reads(sqlite, "SQLite", args.repeat)
        measure_writes(sqlite, "SQLite", args.writes)
        sqlite.close()
        with start_postgres() as server:
            url = server.new_database()
            postgres = Store(Path(folder) / "postgresql", url)
            fill(postgres, args.faces, url)
            measure_reads(postgres, "PostgreSQL", args.repeat)
            measure_writes(postgres, "PostgreSQL", args.writes)
            postgres.close()
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
