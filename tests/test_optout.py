"""Opt-out by selfie, end to end through the API on SQLite and PostgreSQL with FAISS, and
(removal and suppression) on PostgreSQL with the vectors in Milvus: a request with no
account, a privacy officer's decisions, removal with receipts and redaction markers, faces
gone from the index as stored, suppression at search and at ingest, and a status that never
shows a photo."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesift.store.database import Database, resolve_url
from tests.conftest import photos
from tests.helpers import run_json
from tests.server_world import EVERY_BACKEND, PROBE, STRANGER, World

pytestmark = pytest.mark.slow
PERSON = "Colin_Powell"


def _search(client: TestClient, world: World, reference: str) -> dict:
    case = client.post(
        "/api/cases",
        json={
            "reference": reference,
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        },
        headers=world.auth("ivan"),
    ).json()
    probe = client.post(
        f"/api/cases/{case['id']}/probes",
        files={"file": ("p.jpg", PROBE.read_bytes())},
        headers=world.auth("ivan"),
    ).json()
    search = client.post(
        f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=world.auth("ivan")
    ).json()
    return client.get(f"/api/searches/{search['id']}", headers=world.auth("sam")).json()


def _rows(world: World, sql: str) -> list[dict]:
    db = Database(resolve_url(world.data_dir, world.database_url))
    try:
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


def _vectors(world: World, face_ids: set[int]) -> np.ndarray:
    ids = ",".join(str(i) for i in sorted(face_ids))
    rows = _rows(world, f"SELECT embedding FROM faces WHERE id IN ({ids}) ORDER BY id")
    return np.frombuffer(b"".join(bytes(r["embedding"]) for r in rows), dtype="<f4").reshape(
        len(rows), -1
    )


@EVERY_BACKEND
def test_an_opt_out_removes_the_person_keeps_them_out_and_tells_only_counts(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        c.put("/api/settings/searches_per_minute", json={"value": 1000}, headers=w.auth("admin"))
        before = _search(c, w, "OPT-CASE-1")
        person_faces = {x["face_id"] for x in before["candidates"] if PERSON in x["image"]["path"]}
        assert len(person_faces) >= 2
        person_vectors = _vectors(w, person_faces)

        # 1. The request: no account, a selfie, a contact; a reference back.
        made = c.post(
            "/api/optout/requests",
            files={"selfies": ("me.jpg", PROBE.read_bytes())},
            data={"contact": "colin@example.org"},
        )
        assert made.status_code == 201, made.text
        receipt = made.json()
        assert receipt["status"] == "in_review" and receipt["faces_found"] >= len(person_faces)
        status = c.get(f"/api/optout/status/{receipt['reference']}").json()
        assert status["status"] == "in_review" and status["faces_removed"] == 0
        assert PERSON not in json.dumps(status) and "face_id" not in json.dumps(status)

        # 2. The privacy officer decides each face: the person's go, one other is kept.
        officer = w.auth("percy")
        assert c.get("/api/optout/requests", headers=w.auth("admin")).status_code == 403
        assert c.get("/api/optout/requests", headers=w.auth("ivan")).status_code == 403
        listed = c.get("/api/optout/requests", headers=officer).json()
        request_id = next(r["id"] for r in listed if r["reference"] == receipt["reference"])
        detail = c.get(f"/api/optout/requests/{request_id}", headers=officer).json()
        assert detail["selfies_kept"] == 1
        selfie = c.get(f"/api/optout/requests/{request_id}/selfies/0", headers=officer)
        assert selfie.status_code == 200 and selfie.headers["content-type"] == "image/jpeg"
        found = detail["faces"]
        kept = [f for f in found if PERSON not in f["path"]]
        ordered = kept + [f for f in found if PERSON in f["path"]]  # the last decision ends it
        for face in ordered:
            crop = c.get(f"/api/optout/faces/{face['face_id']}/crop", headers=officer)
            assert crop.status_code == 200
            decision = "remove" if PERSON in face["path"] else "not_them"
            answer = c.post(
                f"/api/optout/requests/{request_id}/faces/{face['face_id']}",
                json={"decision": decision},
                headers=officer,
            )
            assert answer.status_code == 200, answer.text
        again = c.post(
            f"/api/optout/requests/{request_id}/faces/{ordered[0]['face_id']}",
            json={"decision": "remove"},
            headers=officer,
        )
        assert again.status_code == 409
        removed = {f["face_id"] for f in found if PERSON in f["path"]}
        status = c.get(f"/api/optout/status/{receipt['reference']}").json()
        assert status["status"] == "done" and status["faces_removed"] == len(removed)
        assert status["faces_kept"] == len(kept)

        # 3. Gone from the store and the index; the old list keeps a redaction marker.
        assert not {r["id"] for r in _rows(w, "SELECT id FROM faces")} & removed
        stats = c.get("/api/stats", headers=w.auth("sam")).json()
        assert stats["indexed_faces"] == stats["faces"]
        old = c.get(f"/api/searches/{before['id']}", headers=w.auth("sam")).json()
        for candidate in old["candidates"]:
            if candidate["face_id"] in removed:
                assert "opt-out" in candidate["redacted"]
                assert PERSON not in json.dumps(candidate)
        receipts = c.get(
            "/api/audit", params={"action": "optout_face_removed"}, headers=w.auth("audrey")
        ).json()["entries"]
        assert {e["details"]["face_id"] for e in receipts} == removed
        assert all(e["actor"] == "percy" for e in receipts)
        assert any(e["details"]["image_deleted"] for e in receipts)

        # 4. The selfie is deleted; the template is sealed, not raw floats.
        assert _rows(w, "SELECT request_id FROM optout_selfies") == []
        sealed = _rows(w, "SELECT sealed FROM suppression_templates")
        assert len(sealed) == 1 and len(bytes(sealed[0]["sealed"])) != 128 * 4

        # 5. A new search gives no face of the person, and says how many were suppressed.
        after = _search(c, w, "OPT-CASE-2")
        assert not any(PERSON in x["image"]["path"] for x in after["candidates"])
        entry = c.get(
            "/api/audit",
            params={"action": "search", "case_id": after["case_id"]},
            headers=w.auth("audrey"),
        ).json()["entries"][0]
        assert "suppressed_candidates" in entry["details"]

    # The index as stored (FAISS's file, or the Milvus collection, unrepaired) holds none of
    # the removed faces, and a search of it near the person's own vectors returns none.
    index = w.raw_index()
    assert not set(index.ids().tolist()) & removed
    _, found = index.search(person_vectors, 20)
    assert not set(found.ravel().tolist()) & removed

    # 6. Ingesting the person's photos again (re-encoded, so not tombstoned) stores no face.
    again_dir = tmp_path / "again"
    again_dir.mkdir()
    for n, photo in enumerate(p for p in photos("gallery") if p.identity == PERSON):
        Image.open(photo.path).save(again_dir / f"copy{n}.png")
    code, summary = run_json(
        "ingest",
        again_dir,
        "--workers",
        "1",
        *w.vectors_flag(),
        data_dir=w.data_dir,
        database_url=w.database_url,
    )
    assert code == 0, summary
    assert summary["suppressed"] >= 2 and summary["faces"] == 0, summary


@EVERY_BACKEND
def test_a_search_drops_candidates_near_a_suppression_template(
    server_world: World, tmp_path: Path
) -> None:
    """A face found but judged not the person stays in the gallery, yet no search lists a
    face within the suppression threshold of the request's template."""
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        c.put("/api/settings/searches_per_minute", json={"value": 1000}, headers=w.auth("admin"))
        made = c.post(
            "/api/optout/requests",
            files={"selfies": ("me.jpg", PROBE.read_bytes())},
            data={"contact": "colin@example.org"},
        ).json()
        assert made["faces_found"] >= 2
        after = _search(c, w, "OPT-CASE-3")
        assert not any(PERSON in x["image"]["path"] for x in after["candidates"])
        entry = c.get(
            "/api/audit",
            params={"action": "search", "case_id": after["case_id"]},
            headers=w.auth("audrey"),
        ).json()["entries"][0]
        assert entry["details"]["suppressed_candidates"] >= 2


def test_selfies_must_show_one_face_and_requests_are_rate_limited(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    blank = io.BytesIO()
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank, format="JPEG")
    with TestClient(w.app()) as c:
        for content, problem in ((blank.getvalue(), "0 faces"), (STRANGER.read_bytes(), "faces")):
            refused = c.post(
                "/api/optout/requests",
                files={"selfies": ("me.jpg", content)},
                data={"contact": "me@example.org"},
            )
            assert refused.status_code == 400 and problem in refused.json()["message"]
        no_contact = c.post(
            "/api/optout/requests",
            files={"selfies": ("me.jpg", PROBE.read_bytes())},
            data={"contact": " "},
        )
        assert no_contact.status_code in (400, 422)
        codes = [
            c.post(
                "/api/optout/requests",
                files={"selfies": ("me.jpg", PROBE.read_bytes())},
                data={"contact": "me@example.org"},
            ).status_code
            for _ in range(3)
        ]
        assert codes[-1] == 429, codes  # five an hour from one address: 2 + 1 + 2 before
        combined = c.put(
            f"/api/users/{w.user_ids['percy']}/roles",
            json={"roles": ["privacy_officer", "investigator"]},
            headers=w.auth("admin"),
        )
        assert combined.status_code == 400 and "never also an investigator" in combined.text
