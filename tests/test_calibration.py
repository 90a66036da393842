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
    assert 0 < rates[0] < 1 / calibration.impostor_pairs  # extrapolated below LFW, never zero
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


def test_the_tail_is_extrapolated_below_ten_pairs_and_meets_the_measured_rate(calibration) -> None:
    anchor, rate, slope = calibration._tail
    assert rate * calibration.impostor_pairs >= 10
    assert 5 < slope < 50  # log10 rate per unit distance, from the measured tail
    assert calibration.false_match_rate(anchor) == pytest.approx(rate)
    # Continuous at the anchor, and a tenth of the rate 1/slope below it.
    assert calibration.false_match_rate(anchor - 1e-9) == pytest.approx(rate, rel=1e-6)
    assert calibration.false_match_rate(anchor - 1 / slope) == pytest.approx(rate / 10)


@pytest.mark.parametrize("fpir", [0.001, 0.01, 0.05])
def test_fpir_threshold_tightens_as_the_gallery_grows(calibration, fpir) -> None:
    sizes = [1, 20, 726, 10_000, 100_000, 1_000_000, 10_000_000]
    thresholds = [calibration.threshold_for_fpir(fpir, n) for n in sizes]
    assert all(np.diff(thresholds) <= 0) and thresholds[0] > thresholds[-1]
    for size, threshold in zip(sizes, thresholds, strict=True):
        # The union bound: strangers expected to get a candidate, at most the target FPIR...
        assert calibration.expected_false_candidates(threshold, size) <= fpir * (1 + 1e-9)
        # ...and the threshold is the loosest that keeps it (one grid step looser breaks it),
        # except where it is extrapolated, which has no grid.
        if calibration.false_match_rate(threshold) >= calibration._tail[1]:
            assert calibration.expected_false_candidates(threshold + 0.0025, size) > fpir


def test_a_target_out_of_reach_leaves_only_identical_faces(calibration) -> None:
    # At 100 million faces an FPIR of 0.1% asks for less than the model can promise at any
    # distance but zero: the threshold stops there rather than going negative.
    assert calibration.threshold_for_fpir(0.001, 100_000_000) == 0.0


def test_a_stranger_needs_a_tighter_threshold_than_a_single_comparison(calibration) -> None:
    # At 726 faces and an FPIR of 1%, each comparison may admit about 1 in 72,600.
    assert calibration.threshold_for_fpir(0.01, 726) < calibration.default_threshold
    assert calibration.false_match_rate(calibration.threshold_for_fpir(0.01, 726)) <= 0.01 / 726


def test_ceiling_admits_one_in_a_hundred(calibration) -> None:
    assert calibration.false_match_rate(calibration.ceiling) <= 0.01
    assert calibration.false_match_rate(calibration.ceiling + 0.0025) > 0.01
    assert calibration.ceiling > calibration.default_threshold
