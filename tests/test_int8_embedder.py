"""dlib's ResNet in 8-bit integers (vision/resnet_int8.py): made from the shipped ranges
with no photo, the same file every time, its own model, and faces still told apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from pydantic import ValidationError

from facesift.config import VisionSettings
from facesift.errors import Conflict
from facesift.services.calibration import calibration_for
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.vision import FaceAnalyzer, VisionConfig, model_files
from facesift.vision.decode import decode_image
from facesift.vision.resnet_int8 import (
    INT8_CACHE_FILE,
    MODEL_ID,
    OnnxResnetInt8Embedder,
    quantize,
    shipped_ranges,
)
from facesift.vision.resnet_onnx import CACHE_FILE, OnnxResnetEmbedder
from tests.conftest import photos
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A model cache of its own, holding the float model already converted."""
    folder = tmp_path_factory.mktemp("model-cache")
    OnnxResnetEmbedder.from_cache(model_files.cache_dir(), threads=1)
    shutil.copyfile(model_files.cache_dir() / CACHE_FILE, folder / CACHE_FILE)
    return folder


def test_the_model_is_made_once_from_the_shipped_ranges_and_the_same_every_time(cache) -> None:
    embedder = OnnxResnetInt8Embedder.from_cache(cache, threads=1)
    path = cache / INT8_CACHE_FILE
    first = path.read_bytes()
    assert embedder.model_id == MODEL_ID
    assert embedder.metadata["ranges_sha256"] == shipped_ranges()[1]
    assert len(first) < (cache / CACHE_FILE).stat().st_size / 3  # int8 weights, not float
    made_at = path.stat().st_mtime_ns
    OnnxResnetInt8Embedder.from_cache(cache, threads=1)
    assert path.stat().st_mtime_ns == made_at  # kept, not made again

    # Made from other ranges (an older facesift): made again, to the same bytes as before.
    stale = onnx.load(str(path))
    helper.set_model_props(stale, {"model_id": MODEL_ID, "ranges_sha256": "older"})
    onnx.save(stale, str(path))
    OnnxResnetInt8Embedder.from_cache(cache, threads=1)
    assert path.read_bytes() == first


def test_int8_vectors_tell_the_same_people_apart(cache) -> None:
    """Each face's int8 vector lies near its float one (same-person distances are ~0.3-0.4,
    so 0.08 is small), and every probe's nearest gallery face is the same person in both."""
    gallery, probes = photos("gallery"), photos("probe")
    analyzers = {
        name: FaceAnalyzer(
            FaceAnalyzer.from_config(VisionConfig(threads=1)).detector,
            embedder,
            chip_variants="none",
        )
        for name, embedder in (
            ("float", OnnxResnetEmbedder.from_cache(cache, threads=1)),
            ("int8", OnnxResnetInt8Embedder.from_cache(cache, threads=1)),
        )
    }

    def vectors(name: str, chosen) -> np.ndarray:
        analyzer = analyzers[name]
        return np.stack(
            [analyzer.analyze_bytes(p.path.read_bytes()).faces[0].embedding for p in chosen]
        )

    drift = np.linalg.norm(vectors("int8", gallery) - vectors("float", gallery), axis=1)
    assert drift.max() < 0.08, drift
    people = np.array([p.identity for p in gallery])
    for name in analyzers:
        gallery_vectors, probe_vectors = vectors(name, gallery), vectors(name, probes)
        nearest = np.linalg.norm(probe_vectors[:, None] - gallery_vectors[None], axis=2).argmin(
            axis=1
        )
        assert list(people[nearest]) == [p.identity for p in probes], name


def test_the_int8_kernels_compute_what_the_quantized_graph_says_on_any_processor(cache) -> None:
    """onnxruntime's fused 8-bit kernels against the same graph run as float operations
    (dequantize, convolve, quantize again), which cannot saturate. On x86 without AVX-512 VNNI
    the fast kernels saturate at 16 bits and moved these vectors 0.07-0.27 (vision/onnx_session.py);
    the exact ones agree but for a rare rounding step (one chip in eight at 0.035 here)."""
    analyzer = FaceAnalyzer.from_config(VisionConfig(threads=1))
    chips = []
    for photo in photos("gallery")[:8]:
        image = decode_image(photo.path.read_bytes())
        face = analyzer.detect(image)[0]
        chips.append(analyzer.aligner.chip(image, analyzer.aligner.landmarks(image, face.box)))
    batch = np.stack(chips)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")  # no fused kernels
    as_floats = ort.InferenceSession(
        str(cache / INT8_CACHE_FILE), options, providers=["CPUExecutionProvider"]
    )
    (meant,) = as_floats.run(["embeddings"], {"chips": batch})
    ours = OnnxResnetInt8Embedder.from_cache(cache, threads=1).embed(batch)
    drift = np.linalg.norm(ours - meant, axis=1)
    assert np.median(drift) < 0.01 and drift.max() < 0.08, drift


def test_int8_is_another_model_that_a_gallery_never_mixes(tmp_path, cache, monkeypatch) -> None:
    monkeypatch.setenv("FACESIFT_CACHE", str(cache))
    floats, ints = VisionConfig(threads=1, embedder="onnx", chip_variants="jitter"), VisionConfig()
    assert ints.model_id == f"{MODEL_ID}+four" != floats.model_id == "dlib_resnet_v1+jitter"
    assert calibration_for(ints).model_id == ints.model_id  # its own shipped calibration
    with Gallery.open(tmp_path) as gallery:
        ingest(
            gallery,
            [p.path for p in photos("gallery")[:2]],
            IngestOptions(workers=1, vision=floats),
        )
        faces = gallery.size()
        with pytest.raises(Conflict, match="cannot be compared"):
            ingest(gallery, [photos("gallery")[2].path], IngestOptions(workers=1, vision=ints))
        assert gallery.size() == faces


def test_a_model_without_a_shipped_range_is_refused(tmp_path) -> None:
    """A tensor with no shipped range would be quantized to what zeros look like."""
    node = helper.make_node("Relu", ["x"], ["unknown_tensor"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("unknown_tensor", TensorProto.FLOAT, [1, 4])],
    )
    model = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(model))
    with pytest.raises(RuntimeError, match="no shipped int8 range"):
        quantize(model, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_an_unknown_embedder_setting_is_named() -> None:
    with pytest.raises(ValidationError, match="the embedder is one of auto, onnx, onnx-int8, dlib"):
        VisionSettings(embedder="int4")
    assert VisionSettings(embedder="onnx-int8").for_ingest().embedder == "onnx-int8"
    assert VisionSettings(embedder="onnx-int8").for_probes().embedder == "onnx-int8"


def test_settings_left_at_auto_follow_the_gallery(tmp_path) -> None:
    """A gallery made before int8 was the default keeps its model: ingest and search with
    the default settings use it. A new gallery gets the default; a setting that names
    another model than the gallery's is refused, not mixed."""
    old = tmp_path / "old"
    with Gallery.open(old) as gallery:
        float_jitter = VisionConfig(threads=1, embedder="onnx", chip_variants="jitter")
        ingest(gallery, [photos("gallery")[0].path], IngestOptions(workers=1, vision=float_jitter))
        faces = gallery.size()
    added = run_cli("ingest", photos("gallery")[1].path, data_dir=old)
    assert added.returncode == 0, added.stderr
    probe = photos("probe")[0].path
    grounds = ["--case", "AUTO-1", "--purpose", "check the model follows the gallery"]
    found = run_cli("search", probe, *grounds, "--offense-category", "robbery", data_dir=old)
    assert found.returncode == 0, found.stderr
    with Gallery.open(old) as gallery:
        assert gallery.recorded_model() == "dlib_resnet_v1+jitter" and gallery.size() > faces

    new = tmp_path / "new"
    assert run_cli("ingest", photos("gallery")[0].path, data_dir=new).returncode == 0
    with Gallery.open(new) as gallery:
        assert gallery.recorded_model() == f"{MODEL_ID}+four"
    assert VisionSettings().for_probes(f"{MODEL_ID}+flip").model_id == f"{MODEL_ID}+flip"
    # A gallery made while six chips were the default keeps them.
    assert VisionSettings().for_ingest(recorded=f"{MODEL_ID}+jitter").model_id == (
        f"{MODEL_ID}+jitter"
    )
    assert VisionSettings(chips="jitter").for_ingest(recorded=f"{MODEL_ID}+flip").model_id == (
        f"{MODEL_ID}+jitter"
    )
