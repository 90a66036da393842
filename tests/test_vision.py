"""The real detector, aligner and embedder on the fixture photos."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from facesift.vision import FaceAnalyzer, VisionConfig
from facesift.vision.align import CHIP_VARIANTS
from facesift.vision.decode import decode_image
from facesift.vision.detect import HogDetector, MmodDetector, ScalePlan, plan_scale
from facesift.vision.embed import DlibResnetEmbedder
from tests.conftest import photos


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_config(VisionConfig())


@pytest.mark.parametrize("photo", photos("group") + photos("negative"), ids=lambda p: p.path.name)
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
    assert plan_scale(80, 250, 250) == ScalePlan()  # dlib's window is 80 px: no rescaling
    assert plan_scale(40, 250, 250) == ScalePlan(upsample=1)  # dlib's own doubling, as ever
    assert plan_scale(20, 250, 250) == ScalePlan(upsample=2)
    assert plan_scale(160, 4000, 3000) == ScalePlan(factor=0.5)  # big faces: half-size scan
    # Between powers of two: the next doubling, or on request exactly as much as needed.
    assert plan_scale(50, 250, 250) == ScalePlan(upsample=1)
    assert plan_scale(30, 250, 250) == ScalePlan(upsample=2)
    assert plan_scale(50, 250, 250, exact=True) == ScalePlan(factor=1.6)
    assert plan_scale(60, 250, 250, exact=True).scale == pytest.approx(4 / 3)
    assert plan_scale(30, 250, 250, exact=True).scale == pytest.approx(8 / 3)
    assert plan_scale(40, 250, 250, exact=True) == ScalePlan(upsample=1)
    # No face of 40 px fits in a 39 px high image: nothing to scan.
    assert plan_scale(40, 500, 39).skip and not plan_scale(40, 500, 40).skip


def test_default_detector_finds_exactly_what_dlib_finds_with_one_upsampling() -> None:
    """The default plan (40 px) is dlib's HOG with one pyramid-up step, box for box: the
    scale plan must not lose, move or add a face at the default."""
    import dlib

    reference = dlib.get_frontal_face_detector()
    detector = HogDetector()
    for photo in photos("group") + photos("probe"):
        image = decode_image(photo.path.read_bytes())
        rects, scores, _ = reference.run(image, 1, 0.0)
        expected = [
            ((r.left(), r.top(), r.right() + 1, r.bottom() + 1), s)
            for r, s in zip(rects, scores, strict=True)
        ]
        found = [
            ((d.box.x1, d.box.y1, d.box.x2, d.box.y2), d.score) for d in detector.detect(image)
        ]
        assert found == expected, photo.path.name


@pytest.mark.parametrize("min_face", [50, 60])
def test_scan_between_powers_of_two_keeps_the_group_faces(min_face) -> None:
    """Scanned at 1.6x or 1.33x instead of 2x, every group-photo face of at least
    ``min_face`` px that the default finds is found again, in the same place."""
    coarse, fine = HogDetector(min_face, exact_scale=True), HogDetector()
    for photo in photos("group"):
        image = decode_image(photo.path.read_bytes())
        wanted = [d.box for d in fine.detect(image) if min(d.box.width, d.box.height) >= min_face]
        found = [d.box for d in coarse.detect(image)]
        assert len(found) == photo.expected_faces, photo.path.name
        for box in wanted:
            assert any(_iou(box, other) >= 0.5 for other in found), (photo.path.name, box)


def test_image_smaller_than_the_smallest_face_is_not_scanned() -> None:
    portrait = decode_image(photos("probe")[0].path.read_bytes())
    assert HogDetector(min_face_px=40).detect(portrait[:39]) == []
    assert len(HogDetector(min_face_px=40).detect(portrait)) == 1


def _iou(a, b) -> float:
    w = max(0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_big_photos_are_scanned_at_a_capped_size() -> None:
    """At most 16 MP are scanned: a 4 MP photo is doubled for 40 px faces as any other, a
    12 MP one is scanned at 1.15x and searched for faces of 70 px and up."""
    assert plan_scale(40, 2000, 2000) == ScalePlan(upsample=1)  # 16 MP scanned: the cap
    capped = plan_scale(40, 4000, 3000)
    assert capped.factor == pytest.approx((16 / 12) ** 0.5) and capped.upsample == 0
    assert capped.smallest_face_px == 70
    assert plan_scale(40, 4000, 3000, max_pixels=None) == ScalePlan(upsample=1)
    assert plan_scale(160, 8000, 6000).smallest_face_px == 160  # 12 MP: under the cap
    assert plan_scale(40, 250, 250).smallest_face_px == 40


def test_a_photo_over_the_cap_keeps_its_faces_and_says_what_was_looked_for() -> None:
    """HOG on the 6-face group photo at 6 MP: scanned at 16 MP instead of 24, every face
    found, and the analysis says faces under 49 px were not looked for."""
    analyzer = FaceAnalyzer.from_config(VisionConfig(detector="hog"))
    group = next(p for p in photos("group") if p.expected_faces == 6)
    image = decode_image(group.path.read_bytes())
    scale = (6_000_000 / (image.shape[0] * image.shape[1])) ** 0.5
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    big = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    analysis = analyzer.analyze(big)
    assert len(analysis.faces) == 6
    expected = math.ceil(80 / (16_000_000 / (size[0] * size[1])) ** 0.5)
    assert analysis.smallest_face_px == expected == 49
    assert analyzer.analyze(image).smallest_face_px == 40


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


def test_cuda_is_preferred_when_onnxruntime_has_it(monkeypatch) -> None:
    from facesift.vision import resnet_onnx

    def offer(*names: str) -> None:
        monkeypatch.setattr(resnet_onnx.ort, "get_available_providers", lambda: list(names))

    offer("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert resnet_onnx.default_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    offer("CPUExecutionProvider")
    assert resnet_onnx.default_providers() == ["CPUExecutionProvider"]


def test_asking_for_cuda_without_a_gpu_falls_back_to_the_cpu(analyzer) -> None:
    """A CUDA-first provider list on a machine or build without CUDA still embeds, on the
    CPU, with the same vectors."""
    import contextlib

    import onnxruntime as ort

    from facesift.vision import model_files
    from facesift.vision.resnet_onnx import OnnxResnetEmbedder

    cpu = OnnxResnetEmbedder.from_cache(model_files.cache_dir(), threads=1)  # float32
    # Without CUDA, onnxruntime says so (a warning) and carries on with the CPU.
    no_cuda = "CUDAExecutionProvider" not in ort.get_available_providers()
    said = pytest.warns(UserWarning, match="CUDA") if no_cuda else contextlib.nullcontext()
    with said:
        cuda_first = OnnxResnetEmbedder.from_cache(
            model_files.cache_dir(),
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        )
    assert "CPUExecutionProvider" in cuda_first.providers
    portrait = decode_image(photos("probe")[0].path.read_bytes())
    face = analyzer.analyze(portrait).faces[0]
    shape = analyzer.aligner.landmarks(portrait, face.box)
    chip = analyzer.aligner.chips(portrait, shape, CHIP_VARIANTS["none"])
    np.testing.assert_allclose(cuda_first.embed(chip), cpu.embed(chip), atol=1e-5)
