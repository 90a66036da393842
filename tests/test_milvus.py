"""Face vectors in a real Milvus server (``--vectors milvus://HOST:PORT/NAME``): the index on
its own against exact search, then the whole command line with the store as the source of
truth. The server is started by the ``milvus_url`` fixture."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from facesift.errors import FacesiftError
from facesift.index.milvus import MilvusIndex, MilvusTarget
from facesift.store.records import DATABASE_FILE
from tests.conftest import GALLERY_FACES, default_faces, photos
from tests.helpers import run_cli, run_json

GROUNDS = (
    "--case",
    "MILVUS-1",
    "--purpose",
    "search with the vectors in Milvus",
    "--offense-category",
    "robbery",
)


def _faces(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0, 0.09, size=(count, 128)).astype(np.float32)  # face-like spread
    return vectors


def _exact(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(np.linalg.norm(vectors - query, axis=1), kind="stable")[:k]


def test_flat_milvus_index_equals_exact_search(milvus_url) -> None:
    index = MilvusIndex(
        MilvusTarget.parse(f"{milvus_url}/exact_test_{os.getpid()}?consistency=Strong", "FLAT")
    )
    try:
        vectors = _faces(500)
        ids = np.arange(1000, 1500, dtype=np.int64)
        index.add(ids, vectors, groups=ids % 3)
        assert len(index) == 500 and index.ids().tolist() == ids.tolist()
        for q in (3, 250, 499):
            distances, found = index.search(vectors[q][None, :], 5)
            expected = _exact(vectors, vectors[q], 5)
            assert found[0].tolist() == (ids[expected]).tolist()
            truth = np.linalg.norm(vectors[expected] - vectors[q], axis=1)
            assert np.allclose(distances[0], truth, atol=1e-4)  # Euclidean, not squared
        # One collection, filtered inside Milvus.
        _, found = index.search(vectors[7][None, :], 20, group=1)
        assert all(i % 3 == 1 for i in found[0] if i >= 0) and (found[0] >= 0).sum() == 20
        assert index.remove(ids[:10]) == 10
        assert len(index) == 490 and 1000 not in set(index.ids().tolist())
    finally:
        index.drop()


def test_ivf_sq8_default_finds_the_exact_neighbours(milvus_url) -> None:
    index = MilvusIndex(
        MilvusTarget.parse(f"{milvus_url}/recall_test_{os.getpid()}?consistency=Strong")
    )
    try:
        vectors = _faces(3000, seed=1)
        index.add(np.arange(3000, dtype=np.int64), vectors)
        hits = 0
        for q in range(0, 3000, 100):
            _, found = index.search(vectors[q][None, :], 10)
            hits += len(set(found[0].tolist()) & set(_exact(vectors, vectors[q], 10).tolist()))
        assert hits / (30 * 10) >= 0.9
    finally:
        index.drop()


def test_bad_vectors_urls_are_refused_with_the_form_expected() -> None:
    for url in ("http://x:1/a", "milvus://host:1/", "milvus://host:1/bad-name", "milvus:///a"):
        with pytest.raises(FacesiftError, match="milvus://HOST:PORT/NAME"):
            MilvusTarget.parse(url)
    for url, problem in (
        ("milvus://h:1/a?index=LSH", "index type"),
        ("milvus://h:1/a?consistency=Now", "consistency"),
        ("milvus://h:1/a?shards=2", "options"),
        ("milvus://h:1/a?index=HNSW&nprobe=8", "options for HNSW: nprobe"),
        ("milvus://h:1/a?nlist=0", "nlist='0' is not a whole number"),
        ("milvus://h:1/a?nprobe=lots", "nprobe='lots'"),
    ):
        with pytest.raises(FacesiftError, match=problem):
            MilvusTarget.parse(url)
    target = MilvusTarget.parse("milvus://h:2/faces?index=HNSW&consistency=Strong")
    assert (target.uri, target.name, target.index_type, target.consistency) == (
        "http://h:2",
        "faces",
        "HNSW",
        "Strong",
    )
    tuned = MilvusTarget.parse("milvus://h:2/faces?index=HNSW&M=32&ef=256")
    assert (tuned.index_params, tuned.search_params) == ({"M": 32}, {"ef": 256})


FIRST, SECOND = photos("gallery")[:10], photos("gallery")[10:]


@pytest.fixture(scope="module")
def gallery(milvus_url, tmp_path_factory) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("milvus-gallery")
    vectors = f"{milvus_url}/gallery_test_{os.getpid()}"
    for collection, part in (("first", FIRST), ("second", SECOND)):
        files = [p.path for p in part]
        code, summary = run_json(
            "ingest", *files, "--collection", collection, "--vectors", vectors, data_dir=data_dir
        )
        assert code == 0 and summary["faces"] == sum(default_faces(p) for p in part)
    _wait_until_searchable(vectors, GALLERY_FACES)
    return data_dir, vectors


def _wait_until_searchable(vectors: str, faces: int, timeout_s: float = 60) -> None:
    """New faces reach a search at Milvus's Bounded consistency after its grace time (about
    5 s); wait for that, as a user searching right after an ingest would."""
    index = MilvusIndex(MilvusTarget.parse(vectors))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, found = index.search(np.zeros((1, 128), np.float32), faces)
        if (found[0] >= 0).sum() == faces:
            return
        time.sleep(0.5)
    raise AssertionError(f"Milvus did not show {faces} faces to a search in {timeout_s} s")


def _search(gallery, probe, *args) -> dict:
    data_dir, vectors = gallery
    code, doc = run_json("search", probe, *GROUNDS, "--vectors", vectors, *args, data_dir=data_dir)
    assert code == 0, doc
    return doc


def test_search_through_milvus_gives_what_faiss_gives(gallery, tmp_path) -> None:
    code, _ = run_json(
        "ingest", *[p.path for p in photos("gallery")], "--collection", "all", data_dir=tmp_path
    )
    assert code == 0
    for probe in photos("probe")[:4]:
        remote = _search(gallery, probe.path)
        assert remote["gallery_size"] == GALLERY_FACES
        code, faiss_doc = run_json("search", probe.path, *GROUNDS, data_dir=tmp_path)
        assert [c["image"]["path"] for c in remote["candidates"]] == [
            c["image"]["path"] for c in faiss_doc["candidates"]
        ]
        assert [c["distance"] for c in remote["candidates"]] == pytest.approx(
            [c["distance"] for c in faiss_doc["candidates"]], abs=1e-4
        )  # exact distances, re-ranked from the store


def test_a_collection_is_searched_alone(gallery) -> None:
    for probe in photos("probe"):
        doc = _search(gallery, probe.path, "--collection", "second")
        assert doc["gallery_size"] == sum(default_faces(p) for p in SECOND)
        assert all(c["image"]["collection"] == "second" for c in doc["candidates"])


def test_a_removed_face_never_comes_back(gallery) -> None:
    data_dir, vectors = gallery
    probe = photos("probe")[1]
    first = _search(gallery, probe.path)["candidates"][0]
    result = run_cli(
        "remove", "--face", str(first["face_id"]), "--vectors", vectors, data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr
    after = _search(gallery, probe.path)  # at once: Milvus answers at bounded consistency
    assert first["face_id"] not in [c["face_id"] for c in after["candidates"]]
    # A stale replica: the store lost a face that Milvus still holds. It is never shown.
    second = after["candidates"][0]["face_id"]
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM faces WHERE id = ?", (second,))
    again = _search(gallery, probe.path)
    assert second not in [c["face_id"] for c in again["candidates"]]
    code, stats = run_json("stats", "--vectors", vectors, data_dir=data_dir)
    assert code == 0 and stats["faces"] == GALLERY_FACES - 2
