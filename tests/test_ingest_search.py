"""Ingest and search through the services, on the real model and the fixture photos, with
the vectors in FAISS files and in a real Milvus server (the ``backend`` parameter)."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesift.errors import SearchRefused
from facesift.services.calibration import load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.search import CANDIDATES, NO_CANDIDATE, NO_FACE, SearchRequest, search
from facesift.vision import FaceAnalyzer, VisionConfig
from tests.bad_files import write_bad_files
from tests.conftest import GALLERY_FACES, default_faces, photos
from tests.helpers import gallery_state

GROUNDS = {
    "case": "TEST-2026-001",
    "purpose": "integration test of candidate ranking",
    "offense_category": "robbery",
}


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_config(VisionConfig())


_names = itertools.count()


@pytest.fixture(scope="module", params=["faiss", "milvus"])
def backend(request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """Where the vectors go: a new Milvus collection for each gallery a test makes, read at
    Strong consistency here (Bounded has its own tests in test_milvus.py)."""
    if request.param == "faiss":
        return lambda: None
    url = request.getfixturevalue("milvus_url")
    return lambda: f"{url}/ingest_search_{os.getpid()}_{next(_names)}?consistency=Strong"


@pytest.fixture(scope="module")
def gallery_dir(tmp_path_factory, backend) -> tuple[Path, str | None]:
    data_dir, vectors = tmp_path_factory.mktemp("gallery"), backend()
    with Gallery.open(data_dir, vectors=vectors) as gallery:
        summary = ingest(gallery, [p.path for p in photos("gallery")], IngestOptions(workers=2))
    assert (summary.ingested, summary.faces, summary.failed) == (20, GALLERY_FACES, 0)
    return data_dir, vectors


@pytest.fixture
def gallery(gallery_dir: tuple[Path, str | None]):
    with Gallery.open(gallery_dir[0], vectors=gallery_dir[1]) as gallery:
        yield gallery


def run_search(gallery, analyzer, probe: bytes, **request) -> object:
    calibration = load_calibration(analyzer.model_id)
    return search(gallery, analyzer, calibration, probe, SearchRequest(**{**GROUNDS, **request}))


@pytest.mark.parametrize("probe", photos("probe"), ids=lambda p: p.identity)
def test_each_probe_ranks_its_own_person_first(gallery, analyzer, probe) -> None:
    result = run_search(gallery, analyzer, probe.path.read_bytes())
    assert result.outcome == CANDIDATES
    first = result.candidates[0]
    assert Path(first.image["path"]).parent.name == probe.identity
    assert first.distance <= result.operating.threshold
    assert first.image["collection"] == "default"
    assert 0 < first.score < 1e-3  # a strong candidate: different people are rarely this close


def test_exif_rotated_probe_still_finds_its_person(gallery, analyzer, tmp_path) -> None:
    probe = photos("probe")[0]
    upright = Image.open(probe.path)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels on their side...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and EXIF saying "rotate 90 degrees clockwise to view"
    rotated = tmp_path / "rotated.jpg"
    stored.save(rotated, exif=exif, quality=95)
    result = run_search(gallery, analyzer, rotated.read_bytes())
    assert result.outcome == CANDIDATES
    assert Path(result.candidates[0].image["path"]).parent.name == probe.identity


def test_no_candidate_withholds_the_nearest_faces(gallery, analyzer) -> None:
    probe = photos("probe")[0].path.read_bytes()
    result = run_search(gallery, analyzer, probe, threshold=0.05)
    assert result.outcome == NO_CANDIDATE
    assert result.candidates == []
    assert result.as_dict()["candidates"] == []


def test_probe_without_face_is_no_face(gallery, analyzer) -> None:
    dogs = photos("negative")[0].path.read_bytes()
    assert run_search(gallery, analyzer, dogs).outcome == NO_FACE


def test_face_number_picks_the_face_and_default_is_largest(gallery, analyzer) -> None:
    group = next(p for p in photos("group") if p.expected_faces == 6).path.read_bytes()
    chosen = run_search(gallery, analyzer, group, face_index=2)
    assert chosen.searched_face == 2
    default = run_search(gallery, analyzer, group)
    areas = [f.box.area for f in default.probe_faces]
    assert default.searched_face == int(np.argmax(areas))


def test_search_without_grounds_is_refused_and_audited(gallery, analyzer) -> None:
    calibration = load_calibration(analyzer.model_id)
    probe = photos("probe")[0].path.read_bytes()
    with pytest.raises(SearchRefused, match="--case"):
        search(gallery, analyzer, calibration, probe, SearchRequest(None, "a purpose"))
    last = gallery.store.audit.entries()[-1]
    assert last.action == "search_refused" and last.details["purpose"] == "a purpose"


def test_every_search_is_audited_with_its_parameters_and_results(gallery, analyzer) -> None:
    probe = photos("probe")[1]
    result = run_search(gallery, analyzer, probe.path.read_bytes(), top_k=3)
    entry = gallery.store.audit.entries()[-1]
    assert entry.id == result.audit_id and entry.action == "search"
    assert entry.details["case"] == GROUNDS["case"]
    assert entry.details["purpose"] == GROUNDS["purpose"]
    assert entry.details["probe_sha256"] == result.probe_sha256
    assert entry.details["parameters"]["top_k"] == 3
    assert entry.details["candidate_face_ids"] == [c.face_id for c in result.candidates]
    assert entry.actor  # the OS user
    assert gallery.store.audit.verify().ok


def test_collection_filter_limits_candidates(tmp_path, analyzer, backend) -> None:
    people = photos("gallery")
    with Gallery.open(tmp_path, vectors=backend()) as gallery:
        ingest(gallery, [people[0].path], IngestOptions(collection="a", workers=1))
        ingest(gallery, [people[1].path], IngestOptions(collection="b", workers=1))
        probe = next(p for p in photos("probe") if p.identity == people[0].identity)
        in_b = run_search(gallery, analyzer, probe.path.read_bytes(), collection="b")
        assert {c.image["collection"] for c in in_b.candidates} == {"b"}
        in_a = run_search(gallery, analyzer, probe.path.read_bytes(), collection="a")
        assert in_a.outcome == CANDIDATES and in_a.candidates[0].image["collection"] == "a"


def test_bad_files_fail_with_their_reasons_and_the_rest_is_ingested(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    good = photos("gallery")[:3]
    for photo in good:
        shutil.copy(photo.path, folder / photo.path.name)
    expected = write_bad_files(folder / "bad", good[0].path)
    (folder / "README.txt").write_text("not a photo and not named like one: ignored")
    with Gallery.open(tmp_path / "data") as gallery:
        summary = ingest(gallery, [folder], IngestOptions(workers=2))
        assert summary.ingested == 3
        assert summary.faces == sum(default_faces(p) for p in good)
        assert {Path(f["path"]).name: f["code"] for f in summary.failures} == expected
        stored = {Path(r["path"]).name: r["code"] for r in gallery.store.failures()}
        assert stored == expected


def test_manifest_provenance_and_a_bad_manifest(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    gallery_photos = photos("gallery")[:2]
    for photo in gallery_photos:
        shutil.copy(photo.path, folder / photo.path.name)
    manifest = folder / "manifest.csv"
    manifest.write_text(
        "path,source_url,page_url,caption,captured_at,legal_basis\n"
        f"{gallery_photos[0].path.name},https://example.org/a.jpg,https://example.org/a,"
        "A caption,2003-05-01,court order 17\n"
        f"{gallery_photos[1].path.name},https://example.org/b.jpg\n"  # a row missing columns
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("path,source_url\nx.jpg,https://example.org/x.jpg\n")
    with Gallery.open(tmp_path / "data") as gallery:
        summary = ingest(gallery, [], IngestOptions(manifest=manifest, workers=1))
        assert summary.ingested == 1
        assert [f["code"] for f in summary.failures] == ["bad_manifest_row"]
        row = gallery.store.db.execute("SELECT * FROM images").fetchone()
        assert (row["source_url"], row["legal_basis"], row["captured_at"]) == (
            "https://example.org/a.jpg",
            "court order 17",
            "2003-05-01",
        )
        summary = ingest(gallery, [folder], IngestOptions(manifest=bad, workers=1))
        assert summary.failures[0]["code"] == "bad_manifest"
        assert "legal_basis" in summary.failures[0]["message"]
        assert summary.ingested == 1 and summary.skipped == 1  # the folder still went in


def test_second_ingest_changes_nothing(gallery_dir) -> None:
    data_dir, vectors = gallery_dir
    with Gallery.open(data_dir, vectors=vectors) as gallery:
        before = gallery_state(data_dir), sorted(gallery.index.ids().tolist())
        summary = ingest(gallery, [p.path for p in photos("gallery")], IngestOptions(workers=2))
        after = gallery_state(data_dir), sorted(gallery.index.ids().tolist())
    assert (summary.ingested, summary.skipped, summary.failed) == (0, 20, 0)
    assert after == before


def test_a_ctrl_c_after_a_batch_is_stored_writes_it_once(tmp_path) -> None:
    # A Ctrl-C that lands after a batch's commit, while its faces are being indexed: the run
    # stops, writes what is still pending, and must not store the batch twice (a CI run
    # once died here on the images' UNIQUE sha256). The interrupt is injected at that point.
    paths = [p.path for p in photos("gallery")[:6]]
    with Gallery.open(tmp_path) as gallery:
        index_add = gallery.index.add

        def interrupted(*args) -> None:
            gallery.index.add = index_add  # type: ignore[method-assign]  # once
            raise KeyboardInterrupt

        gallery.index.add = interrupted  # type: ignore[method-assign]
        summary = ingest(gallery, paths, IngestOptions(workers=1, write_batch=2))
    assert summary.interrupted and summary.failed == 0
    with Gallery.open(tmp_path):  # indexes the faces the interrupt left out
        pass
    state = gallery_state(tmp_path)
    stored = len(state["images"])
    assert stored > 0 and state["face_ids"] == state["indexed"]
    # The cut-off batch was stored once, and counted as already held when written again.
    assert (summary.ingested, summary.skipped) == (0, stored)
    with Gallery.open(tmp_path) as gallery:
        resumed = ingest(gallery, paths, IngestOptions(workers=1))
    assert (resumed.ingested, resumed.skipped, resumed.failed) == (6 - stored, stored, 0)
    state = gallery_state(tmp_path)
    assert len(state["images"]) == 6 and state["face_ids"] == state["indexed"]


def test_two_ingests_of_the_same_photos_at_once_store_each_photo_once(
    tmp_path, database_url
) -> None:
    # Both runs read and hash every photo before either writes one, so each photo is new
    # to both at read time; the second to write must leave it out, not fail the batch.
    paths = [p.path for p in photos("gallery")[:8]]
    Gallery.open(tmp_path, database_url).close()  # the schema, made once
    summaries: list = []

    def run() -> None:
        with Gallery.open(tmp_path, database_url) as gallery:
            summaries.append(ingest(gallery, paths, IngestOptions(workers=1, write_batch=1)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(summaries) == 2, "an ingest failed: see the thread's exception above"
    assert sum(s.ingested for s in summaries) == len(paths)
    assert all(s.ingested + s.skipped == len(paths) and s.failed == 0 for s in summaries)
    # Each run saved an index of its own faces; the next open makes it the stored faces.
    Gallery.open(tmp_path, database_url).close()
    state = gallery_state(tmp_path, database_url)
    assert len(state["images"]) == len(paths) and state["face_ids"] == state["indexed"]


def test_remove_image_and_face_take_record_and_vector(tmp_path, analyzer, backend) -> None:
    people = photos("gallery")[:4]
    with Gallery.open(tmp_path, vectors=backend()) as gallery:
        ingest(gallery, [p.path for p in people], IngestOptions(workers=1))
        removed = gallery.remove_image(str(people[0].path.resolve()))
        assert len(removed) == default_faces(people[0])
        assert not set(removed) & set(gallery.index.ids())
        face_id = int(gallery.store.face_ids()[0])
        gallery.remove_face(face_id)
        assert face_id not in gallery.index.ids()
        assert sorted(gallery.index.ids()) == sorted(gallery.store.face_ids())
        actions = [e.action for e in gallery.store.audit.entries()]
        assert actions[-2:] == ["remove_image", "remove_face"]
        indexed = sorted(gallery.index.ids().tolist())
    state = gallery_state(tmp_path)
    faces = sum(default_faces(p) for p in people[1:]) - 1
    assert state["face_ids"] == indexed and len(state["face_ids"]) == faces
