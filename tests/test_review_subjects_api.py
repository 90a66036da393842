"""People, not face ids, through the JSON API on a real installation (issue 13, item 1):
a manifest names the subject of two gallery photos of one man; two reviewers confirm
different photos of him and the lead is released (before issue 13: "inconclusive"); the
requester sees nothing of the subject before release; the outcome of a disagreement says why
and what next; a reviewer lists their own reviews; the disclosure packet names the subject."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesift.compose import open_store
from tests.conftest import FIXTURE
from tests.helpers import run_cli
from tests.server_world import PROBE, World

PERSON = "Colin_Powell"
SUBJECT = "BK-1001"
LABEL = "Booking 1001"
# A third photo the records file under his booking: not near enough the probe to be a
# candidate, so it is one of "the subject's other photos in the gallery".
FILED_WITH_HIM = FIXTURE / "identities" / "George_W_Bush" / "George_W_Bush_0001.jpg"


def name_subject(world: World, folder: Path) -> None:
    """Record, through ``facesift ingest --manifest``, that the gallery's two photos of
    PERSON and FILED_WITH_HIM are one subject (the photos are held already: only the subject
    is recorded)."""
    folder.mkdir()
    rows = []
    for source in (
        *(FIXTURE / "identities" / PERSON / f"{PERSON}_{n}.jpg" for n in ("0001", "0002")),
        FILED_WITH_HIM,
    ):
        shutil.copy(source, folder / source.name)
        rows.append({"path": source.name, "subject_id": SUBJECT, "subject_label": LABEL})
    manifest = folder / "subjects.csv"
    columns = ("path", "source_url", "page_url", "caption", "captured_at", "legal_basis")
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=(*columns, "subject_id", "subject_label"))
        writer.writeheader()
        writer.writerows(rows)
    done = run_cli(
        "ingest",
        "--collection",
        "fixture",
        "--workers",
        "1",
        "--manifest",
        manifest,
        folder,
        data_dir=world.data_dir,
        database_url=world.database_url,
        check=True,
    )
    assert "subjects_recorded" in done.stdout or done.returncode == 0


@pytest.fixture
def subject_world(fresh_world: World, tmp_path: Path) -> World:
    name_subject(fresh_world, tmp_path / "manifest")
    return fresh_world


@pytest.fixture
def client(subject_world: World) -> Iterator[TestClient]:
    with TestClient(subject_world.app()) as client:
        yield client


def _search(client: TestClient, world: World, reference: str) -> dict:
    def post(path: str, **kwargs) -> dict:
        answer = client.post(path, headers=world.auth("ivan"), **kwargs)
        assert answer.status_code == 201, answer.text
        return answer.json()

    case = post(
        "/api/cases",
        json={
            "reference": reference,
            "offense_category": "homicide",
            "purpose": "identify the suspect seen leaving the scene of a homicide",
        },
    )
    probe = post(
        f"/api/cases/{case['id']}/probes",
        files={"file": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
    )
    return post(f"/api/probes/{probe['id']}/searches", json={"face_index": 0})


def _review(client: TestClient, world: World, who: str, search_id: int, **body) -> dict:
    taken = client.post(f"/api/searches/{search_id}/assignment", headers=world.auth(who))
    assert taken.status_code == 200, taken.text
    answer = client.post(
        f"/api/searches/{search_id}/reviews",
        json={"similarities": "same ears and hairline", "differences": "lighting"} | body,
        headers=world.auth(who),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _full(client: TestClient, world: World, search_id: int) -> dict:
    answer = client.get(f"/api/searches/{search_id}", headers=world.auth("sam"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_two_reviewers_confirming_different_photos_of_one_subject_release_the_lead(
    client: TestClient, subject_world: World
) -> None:
    world = subject_world
    search = _search(client, world, "SUBJECT-1")
    # Blind until released: nothing of the subject reaches the requester.
    assert SUBJECT not in str(search) and LABEL not in str(search)
    full = _full(client, world, search["id"])
    his = [c for c in full["candidates"] if f"/{PERSON}/" in c["image"]["path"]]
    assert len(his) == 2, [c["image"]["path"] for c in full["candidates"]]
    assert {c["image"]["subject_id"] for c in his} == {SUBJECT}
    group = full["groups"][0]
    assert group["subject_id"] == SUBJECT and group["subject_label"] == LABEL
    assert sorted(group["face_ids"]) == sorted(c["face_id"] for c in his)
    # The subject's other photo in the gallery: shown to those who see the whole list.
    assert group["gallery_faces"] == 3 and group["other_gallery_faces"] == 1
    [filed] = group["other_face_ids"]
    assert client.get(f"/api/faces/{filed}/crop", headers=world.auth("sam")).status_code == 200
    first, second = sorted(his, key=lambda c: c["rank"])

    _review(
        client, world, "rita", search["id"], decision="confirm", candidate_face_id=first["face_id"]
    )
    done = _review(
        client, world, "rory", search["id"], decision="confirm", candidate_face_id=second["face_id"]
    )
    assert done["status"] == "released", done.get("outcome_reason")
    assert done["lead_face_id"] == first["face_id"]  # the nearest photo both confirmed

    # The requester now sees the lead, and its subject.
    mine = client.get(f"/api/searches/{search['id']}", headers=world.auth("ivan")).json()
    assert mine["lead"]["candidate"]["image"]["subject_id"] == SUBJECT
    assert [g["subject_id"] for g in mine["groups"]] == [SUBJECT]
    assert mine["groups"][0]["other_face_ids"] == []  # the requester sees the lead only
    # rory confirmed the subject's other photo: the requester learns that, not which photo.
    rorys = mine["reviews"][1]
    assert rorys["candidate_face_id"] is None and "lead's subject" in rorys["candidate"]
    assert client.get(f"/api/faces/{filed}/crop", headers=world.auth("ivan")).status_code == 403
    outcome = client.get(
        "/api/audit", params={"action": "review_outcome"}, headers=world.auth("audrey")
    ).json()["entries"][-1]
    assert outcome["details"]["lead_subject"] == f"subject:fixture:{SUBJECT}"

    past = client.get("/api/reviews/mine", headers=world.auth("rory"))
    assert past.status_code == 200, past.text
    [entry] = past.json()
    assert entry["search_id"] == search["id"] and entry["search_status"] == "released"
    assert entry["case_reference"] == "SUBJECT-1"

    packet = client.get(f"/api/cases/{search['case_id']}/disclosure", headers=world.auth("sam"))
    assert packet.status_code == 200 and SUBJECT in packet.text and LABEL in packet.text


def test_a_reviewer_confirms_a_subject_and_disagreement_says_why(
    client: TestClient, subject_world: World
) -> None:
    world = subject_world
    search = _search(client, world, "SUBJECT-2")
    full = _full(client, world, search["id"])
    key = full["groups"][0]["key"]
    refused = client.post(f"/api/searches/{search['id']}/assignment", headers=world.auth("rita"))
    assert refused.status_code == 200
    unknown = client.post(
        f"/api/searches/{search['id']}/reviews",
        json={
            "decision": "confirm",
            "subject": "subject:fixture:NOBODY",
            "similarities": "a",
            "differences": "b",
        },
        headers=world.auth("rita"),
    )
    assert unknown.status_code == 400 and "not a subject" in unknown.text
    _review(client, world, "rita", search["id"], decision="confirm", subject=key)
    done = _review(client, world, "rory", search["id"], decision="no_lead")
    assert done["status"] == "inconclusive"
    assert "none of these" in done["outcome_reason"] and done["next_steps"]
    # The requester reads why too, without anything that identifies anyone.
    mine = client.get(f"/api/searches/{search['id']}", headers=world.auth("ivan")).json()
    assert mine["outcome_reason"] == done["outcome_reason"]
    assert SUBJECT not in str(mine) and key not in str(mine)


def test_manifest_subjects_are_stored_on_the_photos(subject_world: World) -> None:
    store = open_store(subject_world.data_dir, subject_world.database_url)
    try:
        counts = store.subject_faces([("fixture", SUBJECT)])
    finally:
        store.close()
    assert counts == {("fixture", SUBJECT): 3}


def test_overlapping_marked_sets_agree_on_what_they_share(fresh_world: World) -> None:
    """Without subjects on record, a reviewer may mark several candidates as one person; two
    reviewers whose marked sets overlap agree on the faces they share."""
    world = fresh_world
    with TestClient(world.app()) as client:
        search = _search(client, world, "MARKED-1")
        full = _full(client, world, search["id"])
        assert all(len(g["face_ids"]) == 1 for g in full["groups"])  # no subject: one each
        his = sorted(
            (c for c in full["candidates"] if f"/{PERSON}/" in c["image"]["path"]),
            key=lambda c: c["rank"],
        )
        both = [c["face_id"] for c in his]
        _review(client, world, "rita", search["id"], decision="confirm", candidate_face_ids=both)
        done = _review(
            client, world, "rory", search["id"], decision="confirm", candidate_face_ids=both[1:]
        )
        assert done["status"] == "released" and done["lead_face_id"] == both[1]
        # The requester sees the lead; rita's other marked face stays withheld.
        mine = client.get(f"/api/searches/{search['id']}", headers=world.auth("ivan")).json()
        assert [r["candidate_face_ids"] for r in mine["reviews"]] == [None, [both[1]]]

        # The workspace's chips: the probe's face and a candidate's, plain and aligned at
        # their landmarks (150 px, as the embedder cuts them), to whoever may see them.
        probe, face = search["probe_id"], both[0]
        for path in (f"/api/probes/{probe}/faces/0/crop", f"/api/faces/{face}/crop"):
            plain = client.get(path, headers=world.auth("sam"))
            chip = client.get(path, params={"aligned": "true"}, headers=world.auth("sam"))
            assert plain.status_code == chip.status_code == 200, chip.text
            assert chip.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(chip.content)).size == (150, 150)
            assert Image.open(io.BytesIO(plain.content)).size != (150, 150)
        refused = client.get(f"/api/probes/{probe}/faces/0/crop", headers=world.auth("iris"))
        assert refused.status_code == 403  # another investigator's probe
        missing = client.get(f"/api/probes/{probe}/faces/7/crop", headers=world.auth("ivan"))
        assert missing.status_code == 404
