"""The quality gate: pose from landmarks, and warning and refusal floors for probe faces.

The poor probes are made from fixture photos with PIL: a blurred face (Gaussian blur, radius
3: sharpness falls from 30-55 to under 2) and a tiny one (scaled to 22%: a face of about 25
px, found only with a lower --min-face), and a half-size face (about 55 px: a warning).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from facesift.errors import InvalidInput, SearchRefused
from facesift.services.calibration import load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.quality_gate import (
    DEFAULT_REFUSAL_FLOOR,
    DEFAULT_WARNING_FLOOR,
    Verdict,
    judge,
    measures_of,
)
from facesift.services.search import SearchRequest, search
from facesift.services.settings import Settings
from facesift.vision import FaceAnalyzer, VisionConfig
from tests.conftest import photos
from tests.server_world import PROBE, World

GROUNDS = SearchRequest(
    case="TEST-2026-R9", purpose="test the probe quality gate", offense_category="robbery"
)
# A lower smallest face than the default 40 px, so the tiny face is found at all.
SMALL_FACES = VisionConfig(threads=1, min_face_px=16)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _photo(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def blurred(path: Path) -> bytes:
    return _png(_photo(path).filter(ImageFilter.GaussianBlur(3)))


def scaled(path: Path, share: float) -> bytes:
    image = _photo(path)
    size = (round(image.width * share), round(image.height * share))
    return _png(image.resize(size, Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_config(SMALL_FACES)


def _face(analyzer: FaceAnalyzer, data: bytes):
    (face,) = analyzer.analyze_bytes(data).faces
    return face


def test_pose_turns_round_in_a_mirror_and_follows_a_rotation(analyzer) -> None:
    for probe in photos("probe")[:4]:
        image = _photo(probe.path)
        pose = _face(analyzer, _png(image)).quality.pose
        mirrored = _face(analyzer, _png(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        assert mirrored.quality.pose.yaw == pytest.approx(-pose.yaw, abs=5)
        assert mirrored.quality.pose.roll == pytest.approx(-pose.roll, abs=2)
        turned = _face(analyzer, _png(image.rotate(15, resample=Image.Resampling.BICUBIC)))
        assert turned.quality.pose.roll == pytest.approx(pose.roll - 15, abs=2)
        assert abs(pose.yaw) < 40 and abs(pose.pitch) < 35  # the fixture's probes pass


def test_the_blurred_and_the_tiny_face_are_refused_the_half_size_one_warned(analyzer) -> None:
    probe = photos("probe")[0].path
    sharp = judge(
        _face(analyzer, probe.read_bytes()).describe(), DEFAULT_WARNING_FLOOR, DEFAULT_REFUSAL_FLOOR
    )
    assert sharp.level == Verdict.PASS and sharp.reasons == []
    assert set(sharp.measures) == {"size_px", "sharpness", "detector_score", "yaw", "pitch", "roll"}

    blur = _face(analyzer, blurred(probe)).describe()
    verdict = judge(blur, DEFAULT_WARNING_FLOOR, DEFAULT_REFUSAL_FLOOR)
    assert verdict.level == Verdict.REFUSED
    assert verdict.reasons == [f"sharpness {blur['quality']['sharpness']:g} is below 3"]

    tiny = judge(
        _face(analyzer, scaled(probe, 0.22)).describe(),
        DEFAULT_WARNING_FLOOR,
        DEFAULT_REFUSAL_FLOOR,
    )
    assert tiny.level == Verdict.REFUSED and tiny.reasons[0].startswith("size px 2")

    half = judge(
        _face(analyzer, scaled(probe, 0.5)).describe(),
        DEFAULT_WARNING_FLOOR,
        DEFAULT_REFUSAL_FLOOR,
    )
    assert half.level == Verdict.WARNING and half.reasons[0].endswith("is below 64")


def test_a_stored_face_without_a_pose_gets_one_from_its_landmarks(analyzer) -> None:
    face = _face(analyzer, photos("probe")[0].path.read_bytes()).describe()
    pose = {k: face["quality"].pop(k) for k in ("yaw", "pitch", "roll")}
    assert {k: measures_of(face)[k] for k in pose} == pose


def test_floors_are_settings_checked_before_they_are_kept(tmp_path) -> None:
    with Gallery.open(tmp_path) as gallery:
        settings = Settings(gallery.store)
        assert settings.get("quality_refusal_floor") == DEFAULT_REFUSAL_FLOOR
        for bad in ({"min_size": 10}, {"min_sharpness": -1}, {"max_yaw": "wide"}, [1, 2]):
            with pytest.raises(InvalidInput, match="quality_warning_floor"):
                settings.put(None, "quality_warning_floor", bad)
        settings.put(None, "quality_warning_floor", {"max_yaw": 10, "min_detector_score": None})
        assert settings.get("quality_warning_floor") == {"max_yaw": 10, "min_detector_score": None}


def test_the_command_line_search_is_refused_or_warned(tmp_path) -> None:
    probe = photos("probe")[0]
    analyzer = FaceAnalyzer.from_config(SMALL_FACES)
    calibration = load_calibration(analyzer.model_id)
    with Gallery.open(tmp_path) as gallery:
        gallery_photos = [p.path for p in photos("gallery") if p.identity == probe.identity]
        ingest(gallery, gallery_photos, IngestOptions(workers=1, vision=SMALL_FACES))
        with pytest.raises(SearchRefused, match="quality refusal floor \\(sharpness"):
            search(gallery, analyzer, calibration, blurred(probe.path), GROUNDS)
        with pytest.raises(SearchRefused, match="size px 2"):
            search(gallery, analyzer, calibration, scaled(probe.path, 0.22), GROUNDS)
        refusals = gallery.store.audit.entries(action="search_refused")
        assert [e.details["quality"]["level"] for e in refusals] == ["refused", "refused"]

        result = search(gallery, analyzer, calibration, scaled(probe.path, 0.5), GROUNDS)
        assert result.quality_warning["level"] == "warning"
        assert result.as_dict()["quality_warning"]["reasons"]
        entry = gallery.store.audit.entries(action="search")[-1]
        assert entry.details["quality_warning"] == result.quality_warning

        clean = search(gallery, analyzer, calibration, probe.path.read_bytes(), GROUNDS)
        assert clean.quality_warning is None and clean.quality.level == Verdict.PASS


@pytest.fixture
def client(fresh_world: World) -> Iterator[TestClient]:
    with TestClient(fresh_world.app(min_face_px=16)) as test_client:
        yield test_client


def _probe(client: TestClient, world: World, content: bytes) -> dict:
    case = client.post(
        "/api/cases",
        json={
            "reference": f"R9-{len(content)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        },
        headers=world.auth("ivan"),
    )
    assert case.status_code == 201, case.text
    probe = client.post(
        f"/api/cases/{case.json()['id']}/probes",
        files={"file": ("probe.png", content)},
        headers=world.auth("ivan"),
    )
    assert probe.status_code == 201, probe.text
    return probe.json()


def _search(client: TestClient, world: World, probe: dict):
    return client.post(
        f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=world.auth("ivan")
    )


def test_the_server_refuses_warns_discloses_and_shows_the_measures(client, fresh_world) -> None:
    world = fresh_world
    blur = _probe(client, world, blurred(PROBE))
    refused = _search(client, world, blur)
    assert refused.status_code == 403
    assert "quality refusal floor (sharpness" in refused.json()["message"]
    page = client.get(f"/probes/{blur['id']}", headers=world.auth("ivan"))
    assert page.status_code == 200
    assert "Face quality" in page.text and "refused: sharpness" in page.text

    half = _probe(client, world, scaled(PROBE, 0.5))
    response = _search(client, world, half)
    assert response.status_code == 201, response.text
    warning = response.json()["quality_warning"]
    assert warning["level"] == "warning" and "size px" in warning["reasons"][0]
    shown = client.get(f"/searches/{response.json()['id']}", headers=world.auth("ivan"))
    assert "Quality warning" in shown.text

    packet = client.get(
        f"/api/cases/{half['case_id']}/disclosure", headers=world.auth("audrey")
    ).json()
    assert packet["searches"][0]["quality_warning"] == warning
    printable = client.get(f"/cases/{half['case_id']}/disclosure", headers=world.auth("audrey"))
    assert "Quality warning" in printable.text

    # An admin lowers the refusal floor: the blurred face is searched, with a warning.
    floor = {"min_face_px": 16, "min_sharpness": 0.5}
    put = client.put(
        "/api/settings/quality_refusal_floor", json={"value": floor}, headers=world.auth("admin")
    )
    assert put.status_code == 200, put.text
    again = _search(client, world, blur)
    assert again.status_code == 201 and "sharpness" in again.json()["quality_warning"]["reasons"][0]
    bad = client.put(
        "/api/settings/quality_refusal_floor", json={"value": {"x": 1}}, headers=world.auth("admin")
    )
    assert bad.status_code == 400


def test_admins_set_the_floors_on_the_settings_page(client, fresh_world) -> None:
    world = fresh_world
    page = client.get("/settings", headers=world.auth("audrey"))
    assert "Probe quality: refusal floor" in page.text and "min_sharpness" in page.text
    # The refused purposes as they are: their default categories are a floor.
    current = client.get("/api/settings", headers=world.auth("admin")).json()
    form = {
        "offense_categories": "robbery",
        "refused_purposes": json.dumps(current["refused_purposes"]),
        "searches_per_minute": "10",
        "max_upload_bytes": "10485760",
        "quality_warning_floor": '{"min_face_px": 80}',
        "promotion_max_group_ratio": "null",
    }
    answer = client.post(
        "/settings", headers=world.auth("admin"), data=form, follow_redirects=False
    )
    assert answer.status_code == 303
    settings = client.get("/api/settings", headers=world.auth("audrey")).json()
    assert settings["quality_warning_floor"] == {"min_face_px": 80}
    assert settings["promotion_max_group_ratio"] is None
    assert settings["quality_refusal_floor"] == DEFAULT_REFUSAL_FLOOR  # not in the form: kept
    bad = client.post(
        "/settings",
        headers=world.auth("admin"),
        data=form | {"quality_refusal_floor": "{not json"},
        follow_redirects=False,
    )
    assert bad.status_code == 400
