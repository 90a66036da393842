"""Retention with destruction receipts, on SQLite and PostgreSQL with FAISS, and on
PostgreSQL with the vectors in Milvus: the tests move the clock (``--as-of``) instead of
waiting, and check that what expired is gone from the database, the vector index (as stored,
unrepaired) and the API, and that the receipt is in a chain that verifies."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from facesift.store.database import Database, resolve_url
from tests.conftest import GALLERY_FACES
from tests.helpers import run_cli, run_json
from tests.server_world import EVERY_BACKEND, PROBE, World

pytestmark = pytest.mark.slow
POLICY = {
    "probe_images_days": 30,
    "probe_templates_days": 90,
    "candidate_lists_days": 180,
    "collections": {"fixture": 365},
}


def _count(world: World, sql: str) -> int:
    db = Database(resolve_url(world.data_dir, world.database_url))
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def _embeddings(world: World) -> np.ndarray:
    db = Database(resolve_url(world.data_dir, world.database_url))
    try:
        rows = db.execute("SELECT embedding FROM faces ORDER BY id").fetchall()
    finally:
        db.close()
    return np.frombuffer(b"".join(bytes(r[0]) for r in rows), dtype="<f4").reshape(len(rows), -1)


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _retention(world: World, *args: str) -> dict:
    code, report = run_json(
        "retention",
        "run",
        *args,
        *world.vectors_flag(),
        data_dir=world.data_dir,
        database_url=world.database_url,
    )
    assert code == 0, report
    return report


@EVERY_BACKEND
def test_retention_destroys_what_expired_and_leaves_a_receipt(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        admin, ivan = w.auth("admin"), w.auth("ivan")
        assert (
            c.put("/api/settings/retention", json={"value": {"x": 1}}, headers=admin).status_code
            == 400
        )
        assert c.put(
            "/api/settings/retention", json={"value": POLICY}, headers=admin
        ).status_code in (200, 204)
        case = c.post(
            "/api/cases",
            json={
                "reference": "RET-1",
                "offense_category": "robbery",
                "purpose": "identify the suspect in an armed robbery of a pharmacy",
            },
            headers=ivan,
        ).json()
        probe = c.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": ("p.jpg", PROBE.read_bytes())},
            headers=ivan,
        ).json()
        search = c.post(
            f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=ivan
        ).json()
        assert c.post(f"/api/cases/{case['id']}/close", headers=ivan).status_code == 200

    # Nothing has expired today; a dry run a year on lists everything and destroys nothing.
    assert _retention(w)["classes"]["probe_images"]["count"] == 0
    preview = _retention(w, "--dry-run", "--as-of", _later(400))
    assert preview["dry_run"] and preview["classes"]["gallery_images"]["count"] == 20
    assert _count(w, "SELECT COUNT(*) FROM images") == 20
    gallery_vectors = _embeddings(w)

    # A month on: the probe's pixels go, and only they.
    month = _retention(w, "--as-of", _later(31))
    assert month["classes"]["probe_images"] == {
        "count": 1,
        "sha256s": [hashlib.sha256(PROBE.read_bytes()).hexdigest()],
    }
    assert month["classes"]["probe_templates"]["count"] == 0
    assert (
        _count(
            w,
            f"SELECT COUNT(*) FROM probes WHERE id = {probe['id']}"
            " AND pixels_destroyed_at IS NOT NULL",
        )
        == 1
    )
    with TestClient(w.app()) as c:
        image = c.get(f"/api/probes/{probe['id']}/image", headers=w.auth("audrey"))
        assert image.status_code == 404 and "retention" in image.json()["message"]
    assert _retention(w, "--as-of", _later(31))["classes"]["probe_images"]["count"] == 0

    # A year on: templates, the candidate list and the gallery's photos go too.
    year = _retention(w, "--as-of", _later(400))
    assert year["classes"]["probe_templates"]["count"] == 1
    assert year["classes"]["candidate_lists"]["count"] == 1
    assert year["classes"]["gallery_images"]["count"] == 20
    assert (
        _count(w, f"SELECT COUNT(*) FROM search_candidates WHERE search_id = {search['id']}") == 0
    )
    assert _count(w, "SELECT COUNT(*) FROM images") == 0
    assert _count(w, "SELECT COUNT(*) FROM faces") == 0
    index = w.raw_index()  # FAISS's file or the Milvus collection, as stored
    assert len(index) == 0, f"{len(index)} of {GALLERY_FACES} vectors left in the index"
    _, found = index.search(gallery_vectors, 10)
    assert (found == -1).all(), "a destroyed face is still returned by a search of the index"
    assert _count(w, "SELECT COUNT(*) FROM tombstones") == 0  # expiry bars no later ingest

    # The receipts: on the log, with the policy and the hashes; the chain verifies.
    code, receipts = run_json(
        "audit", "show", "--action", "retention_destroyed",
        data_dir=w.data_dir, database_url=w.database_url,
    )  # fmt: skip
    assert code == 0 and len(receipts) == 4  # the four runs that were not dry
    last = receipts[-1]["details"]
    assert last["policy"]["collections"] == {"fixture": 365}
    assert len(last["classes"]["gallery_images"]["sha256s"]) == 20
    verified = run_cli("audit", "verify", data_dir=w.data_dir, database_url=w.database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_retention_policy_is_printed_for_the_public(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    text = run_cli(
        "retention", "policy", data_dir=w.data_dir, database_url=w.database_url, check=True
    ).stdout
    assert "Probe photos" in text and "deleted at once after the case is closed" in text
    assert "audit log: for the life of the system" in text


@EVERY_BACKEND
def test_the_server_runs_retention_by_itself(server_world: World, tmp_path: Path) -> None:
    import time

    from facesift.server.app import create_app

    w = server_world.copy_to(tmp_path / "data")
    config = w.config()
    config.server.retention_hours = 0.5 / 3600
    app = create_app(config)
    with TestClient(app) as c:
        deadline = time.monotonic() + 30
        receipts: list = []
        while not receipts and time.monotonic() < deadline:
            time.sleep(0.2)
            receipts = c.get(
                "/api/audit",
                params={"action": "retention_destroyed"},
                headers=w.auth("audrey"),
            ).json()["entries"]
        assert receipts and receipts[0]["actor"] == "retention"
        assert c.app.state.retention_task.runs >= 1


def test_probe_images_go_at_closure_unless_a_reason_to_keep_them_is_recorded(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    ivan = w.auth("ivan")
    with TestClient(w.app()) as c:
        probes = {}
        for reference in ("KEEP-NO", "KEEP-YES"):
            case = c.post(
                "/api/cases",
                json={
                    "reference": reference,
                    "offense_category": "robbery",
                    "purpose": "identify the suspect in an armed robbery of a pharmacy",
                },
                headers=ivan,
            ).json()
            probe = c.post(
                f"/api/cases/{case['id']}/probes",
                files={"file": ("p.jpg", PROBE.read_bytes())},
                headers=ivan,
            ).json()
            probes[reference] = (case["id"], probe["id"])
        kept_case = probes["KEEP-YES"][0]
        path = f"/api/cases/{kept_case}/keep-probe-images"
        reason = {"reason": "an appeal against the identification is pending"}
        assert c.post(path, json=reason, headers=w.auth("iris")).status_code == 403
        assert c.post(path, json={"reason": "because"}, headers=ivan).status_code == 400
        kept = c.post(path, json=reason, headers=ivan)
        assert kept.status_code == 200 and kept.json()["keep_probe_images"] == reason["reason"]
        for case_id, _ in probes.values():
            assert c.post(f"/api/cases/{case_id}/close", headers=ivan).status_code == 200
        entries = c.get(
            "/api/audit", params={"action": "probe_images_kept"}, headers=w.auth("audrey")
        ).json()["entries"]
        assert entries[0]["details"]["reason"] == reason["reason"]
    # The default policy: probe pixels go at the first run after closure...
    day = _retention(w, "--as-of", _later(1))
    assert day["classes"]["probe_images"]["count"] == 1
    destroyed = "SELECT COUNT(*) FROM probes WHERE pixels_destroyed_at IS NOT NULL AND id = "
    assert _count(w, destroyed + str(probes["KEEP-NO"][1])) == 1
    assert _count(w, destroyed + str(probes["KEEP-YES"][1])) == 0
    # ...and those kept for a reason go with the probe templates, a year on.
    year = _retention(w, "--as-of", _later(366))
    assert year["classes"]["probe_images"]["count"] == 1
    assert _count(w, destroyed + str(probes["KEEP-YES"][1])) == 1
