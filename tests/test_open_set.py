"""Strangers must not get candidates: the search threshold follows a target false positive
identification rate (FPIR) and the size of the gallery searched.

The command-line tests run the real model on the fixture and on LFW photos; the protocol tests
check the open-set arithmetic on small made-up sets whose answers can be counted by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesift.services import open_set
from facesift.services.calibration import load_calibration
from facesift.vision import VisionConfig
from tests.conftest import GALLERY_FACES, LFW, photos
from tests.helpers import ingest_fixture_gallery, run_cli, run_json

GROUNDS = (
    "--case",
    "OPEN-1",
    "--purpose",
    "open-set test of the search threshold",
    "--offense-category",
    "robbery",
)
# The per-comparison threshold facesift used by default before it followed an FPIR.
OLD_DEFAULT = 0.3675
# LFW people who are in neither gallery below. Chosen once, by searching every 7th LFW person
# after the gallery's 180: the first four to whom the old threshold gave candidates.
STRANGERS = ["Ali_Khamenei", "Ana_Claudia_Talancon", "Andreas_Vinciguerra", "Andrew_Bernard"]

# -- the protocol, on made-up data --------------------------------------------------------------


def test_protocol_splits_people_as_the_issue_says() -> None:
    names = ["a", "a", "a", "b", "c", "c", "d"]
    protocol = open_set.build_protocol(names)
    assert protocol.gallery.tolist() == [0, 4]  # the first image of each person with 2+
    assert protocol.mated.tolist() == [1, 2, 5]
    assert protocol.mated_subject.tolist() == [0, 0, 1]
    assert protocol.non_mated.tolist() == [3, 6]  # people with one image
    two = open_set.build_protocol(names, gallery_per_subject=2)
    assert two.gallery.tolist() == [0, 1, 4] and two.gallery_subject.tolist() == [0, 0, 1]
    assert two.mated.tolist() == [2, 5]


def test_threshold_at_fpir_lets_through_at_most_that_share() -> None:
    best = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    for target, allowed in ((0.0, 0), (0.05, 0), (0.1, 1), (0.25, 2), (0.5, 5)):
        threshold = open_set.threshold_at_fpir(best, target)
        assert (best <= threshold).sum() == allowed


def test_fnir_counts_mates_beyond_the_threshold_or_the_rank() -> None:
    searches = open_set.Searches(
        mate_score=np.array([0.1, 0.2, 0.5, 0.1]),
        mate_rank=np.array([1, 3, 1, 12]),
        non_mated_best=np.array([0.3, 0.6]),
    )
    assert open_set.fnir(searches, 0.4, top=10) == pytest.approx(0.5)  # 0.5 too far, rank 12
    assert open_set.fnir(searches, 0.4, top=2) == pytest.approx(0.75)
    assert open_set.fpir(searches, 0.4) == pytest.approx(0.5)


def test_scores_rank_mates_and_strangers_on_made_up_faces() -> None:
    rng = np.random.default_rng(0)
    people = rng.normal(size=(40, 16)).astype(np.float32)
    names, vectors = [], []
    for person in range(40):
        shots = 3 if person < 20 else 1  # 20 people in the gallery, 20 strangers
        for _ in range(shots):
            names.append(f"p{person:02d}")
            vectors.append(people[person] + 0.05 * rng.normal(size=16))
    protocol = open_set.build_protocol(names)
    searches = open_set.score_searches(np.array(vectors, dtype=np.float32), protocol)
    assert (searches.mate_rank == 1).all()
    assert searches.mate_score.max() < searches.non_mated_best.min()  # well separated
    assert open_set.fnir_at_fpir(searches, 0.0, top=1) == 0.0
    for name, normalise in open_set.TECHNIQUES.items():
        normalised = open_set.score_searches(np.array(vectors, np.float32), protocol, normalise)
        assert (normalised.mate_rank == searches.mate_rank).all(), name  # order kept


def test_ratio_to_the_next_faces_divides_by_the_other_nearest() -> None:
    sorted_d = np.array([[1.0, 2.0, 3.0] + [4.0] * 30])
    ratio = open_set._nearest_cohort_ratio(sorted_d)
    k = open_set.COHORT_NEAREST
    others_of_first = (2.0 + 3.0 + 4.0 * (k - 2)) / k
    assert ratio[0, 0] == pytest.approx(1.0 / others_of_first)
    assert np.all(np.diff(ratio[0]) >= 0)


# -- the search threshold, through the command line ----------------------------------------------


def _lfw_photos(count: int) -> list[Path]:
    folders = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())
    return [sorted(folder.glob("*.jpg"))[0] for folder in folders[:count]]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("open-set")
    ingest_fixture_gallery(data_dir)
    return data_dir


def test_a_grown_gallery_gets_a_tighter_threshold(data_dir) -> None:
    probe = photos("probe")[0].path
    code, small = run_json("search", probe, *GROUNDS, data_dir=data_dir)
    assert code == 0 and small["gallery_size"] == GALLERY_FACES
    assert small["threshold_rule"] == "fpir" and small["target_fpir"] == 0.01
    code, summary = run_json(
        "ingest", *_lfw_photos(180), "--collection", "lfw", data_dir=data_dir, timeout=900
    )
    assert code == 0 and summary["faces"] >= 170
    code, grown = run_json("search", probe, *GROUNDS, data_dir=data_dir)
    assert grown["gallery_size"] == GALLERY_FACES + summary["faces"]
    assert grown["threshold"] < small["threshold"]
    # Each search admits at most the target share of strangers, whatever the gallery's size.
    for result in (small, grown):
        assert result["expected_false_candidates"] <= result["target_fpir"] * (1 + 1e-9)
    # The threshold follows the collections searched, not the whole gallery.
    code, one = run_json("search", probe, *GROUNDS, "--collection", "fixture", data_dir=data_dir)
    assert one["gallery_size"] == GALLERY_FACES and one["threshold"] == small["threshold"]


def test_a_person_not_in_the_gallery_gets_no_candidate(data_dir) -> None:
    # LFW people who are not in the gallery and who, under the old per-comparison threshold,
    # drew candidates from a gallery of the fixture and 180 LFW faces (see the previous test).
    # The gallery of the previous test; ingest skips what it already holds, so this test does
    # not depend on that one having run.
    code, _ = run_json("ingest", *_lfw_photos(180), "--collection", "lfw", data_dir=data_dir)
    assert code == 0
    strangers = [LFW / "images" / name for name in STRANGERS]
    outcomes_before, outcomes_now = [], []
    for folder in strangers:
        photo = sorted(folder.glob("*.jpg"))[0]
        code, old = run_json(
            "search", photo, *GROUNDS, "--threshold", str(OLD_DEFAULT), data_dir=data_dir
        )
        assert code == 0 and old["threshold_rule"] == "per_comparison"
        code, now = run_json("search", photo, *GROUNDS, data_dir=data_dir)
        assert code == 0
        outcomes_before.append(old["outcome"])
        outcomes_now.append(now["outcome"])
    assert outcomes_before.count("candidates") >= 1  # the old rule let strangers through
    assert outcomes_now == ["no_candidate"] * len(strangers)
    mated = run_json("search", photos("probe")[2].path, *GROUNDS, data_dir=data_dir)[1]
    assert mated["outcome"] == "candidates"  # a person who is in it is still found


def test_an_expert_threshold_beyond_the_ceiling_is_refused_and_audited(data_dir) -> None:
    probe = photos("probe")[0].path
    ceiling = load_calibration(VisionConfig().model_id).ceiling
    for args in (
        ("--threshold", "5"),
        ("--threshold", str(round(ceiling + 0.01, 4))),
        ("--threshold", "nan"),
        ("--fpir", "0.5"),
        ("--fpir", "0"),
        ("--fpir", "0.01", "--threshold", "0.3"),
    ):
        result = run_cli("search", probe, *GROUNDS, *args, "--top", "50", data_dir=data_dir)
        assert result.returncode == 4, args
        assert "search refused" in result.stderr
    assert (
        f"{ceiling:.4f}"
        in run_cli("search", probe, *GROUNDS, "--threshold", "5", data_dir=data_dir).stderr
    )
    code, within = run_json(
        "search", probe, *GROUNDS, "--threshold", str(ceiling), data_dir=data_dir
    )
    assert code == 0 and within["threshold"] == pytest.approx(ceiling, abs=1e-4)
    code, entries = run_json("audit", "show", "--action", "search_refused", data_dir=data_dir)
    assert sum("threshold must be between" in e["details"]["reason"] for e in entries) >= 3
