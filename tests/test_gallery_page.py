"""The gallery page and its API (issue 13, section 8), on a real ingest into the test world:
a file that is not an image (failed, with its reason), a photo of dogs (no face) and a photo
ingested looking only for faces larger than it (no face found), none with provenance.

- admins, supervisors and auditors see the failed file with its reason, the photos without a
  face and those without provenance, and browse a collection; investigators, reviewers and
  privacy officers do not (the gallery is not browsed for faces outside a search);
- an admin re-scans the photo whose face was missed: the face is added to the gallery (and
  audited), and the photo leaves the list of photos without a face; others may not re-scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FIXTURE
from tests.helpers import run_cli
from tests.server_world import World

DOGS = FIXTURE / "negative" / "dlib_dogs.jpg"
MISSED = FIXTURE / "identities" / "Tony_Blair" / "Tony_Blair_0003.jpg"  # not in the gallery


@pytest.fixture
def world(fresh_world: World, tmp_path: Path) -> World:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "notes.jpg").write_bytes(b"this is a text file, not a photo\n")
    (extra / DOGS.name).write_bytes(DOGS.read_bytes())
    common = {"data_dir": fresh_world.data_dir, "database_url": fresh_world.database_url}
    run_cli("ingest", "--collection", "extra", "--workers", "1", extra, check=False, **common)
    # Only faces over 300 px were looked for in this 250 px photo: its face was missed.
    run_cli(
        "ingest", "--collection", "extra", "--workers", "1", "--min-face", "300", MISSED,
        check=True, **common,
    )  # fmt: skip
    return fresh_world


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app()) as client:
        yield client


def _no_face(client: TestClient, world: World) -> list[str]:
    found = client.get(
        "/api/gallery/photos", params={"problem": "no_face"}, headers=world.auth("sam")
    )
    assert found.status_code == 200, found.text
    return [Path(p["path"]).name for p in found.json()["photos"]]


def test_the_gallery_page_lists_failed_files_with_their_reason(
    client: TestClient, world: World
) -> None:
    for who in ("admin", "sam", "audrey"):
        page = client.get("/gallery", headers=world.auth(who))
        assert page.status_code == 200, (who, page.text[:300])
        text = page.text
        failures = text[text.index("Files that failed") : text.index("Photos without a face")]
        assert "notes.jpg" in failures and "not an image" in failures
        no_face = text[text.index('id="noface"') : text.index("Photos without provenance")]
        assert DOGS.name in no_face and MISSED.name in no_face
        assert ("Re-scan" in no_face) == (who == "admin")  # only an admin re-scans
    overview = client.get("/api/gallery", headers=world.auth("audrey")).json()
    failed = {Path(f["path"]).name: f for f in overview["failures"]}
    assert failed["notes.jpg"]["code"] == "not_an_image" and failed["notes.jpg"]["message"]
    assert overview["no_provenance"]["total"] == 22  # the 20 fixture photos and the 2 new
    assert {c["name"] for c in overview["collections"]} == {"fixture", "extra"}
    extra = client.get(
        "/gallery/photos", params={"collection": "extra"}, headers=world.auth("admin")
    )
    assert extra.status_code == 200 and DOGS.name in extra.text
    assert "Identities" not in extra.text and "Colin_Powell" not in extra.text
    browsed = client.get(
        "/api/audit", params={"action": "gallery_browsed"}, headers=world.auth("audrey")
    ).json()
    assert browsed["total"] >= 4


@pytest.mark.parametrize("who", ["ivan", "rita", "percy"])
def test_who_searches_or_reviews_does_not_browse_the_gallery(
    client: TestClient, world: World, who: str
) -> None:
    for path in ("/gallery", "/gallery/photos", "/api/gallery", "/api/gallery/photos"):
        answer = client.get(path, headers=world.auth(who))
        assert answer.status_code == 403, (who, path, answer.status_code)


def test_an_admin_rescans_a_photo_and_its_missed_face_is_added(
    client: TestClient, world: World
) -> None:
    assert MISSED.name in _no_face(client, world)
    photos = client.get(
        "/api/gallery/photos", params={"collection": "extra"}, headers=world.auth("admin")
    ).json()["photos"]
    photo = next(p for p in photos if p["path"].endswith(MISSED.name))
    for who in ("sam", "audrey", "ivan"):
        refused = client.post(f"/api/gallery/photos/{photo['id']}/rescan", headers=world.auth(who))
        assert refused.status_code == 403, who
    done = client.post(f"/api/gallery/photos/{photo['id']}/rescan", headers=world.auth("admin"))
    assert done.status_code == 200, done.text
    assert done.json()["found"] == 1 and len(done.json()["added"]) == 1
    assert MISSED.name not in _no_face(client, world)
    # Again: the face is there already, nothing is added twice.
    again = client.post(f"/api/gallery/photos/{photo['id']}/rescan", headers=world.auth("admin"))
    assert again.json()["added"] == [] and again.json()["already_stored"] == 1
    entries = client.get(
        "/api/audit", params={"action": "image_rescanned"}, headers=world.auth("audrey")
    ).json()["entries"]
    assert [e["actor"] for e in entries] == ["admin", "admin"]
    assert entries[-1]["details"]["face_ids"] == done.json()["added"]


def test_an_admin_tries_a_failed_file_again_once_it_is_fixed(
    client: TestClient, world: World
) -> None:
    overview = client.get("/api/gallery", headers=world.auth("admin")).json()
    path = next(f["path"] for f in overview["failures"] if f["path"].endswith("notes.jpg"))
    wanted = {"path": path, "collection": "extra"}
    refused = client.post("/api/gallery/failures/retry", json=wanted, headers=world.auth("sam"))
    assert refused.status_code == 403
    again = client.post("/api/gallery/failures/retry", json=wanted, headers=world.auth("admin"))
    assert again.status_code == 200, again.text
    assert again.json()["stored"] is False and again.json()["code"] == "not_an_image"
    # The file is fixed (a real photo now, of someone not in the gallery), and tried again.
    Path(path).write_bytes(
        (FIXTURE / "identities" / "Hugo_Chavez" / "Hugo_Chavez_0003.jpg").read_bytes()
    )
    done = client.post("/api/gallery/failures/retry", json=wanted, headers=world.auth("admin"))
    assert done.json() == {"path": path, "stored": True, "code": None, "message": None, "faces": 1}
    overview = client.get("/api/gallery", headers=world.auth("audrey")).json()
    assert path not in [f["path"] for f in overview["failures"]]
    extra = client.get(
        "/api/gallery/photos", params={"collection": "extra"}, headers=world.auth("audrey")
    ).json()
    assert any(p["path"] == path and p["faces"] == 1 for p in extra["photos"])
    retried = client.get(
        "/api/audit", params={"action": "ingest_retried"}, headers=world.auth("audrey")
    ).json()["entries"]
    assert len(retried) == 2 and {e["actor"] for e in retried} == {"admin"}
