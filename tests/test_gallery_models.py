"""A gallery records which models made its vectors and refuses to mix embedders."""

from __future__ import annotations

import re

import pytest

from facesift.errors import Conflict
from facesift.services.calibration import load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.search import SearchRequest, search
from facesift.vision import FaceAnalyzer, VisionConfig
from tests.conftest import photos

GROUNDS = SearchRequest(
    case="TEST-2026-015",
    purpose="test that embedders are not mixed",
    offense_category="robbery",
)


def _options(**vision) -> IngestOptions:
    return IngestOptions(workers=1, vision=VisionConfig(threads=1, **vision))


def test_models_are_recorded_and_another_embedder_is_refused(tmp_path) -> None:
    gallery_photos = [p.path for p in photos("gallery")]
    with Gallery.open(tmp_path) as gallery:
        assert gallery.models() is None  # empty: any embedder may start it
        summary = ingest(gallery, gallery_photos[:2], _options(detector="hog"))
        assert summary.faces == 2
        default_embedder = VisionConfig().model_id
        assert gallery.models() == {
            "embedder": default_embedder,
            "detectors": ["dlib_hog"],
            "dim": 128,
        }

        # Another detector with the same embedder: comparable vectors, recorded beside.
        ingest(gallery, gallery_photos[2:4], _options(detector="centerface"))
        assert gallery.models() == {
            "embedder": default_embedder,
            "detectors": ["centerface", "dlib_hog"],
            "dim": 128,
        }

        # One chip a face is another embedder id: refused before any work, nothing stored.
        with pytest.raises(Conflict, match="cannot be compared"):
            ingest(gallery, gallery_photos[4:6], _options(chip_variants="none"))
        assert gallery.size() == 4

        # A probe embedded by that other model is refused too.
        other = FaceAnalyzer.from_config(VisionConfig(chip_variants="none", embedder="onnx"))
        probe = photos("probe")[0].path.read_bytes()
        calibration = load_calibration(other.model_id)
        with pytest.raises(Conflict, match=re.escape(default_embedder)):
            search(gallery, other, calibration, probe, GROUNDS)

    with Gallery.open(tmp_path) as gallery:  # the record is in the database
        assert gallery.models()["detectors"] == ["centerface", "dlib_hog"]


def test_a_gallery_from_before_the_record_is_judged_by_its_faces(tmp_path) -> None:
    with Gallery.open(tmp_path) as gallery:
        ingest(gallery, [photos("gallery")[0].path], _options())
        gallery.store.db.execute("DELETE FROM settings WHERE key = 'gallery_models'")
        assert gallery.models() == {"embedder": VisionConfig().model_id, "detectors": []}
        with pytest.raises(Conflict):
            gallery.require_embedder("dlib_resnet_v1")
        gallery.require_embedder(VisionConfig().model_id)
