"""The shipped score calibration: what a distance means in false candidates."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.services.calibration import Calibration, load_calibration
from facesift.vision import VisionConfig


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return load_calibration(VisionConfig().model_id)


def test_built_from_lfw_scale_pair_counts(calibration) -> None:
    assert calibration.impostor_pairs > 80_000_000  # every different-person pair of LFW
    assert calibration.genuine_pairs > 200_000
    assert "LFW" in calibration.source


def test_false_match_rate_grows_with_distance(calibration) -> None:
    distances = np.linspace(0.0, 1.5, 200)
    rates = [calibration.false_match_rate(d) for d in distances]
    assert all(np.diff(rates) >= 0)
    assert rates[0] == pytest.approx(1 / calibration.impostor_pairs)  # a bound, never zero
    assert rates[-1] > 0.99
    assert calibration.true_match_rate(calibration.default_threshold) > 0.9


def test_default_threshold_meets_its_target(calibration) -> None:
    threshold = calibration.default_threshold
    target = calibration.target_false_match_rate
    assert calibration.false_match_rate(threshold) <= target
    assert calibration.false_match_rate(threshold + 0.01) > target
    assert calibration.true_match_rate(threshold) < calibration.true_match_rate(threshold + 0.05)


def test_expected_false_candidates_scale_with_gallery(calibration) -> None:
    rate = calibration.false_match_rate(0.5)
    assert calibration.expected_false_candidates(0.5, 1_000_000) == pytest.approx(rate * 1e6)


def test_round_trip_through_json(calibration) -> None:
    again = Calibration.from_json(calibration.to_json())
    assert again.default_threshold == pytest.approx(calibration.default_threshold)
    assert again.false_match_rate(0.45) == calibration.false_match_rate(0.45)
