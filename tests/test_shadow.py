"""Shadow collections: searched and recorded, their candidates never shown."""

from __future__ import annotations

import json
from dataclasses import replace

from fastapi.testclient import TestClient

from facesift.compose import open_gallery
from facesift.services.calibration import load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.search import CANDIDATES, NO_CANDIDATE, SearchRequest, search
from facesift.vision import FaceAnalyzer, VisionConfig
from tests.conftest import photos
from tests.server_world import PROBE, World

CONFIG = VisionConfig(threads=1)
GROUNDS = SearchRequest(
    case="TEST-SHADOW",
    purpose="test a shadow collection before go-live",
    offense_category="robbery",
)


def test_a_shadow_collection_is_searched_and_recorded_never_shown(tmp_path) -> None:
    probe = photos("probe")[0]  # Ariel Sharon: his gallery photos go to the pilot only
    analyzer = FaceAnalyzer.from_config(CONFIG)
    calibration = load_calibration(analyzer.model_id)
    mine = [p.path for p in photos("gallery") if p.identity == probe.identity]
    others = [p.path for p in photos("gallery") if p.identity != probe.identity][:6]
    with Gallery.open(tmp_path) as gallery:
        ingest(gallery, others, IngestOptions("live", workers=1, vision=CONFIG))
        ingest(gallery, mine, IngestOptions("pilot", workers=1, vision=CONFIG))
        everything = gallery.size()
        pilot_faces = gallery.size("pilot")
        shown = search(gallery, analyzer, calibration, probe.path.read_bytes(), GROUNDS)
        assert shown.outcome == CANDIDATES
        assert {c.image["collection"] for c in shown.candidates} == {"pilot"}

        gallery.set_shadow("pilot", True, "operator")
        assert gallery.size() == everything - pilot_faces and gallery.size("pilot") == 0
        for request in (GROUNDS, replace(GROUNDS, collection="pilot")):
            result = search(gallery, analyzer, calibration, probe.path.read_bytes(), request)
            assert result.outcome == NO_CANDIDATE and result.candidates == []
            entry = gallery.store.audit.entries(action="search")[-1]
            hidden = entry.details["shadow_candidate_face_ids"]
            assert hidden and set(hidden) <= {c.face_id for c in shown.candidates}
        # A search of another collection does not reach into the shadow one.
        other = replace(GROUNDS, collection="live")
        search(gallery, analyzer, calibration, probe.path.read_bytes(), other)
        assert (
            "shadow_candidate_face_ids"
            not in gallery.store.audit.entries(action="search")[-1].details
        )
        assert gallery.store.audit.entries(action="collection_shadow")[-1].details == {
            "collection": "pilot",
            "shadow": True,
        }

        gallery.set_shadow("pilot", False)
        again = search(gallery, analyzer, calibration, probe.path.read_bytes(), GROUNDS)
        assert again.outcome == CANDIDATES and gallery.size() == everything


def test_the_server_records_shadow_hits_and_never_shows_them(fresh_world: World) -> None:
    world = fresh_world
    with open_gallery(world.data_dir, world.database_url) as gallery:
        gallery.set_shadow("fixture", True)
    with TestClient(world.app()) as client:
        ivan = world.auth("ivan")
        case = client.post(
            "/api/cases",
            json={
                "reference": "SHADOW-1",
                "offense_category": "robbery",
                "purpose": "identify the suspect in an armed robbery of a pharmacy",
            },
            headers=ivan,
        ).json()
        probe = client.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": ("p.jpg", PROBE.read_bytes())},
            headers=ivan,
        ).json()
        response = client.post(
            f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=ivan
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["outcome"] == "no_candidate" and body["candidates"] == []
        assert "shadow_candidates" not in body
        team = client.get("/api/searches", headers=world.auth("sam")).json()
        assert all("shadow_candidates" not in s for s in team)
        entry = client.get(
            "/api/audit", params={"action": "search"}, headers=world.auth("audrey")
        ).json()["entries"][-1]
        assert entry["details"]["shadow_candidates"] >= 1
    with open_gallery(world.data_dir, world.database_url) as gallery:
        recorded = json.loads(gallery.store.cases.search(body["id"])["shadow_candidates"])
        assert recorded and recorded[0]["collection"] == "fixture"
