"""Rebuilding the index: exact to compressed and back, and resuming an interrupted rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.index import FlatIndex, IvfIndex
from facesift.services import index_build
from facesift.services.gallery import Gallery
from tests.synthetic import add_synthetic


def _every_face_finds_itself(gallery: Gallery) -> None:
    ids, vectors = gallery.store.embeddings(gallery.store.face_ids())
    for face_id, vector in zip(ids[::97], vectors[::97], strict=True):
        nearest = gallery.nearest(vector, 1)[0]
        # Not exactly 0: flat search computes |a|² + |b|² - 2ab in float32.
        assert nearest.face_id == face_id and nearest.distance < 1e-2


def test_rebuild_to_ivf_and_back_keeps_every_face(tmp_path) -> None:
    with Gallery.open(tmp_path) as gallery:
        add_synthetic(gallery, 3000)
        report = index_build.rebuild(gallery, "ivf")
        assert report.kind == "ivf" and report.faces == 3000
        assert isinstance(gallery.index, IvfIndex)
        _every_face_finds_itself(gallery)
    with Gallery.open(tmp_path) as gallery:  # the compressed index is what is saved
        assert isinstance(gallery.index, IvfIndex)
        gallery.remove_face(int(gallery.store.face_ids()[0]))
        assert len(gallery.index) == 2999
        _every_face_finds_itself(gallery)
        index_build.rebuild(gallery, "flat")
        assert isinstance(gallery.index, FlatIndex) and len(gallery.index) == 2999


def test_interrupted_rebuild_resumes_where_it_stopped(tmp_path) -> None:
    with Gallery.open(tmp_path) as gallery:
        add_synthetic(gallery, 2500)

        def stop_after_two_chunks(done: int, total: int) -> None:
            if done >= 1000:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            index_build.rebuild(gallery, "ivf", stop_after_two_chunks, chunk=500)
        assert isinstance(gallery.index, FlatIndex)  # the old index kept serving
        report = index_build.rebuild(gallery, "ivf", chunk=500)
        assert report.resumed_from_id >= 1000
        assert np.array_equal(np.sort(gallery.index.ids()), gallery.store.face_ids())
        _every_face_finds_itself(gallery)


def test_auto_kind_follows_gallery_size() -> None:
    assert index_build.choose_kind("auto", 10) == "flat"
    assert index_build.choose_kind("auto", 10_000_000) == "ivf"
    with pytest.raises(ValueError):
        index_build.choose_kind("hnsw", 10)


def test_the_index_file_header_gives_kind_and_count_without_loading(tmp_path) -> None:
    """``facesift stats`` reads these two figures from the file's first bytes."""
    from facesift.index.file_header import INDEX_FILE, read_index_header

    path = tmp_path / INDEX_FILE
    with Gallery.open(tmp_path) as gallery:
        add_synthetic(gallery, 2500)
    flat = read_index_header(path)
    assert (flat.kind, flat.dim, flat.count) == ("FlatIndex", 128, 2500)
    with Gallery.open(tmp_path) as gallery:
        index_build.rebuild(gallery, "ivf")
        gallery.remove_face(int(gallery.store.face_ids()[0]))
    compressed = read_index_header(path)
    assert (compressed.kind, compressed.count) == ("IvfIndex", 2499)
    path.write_bytes(b"PK\x03\x04 not an index at all")
    with pytest.raises(ValueError, match="FAISS index header"):
        read_index_header(path)
    path.write_bytes(b"IxM2")
    with pytest.raises(ValueError, match="too short"):
        read_index_header(path)
