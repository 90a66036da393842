"""The face log (migration 0021): a server's index catches up with another process's change
by reading the faces that changed, not every face id. These check, on both databases, that
the log names every face added or removed by any write, that a server's index agrees with
the store after reading it, that a pruned log makes a reader look at every face instead of
missing a change, and, on PostgreSQL, that a transaction committing out of order is not
skipped."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from facesift.services import index_build
from facesift.services.gallery import Gallery
from facesift.store import Store, records
from facesift.store.database import Database
from tests.synthetic import synthetic_images


def faces_of(count: int, seed: int, per_image: int = 1):
    images = synthetic_images(count, seed=seed)
    return [
        dataclasses.replace(
            image,
            analysis=dataclasses.replace(
                image.analysis, faces=list(image.analysis.faces) * per_image
            ),
        )
        for image in images
    ]


@contextlib.contextmanager
def another_process(folder: Path, database_url: str | None) -> Iterator[Store]:
    """The gallery's store, as a command run beside the server opens it."""
    other = Store(folder, database_url)
    try:
        yield other
    finally:
        other.close()


def test_the_log_names_every_face_added_and_removed(
    tmp_path: Path, database_url: str | None
) -> None:
    store = Store(tmp_path, database_url)
    try:
        press = store.collection_id("press")
        mark = store.face_log_mark()
        with store.transaction():
            first = store.add_image(press, faces_of(1, seed=1, per_image=2)[0])
            second = store.add_image(press, faces_of(1, seed=2, per_image=3)[0])
        with store.transaction():
            assert store.delete_face(first[0])
        with store.transaction():  # the image's faces go by its cascade
            (image,) = store.find_images(faces_of(1, seed=2)[0].path)
            store.delete_image(image["id"])
        changes = store.face_changes_since(mark)
        assert changes.complete
        assert sorted(changes.face_ids) == sorted([*first, *second, first[0], *second])
        assert store.face_changes_since(changes.mark).face_ids == []
    finally:
        store.close()


def test_a_server_catches_up_with_another_process_from_the_log(
    tmp_path: Path, database_url: str | None
) -> None:
    images = faces_of(6, seed=3)
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images[:3])
        removed_vector = images[1].analysis.faces[0].embedding
        with another_process(tmp_path, database_url) as other, other.transaction():
            for image in images[3:]:
                other.add_image(other.collection_id("press"), image)
            (gone,) = other.find_images(images[1].path)
            other.delete_image(gone["id"])
        stored = sorted(server.store.face_ids().tolist())
        assert server.refresh()
        assert sorted(server.index.ids().tolist()) == stored
        for image in images[3:]:
            (nearest,) = server.nearest(image.analysis.faces[0].embedding, k=1)
            assert nearest.distance == pytest.approx(0.0, abs=1e-3)
        assert all(n.distance > 0.01 for n in server.nearest(removed_vector, k=5))
        # read once: a second look finds nothing new, and the mark moved past the changes
        assert not server.refresh()
        assert server.store.face_changes_since(server._log_mark).face_ids == []


def test_a_pruned_log_makes_a_reader_look_at_every_face(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "FACE_LOG_KEPT", 2)
    images = faces_of(5, seed=4)
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images[:1])
        mark = server.store.face_log_mark()
        with another_process(tmp_path, database_url) as other:
            with other.transaction():
                for image in images[1:]:
                    other.add_image(other.collection_id("press"), image)
            with other.transaction():  # churn: 4 more rows, and a log longer than the gallery
                (gone,) = other.find_images(images[0].path)
                other.delete_image(gone["id"])
            assert other.prune_face_log() > 0
        stored = sorted(server.store.face_ids().tolist())
        assert not server.store.face_changes_since(mark).complete
        assert server.refresh()
        assert sorted(server.index.ids().tolist()) == stored
        assert server.store.face_changes_since(server.store.face_log_mark()).complete


def test_a_bulk_removal_such_as_retention_s_prunes_the_log_as_an_ingest_does(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gallery changed only by retention would otherwise grow its log without bound."""
    monkeypatch.setattr(records, "FACE_LOG_KEPT", 2)
    images = faces_of(5, seed=5)
    with Gallery.open(tmp_path, database_url) as gallery:
        mark = gallery.store.face_log_mark()
        gallery.add_images("press", images)
        assert gallery.store.face_changes_since(mark).complete  # nothing pruned yet
        gone = gallery.remove_images([image.sha256 for image in images[:3]], "retention")
        assert len(gone) == 3
        assert not gallery.store.face_changes_since(mark).complete


def test_a_transaction_that_commits_out_of_order_is_read(tmp_path: Path, postgres_server) -> None:
    # Two writers: the one that took the smaller row number commits last. A reader that had
    # read past the larger number must still be given the smaller one once it commits.
    url = postgres_server.new_database()
    store = Store(tmp_path, url)
    first, second = Database(url), Database(url)
    try:
        mark = store.face_log_mark()
        with ExitStack() as first_open:
            first_open.enter_context(first.transaction())
            first.execute("INSERT INTO face_log (face_id) VALUES (101)")  # the smaller seq
            with second.transaction():
                second.execute("INSERT INTO face_log (face_id) VALUES (102)")
            seen = store.face_changes_since(mark)
            assert seen.face_ids == [102]
        later = store.face_changes_since(seen.mark)  # the first has committed now
        assert 101 in later.face_ids
        assert store.face_changes_since(later.mark).face_ids == []
    finally:
        first.close()
        second.close()
        store.close()


def test_a_face_this_process_indexed_is_not_indexed_twice_from_the_log(
    tmp_path: Path, database_url: str | None
) -> None:
    # A face the server indexed itself is named in the log too: reading it must not add a
    # second copy (FAISS would then return the face twice).
    images = faces_of(2, seed=5)
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images)
        repair = server.catch_up()
        assert (repair.added, repair.removed) == (0, 0)
        ids = server.index.ids()
        assert len(ids) == len(np.unique(ids)) == 2


def test_kept_collection_filters_follow_another_process_s_changes(
    tmp_path: Path, database_url: str | None
) -> None:
    # A search of one collection, and every search once a collection is shadow, filters by
    # the faces it may return. Those filters are brought up to date by the catch-up, not
    # read again whole: each must still let through exactly the faces it should.
    images = faces_of(6, seed=6)
    vector = [image.analysis.faces[0].embedding for image in images]
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images[:2])
        server.add_images("hidden", images[2:3])
        server.set_shadow("hidden", True)
        press = server.store.collection_id("press")
        server.nearest(vector[0], 3, "press")  # the filters are read and kept
        server.nearest(vector[0], 3)
        kept = {press, ("live", (server.store.collection_id("hidden"),))}
        assert kept <= set(server._members)
        with another_process(tmp_path, database_url) as other, other.transaction():
            other.add_image(other.collection_id("press"), images[3])
            other.add_image(other.collection_id("hidden"), images[4])
            (gone,) = other.find_images(images[0].path)
            removed = other.delete_image(gone["id"])
        assert server.refresh()
        assert kept <= set(server._members)  # brought up to date, not dropped
        (found,) = server.nearest(vector[3], 1, "press")
        assert found.distance == pytest.approx(0.0, abs=1e-3)
        assert server.nearest(vector[3], 1)[0].face_id == found.face_id
        assert removed[0] not in [n.face_id for n in server.nearest(vector[0], 5, "press")]
        shown = [n.face_id for n in server.nearest(vector[4], 5)]
        assert len(shown) == 2 and removed[0] not in shown  # press's two; no shadow face
        assert all(n.distance > 0.01 for n in server.nearest(vector[4], 5))


def test_an_index_another_process_saved_is_caught_up_not_loaded_again(
    tmp_path: Path, database_url: str | None
) -> None:
    # An ingest saves its index every 30 s; a server loading the whole file each time took
    # 1.4 s at a million faces. It catches up from the log, and loads only a rebuilt file.
    images = faces_of(5, seed=7)
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images[:2])
        held = server.index
        with Gallery.open(tmp_path, database_url) as ingest:
            ingest.add_images("press", images[2:4])
            ingest.save()
            assert server.refresh()
            assert server.index is held  # caught up in place
            assert sorted(server.index.ids().tolist()) == sorted(ingest.index.ids().tolist())
            ingest.add_images("press", images[4:])
            index_build.rebuild(ingest, kind="flat")
        assert server.refresh()
        assert server.index is not held  # the rebuilt file, loaded
        assert len(server.index) == 5
        (nearest,) = server.nearest(images[4].analysis.faces[0].embedding, k=1)
        assert nearest.distance == pytest.approx(0.0, abs=1e-3)


def test_a_catch_up_between_a_commit_and_its_indexing_adds_no_second_copy(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another request thread may catch up just after this thread's commit and before it
    # indexes what it stored: the log names the new faces, and adding them there too would
    # make a search return the same face twice.
    images = faces_of(3, seed=8)
    with Gallery.open(tmp_path, database_url) as server:
        server.add_images("press", images[:1])
        commit = server.store.transaction

        @contextlib.contextmanager
        def commit_then_catch_up():
            with commit() as store:
                yield store
            server.catch_up()  # as another thread would, the moment the commit lands

        monkeypatch.setattr(server.store, "transaction", commit_then_catch_up)
        server.add_images("press", images[1:])
        ids = server.index.ids()
        assert len(ids) == len(np.unique(ids)) == 3
        found = server.nearest(images[2].analysis.faces[0].embedding, k=3)
        assert len({n.face_id for n in found}) == 3
