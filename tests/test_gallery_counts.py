"""The gallery's size (migration 0018) and its photos with no face (0019) are kept by
triggers, not counted at each call: these check that what is kept agrees with a full recount
after every kind of write, on both databases, and that the migrations fill it in for a
gallery that already holds faces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from facesift.services.gallery import Gallery
from facesift.store import Store
from facesift.store.database import Database, migrate, resolve_url, schema_version
from facesift.store.gallery_browse import Problem
from tests.synthetic import synthetic_images


def recount(store: Store) -> dict[str, tuple[int, int]]:
    """Images and faces by collection, counted the slow way."""
    rows = store.db.execute(
        "SELECT c.name, COUNT(DISTINCT i.id) AS images, COUNT(f.id) AS faces"
        " FROM collections c LEFT JOIN images i ON i.collection_id = c.id"
        " LEFT JOIN faces f ON f.image_id = i.id GROUP BY c.name"
    )
    return {row["name"]: (int(row["images"]), int(row["faces"])) for row in rows}


def faceless(store: Store) -> tuple[list[str], list[str]]:
    """The photos with no face: (as the gallery page lists them, as a recount finds them)."""
    total, listed = store.browse.photos(problem=Problem.NO_FACE, limit=1000)
    assert total == len(listed)
    rows = store.db.execute(
        "SELECT path FROM images i WHERE NOT EXISTS"
        " (SELECT 1 FROM faces f WHERE f.image_id = i.id) ORDER BY path, id"
    )
    return [photo.path for photo in listed], [row["path"] for row in rows]


def kept(store: Store) -> dict[str, tuple[int, int]]:
    """Images and faces by collection, as kept; and the kept face count against a count."""
    assert store.face_count() == len(store.face_ids())
    return {c["name"]: (c["images"], c["faces"]) for c in store.stats().collections}


def test_the_kept_counts_follow_every_kind_of_write(
    tmp_path: Path, database_url: str | None
) -> None:
    images = synthetic_images(12, seed=7)
    # Images of 0, 1, 2 and 3 faces: an image's faces must leave with it, however many.
    images = [
        dataclasses.replace(
            image,
            analysis=dataclasses.replace(
                image.analysis, faces=list(image.analysis.faces) * (number % 4)
            ),
        )
        for number, image in enumerate(images)
    ]
    with Gallery.open(tmp_path, database_url) as gallery:
        store = gallery.store
        gallery.add_images("press", images[:8])
        gallery.add_images("archive", images[8:])
        assert kept(store) == recount(store) == {"press": (8, 12), "archive": (4, 6)}
        listed, recounted = faceless(store)
        assert listed == recounted and len(listed) == 3

        face_ids = store.face_ids()
        gallery.remove_face(int(face_ids[0]))  # images[1]'s only face: it has none now
        gallery.remove_image(images[3].sha256)  # 3 faces
        gallery.remove_image(images[4].sha256)  # none
        assert kept(store) == recount(store) == {"press": (6, 8), "archive": (4, 6)}
        listed, recounted = faceless(store)
        assert listed == recounted and images[1].path in listed and images[4].path not in listed

        with store.transaction():  # by hand, as a database administrator might
            store.db.execute(  # the faces go by the foreign key's cascade
                "DELETE FROM images WHERE sha256 = ?", (images[11].sha256,)
            )
            store.db.execute(
                "UPDATE images SET collection_id = ? WHERE sha256 = ?",
                (store.collection_id("press"), images[10].sha256),
            )
            store.collection_id("empty")
        assert kept(store) == recount(store)
        assert kept(store) == {"press": (7, 10), "archive": (2, 1), "empty": (0, 0)}
        assert store.face_count() == len(store.face_ids()) == 11
        assert faceless(store)[0] == faceless(store)[1]
        total, page = store.browse.photos(collection="archive", limit=1)
        assert (total, len(page)) == (2, 1)


def test_the_migration_counts_a_gallery_that_already_holds_faces(
    tmp_path: Path, database_url: str | None
) -> None:
    db = Database(resolve_url(tmp_path, database_url), migrate_up_to=17)
    with db.transaction():
        for name, count in (("press", 3), ("archive", 2)):
            collection = db.insert(
                "INSERT INTO collections (name, created_at) VALUES (?, ?)", (name, "2026-01-01")
            )
            for number in range(count):
                image = db.insert(
                    "INSERT INTO images (collection_id, sha256, path, byte_size, width, height,"
                    " ingested_at) VALUES (?, ?, ?, 1, 1, 1, ?)",
                    (collection, f"{name}{number}", f"/{name}/{number}.jpg", "2026-01-01"),
                )
                for _face in range(number):
                    db.execute(
                        "INSERT INTO faces (image_id, x1, y1, x2, y2, landmarks,"
                        " detector_score, quality, size_px, sharpness, model_id, embedding)"
                        " VALUES (?, 0, 0, 1, 1, '[]', 1, 1, 1, 1, 'm', ?)",
                        (image, np.zeros(4, dtype="<f4").tobytes()),
                    )
    assert migrate(db) == list(range(18, schema_version(db.dialect) + 1))
    db.close()
    store = Store(tmp_path, database_url)
    try:
        assert kept(store) == recount(store) == {"press": (3, 3), "archive": (2, 1)}
        listed, recounted = faceless(store)
        assert listed == recounted == ["/archive/0.jpg", "/press/0.jpg"]
    finally:
        store.close()
