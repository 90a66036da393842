"""The access rules the README promises (issue 11, section 1), through the API and the web
pages, on SQLite and on PostgreSQL:

- blind until released: a requester sees a pending list's count, never its candidates;
- reviewers take searches from the queue (two per search) and see only those;
- every refusal is audited with its rule; opening lists, cases, probes and the log is too;
- the default refused purposes are a floor;
- still photos only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesift.compose import open_store
from tests.server_world import PROBE, World

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(server_world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    return server_world.copy_to(tmp_path_factory.mktemp("accountability") / "data")


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app()) as test_client:
        test_client.put(
            "/api/settings/searches_per_minute", json={"value": 1000}, headers=world.auth("admin")
        )
        yield test_client


_n = iter(range(1, 10_000))


def _case(client: TestClient, world: World, who: str = "ivan") -> dict:
    response = client.post(
        "/api/cases",
        json={
            "reference": f"ACC-{next(_n)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        },
        headers=world.auth(who),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _search(client: TestClient, world: World, who: str = "ivan") -> tuple[dict, dict]:
    """(what the requester is answered, what oversight sees) for a new search of PROBE."""
    case = _case(client, world, who)
    probe = client.post(
        f"/api/cases/{case['id']}/probes",
        files={"file": ("p.jpg", PROBE.read_bytes())},
        headers=world.auth(who),
    ).json()
    answered = client.post(
        f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=world.auth(who)
    )
    assert answered.status_code == 201, answered.text
    full = client.get(f"/api/searches/{answered.json()['id']}", headers=world.auth("sam"))
    return answered.json(), full.json()


def _take(client: TestClient, world: World, who: str, search_id: int):
    return client.post(f"/api/searches/{search_id}/assignment", headers=world.auth(who))


def _confirm(client: TestClient, world: World, who: str, search_id: int, face_id: int) -> None:
    assert _take(client, world, who, search_id).status_code == 200
    response = client.post(
        f"/api/searches/{search_id}/reviews",
        json={
            "decision": "confirm",
            "candidate_face_id": face_id,
            "similarities": "same ear shape and hairline",
            "differences": "none of note",
        },
        headers=world.auth(who),
    )
    assert response.status_code == 201, response.text


def _audit(client: TestClient, world: World, **filters) -> list[dict]:
    response = client.get(
        "/api/audit", params={"limit": 1000, **filters}, headers=world.auth("audrey")
    )
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def _identifying(full: dict) -> list[str]:
    """What would identify the candidates: their gallery paths and file hashes."""
    return [c["image"]["path"] for c in full["candidates"]] + [
        c["image"]["sha256"] for c in full["candidates"]
    ]


# -- blind until released ---------------------------------------------------------------------


def test_the_requester_sees_a_pending_list_as_a_count_and_nothing_that_identifies(
    client, world
) -> None:
    answered, full = _search(client, world)
    assert len(full["candidates"]) >= 2
    ivan = world.auth("ivan")
    seen = client.get(f"/api/searches/{answered['id']}", headers=ivan).json()
    for view in (answered, seen):
        assert view["status"] == "pending_review" and view["view"] == "requester"
        assert view["candidates"] == [] and view["candidate_count"] == len(full["candidates"])
        assert view["candidates_withheld"] == len(full["candidates"])
    texts = {
        "api search": json.dumps(seen),
        "api case": client.get(f"/api/cases/{answered['case_id']}", headers=ivan).text,
        "search page": client.get(f"/searches/{answered['id']}", headers=ivan).text,
        "case page": client.get(f"/cases/{answered['case_id']}", headers=ivan).text,
        "disclosure": client.get(f"/api/cases/{answered['case_id']}/disclosure", headers=ivan).text,
    }
    for where, text in texts.items():
        for secret in _identifying(full):
            assert secret not in text, (where, secret)
    assert f"holds <strong>{len(full['candidates'])}</strong> candidates" in texts["search page"]
    first = full["candidates"][0]
    for path in (
        f"/api/faces/{first['face_id']}/crop",
        f"/api/images/{first['image']['id']}",
        f"/searches/{answered['id']}/compare/{first['face_id']}",
    ):
        assert client.get(path, headers=ivan).status_code == 403, path
    # The face ids of the case's search entry are withheld from the requester's timeline.
    timeline = client.get(f"/api/cases/{answered['case_id']}", headers=ivan).json()["timeline"]
    search_event = next(e for e in timeline if e["action"] == "search")
    assert "candidate_face_ids" not in search_event["details"]
    assert search_event["details"]["candidates"] == len(full["candidates"])
    # Oversight's disclosure packet still holds everything.
    packet = client.get(
        f"/api/cases/{answered['case_id']}/disclosure", headers=world.auth("audrey")
    ).json()
    assert [c["face_id"] for c in packet["searches"][0]["candidates"]] == [
        c["face_id"] for c in full["candidates"]
    ]


def test_after_release_the_requester_sees_the_released_lead_and_only_it(client, world) -> None:
    answered, full = _search(client, world)
    lead, other = full["candidates"][0], full["candidates"][1]
    _confirm(client, world, "rita", answered["id"], lead["face_id"])
    _confirm(client, world, "rory", answered["id"], lead["face_id"])
    ivan = world.auth("ivan")
    seen = client.get(f"/api/searches/{answered['id']}", headers=ivan).json()
    assert seen["status"] == "released" and seen["lead"]["candidate"]["face_id"] == lead["face_id"]
    assert [c["face_id"] for c in seen["candidates"]] == [lead["face_id"]]
    assert seen["candidates_withheld"] == len(full["candidates"]) - 1
    assert other["image"]["path"] not in json.dumps(seen)
    assert client.get(f"/api/faces/{lead['face_id']}/crop", headers=ivan).status_code == 200
    assert client.get(f"/api/images/{lead['image']['id']}", headers=ivan).status_code == 200
    if other["image"]["id"] != lead["image"]["id"]:
        assert client.get(f"/api/images/{other['image']['id']}", headers=ivan).status_code == 403
    assert client.get(f"/api/faces/{other['face_id']}/crop", headers=ivan).status_code == 403
    page = client.get(f"/searches/{answered['id']}", headers=ivan).text
    assert lead["image"]["path"] in page and other["image"]["path"] not in page


# -- reviewers review what they are given ------------------------------------------------------


def test_reviewers_take_searches_from_the_queue_two_at_most_and_see_only_theirs(
    client, world
) -> None:
    answered, full = _search(client, world)
    search_id, probe_id = answered["id"], answered["probe_id"]
    first = full["candidates"][0]
    # ivy (a reviewer who was never assigned a search that listed these faces): until she is
    # assigned, the search, its probe and its images are closed to her.
    ivy = world.auth("ivy")
    for path in (
        f"/api/searches/{search_id}",
        f"/api/probes/{probe_id}",
        f"/api/probes/{probe_id}/image",
        f"/api/faces/{first['face_id']}/crop",
        f"/api/images/{first['image']['id']}",
        f"/searches/{search_id}/review",
        f"/probes/{probe_id}",
    ):
        assert client.get(path, headers=ivy).status_code == 403, path
    queued = {s["id"]: s for s in client.get("/api/reviews/queue", headers=ivy).json()}
    assert queued[search_id]["assigned_to_you"] is False
    assert queued[search_id]["candidate_count"] == len(full["candidates"])
    assert "candidates" not in queued[search_id]
    taken = _take(client, world, "ivy", search_id)
    assert taken.status_code == 200 and taken.json()["reviewers_assigned"] == 1
    for path in (
        f"/api/searches/{search_id}",
        f"/api/probes/{probe_id}",
        f"/api/probes/{probe_id}/image",
        f"/api/faces/{first['face_id']}/crop",
        f"/searches/{search_id}/review",
    ):
        assert client.get(path, headers=ivy).status_code == 200, path
    assert client.get(f"/api/searches/{search_id}", headers=ivy).json()["candidates"]
    # A review needs the assignment; a third reviewer cannot take the search.
    assert _take(client, world, "rory", search_id).json()["reviewers_assigned"] == 2
    third = _take(client, world, "rita", search_id)
    assert third.status_code == 409 and "two reviewers" in third.json()["message"]
    refused = client.post(
        f"/api/searches/{search_id}/reviews",
        json={"decision": "no_lead", "similarities": "x", "differences": "y"},
        headers=world.auth("rita"),
    )
    assert refused.status_code == 403 and "assigned" in refused.json()["message"]
    assert search_id not in {
        s["id"] for s in client.get("/api/reviews/queue", headers=world.auth("rita")).json()
    }
    assigned = _audit(client, world, action="review_assigned", case_id=answered["case_id"])
    assert {e["actor"] for e in assigned} == {"ivy", "rory"}


def test_the_review_queue_page_takes_a_search(client, world) -> None:
    answered, _ = _search(client, world)
    rita = world.auth("rita")
    page = client.get("/reviews", headers=rita).text
    assert f"Take search {answered['id']}" in page
    taken = client.post(f"/searches/{answered['id']}/take", headers=rita, follow_redirects=False)
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/searches/{answered['id']}/review"
    assert f"Review search {answered['id']}" in client.get("/reviews", headers=rita).text


# -- every refusal and every opening is audited --------------------------------------------------


def test_every_refusal_is_audited_with_the_rule_that_refused_it(client, world) -> None:
    iris_case = _case(client, world, "iris")
    closed = _case(client, world)
    client.post(f"/api/cases/{closed['id']}/close", headers=world.auth("ivan"))
    refusals = [
        ("untrained", "post", "/api/cases", "training"),
        ("admin", "post", "/api/cases", "investigator role"),
        ("ivan", "get", f"/api/cases/{iris_case['id']}", "your own cases"),
        ("rita", "get", f"/cases/{iris_case['id']}", "your own cases"),
    ]
    body = {"reference": "X-1", "offense_category": "robbery", "purpose": "a robbery suspect"}
    for who, method, path, _ in refusals:
        kwargs = {"json": body} if method == "post" else {}
        response = client.request(method, path, headers=world.auth(who), **kwargs)
        assert response.status_code == 403, (who, path, response.text)
    closed_upload = client.post(
        f"/api/cases/{closed['id']}/probes",
        files={"file": ("p.jpg", PROBE.read_bytes())},
        headers=world.auth("ivan"),
    )
    assert closed_upload.status_code == 409
    entries = _audit(client, world, action="access_refused")
    for who, _, path, rule in refusals:
        assert any(
            e["actor"] == who and e["details"].get("path") == path and rule in e["details"]["rule"]
            for e in entries
        ), (who, path, rule)
    assert any(
        e["actor"] == "ivan"
        and e.get("case_id", e["details"].get("case_id")) == closed["id"]
        and "closed" in e["details"]["rule"]
        for e in entries
    )


def test_opening_lists_cases_probes_and_the_audit_log_is_audited(client, world) -> None:
    answered, _ = _search(client, world)
    ivan = world.auth("ivan")
    client.get(f"/api/cases/{answered['case_id']}", headers=ivan)
    client.get(f"/searches/{answered['id']}", headers=ivan)
    client.get(f"/api/probes/{answered['probe_id']}", headers=ivan)
    client.get(f"/api/searches/{answered['id']}", headers=world.auth("sam"))
    client.get("/audit/export", headers=world.auth("audrey"))
    entries = _audit(client, world, case_id=answered["case_id"])
    seen = {(e["actor"], e["action"]) for e in entries}
    assert {
        ("ivan", "case_viewed"),
        ("ivan", "search_viewed"),
        ("ivan", "probe_opened"),
        ("sam", "search_viewed"),
    } <= seen
    views = {e["details"]["view"] for e in entries if e["action"] == "search_viewed"}
    assert views == {"requester", "full"}
    read = _audit(client, world, action="audit_read", user="audrey")
    assert read and read[0]["details"]["filters"]["action"] == "audit_read"
    assert _audit(client, world, action="audit_exported")
    # The timeline is what was done in the case, not who looked at it.
    timeline = client.get(f"/api/cases/{answered['case_id']}", headers=ivan).json()["timeline"]
    assert not {e["action"] for e in timeline} & {"case_viewed", "search_viewed", "probe_opened"}


# -- refused purposes have a floor ---------------------------------------------------------------


def test_the_default_refused_purposes_cannot_be_removed_only_added_to(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    admin = w.auth("admin")
    with TestClient(w.app()) as c:
        current = c.get("/api/settings", headers=admin).json()["refused_purposes"]
        emptied = c.put("/api/settings/refused_purposes", json={"value": []}, headers=admin)
        assert emptied.status_code == 400 and "cannot be removed" in emptied.json()["message"]
        fewer_terms = json.loads(json.dumps(current))
        fewer_terms[0]["terms"].remove("deportation")
        cut = c.put("/api/settings/refused_purposes", json={"value": fewer_terms}, headers=admin)
        assert cut.status_code == 400 and "deportation" in cut.json()["message"]
        extra = [*current, {"category": "debt", "reason": "not for debts", "terms": ["debt"]}]
        added = c.put("/api/settings/refused_purposes", json={"value": extra}, headers=admin)
        assert added.status_code in (200, 204), added.text
    # A setting emptied before this rule (written straight to the database) holds no sway.
    store = open_store(w.data_dir, w.database_url)
    store.settings.put_setting("refused_purposes", [], "operator")
    store.close()
    with TestClient(w.app()) as c:
        refused = c.post(
            "/api/cases",
            json={
                "reference": "FLOOR-1",
                "offense_category": "robbery",
                "purpose": "locate undocumented immigrant for deportation",
            },
            headers=w.auth("ivan"),
        )
        assert refused.status_code == 403
        assert "immigration enforcement" in refused.json()["message"]


# -- still photos only ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["apng", "webp", "mpo", "gif"])
def test_a_probe_with_more_than_one_frame_is_refused(client, world, kind) -> None:
    still = Image.open(PROBE).convert("RGB")
    frames = [still, still.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    fmt = {"apng": "PNG", "webp": "WEBP", "mpo": "MPO", "gif": "GIF"}[kind]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:])
    case = _case(client, world)
    response = client.post(
        f"/api/cases/{case['id']}/probes",
        files={"file": (f"p.{kind}", buffer.getvalue())},
        headers=world.auth("ivan"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "not_still" and "2 frames" in response.json()["message"]


# -- scoped authorisations -----------------------------------------------------------------------


def test_a_case_opened_for_named_collections_searches_only_those(
    server_world: World, tmp_path: Path
) -> None:
    from tests.conftest import GALLERY_FACES
    from tests.helpers import run_cli
    from tests.server_world import STRANGER

    w = server_world.copy_to(tmp_path / "data")
    run_cli(
        "ingest", "--collection", "other", "--workers", "1", STRANGER,
        data_dir=w.data_dir, check=True, database_url=w.database_url,
    )  # fmt: skip
    ivan, admin = w.auth("ivan"), w.auth("admin")
    grounds = {"offense_category": "robbery", "purpose": "identify a robber seen on camera"}
    with TestClient(w.app()) as c:

        def search(case_id: int, photo: Path, collection: str | None = None):
            probe = c.post(
                f"/api/cases/{case_id}/probes",
                files={"file": ("p.jpg", photo.read_bytes())},
                headers=ivan,
            ).json()
            return c.post(
                f"/api/probes/{probe['id']}/searches",
                json={"face_index": 0, "collection": collection},
                headers=ivan,
            )

        unknown = c.post(
            "/api/cases",
            json={"reference": "S-0", "collections": ["nope"], **grounds},
            headers=ivan,
        )
        assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
        scoped = c.post(
            "/api/cases",
            json={"reference": "S-1", "collections": ["fixture"], **grounds},
            headers=ivan,
        ).json()
        assert scoped["collections"] == ["fixture"]
        # The stranger is in "other" only: out of this case's reach.
        within = search(scoped["id"], STRANGER)
        assert within.status_code == 201, within.text
        assert within.json()["outcome"] == "no_candidate"
        assert within.json()["gallery_size"] == GALLERY_FACES
        outside = search(scoped["id"], STRANGER, "other")
        assert (
            outside.status_code == 403 and "authorised for the collections fixture" in outside.text
        )
        refused = _audit(c, w, action="search_refused", case_id=scoped["id"])
        assert refused and "not 'other'" in refused[0]["details"]["reason"]
        both = c.post(
            "/api/cases",
            json={"reference": "S-2", "collections": ["fixture", "other"], **grounds},
            headers=ivan,
        ).json()
        union = search(both["id"], STRANGER).json()
        assert union["outcome"] == "candidates" and union["collection"] == "fixture, other"
        assert union["gallery_size"] > GALLERY_FACES  # the threshold is for the union's size
        # Settings decide which offenses need an authorisation id and expiry.
        required = {"value": ["robbery"]}
        assert c.put(
            "/api/settings/authorisation_required", json=required, headers=admin
        ).status_code in (200, 204)
        bare = c.post("/api/cases", json={"reference": "S-3", **grounds}, headers=ivan)
        assert bare.status_code == 403 and "requires an authorisation" in bare.json()["message"]
        authorised = c.post(
            "/api/cases",
            json={
                "reference": "S-4",
                "authorisation_id": "WARRANT-7",
                "authorisation_expires": "2099-01-01",
                **grounds,
            },
            headers=ivan,
        )
        assert authorised.status_code == 201, authorised.text
