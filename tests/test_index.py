"""FlatIndex (real FAISS) and Gallery.reconcile (real SQLite + FAISS): the index answers
exact Euclidean queries, and after any crash between store and index it is repaired to hold
exactly the stored faces."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest

from facesift.errors import AlreadyHeld
from facesift.index import FlatIndex
from facesift.index import base as index_base
from facesift.machine import usable_cores
from facesift.schemas import Box, Face, ImageAnalysis, Provenance, Quality
from facesift.services import gallery as gallery_module
from facesift.services.gallery import EMBEDDING_DIM, INDEX_FILE, Gallery, Repair
from facesift.store import AuditFilter, Store, StoredImage
from facesift.store.records import DATABASE_FILE


def ids_of(index: FlatIndex) -> list[int]:
    return sorted(int(i) for i in index.ids())


# -- FlatIndex --------------------------------------------------------------------------------


@pytest.fixture
def small() -> FlatIndex:
    """Three points at known distances from the origin: 0, 5 and 10."""
    index = FlatIndex(4)
    index.add(
        np.array([10, 20, 30], dtype=np.int64),
        np.array([[0, 0, 0, 0], [3, 4, 0, 0], [0, 0, 0, 10]], dtype=np.float32),
    )
    return index


ORIGIN = np.zeros((1, 4), dtype=np.float32)


def test_search_returns_euclidean_distances_nearest_first(small: FlatIndex) -> None:
    distances, ids = small.search(ORIGIN, 3)
    assert ids.tolist() == [[10, 20, 30]]
    assert np.allclose(distances, [[0.0, 5.0, 10.0]])  # squared would be 0, 25, 100
    assert len(small) == 3


def test_search_ranks_by_distance_not_by_insertion(small: FlatIndex) -> None:
    query = np.array([[0, 0, 0, 9]], dtype=np.float32)
    distances, ids = small.search(query, 2)
    assert ids.tolist() == [[30, 10]]
    assert np.allclose(distances, [[1.0, 9.0]])


def test_search_matches_brute_force_numpy() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    ids = rng.permutation(np.arange(1000, 1300)).astype(np.int64)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    index = FlatIndex(16)
    index.add(ids, vectors)
    distances, found = index.search(queries, 5)
    exact = np.linalg.norm(queries[:, None, :] - vectors[None, :, :], axis=2)
    order = np.argsort(exact, axis=1)[:, :5]
    assert np.array_equal(found, ids[order])
    assert np.allclose(distances, np.take_along_axis(exact, order, axis=1), atol=1e-4)


def test_k_larger_than_the_index_is_clamped(small: FlatIndex) -> None:
    distances, ids = small.search(ORIGIN, 50)
    assert ids.shape == (1, 3) and distances.shape == (1, 3)
    assert sorted(ids[0].tolist()) == [10, 20, 30]


def test_allowed_ids_restrict_the_results(small: FlatIndex) -> None:
    distances, ids = small.search(ORIGIN, 3, allowed_ids=np.array([30, 20], dtype=np.int64))
    assert ids[0, :2].tolist() == [20, 30]
    assert np.allclose(distances[0, :2], [5.0, 10.0])
    assert ids[0, 2] == -1  # the slot nothing allowed could fill
    assert 10 not in ids


def test_allowed_ids_unknown_to_the_index_give_no_results(small: FlatIndex) -> None:
    _, ids = small.search(ORIGIN, 2, allowed_ids=np.array([99], dtype=np.int64))
    assert (ids == -1).all()


def test_remove_returns_how_many_were_present(small: FlatIndex) -> None:
    assert small.remove(np.array([20, 99], dtype=np.int64)) == 1
    assert small.remove(np.array([20], dtype=np.int64)) == 0
    assert small.remove(np.array([], dtype=np.int64)) == 0
    assert len(small) == 2
    assert ids_of(small) == [10, 30]


def test_removed_ids_never_come_back(small: FlatIndex) -> None:
    small.remove(np.array([10], dtype=np.int64))
    distances, ids = small.search(ORIGIN, 3)
    assert ids.tolist() == [[20, 30]]
    assert np.allclose(distances, [[5.0, 10.0]])
    _, ids = small.search(ORIGIN, 3, allowed_ids=np.array([10, 20], dtype=np.int64))
    assert 10 not in ids


def test_ids_lists_every_id_as_int64(small: FlatIndex) -> None:
    ids = small.ids()
    assert ids.dtype == np.int64
    assert sorted(ids.tolist()) == [10, 20, 30]
    assert FlatIndex(4).ids().tolist() == []


def test_add_nothing_changes_nothing(small: FlatIndex) -> None:
    small.add(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))
    assert len(small) == 3


def test_save_then_load_gives_identical_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    index = FlatIndex(32)
    index.add(np.arange(5, 205, dtype=np.int64), rng.normal(size=(200, 32)).astype(np.float32))
    index.remove(np.array([7, 8, 9], dtype=np.int64))
    queries = rng.normal(size=(4, 32)).astype(np.float32)
    path = tmp_path / "faces.faiss"
    index.save(path)
    loaded = FlatIndex.load(path)
    assert loaded.dim == 32 and len(loaded) == len(index) == 197
    assert ids_of(loaded) == ids_of(index)
    for allowed in (None, np.arange(100, 150, dtype=np.int64)):
        expected = index.search(queries, 10, allowed)
        actual = loaded.search(queries, 10, allowed)
        assert np.array_equal(actual[1], expected[1])
        assert np.array_equal(actual[0], expected[0])
    assert loaded.remove(np.array([5, 7], dtype=np.int64)) == 1  # still removable by id
    assert not (tmp_path / "faces.faiss.tmp").exists()


def test_save_replaces_an_older_file(tmp_path: Path, small: FlatIndex) -> None:
    path = tmp_path / "faces.faiss"
    FlatIndex(4).save(path)
    small.save(path)
    assert ids_of(FlatIndex.load(path)) == [10, 20, 30]


def test_searching_an_empty_index_is_safe() -> None:
    index = FlatIndex(8)
    distances, ids = index.search(np.zeros((2, 8), dtype=np.float32), 5)
    assert ids.shape == (2, 1) and (ids == -1).all()
    assert np.isinf(distances).all()


def threads_started_by_a_search(index: FlatIndex) -> int:
    """How many OS threads FAISS started for one search made on a new thread (a server's
    request thread), while that thread lives."""
    started: list[int] = []

    def search() -> None:
        # New thread ids, not a count: the last search's threads may end meanwhile.
        before = set(os.listdir("/proc/self/task"))
        index.search(np.zeros((1, index.dim), dtype=np.float32), 1)
        started.append(len(set(os.listdir("/proc/self/task")) - before))

    thread = threading.Thread(target=search)
    thread.start()
    thread.join()
    return started[0]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_a_server_searches_on_the_request_thread_alone(
    small: FlatIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenMP keeps its thread count per thread: set only in the thread that started the
    server, each request thread's search started threads that then spin on the cores."""
    if usable_cores() == 1:
        pytest.skip("one core: FAISS starts no thread either way")
    main_thread_limit = faiss.omp_get_max_threads()
    monkeypatch.setattr(index_base, "_one_thread", False)
    try:
        assert threads_started_by_a_search(small) > 0  # a batch process keeps every core
        index_base.one_thread_per_search()
        assert threads_started_by_a_search(small) == 0
    finally:
        faiss.omp_set_num_threads(main_thread_limit)


def test_searching_an_emptied_index_is_safe(small: FlatIndex) -> None:
    small.remove(np.array([10, 20, 30], dtype=np.int64))
    _, ids = small.search(ORIGIN, 3)
    assert (ids == -1).all()


# -- Gallery.reconcile ------------------------------------------------------------------------


def make_face(rng: np.random.Generator) -> Face:
    return Face(
        box=Box(10, 10, 60, 60),
        landmarks=[(20.0, 30.0), (25.0, 30.0), (45.0, 30.0), (40.0, 30.0), (32.0, 45.0)],
        detector_score=0.99,
        quality=Quality(size_px=50, sharpness=120.0, score=0.8),
        model_id="test-model",
        embedding=rng.normal(size=EMBEDDING_DIM).astype(np.float32),
    )


def make_image(rng: np.random.Generator, name: str, faces: int) -> StoredImage:
    return StoredImage(
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        path=f"/photos/{name}",
        byte_size=1234,
        analysis=ImageAnalysis(640, 480, [make_face(rng) for _ in range(faces)]),
        provenance=Provenance(caption=name),
    )


def stored_embeddings(data_dir: Path) -> dict[int, np.ndarray]:
    """Face id -> embedding, read straight from the database file."""
    conn = sqlite3.connect(data_dir / DATABASE_FILE)
    try:
        rows = conn.execute("SELECT id, embedding FROM faces").fetchall()
    finally:
        conn.close()
    return {face_id: np.frombuffer(blob, dtype="<f4") for face_id, blob in rows}


def assert_consistent(gallery: Gallery, data_dir: Path) -> None:
    """The index holds exactly the stored faces, and each is found by its own embedding."""
    stored = stored_embeddings(data_dir)
    assert ids_of(gallery.index) == sorted(stored)
    assert len(gallery.index) == len(stored)
    for face_id, embedding in stored.items():
        [nearest] = gallery.nearest(embedding, 1)
        assert nearest.face_id == face_id
        assert nearest.distance == pytest.approx(0.0, abs=1e-3)


def on_disk(data_dir: Path) -> list[int]:
    return ids_of(FlatIndex.load(data_dir / INDEX_FILE))


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A gallery of 3 images with 2, 1 and 3 faces, closed cleanly."""
    rng = np.random.default_rng(3)
    with Gallery.open(tmp_path) as gallery:
        added = gallery.add_images(
            "press",
            [make_image(rng, "a.jpg", 2), make_image(rng, "b.jpg", 1), make_image(rng, "c.jpg", 3)],
        )
        assert added == 6
    yield tmp_path


def test_clean_gallery_is_consistent_and_needs_no_repair(data_dir: Path) -> None:
    assert on_disk(data_dir) == [1, 2, 3, 4, 5, 6]
    with Gallery.open(data_dir) as gallery:
        assert gallery.reconcile() == Repair(added=0, removed=0)
        assert_consistent(gallery, data_dir)


def test_lost_index_file_is_rebuilt_from_the_store(data_dir: Path) -> None:
    (data_dir / INDEX_FILE).unlink()
    with Gallery.open(data_dir) as gallery:
        assert on_disk(data_dir) == [1, 2, 3, 4, 5, 6]  # saved at once, not only on close
        assert_consistent(gallery, data_dir)


def test_a_photo_already_held_is_refused_and_its_batch_rolled_back(data_dir: Path) -> None:
    # The store's last guard when another process stored the same bytes after the caller
    # checked: nothing of the batch is kept, not even the new photo before it.
    rng = np.random.default_rng(5)
    held_again = make_image(rng, "a.jpg", 2)  # a.jpg's bytes, under the same hash
    with Gallery.open(data_dir) as gallery:
        with pytest.raises(AlreadyHeld):
            gallery.add_images("press", [make_image(rng, "new.jpg", 1), held_again])
        assert sorted(gallery.index.ids().tolist()) == [1, 2, 3, 4, 5, 6]
    assert len(stored_embeddings(data_dir)) == 6


def test_a_removed_newest_face_id_is_never_given_again(data_dir: Path) -> None:
    # Another process removes the newest image (faces 4-6) and stores a new one, both before
    # this gallery looks again and without saving an index file. SQLite alone would give the
    # new image and face the freed ids: past searches' candidates would show the new photo,
    # and this gallery, comparing ids, would keep the removed face's vector under the new id.
    removed_vector = stored_embeddings(data_dir)[6]
    new_image = make_image(np.random.default_rng(6), "late.jpg", 1)
    with Gallery.open(data_dir) as server:
        other = Store(data_dir)
        try:
            with other.transaction():
                (newest,) = other.find_images("/photos/c.jpg")
                assert other.delete_image(newest["id"]) == [4, 5, 6]
                (new_face,) = other.add_image(other.collection_id("press"), new_image)
            (stored,) = other.find_images("/photos/late.jpg")
        finally:
            other.close()
        assert (stored["id"], new_face) == (newest["id"] + 1, 7)
        assert server.refresh()
        (nearest,) = server.nearest(new_image.analysis.faces[0].embedding, k=1)
        assert (nearest.face_id, nearest.distance) == (7, pytest.approx(0.0, abs=1e-3))
        assert sorted(server.index.ids().tolist()) == [1, 2, 3, 7]
        assert all(n.distance > 0.01 for n in server.nearest(removed_vector, k=4))


def test_index_saved_before_the_last_commit_catches_up(data_dir: Path) -> None:
    stale = (data_dir / INDEX_FILE).read_bytes()
    rng = np.random.default_rng(4)
    with Gallery.open(data_dir) as gallery:
        gallery.add_images("press", [make_image(rng, "d.jpg", 2)])
    (data_dir / INDEX_FILE).write_bytes(stale)  # crash: the store has d.jpg, the index not
    with Gallery.open(data_dir) as gallery:
        assert len(stored_embeddings(data_dir)) == 8
        assert_consistent(gallery, data_dir)
    assert on_disk(data_dir) == list(range(1, 9))


def test_vectors_without_records_are_removed(data_dir: Path) -> None:
    rng = np.random.default_rng(5)
    ghosts = rng.normal(size=(2, EMBEDDING_DIM)).astype(np.float32)
    index = FlatIndex.load(data_dir / INDEX_FILE)
    index.add(np.array([1000, 1001], dtype=np.int64), ghosts)
    index.save(data_dir / INDEX_FILE)
    with Gallery.open(data_dir) as gallery:
        assert_consistent(gallery, data_dir)
        for ghost in ghosts:
            assert all(n.face_id < 1000 for n in gallery.nearest(ghost, 10))
    assert on_disk(data_dir) == [1, 2, 3, 4, 5, 6]


def test_face_row_deleted_behind_the_index_is_unindexed(data_dir: Path) -> None:
    gone = stored_embeddings(data_dir)[4]
    conn = sqlite3.connect(data_dir / DATABASE_FILE)
    conn.execute("DELETE FROM faces WHERE id = 4")
    conn.commit()
    conn.close()
    with Gallery.open(data_dir) as gallery:
        assert_consistent(gallery, data_dir)
        assert 4 not in [n.face_id for n in gallery.nearest(gone, 6)]
    assert on_disk(data_dir) == [1, 2, 3, 5, 6]


def test_both_kinds_of_drift_at_once_are_counted(data_dir: Path) -> None:
    rng = np.random.default_rng(6)
    with Gallery.open(data_dir) as gallery:
        gallery.index.remove(np.array([2, 5], dtype=np.int64))
        gallery.index.add(
            np.array([77], dtype=np.int64), rng.normal(size=(1, EMBEDDING_DIM)).astype(np.float32)
        )
        assert gallery.reconcile() == Repair(added=2, removed=1)
        assert_consistent(gallery, data_dir)
        assert gallery.reconcile() == Repair(added=0, removed=0)


def test_repaired_vectors_are_the_stored_embeddings(data_dir: Path) -> None:
    """A face re-added by the repair is found at ~0 from its own embedding only."""
    embeddings = stored_embeddings(data_dir)
    (data_dir / INDEX_FILE).unlink()
    with Gallery.open(data_dir) as gallery:
        for face_id, embedding in embeddings.items():
            neighbours = gallery.nearest(embedding, 2)
            assert neighbours[0].face_id == face_id
            assert neighbours[1].distance > 1.0  # random 128-d vectors are far apart


def test_collection_filter_after_a_repair(data_dir: Path) -> None:
    rng = np.random.default_rng(7)
    with Gallery.open(data_dir) as gallery:
        gallery.add_images("archive", [make_image(rng, "e.jpg", 1)])
    (data_dir / INDEX_FILE).unlink()
    embeddings = stored_embeddings(data_dir)
    with Gallery.open(data_dir) as gallery:
        assert gallery.size("archive") == 1 and gallery.size("press") == 6
        found = gallery.nearest(embeddings[7], 10, collection="press")
        assert len(found) == 6 and 7 not in [n.face_id for n in found]
        [own] = gallery.nearest(embeddings[7], 1, collection="archive")
        assert own.face_id == 7 and own.distance == pytest.approx(0.0, abs=1e-3)


def test_many_images_are_removed_in_batches_each_audited(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retention's path: two transactions of 2 images here; a hash already gone is skipped;
    # each image gets its own audit entry, and the index (in memory and on disk) agrees.
    monkeypatch.setattr(gallery_module, "REMOVE_BATCH", 2)
    rng = np.random.default_rng(8)
    with Gallery.open(data_dir) as gallery:
        gallery.add_images("press", [make_image(rng, "d.jpg", 1), make_image(rng, "e.jpg", 2)])
        gone_vectors = [v for i, v in stored_embeddings(data_dir).items() if i in (1, 2, 7)]
        hashes = [hashlib.sha256(n.encode()).hexdigest() for n in ("a.jpg", "d.jpg", "zz", "e.jpg")]
        removed = gallery.remove_images(hashes, "retention", tombstone=False)
        assert removed == [hashes[0], hashes[1], hashes[3]]
        assert_consistent(gallery, data_dir)
        for vector in gone_vectors:
            assert all(n.distance > 0.01 for n in gallery.nearest(vector, 5))
        entries = gallery.store.audit.filtered(AuditFilter(action="remove_image"), limit=10)
        assert sorted(e.details["sha256"] for e in entries) == sorted(removed)
        assert gallery.store.tombstones.tombstoned(hashes) == set()  # retention keeps none
    assert on_disk(data_dir) == [3, 4, 5, 6]


def test_a_removal_is_not_saved_at_once_and_no_other_process_finds_the_face(
    data_dir: Path,
) -> None:
    # Saving the whole index after each removal held every search up for seconds at a
    # million faces. The file may lag behind a removal; no process may find the face.
    removed_vector = stored_embeddings(data_dir)[2]
    with Gallery.open(data_dir) as server:
        server.remove_face(2, "opt-out")
        assert 2 in on_disk(data_dir)  # not saved yet: it is on close
        with Gallery.open(data_dir) as other:  # a command run beside the server
            assert all(n.face_id != 2 for n in other.nearest(removed_vector, 6))
        assert all(n.face_id != 2 for n in server.nearest(removed_vector, 6))
    assert 2 not in on_disk(data_dir)
