"""The real detector, aligner and embedder on the fixture photos."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.vision import FaceAnalyzer, VisionConfig
from facesift.vision.detect import MmodDetector, _plan_scale
from facesift.vision.embed import DlibResnetEmbedder
from tests.conftest import photos


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_config(VisionConfig())


@pytest.mark.parametrize(
    "photo", photos("group") + photos("negative"), ids=lambda p: p.path.name
)
def test_group_and_negative_photos_yield_expected_face_counts(analyzer, photo) -> None:
    assert len(analyzer.analyze_bytes(photo.path.read_bytes()).faces) == photo.expected_faces


def test_faces_are_numbered_left_to_right_with_full_details(analyzer) -> None:
    group = next(p for p in photos("group") if p.expected_faces == 6)
    analysis = analyzer.analyze_bytes(group.path.read_bytes())
    lefts = [f.box.x1 for f in analysis.faces]
    assert lefts == sorted(lefts)
    for face in analysis.faces:
        assert 0 <= face.box.x1 < face.box.x2 <= analysis.width
        assert 0 <= face.box.y1 < face.box.y2 <= analysis.height
        assert len(face.landmarks) == 5
        assert all(face.box.x1 - 20 <= x <= face.box.x2 + 20 for x, _ in face.landmarks)
        assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
        assert 0.0 <= face.quality.score <= 1.0
        assert face.quality.size_px == min(face.box.width, face.box.height)
        assert face.model_id == VisionConfig().model_id


def test_same_person_is_closer_than_different_people(analyzer) -> None:
    def embedding(photo):
        return analyzer.analyze_bytes(photo.path.read_bytes()).faces[0].embedding

    gallery = photos("gallery")
    a1, a2, b1 = embedding(gallery[0]), embedding(gallery[1]), embedding(gallery[2])
    assert gallery[0].identity == gallery[1].identity != gallery[2].identity
    same, different = np.linalg.norm(a1 - a2), np.linalg.norm(a1 - b1)
    assert same < 0.7 * different


def test_upsampling_is_planned_from_the_smallest_face() -> None:
    assert _plan_scale(80) == (0, 1.0)  # dlib's window is 80 px: no rescaling
    assert _plan_scale(40) == (1, 1.0)  # one pyramid-up step finds 40 px faces
    assert _plan_scale(20) == (2, 1.0)
    assert _plan_scale(160) == (0, 0.5)  # big faces only: detect on a half-size image


def test_large_min_face_skips_small_faces_but_keeps_big_ones() -> None:
    rose = next(p for p in photos("group") if "rose" in p.path.name)
    coarse = FaceAnalyzer.from_config(VisionConfig(min_face_px=100))
    sizes = [f.quality.size_px for f in coarse.analyze_bytes(rose.path.read_bytes()).faces]
    assert sizes and all(size >= 70 for size in sizes)


def test_mmod_cnn_detector_finds_the_face_in_a_portrait() -> None:
    portrait = photos("probe")[0]
    analyzer = FaceAnalyzer(MmodDetector(min_face_px=80), DlibResnetEmbedder())
    faces = analyzer.analyze_bytes(portrait.path.read_bytes()).faces
    assert len(faces) == 1 and faces[0].box.width > 60
