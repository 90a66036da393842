"""Scores people can read (issue 13, section 3): each candidate gets a band in words (strong,
moderate, weak) and a bar, set from the shipped calibration, with the exact figures one click
away; no scientific notation in the headline; distinct distances never print alike; a
candidate near the threshold is weak; and no page calls a candidate a "match"."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from facesift.config import VisionConfig
from facesift.services.calibration import Calibration, load_calibration
from facesift.web.scores import exact_distance, plain, score_band
from tests.server_world import PROBE, World

GALLERY = 13_000
FPIR = 0.01


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return load_calibration(VisionConfig().model_id)


def _views(calibration: Calibration, distance: float) -> tuple[dict, dict]:
    """A search view and one candidate at ``distance``, as the search service makes them."""
    threshold = calibration.threshold_for_fpir(FPIR, GALLERY)
    search = {
        "threshold": threshold,
        "gallery_size": GALLERY,
        "expected_false_candidates": calibration.expected_false_candidates(threshold, GALLERY),
    }
    candidate = {
        "rank": 1,
        "distance": distance,
        "score": calibration.false_match_rate(distance),
        "expected_false_candidates": calibration.expected_false_candidates(distance, GALLERY),
    }
    return search, candidate


def test_a_candidate_near_the_threshold_is_weak(calibration: Calibration) -> None:
    threshold = calibration.threshold_for_fpir(FPIR, GALLERY)
    for inside in (0.0, 0.005, 0.01):
        search, candidate = _views(calibration, threshold - inside)
        band = score_band(candidate, search)
        assert band.band == "weak", (inside, band)
        assert "Near the threshold" in band.headline


def test_closer_candidates_are_moderate_then_strong(calibration: Calibration) -> None:
    bands = []
    for distance in [round(0.05 * i, 2) for i in range(1, 30)]:
        search, candidate = _views(calibration, distance)
        if distance <= search["threshold"]:
            bands.append(score_band(candidate, search))
    names = [b.band for b in bands]
    assert names[0] == "strong" and names[-1] == "weak" and "moderate" in names
    # Nearest first: the bands and the bar only ever weaken as the distance grows.
    order = {"strong": 0, "moderate": 1, "weak": 2}
    assert [order[n] for n in names] == sorted(order[n] for n in names)
    strengths = [b.strength for b in bands]
    assert (
        strengths == sorted(strengths, reverse=True) and 0 <= min(strengths) <= max(strengths) <= 1
    )
    for b in bands:
        assert not re.search(r"\d[eE][-+]?\d", b.headline), b.headline
        assert "match" not in b.headline.lower()


def test_figures_are_plain_and_distinct_distances_print_differently() -> None:
    assert plain(0.000123456) == "0.000123"
    assert plain(1.5e-9) == "0.00000000150"
    assert "e" not in plain(3.2e-7).lower()
    assert plain(1234.4) == "1,234"  # whole numbers stay whole
    # Distances that the old four-decimal figure printed alike:
    assert exact_distance(0.51231) != exact_distance(0.51234)
    assert exact_distance(0.0001) != exact_distance(0.00012)


def test_the_candidate_list_shows_bands_bars_and_hidden_exact_figures(
    fresh_world: World,
) -> None:
    with TestClient(fresh_world.app()) as client:
        auth = fresh_world.auth
        case = client.post(
            "/api/cases",
            json={
                "reference": "SCORES-1",
                "offense_category": "homicide",
                "purpose": "identify the suspect seen leaving the scene of a homicide",
            },
            headers=auth("ivan"),
        ).json()
        probe = client.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
            headers=auth("ivan"),
        ).json()
        search = client.post(
            f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=auth("ivan")
        ).json()
        # A supervisor sees the full list; the page is the web's, signed in by cookie.
        view = client.get(f"/api/searches/{search['id']}", headers=auth("sam")).json()
        page = client.get(f"/searches/{search['id']}", headers=auth("sam"))
        withheld = client.get(f"/searches/{search['id']}", headers=auth("ivan")).text
    assert page.status_code == 200, page.text
    html = page.text
    candidates = view["candidates"]
    assert candidates
    for c in candidates:
        expected = score_band(c, view)
        block = html.split(f'id="candidate-{c["rank"]}"', 1)[1].split("</li>", 1)[0]
        assert f'class="score-summary score-{expected.band}"' in block
        assert '<meter class="score-bar"' in block and f'value="{expected.strength}"' in block
        assert '<details class="score-details">' in block
        assert exact_distance(c["distance"]) in block
        headline = re.search(r'<p class="score-words">(.*?)</p>', block, re.S).group(1)
        assert not re.search(r"\d[eE][-+]?\d", headline), headline
    # The chart: one mark per candidate, placed by distance, left of the threshold line;
    # nothing of it for the requester while the list is withheld.
    chart = html.split('<figure class="distance-chart">', 1)[1].split("</figure>", 1)[0]
    marks = re.findall(r'<g class="chart-candidate"><title>Candidate (\d+).*?x1="([0-9.]+)"', chart)
    assert [int(rank) for rank, _ in marks] == [c["rank"] for c in candidates]
    xs = {int(rank): float(x) for rank, x in marks}
    line = float(re.search(r'class="chart-threshold" x1="([0-9.]+)"', chart).group(1))
    for a in candidates:
        assert xs[a["rank"]] <= line
        for b in candidates:
            if a["distance"] < b["distance"]:
                assert xs[a["rank"]] <= xs[b["rank"]]
    assert "distance-chart" not in withheld and "Candidates withheld" in withheld
    shown = re.findall(r'class="distance">([0-9.]+)', html)
    assert len(set(shown)) == len({c["distance"] for c in candidates})
    text = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1]).lower()
    assert "match" not in text
