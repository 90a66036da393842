"""Accuracy on LFW: the protocol arithmetic, and a real view1 run of the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.services import lfw
from facesift.services.calibration import load_calibration
from tests.conftest import LFW
from tests.helpers import run_cli, run_json


def test_read_pairs_view2_has_ten_balanced_folds() -> None:
    pairs = lfw.read_pairs(LFW / "pairs.txt")
    assert len(pairs) == 6000
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert len(in_fold) == 600 and sum(p.same for p in in_fold) == 300
    assert all((LFW / p.first).exists() and (LFW / p.second).exists() for p in pairs[:50])


def test_best_threshold_separates_what_can_be_separated() -> None:
    distances = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([True, True, True, False, False, False])
    t = lfw.best_threshold(distances, same)
    assert 0.3 < t < 0.7
    assert lfw.accuracy(distances, same, t) == 1.0


def test_tar_at_far_never_accepts_more_impostors_than_allowed() -> None:
    rng = np.random.default_rng(0)
    distances = np.concatenate([rng.normal(0.35, 0.08, 3000), rng.normal(0.8, 0.08, 3000)])
    same = np.arange(6000) < 3000
    tar, threshold = lfw.rates_at_far(distances, same, 1e-3)
    assert np.sum(distances[~same] <= threshold) <= 3
    assert 0.9 < tar <= 1.0


@pytest.mark.slow
def test_view1_accuracy_of_the_shipped_model(tmp_path) -> None:
    code, report = run_json(
        "eval", "lfw", LFW, "--protocol", "view1", data_dir=tmp_path, timeout=1800
    )
    assert code == 0
    verification = report["verification"]
    assert verification["pairs"] == 1000
    assert verification["accuracy"] >= 0.985
    assert verification["strict_accuracy"] <= verification["accuracy"]
    # The verification threshold is looser than the search threshold, which keeps false
    # candidates to 1 in 1,000 different-person pairs.
    default = load_calibration(report["model_id"]).default_threshold
    assert default < verification["threshold"] < 1.5 * default
    assert verification["images"] > 1000
    assert verification["images_without_detected_face"] < 0.01 * verification["images"]
    assert verification["images_using_central_box"] <= verification["images_without_detected_face"]
    # A second run reuses the cached embeddings and gives the same figure.
    code, again = run_json("eval", "lfw", LFW, "--protocol", "view1", data_dir=tmp_path)
    assert again["verification"]["accuracy"] == verification["accuracy"]


def test_an_unknown_chip_setting_is_refused_before_any_work(tmp_path) -> None:
    result = run_cli("eval", "lfw", LFW, "--chip-variants", "many", data_dir=tmp_path)
    assert result.returncode == 2 and "none, flip, four, jitter" in result.stderr
    assert not (tmp_path / "cache").exists()
