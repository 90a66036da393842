"""Faces drawn by hand and a search of every face (issue 13, section 4), through the JSON API
on the real model and both databases:

- a box drawn loosely around a face is aligned inside it and embedded: the face it gives is
  the detected face's (close in distance) and finds the same person in the gallery; the
  derivative probe, the search's audit entry and the disclosure packet mark it as manual;
- a box outside the photo, or too small, is refused with what to fix;
- "search every face" on the fixture's group photo of six faces runs six ordinary searches in
  the case, each audited; the rate limit stops it part way and says which faces were left.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import FIXTURE
from tests.server_world import PROBE, World

GROUP = FIXTURE / "group" / "insightface_t1.jpg"  # six faces (labels.csv)
PERSON = "Colin_Powell"


@pytest.fixture
def client(fresh_world: World) -> Iterator[TestClient]:
    with TestClient(fresh_world.app()) as client:
        yield client


def _case_with_probe(client: TestClient, world: World, photo=PROBE) -> tuple[dict, dict]:
    case = client.post(
        "/api/cases",
        json={
            "reference": "FACES-1",
            "offense_category": "homicide",
            "purpose": "identify the suspect seen leaving the scene of a homicide",
        },
        headers=world.auth("ivan"),
    )
    assert case.status_code == 201, case.text
    probe = client.post(
        f"/api/cases/{case.json()['id']}/probes",
        files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
        headers=world.auth("ivan"),
    )
    assert probe.status_code == 201, probe.text
    return case.json(), probe.json()


def _audit(client: TestClient, world: World, action: str) -> list[dict]:
    found = client.get("/api/audit", params={"action": action}, headers=world.auth("audrey"))
    return found.json()["entries"]


def test_a_face_drawn_by_hand_is_embedded_from_its_box_and_marked_manual(
    client: TestClient, fresh_world: World
) -> None:
    world = fresh_world
    case, probe = _case_with_probe(client, world)
    x1, y1, x2, y2 = probe["faces"][0]["box"]
    # Drawn as a person draws: around the whole head, larger and off-centre.
    grow_x, grow_y = (x2 - x1) * 0.4, (y2 - y1) * 0.5
    drawn = [
        max(0, int(x1 - grow_x * 0.3)),
        max(0, int(y1 - grow_y * 0.7)),
        min(probe["width"], int(x2 + grow_x * 0.7)),
        min(probe["height"], int(y2 + grow_y * 0.3)),
    ]
    made = client.post(
        f"/api/probes/{probe['id']}/manual-faces", json={"box": drawn}, headers=world.auth("ivan")
    )
    assert made.status_code == 201, made.text
    copy = made.json()
    assert copy["parent_id"] == probe["id"] and copy["sha256"] == probe["sha256"]
    assert copy["edit"]["operation"] == "manual_face" and copy["edit"]["box"] == drawn
    manual = copy["faces"][-1]
    assert manual["manual"] is True and manual["detector_score"] is None
    assert len(copy["faces"]) == 2 and not copy["faces"][0].get("manual")

    # Aligned inside the box: the same face as the detector's, by the model's own measure.
    from facesift.compose import open_store

    store = open_store(world.data_dir, world.database_url)
    try:
        detected = store.cases.probe_embedding(copy["id"], 0)
        drawn_face = store.cases.probe_embedding(copy["id"], 1)
    finally:
        store.close()
    assert float(np.linalg.norm(detected - drawn_face)) < 0.2

    search = client.post(
        f"/api/probes/{copy['id']}/searches", json={"face_index": 1}, headers=world.auth("ivan")
    )
    assert search.status_code == 201, search.text
    assert search.json()["edited_probe"] is False  # no pixel changed
    assert search.json()["manual_face"] is True
    full = client.get(f"/api/searches/{search.json()['id']}", headers=world.auth("sam")).json()
    assert PERSON in full["candidates"][0]["image"]["path"]

    entry = _audit(client, world, "search")[0]["details"]
    assert entry["manual_face"] is True and entry["probe_id"] == copy["id"]
    drawn_entry = _audit(client, world, "probe_manual_face")[0]
    assert drawn_entry["actor"] == "ivan" and drawn_entry["details"]["box"] == drawn

    packet = client.get(f"/api/cases/{case['id']}/disclosure", headers=world.auth("audrey"))
    searched = next(s for s in packet.json()["searches"] if s["id"] == search.json()["id"])
    assert searched["manual_face"] is True
    assert searched["probe_face_image"].startswith("data:image/jpeg;base64,")
    assert searched["candidates"][0]["face_image"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        ([0, 0, 10, 10], "at least 32"),
        ([100, 100, 50, 200], "within the"),
        ([0, 0, 5000, 200], "within the"),
    ],
)
def test_a_bad_box_is_refused_saying_what_to_fix(
    client: TestClient, fresh_world: World, box: list[int], problem: str
) -> None:
    _case, probe = _case_with_probe(client, fresh_world)
    refused = client.post(
        f"/api/probes/{probe['id']}/manual-faces",
        json={"box": box},
        headers=fresh_world.auth("ivan"),
    )
    assert refused.status_code == 400 and problem in refused.json()["message"], refused.text
    # Nothing was made: the case still has its one probe.
    case_file = client.get(f"/api/cases/{probe['case_id']}", headers=fresh_world.auth("ivan"))
    assert len(case_file.json()["probes"]) == 1


def test_only_the_case_owner_draws_a_face(client: TestClient, fresh_world: World) -> None:
    _case, probe = _case_with_probe(client, fresh_world)
    for who in ("iris", "sam", "rita"):
        refused = client.post(
            f"/api/probes/{probe['id']}/manual-faces",
            json={"box": probe["faces"][0]["box"]},
            headers=fresh_world.auth(who),
        )
        assert refused.status_code == 403, (who, refused.text)


def test_search_every_face_runs_one_ordinary_search_per_face(
    client: TestClient, fresh_world: World
) -> None:
    world = fresh_world
    client.put(
        "/api/settings/searches_per_minute", json={"value": 100}, headers=world.auth("admin")
    )
    case, probe = _case_with_probe(client, world, GROUP)
    assert len(probe["faces"]) == 6
    done = client.post(
        f"/api/probes/{probe['id']}/searches/every-face", json={}, headers=world.auth("ivan")
    )
    assert done.status_code == 201, done.text
    body = done.json()
    assert [s["face_index"] for s in body["searches"]] == list(range(6))
    assert body["not_searched"] == []
    assert {s["case_id"] for s in body["searches"]} == {case["id"]}
    searches = _audit(client, world, "search")
    assert sorted(e["details"]["face"] for e in searches) == list(range(6))
    assert all(e["details"]["purpose"] == case["purpose"] for e in searches)
    # Some of the group's faces are turned: their searches carry a quality warning, and the
    # case file lists them (it once failed with a 500 on a stored warning).
    case_file = client.get(f"/api/cases/{case['id']}", headers=world.auth("ivan"))
    assert case_file.status_code == 200, case_file.text
    assert any(s["quality_warning"] for s in case_file.json()["searches"])
    summary = _audit(client, world, "search_every_face")[0]["details"]
    assert summary["search_ids"] == [s["id"] for s in body["searches"]]


def test_the_rate_limit_stops_search_every_face_and_says_which_faces_are_left(
    client: TestClient, fresh_world: World
) -> None:
    world = fresh_world
    client.put("/api/settings/searches_per_minute", json={"value": 4}, headers=world.auth("admin"))
    _case, probe = _case_with_probe(client, world, GROUP)
    done = client.post(
        f"/api/probes/{probe['id']}/searches/every-face", json={}, headers=world.auth("ivan")
    ).json()
    assert len(done["searches"]) == 4
    assert [f["face_index"] for f in done["not_searched"]] == [4, 5]
    assert "at most 4 searches a minute" in done["not_searched"][0]["reason"]
    assert len(_audit(client, world, "search_rate_limited")) == 1
