"""The JSON API through FastAPI's test client, over a real SQLite store, the real face model
and the fixture photos. Accounts act through their API tokens unless a test is about
browser sessions."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesift.compose import open_store
from facesift.config import Config
from facesift.governance.search_policy import MAX_CANDIDATES, MIN_PURPOSE_CHARS
from facesift.governance.secrets import token_hash
from facesift.server import create_app
from facesift.services.casework import LEAD_NOTICE
from facesift.store.audit import entry_hash
from tests.bad_files import decompression_bomb_png
from tests.conftest import FIXTURE, GALLERY_FACES
from tests.helpers import run_cli, run_json
from tests.server_world import PASSWORD, PROBE, STRANGER, World, build_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql+milvus"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    # A world of this module's own: these tests change settings and open many cases. Every
    # test runs on one box (SQLite, FAISS) and as a team would (PostgreSQL, Milvus).
    if request.param == "sqlite":
        return build_world(tmp_path_factory.mktemp("api") / "data")
    return build_world(
        tmp_path_factory.mktemp("api") / "data",
        request.getfixturevalue("postgres_server"),
        request.getfixturevalue("milvus_url"),
    )


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app()) as test_client:
        # Many tests search as the same user within a minute; the limit has its own test.
        test_client.put(
            "/api/settings/searches_per_minute", json={"value": 1000}, headers=world.auth("admin")
        )
        yield test_client


_counter = iter(range(1, 10_000))


def open_case(client: TestClient, world: World, who: str = "ivan", **overrides) -> dict:
    body = {
        "reference": f"CASE-{next(_counter)}",
        "offense_category": "robbery",
        "purpose": "identify the suspect in an armed robbery of a pharmacy",
        **overrides,
    }
    response = client.post("/api/cases", json=body, headers=world.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


def upload(
    client: TestClient,
    world: World,
    case_id: int,
    content: bytes,
    who: str = "ivan",
    name: str = "probe.jpg",
):
    return client.post(
        f"/api/cases/{case_id}/probes", files={"file": (name, content)}, headers=world.auth(who)
    )


def searched(client: TestClient, world: World, photo=PROBE, who: str = "ivan") -> dict:
    """A new search, as oversight (the supervisor) sees it: the whole candidate list. Its
    requester sees it blind until a lead is released (tests/test_accountability.py)."""
    case = open_case(client, world, who)
    probe = upload(client, world, case["id"], photo.read_bytes(), who).json()
    response = client.post(
        f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=world.auth(who)
    )
    assert response.status_code == 201, response.text
    full = client.get(f"/api/searches/{response.json()['id']}", headers=world.auth("sam"))
    assert full.status_code == 200, full.text
    return full.json()


def take(client: TestClient, world: World, who: str, search_id: int):
    """The reviewer takes the search from the queue (it is assigned to them)."""
    return client.post(f"/api/searches/{search_id}/assignment", headers=world.auth(who))


def review(
    client: TestClient,
    world: World,
    who: str,
    search_id: int,
    decision: str,
    face_id: int | None = None,
):
    taken = take(client, world, who, search_id)
    if taken.status_code != 200:
        return taken
    return client.post(
        f"/api/searches/{search_id}/reviews",
        json={
            "decision": decision,
            "candidate_face_id": face_id,
            "similarities": "same ear shape and hairline",
            "differences": "none of note",
        },
        headers=world.auth(who),
    )


def audit_actions(client: TestClient, world: World, **filters) -> list[dict]:
    response = client.get(
        "/api/audit", params={"limit": 1000, **filters}, headers=world.auth("audrey")
    )
    assert response.status_code == 200, response.text
    return response.json()["entries"]


# -- setup, sign-in and credentials ---------------------------------------------------------------


def test_a_server_without_an_admin_serves_nothing_but_health(tmp_path) -> None:
    with TestClient(create_app(Config(home=tmp_path / "empty"))) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        for path in ("/api/me", "/openapi.json", "/login", "/"):
            response = c.get(path)
            assert response.status_code == 503
            assert "facesift users add NAME --role admin" in response.json()["message"]
        # Once an admin exists, the same server serves, without a restart.
        c.app.state.services.accounts.add_user("root", ["admin"], None, PASSWORD)
        assert c.get("/login").status_code == 200


def test_sign_in_sets_a_strict_http_only_cookie_and_is_audited(client, world) -> None:
    response = client.post("/api/session", json={"name": "ivan", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert response.json()["user"]["name"] == "ivan"
    assert "password_hash" not in response.text
    client.cookies.clear()
    assert audit_actions(client, world, action="login", user="ivan")


def test_wrong_passwords_and_unknown_names_fail_alike_and_are_audited(client, world) -> None:
    bad = client.post("/api/session", json={"name": "ivan", "password": "not his password"})
    unknown = client.post("/api/session", json={"name": "nobody", "password": PASSWORD})
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["message"] == unknown.json()["message"]
    failures = audit_actions(client, world, action="login_failed")
    assert {e["details"]["user"] for e in failures} >= {"ivan", "nobody"}


def test_passwords_and_tokens_are_stored_only_as_hashes(world) -> None:
    store = open_store(world.data_dir, world.database_url)
    hashes = [r[0] for r in store.db.execute("SELECT password_hash FROM users")]
    stored_tokens = {r[0] for r in store.db.execute("SELECT token_hash FROM api_tokens")}
    store.close()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert token_hash(world.tokens["ivan"]) in stored_tokens
    assert world.tokens["ivan"] not in stored_tokens


def test_a_token_is_read_with_its_user_and_every_role_in_one_statement(world) -> None:
    store = open_store(world.data_dir, world.database_url)
    try:
        hashed = token_hash(world.tokens["boss"])
        found = store.accounts.token_holder(hashed)
        assert found is not None
        token, user = found
        assert user.name == "boss" and user.roles == {"admin", "investigator"}
        # The same as the token and the user read one at a time, column for column.
        assert token == store.accounts.live_token(hashed)
        assert user == store.accounts.user(token.user_id)
        assert store.accounts.token_holder(token_hash("fs_guess")) is None
    finally:
        store.close()


def test_cookie_sessions_need_the_csrf_token_for_changes(client, world) -> None:
    signed_in = client.post("/api/session", json={"name": "ivan", "password": PASSWORD}).json()
    body = {
        "reference": "CSRF-1",
        "offense_category": "robbery",
        "purpose": "identify the suspect in an armed robbery",
    }
    try:
        refused = client.post("/api/cases", json=body)
        assert refused.status_code == 403 and "security token" in refused.json()["message"]
        accepted = client.post(
            "/api/cases", json=body, headers={"X-CSRF-Token": signed_in["csrf_token"]}
        )
        assert accepted.status_code == 201
    finally:
        client.delete("/api/session", headers={"X-CSRF-Token": signed_in["csrf_token"]})
        client.cookies.clear()
    assert client.get("/api/me").status_code == 401


def test_revoked_and_unknown_tokens_are_refused(client, world) -> None:
    made = client.post(
        "/api/tokens", json={"name": "one-off", "days": 1}, headers=world.auth("rita")
    )
    assert made.status_code == 201
    token = made.json()["token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoked = client.delete(f"/api/tokens/{made.json()['id']}", headers=world.auth("rita"))
    assert revoked.json()["revoked_at"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Bearer fs_guess"}).status_code == 401
    # Someone else's token is not yours to revoke.
    other = client.post("/api/tokens", json={"name": "x"}, headers=world.auth("rory")).json()
    assert (
        client.delete(f"/api/tokens/{other['id']}", headers=world.auth("rita")).status_code == 403
    )


def test_security_headers_on_every_kind_of_response(client, world) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/api/me"),
        client.get("/api/stats", headers=world.auth("ivan")),
    ):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


# -- accounts: separation of duties ----------------------------------------------------------------


def test_new_accounts_wait_for_a_supervisor_who_is_not_their_creator(client, world) -> None:
    made = client.post(
        "/api/users", json={"name": "newbie", "roles": ["reviewer"]}, headers=world.auth("admin")
    )
    assert made.status_code == 201
    user = made.json()["user"]
    # The admin never learns a password: the account has none until its user sets one.
    assert user["status"] == "pending" and "one_time_password" not in made.json()
    assert (
        client.post(f"/api/users/{user['id']}/approve", headers=world.auth("admin")).status_code
        == 403
    )
    approved = client.post(f"/api/users/{user['id']}/approve", headers=world.auth("sam"))
    assert approved.json()["user"]["status"] == "active"
    assert approved.json()["user"]["approved_by"] == "sam"
    code = approved.json()["one_time_code"]
    password = "newbie's own passphrase"
    set_it = client.post(
        "/api/password-code", json={"name": "newbie", "code": code, "new_password": password}
    )
    assert set_it.status_code == 200, set_it.text
    assert (
        client.post("/api/session", json={"name": "newbie", "password": password}).status_code
        == 200
    )
    client.cookies.clear()


def test_only_admins_manage_users_and_settings(client, world) -> None:
    for who in ("ivan", "rita", "sam", "audrey"):
        assert (
            client.post(
                "/api/users",
                json={"name": f"x{who}", "roles": ["reviewer"]},
                headers=world.auth(who),
            ).status_code
            == 403
        )
        assert (
            client.put(
                "/api/settings/searches_per_minute", json={"value": 1}, headers=world.auth(who)
            ).status_code
            == 403
        )
    bad = client.put(
        "/api/settings/searches_per_minute", json={"value": "many"}, headers=world.auth("admin")
    )
    assert bad.status_code == 400


def test_the_last_admin_cannot_be_removed(fresh_world) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        # Two admins: each asks for the other to lose the role; a supervisor approves both.
        first = c.put(
            f"/api/users/{w.user_ids['admin']}/roles",
            json={"roles": ["auditor"]},
            headers=w.auth("boss"),
        )
        other = c.put(
            f"/api/users/{w.user_ids['boss']}/roles",
            json={"roles": ["investigator"]},
            headers=w.auth("admin"),
        )
        assert first.status_code == other.status_code == 202
        done = c.post(f"/api/account-requests/{other.json()['id']}/approve", headers=w.auth("sam"))
        assert done.status_code == 200 and done.json()["request"]["status"] == "approved"
        last = c.post(f"/api/account-requests/{first.json()['id']}/approve", headers=w.auth("sam"))
        assert last.status_code == 409 and "last active admin" in last.json()["message"]


# -- cases and the search contract -----------------------------------------------------------------


@pytest.mark.parametrize(
    "purpose, category",
    [
        ("locate a visa overstayer for deportation proceedings", "immigration enforcement"),
        (
            "identify people at the protest outside the town hall",
            "monitoring of protected activity",
        ),
        ("find members of an ethnic minority in the district", "protected characteristic"),
    ],
)
def test_refused_purposes_name_their_reason_and_are_audited(
    client, world, purpose, category
) -> None:
    response = client.post(
        "/api/cases",
        json={
            "reference": f"REFUSED-{next(_counter)}",
            "offense_category": "robbery",
            "purpose": purpose,
        },
        headers=world.auth("ivan"),
    )
    assert response.status_code == 403
    assert category in response.json()["message"]
    refusals = audit_actions(client, world, action="case_refused")
    assert any(e["details"]["purpose"] == purpose for e in refusals)


def test_a_word_inside_another_word_is_not_refused(client, world) -> None:
    case = open_case(client, world, purpose="trace the getaway driver of a bank robbery")
    assert case["status"] == "open"


def test_offense_categories_come_from_the_allow_list(client, world) -> None:
    response = client.post(
        "/api/cases",
        json={
            "reference": "PARKING-1",
            "offense_category": "parking",
            "purpose": "identify whoever parked on the lawn",
        },
        headers=world.auth("ivan"),
    )
    assert response.status_code == 403 and "allow-list" in response.json()["message"]


def test_an_expired_authorisation_refuses_the_case(client, world) -> None:
    response = client.post(
        "/api/cases",
        json={
            "reference": "OLD-1",
            "offense_category": "fraud",
            "purpose": "identify a fraudster",
            "authorisation_id": "W-1",
            "authorisation_expires": "2020-01-01",
        },
        headers=world.auth("ivan"),
    )
    assert response.status_code == 403 and "expired" in response.json()["message"]


@pytest.mark.parametrize(
    "who, why",
    [
        ("untrained", "training attestation"),
        ("boss", "admin role cannot search"),
        ("audrey", "investigator role"),
        ("rita", "investigator role"),
    ],
)
def test_who_may_not_search(client, world, who, why) -> None:
    response = client.post(
        "/api/cases",
        json={
            "reference": f"NOPE-{who}",
            "offense_category": "fraud",
            "purpose": "identify a fraudster seen on camera",
        },
        headers=world.auth(who),
    )
    assert response.status_code == 403 and why in response.json()["message"]


def test_investigators_see_only_their_own_cases(client, world) -> None:
    case = open_case(client, world, "ivan")
    assert client.get(f"/api/cases/{case['id']}", headers=world.auth("iris")).status_code == 403
    assert case["id"] not in {
        c["id"] for c in client.get("/api/cases", headers=world.auth("iris")).json()
    }
    for overseer in ("audrey", "sam"):
        assert (
            client.get(f"/api/cases/{case['id']}", headers=world.auth(overseer)).status_code == 200
        )
    probe = upload(client, world, case["id"], PROBE.read_bytes(), who="iris")
    assert probe.status_code == 403


# -- probes ----------------------------------------------------------------------------------------


def test_probes_are_checked_by_content_not_by_name(client, world) -> None:
    case = open_case(client, world)
    text = upload(client, world, case["id"], b"just some text, not a photo", name="x.jpg")
    assert text.status_code == 415 and text.json()["error"] == "not_an_image"
    truncated = upload(client, world, case["id"], PROBE.read_bytes()[:2000])
    assert truncated.status_code == 422 and truncated.json()["error"] == "truncated"
    bomb = upload(client, world, case["id"], decompression_bomb_png(), name="x.png")
    assert bomb.status_code == 422 and bomb.json()["error"] == "decompression_bomb"
    # A real JPEG named .txt is still a photo.
    photo = upload(client, world, case["id"], PROBE.read_bytes(), name="notes.txt")
    assert photo.status_code == 201 and photo.json()["media_type"] == "image/jpeg"


def test_uploads_over_the_limit_are_refused_before_they_are_read(fresh_world) -> None:
    with TestClient(fresh_world.app()) as c:
        c.put(
            "/api/settings/max_upload_bytes",
            json={"value": 100_000},
            headers=fresh_world.auth("admin"),
        )
        case = c.post(
            "/api/cases",
            json={
                "reference": "BIG-1",
                "offense_category": "fraud",
                "purpose": "identify a fraudster seen on camera",
            },
            headers=fresh_world.auth("ivan"),
        ).json()
        response = c.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": ("big.jpg", b"\xff" * 400_000)},
            headers=fresh_world.auth("ivan"),
        )
        assert response.status_code == 413


def test_animated_images_are_refused_as_not_still(client, world) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    case = open_case(client, world)
    response = upload(client, world, case["id"], buffer.getvalue(), name="clip.gif")
    assert response.status_code == 422 and response.json()["error"] == "not_still"


def test_a_probe_too_big_to_scan_whole_says_so_and_a_crop_restores_the_small_faces(
    world,
) -> None:
    """With HOG, over 4 MP the scan is capped (16 MP after doubling): the probe says how
    small a face was looked for, in the API and on its page; cropping to the area of
    interest makes a probe small enough to be searched down to 40 px again. (The default
    detector scans photos up to the 50 MP decode limit whole.)"""
    with TestClient(world.app(detector="hog")) as client:
        _probe_too_big_to_scan_whole(client, world)


def _probe_too_big_to_scan_whole(client: TestClient, world: World) -> None:
    image = Image.open(PROBE).convert("RGB")
    big = image.resize((2500, 2500), Image.Resampling.BILINEAR)  # 6.25 MP
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=90)
    case = open_case(client, world)
    probe = upload(client, world, case["id"], buffer.getvalue()).json()
    assert len(probe["faces"]) == 1
    assert probe["scan_capped"] and probe["smallest_face_px"] == 50  # 80 / sqrt(16 / 6.25)
    assert (
        client.get(f"/api/probes/{probe['id']}", headers=world.auth("ivan")).json()[
            "smallest_face_px"
        ]
        == 50
    )
    browser = TestClient(client.app)
    browser.post("/login", data={"name": "ivan", "password": PASSWORD})
    assert "too big to scan whole" in browser.get(f"/probes/{probe['id']}").text
    cropped = client.post(
        f"/api/probes/{probe['id']}/edits",
        json={"operation": "crop", "box": [250, 250, 2250, 2250]},
        headers=world.auth("ivan"),
    ).json()
    assert not cropped["scan_capped"] and cropped["smallest_face_px"] == 40
    assert len(cropped["faces"]) == 1
    small = upload(client, world, case["id"], PROBE.read_bytes()).json()
    assert not small["scan_capped"] and small["smallest_face_px"] == 40
    assert "too big to scan whole" not in browser.get(f"/probes/{small['id']}").text


def test_a_mirrored_probe_is_a_derivative_with_both_hashes(client, world) -> None:
    case = open_case(client, world)
    original = upload(client, world, case["id"], PROBE.read_bytes()).json()
    edited = client.post(
        f"/api/probes/{original['id']}/edits",
        json={"operation": "mirror"},
        headers=world.auth("ivan"),
    )
    assert edited.status_code == 201
    derivative = edited.json()
    assert derivative["parent_id"] == original["id"]
    assert derivative["edit"]["before_sha256"] == original["sha256"]
    assert derivative["sha256"] != original["sha256"] and len(derivative["faces"]) == 1
    search = client.post(
        f"/api/probes/{derivative['id']}/searches",
        json={"face_index": 0},
        headers=world.auth("ivan"),
    ).json()
    assert search["edited_probe"] == 1
    search = client.get(f"/api/searches/{search['id']}", headers=world.auth("sam")).json()
    assert "Colin_Powell" in search["candidates"][0]["image"]["path"]
    entry = audit_actions(client, world, action="probe_edited", case_id=case["id"])[0]
    assert entry["details"]["after_sha256"] == derivative["sha256"]
    assert entry["actor"] == "ivan"


def test_crops_outside_the_probe_are_refused(client, world) -> None:
    case = open_case(client, world)
    probe = upload(client, world, case["id"], PROBE.read_bytes()).json()
    response = client.post(
        f"/api/probes/{probe['id']}/edits",
        json={"operation": "crop", "box": [0, 0, 5000, 5000]},
        headers=world.auth("ivan"),
    )
    assert response.status_code == 400 and "within" in response.json()["message"]


# -- searches, candidate lists and review ----------------------------------------------------------


def test_a_search_gives_a_candidate_list_pending_review(client, world) -> None:
    search = searched(client, world)
    assert search["outcome"] == "candidates" and search["status"] == "pending_review"
    first = search["candidates"][0]
    assert "Colin_Powell" in first["image"]["path"]
    assert first["image"]["collection"] == "fixture"
    assert first["distance"] <= search["threshold"] and 0 <= first["score"] < 1e-3
    assert search["gallery_size"] == GALLERY_FACES and search["expected_false_candidates"] > 0
    # The threshold comes from the target FPIR at this gallery's size, and says so.
    assert search["target_fpir"] == 0.01
    assert search["expected_false_candidates"] <= search["target_fpir"]
    assert search["lead"] is None
    assert "match" not in json.dumps(search).lower()
    entry = audit_actions(client, world, action="search", case_id=search["case_id"])[0]
    assert entry["details"]["candidate_face_ids"] == [c["face_id"] for c in search["candidates"]]


def test_the_target_fpir_is_a_bounded_setting_that_tightens_the_threshold(client, world) -> None:
    admin = world.auth("admin")
    for bad in (0.5, 0, -0.01, "0.01", True, None):
        response = client.put("/api/settings/target_fpir", json={"value": bad}, headers=admin)
        assert response.status_code == 400, bad
        assert "between" in response.json()["message"]
    loose = searched(client, world)
    assert client.put(
        "/api/settings/target_fpir", json={"value": 0.001}, headers=admin
    ).status_code in (200, 204)
    try:
        strict = searched(client, world)
    finally:
        client.put("/api/settings/target_fpir", json={"value": 0.01}, headers=admin)
    assert strict["target_fpir"] == 0.001 and strict["threshold"] < loose["threshold"]
    entry = audit_actions(client, world, action="search", case_id=strict["case_id"])[0]
    assert entry["details"]["target_fpir"] == 0.001
    assert entry["details"]["threshold"] == strict["threshold"]


def test_no_candidate_is_an_outcome_and_is_recorded(client, world) -> None:
    search = searched(client, world, photo=STRANGER)
    assert search["outcome"] == "no_candidate" and search["candidates"] == []
    assert search["status"] == "no_candidate"
    timeline = client.get(f"/api/cases/{search['case_id']}", headers=world.auth("ivan")).json()[
        "timeline"
    ]
    assert any(
        e["action"] == "search" and e["details"]["outcome"] == "no_candidate" for e in timeline
    )


def test_two_reviewers_confirming_the_same_candidate_release_the_lead(client, world) -> None:
    search = searched(client, world)
    face_id = search["candidates"][0]["face_id"]
    assert review(client, world, "rita", search["id"], "confirm", face_id).status_code == 201
    # The second reviewer does not see the first one's decision before giving theirs.
    assert take(client, world, "rory", search["id"]).status_code == 200
    seen_by_rory = client.get(f"/api/searches/{search['id']}", headers=world.auth("rory")).json()
    assert seen_by_rory["reviews"] == [] and seen_by_rory["reviews_received"] == 1
    assert (
        client.get(f"/api/cases/{search['case_id']}", headers=world.auth("rory")).status_code == 403
    )
    assert (
        client.get(f"/api/searches/{search['id']}", headers=world.auth("ivan")).json()["lead"]
        is None
    )
    decided = review(client, world, "rory", search["id"], "confirm", face_id).json()
    assert decided["status"] == "released"
    released = client.get(f"/api/searches/{search['id']}", headers=world.auth("ivan")).json()
    assert released["lead"]["candidate"]["face_id"] == face_id
    assert released["lead"]["notice"] == LEAD_NOTICE
    assert {r["reviewer"] for r in released["reviews"]} == {"rita", "rory"}
    # Decided: no further reviews.
    assert review(client, world, "ivy", search["id"], "confirm", face_id).status_code == 409


def test_reviewers_never_review_their_own_search_nor_twice(client, world) -> None:
    search = searched(client, world, who="ivy")
    face_id = search["candidates"][0]["face_id"]
    own = review(client, world, "ivy", search["id"], "confirm", face_id)
    assert own.status_code == 403 and "own search" in own.json()["message"]
    assert review(client, world, "ivan", search["id"], "confirm", face_id).status_code == 403
    assert review(client, world, "rita", search["id"], "confirm", face_id).status_code == 201
    assert review(client, world, "rita", search["id"], "confirm", face_id).status_code == 409
    queue = client.get("/api/reviews/queue", headers=world.auth("rita")).json()
    assert search["id"] not in {s["id"] for s in queue}
    assert search["id"] in {
        s["id"] for s in client.get("/api/reviews/queue", headers=world.auth("rory")).json()
    }


def test_an_auditor_who_is_also_a_reviewer_cannot_review_blind(fresh_world) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        asked = c.put(
            f"/api/users/{w.user_ids['rita']}/roles",
            json={"roles": ["reviewer", "auditor"]},
            headers=w.auth("admin"),
        )
        c.post(f"/api/account-requests/{asked.json()['id']}/approve", headers=w.auth("sam"))
        search = searched(c, w)
        face_id = search["candidates"][0]["face_id"]
        refused = review(c, w, "rita", search["id"], "confirm", face_id)
        assert refused.status_code == 403 and "blind" in refused.json()["message"]


@pytest.mark.parametrize(
    "second, outcome", [("no_lead", "inconclusive"), ("confirm_other", "inconclusive")]
)
def test_disagreeing_reviewers_leave_no_lead(client, world, second, outcome) -> None:
    search = searched(client, world)
    first, other = (c["face_id"] for c in search["candidates"][:2])
    review(client, world, "rita", search["id"], "confirm", first)
    decision, face = ("confirm", other) if second == "confirm_other" else (second, None)
    decided = review(client, world, "rory", search["id"], decision, face).json()
    assert decided["status"] == outcome and decided["lead"] is None


def test_two_no_lead_reviews_give_no_lead(client, world) -> None:
    search = searched(client, world)
    review(client, world, "rita", search["id"], "no_lead")
    assert review(client, world, "rory", search["id"], "no_lead").json()["status"] == "no_lead"


def test_a_confirmation_must_name_a_listed_candidate(client, world) -> None:
    search = searched(client, world)
    response = review(client, world, "rita", search["id"], "confirm", 999_999)
    assert response.status_code == 400


def test_searches_over_the_rate_limit_are_refused_and_audited(fresh_world) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        c.put("/api/settings/searches_per_minute", json={"value": 2}, headers=w.auth("admin"))
        case = open_case(c, w, "iris")
        probe = upload(c, w, case["id"], PROBE.read_bytes(), who="iris").json()
        codes = [
            c.post(
                f"/api/probes/{probe['id']}/searches",
                json={"face_index": 0},
                headers=w.auth("iris"),
            ).status_code
            for _ in range(3)
        ]
        assert codes == [201, 201, 429]
        limited = audit_actions(c, w, action="search_rate_limited")
        assert limited[0]["actor"] == "iris" and limited[0]["details"]["limit_per_minute"] == 2


# -- candidate images ------------------------------------------------------------------------------


def test_candidate_images_are_served_by_id_only_to_those_who_may_see_them(client, world) -> None:
    search = searched(client, world, who="iris")  # none of her leads was released yet
    face_id = search["candidates"][0]["face_id"]
    image_id = search["candidates"][0]["image"]["id"]
    # Pending review: blind for the requester (reviewers: tests/test_accountability.py).
    assert client.get(f"/api/faces/{face_id}/crop", headers=world.auth("iris")).status_code == 403
    assert take(client, world, "rita", search["id"]).status_code == 200
    crop = client.get(f"/api/faces/{face_id}/crop", headers=world.auth("rita"))
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(crop.content)).size[0] > 50
    photo = client.get(f"/api/images/{image_id}", headers=world.auth("rita"))
    assert photo.status_code == 200
    assert client.get(f"/api/images/{image_id}", headers=world.auth("untrained")).status_code == 403
    assert client.get(f"/api/images/{image_id}").status_code == 401
    views = audit_actions(client, world, action="candidate_viewed", case_id=search["case_id"])
    assert {(e["actor"], e["details"]["view"]) for e in views} >= {
        ("rita", "face"),
        ("rita", "source_image"),
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/..%2F..%2Fetc%2Fpasswd",
        "/api/images/%2Fetc%2Fpasswd",
        "/static/..%2F..%2Fstore%2Fmigrations%2F0001_initial.sql",
        "/api/faces/1%2F..%2F2/crop",
    ],
)
def test_paths_never_reach_the_file_system(client, world, path) -> None:
    response = client.get(path, headers=world.auth("audrey"))
    assert response.status_code in (404, 422)
    assert b"CREATE TABLE" not in response.content and b"root:" not in response.content


# -- the case record and the audit trail -----------------------------------------------------------


def test_the_disclosure_packet_holds_the_whole_case(client, world) -> None:
    search = searched(client, world)
    face_id = search["candidates"][0]["face_id"]
    review(client, world, "rita", search["id"], "confirm", face_id)
    review(client, world, "rory", search["id"], "no_lead")
    response = client.get(
        f"/api/cases/{search['case_id']}/disclosure", headers=world.auth("audrey")
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    packet = response.json()
    assert packet["case"]["id"] == search["case_id"]
    assert [s["status"] for s in packet["searches"]] == ["inconclusive"]
    assert len(packet["searches"][0]["reviews"]) == 2
    actions = [e["action"] for e in packet["timeline"]]
    assert actions[:3] == ["case_opened", "probe_uploaded", "search"]
    assert actions.count("review") == 2 and "review_outcome" in actions
    assert packet["audit_chain_head"]["hash"]
    assert packet["searches"][0]["target_fpir"] == 0.01
    assert packet["searches"][0]["gallery_size"] == GALLERY_FACES
    # The printable packet and the candidate list page say the FPIR and the gallery's size.
    printable = client.get(f"/cases/{search['case_id']}/disclosure", headers=world.auth("audrey"))
    assert f"false positive identification rate 1% at {GALLERY_FACES} faces" in printable.text
    page = client.get(f"/searches/{search['id']}", headers=world.auth("ivan"))
    fpir = f"false positive identification rate of <strong>1%</strong> for {GALLERY_FACES} faces"
    assert fpir in page.text
    exported = audit_actions(client, world, action="disclosure_exported")
    assert exported[0]["details"]["case_id"] == search["case_id"]


def test_a_nul_character_in_a_filter_is_bad_input_on_either_database(client, world) -> None:
    # Found by the API fuzz test on PostgreSQL, whose text cannot hold NUL: it was a 500.
    for params in ({"since": "2026\x00"}, {"action": "search\x00"}):
        response = client.get("/api/audit", params=params, headers=world.auth("audrey"))
        assert response.status_code in (200, 400), response.text
        if world.database_url:
            assert response.status_code == 400 and "NUL" in response.json()["message"]


def test_only_auditors_read_verify_and_export_the_audit_log(client, world) -> None:
    for who in ("ivan", "rita", "sam", "admin"):
        assert client.get("/api/audit", headers=world.auth(who)).status_code == 403
        assert client.get("/audit/export", headers=world.auth(who)).status_code == 403
    report = client.get("/api/audit/verify", headers=world.auth("audrey")).json()
    assert report["ok"] is True and report["entries"] > 10


def test_the_audit_export_can_be_checked_by_a_third_party(client, world) -> None:
    response = client.get("/audit/export", headers=world.auth("audrey"))
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    entries = [line["entry"] for line in lines if "entry" in line]
    checkpoint = lines[-1]["checkpoint"]
    # Recompute the chain from the exported lines alone, as an outside party would.
    previous = "0" * 64
    for entry in entries:
        details = json.dumps(
            entry["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert entry["prev_hash"] == previous
        assert (
            entry_hash(previous, entry["id"], entry["at"], entry["actor"], entry["action"], details)
            == entry["hash"]
        )
        previous = entry["hash"]
    assert checkpoint == {
        **checkpoint,
        "id": entries[-1]["id"],
        "hash": previous,
        "entries": len(entries),
    }


def test_the_audit_log_filters_by_user_case_action_and_date(client, world) -> None:
    search = searched(client, world, who="iris")
    by_case = audit_actions(client, world, case_id=search["case_id"])
    assert {e["action"] for e in by_case} >= {"case_opened", "probe_uploaded", "search"}
    # What iris did, and the supervisor's opening of the list (searched() reads it as sam).
    others = [(e["actor"], e["action"]) for e in by_case if e["action"] != "search_viewed"]
    assert all(actor == "iris" for actor, _ in others), others
    assert {e["actor"] for e in by_case if e["action"] == "search_viewed"} == {"sam"}
    assert all(e["actor"] == "iris" for e in audit_actions(client, world, user="iris"))
    assert audit_actions(client, world, since="2999-01-01") == []
    today = by_case[0]["at"][:10]
    assert audit_actions(client, world, since=today, action="search", user="iris")


def test_the_team_activity_is_for_supervisors_and_auditors(client, world) -> None:
    searched(client, world)
    assert client.get("/api/searches", headers=world.auth("sam")).json()
    assert client.get("/api/searches", headers=world.auth("ivan")).status_code == 403


def test_openapi_describes_the_api(client) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/api/cases",
        "/api/probes/{probe_id}/searches",
        "/audit/export",
        "/api/searches/{search_id}/reviews",
    } <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_a_running_server_finds_faces_ingested_beside_it(fresh_world) -> None:
    from tests.helpers import run_cli

    w = fresh_world
    with TestClient(w.app()) as c:
        before = searched(c, w, photo=STRANGER)
        assert before["outcome"] == "no_candidate"
        run_cli(
            "ingest",
            "--collection",
            "late",
            "--workers",
            "1",
            STRANGER,
            data_dir=w.data_dir,
            check=True,
            database_url=w.database_url,
        )
        after = searched(c, w, photo=STRANGER)
        assert after["outcome"] == "candidates"
        assert after["candidates"][0]["image"]["collection"] == "late"
        assert after["gallery_size"] == before["gallery_size"] + 2


def test_requests_from_another_site_are_refused(client, world) -> None:
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        forged = client.post(
            "/login",
            data={"name": "ivan", "password": PASSWORD},
            headers={"Origin": origin},
            follow_redirects=False,
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
    same = client.post(
        "/login",
        data={"name": "ivan", "password": PASSWORD},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    client.cookies.clear()


def test_users_change_their_own_password_knowing_the_current_one(fresh_world) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        wrong = c.put(
            "/api/me/password",
            headers=w.auth("rita"),
            json={"current_password": "not it at all", "new_password": "x" * 14},
        )
        assert wrong.status_code == 403
        short = c.put(
            "/api/me/password",
            headers=w.auth("rita"),
            json={"current_password": PASSWORD, "new_password": "short"},
        )
        assert short.status_code == 400 and "12 characters" in short.json()["message"]
        done = c.put(
            "/api/me/password",
            headers=w.auth("rita"),
            json={"current_password": PASSWORD, "new_password": "a much longer one"},
        )
        assert done.status_code == 200
        assert (
            c.post("/api/session", json={"name": "rita", "password": PASSWORD}).status_code == 401
        )
        assert (
            c.post(
                "/api/session", json={"name": "rita", "password": "a much longer one"}
            ).status_code
            == 200
        )


def test_repeated_failed_sign_ins_lock_the_name_for_a_while(fresh_world) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        codes = [
            c.post("/api/session", json={"name": "rory", "password": f"guess {i}"}).status_code
            for i in range(5)
        ]
        assert codes == [401] * 5
        locked = c.post("/api/session", json={"name": "rory", "password": PASSWORD})
        assert locked.status_code == 401 and "too many failed sign-ins" in locked.json()["message"]
        # Another name is not affected, and the lock-out is in the audit log.
        assert (
            c.post("/api/session", json={"name": "rita", "password": PASSWORD}).status_code == 200
        )
        assert audit_actions(c, w, action="login_locked")[0]["details"]["user"] == "rory"


def test_a_slow_upload_does_not_hold_up_other_requests(server_world, tmp_path) -> None:
    import socket
    import time
    import urllib.request

    from tests.browser_support import start_server

    w = server_world.copy_to(tmp_path / "data")
    with start_server(w.data_dir, w.env()) as server:
        slow = socket.create_connection(("127.0.0.1", server.port))
        try:
            # Headers for a 100 kB upload, then only a trickle of it.
            slow.sendall(
                (
                    f"POST /api/cases/1/probes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {w.tokens['ivan']}\r\n"
                    "Content-Type: multipart/form-data; boundary=x\r\n"
                    "Content-Length: 100000\r\n\r\n--x\r\n"
                ).encode()
            )
            time.sleep(0.5)
            request = urllib.request.Request(server.url_for("/api/me"), headers=w.auth("rita"))
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            assert time.monotonic() - started < 2
        finally:
            slow.close()


def test_other_requests_are_answered_while_a_probe_is_analysed(server_world, tmp_path) -> None:
    """A probe's analysis (about a second for this 6 MP photo, run twice) gives up the
    database's turn: other users' requests are answered meanwhile, not after it."""
    import threading
    import time
    import urllib.request

    from tests.browser_support import start_server

    big = io.BytesIO()
    Image.open(PROBE).convert("RGB").resize((2500, 2500)).save(big, format="JPEG", quality=90)
    boundary = "facesift-test"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    body += big.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    w = server_world.copy_to(tmp_path / "data")
    with start_server(w.data_dir, w.env()) as server:
        case = json.load(
            urllib.request.urlopen(
                urllib.request.Request(
                    server.url_for("/api/cases"),
                    method="POST",
                    headers={**w.auth("ivan"), "Content-Type": "application/json"},
                    data=json.dumps(
                        {
                            "reference": "BUSY-1",
                            "offense_category": "robbery",
                            "purpose": "identify the suspect in a robbery",
                        }
                    ).encode(),
                )
            )
        )
        uploads: list[float] = []

        def upload_twice() -> None:
            for _ in range(2):
                started = time.monotonic()
                request = urllib.request.Request(
                    server.url_for(f"/api/cases/{case['id']}/probes"),
                    data=body,
                    method="POST",
                    headers={
                        **w.auth("ivan"),
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                    },
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    assert response.status == 201
                uploads.append(time.monotonic() - started)

        uploader = threading.Thread(target=upload_twice)
        uploader.start()
        waits = []
        while uploader.is_alive():
            started = time.monotonic()
            with urllib.request.urlopen(
                urllib.request.Request(server.url_for("/api/me"), headers=w.auth("rita")),
                timeout=60,
            ) as response:
                assert response.status == 200
            waits.append(time.monotonic() - started)
            time.sleep(0.02)
        uploader.join()
    assert len(uploads) == 2 and min(uploads) > 0.5, uploads
    # Held up by an analysis, a request would wait about as long as the upload takes.
    assert len(waits) >= 10 and max(waits) < min(uploads) / 2, (max(waits), uploads)


def test_uploads_waiting_for_analysis_never_hold_up_page_views(server_world, tmp_path) -> None:
    """More uploads at once than the server has worker threads (40), with one analysis
    process: they wait in the analysis lane (``server.lanes``), and reads are answered
    meanwhile. Without the lane a read waited behind the uploads for a free thread."""
    import threading
    import time
    import urllib.request

    from tests.browser_support import start_server

    photo = io.BytesIO()
    Image.open(PROBE).convert("RGB").resize((1000, 1000)).save(photo, format="JPEG", quality=90)
    w = server_world.copy_to(tmp_path / "data")
    env = w.env() | {"FACESIFT_SERVER__PROBE_WORKERS": "1"}
    with start_server(w.data_dir, env) as server:

        def call(path: str, who: str, data: bytes | None = None, kind: str = "") -> dict:
            headers = w.auth(who) | ({"Content-Type": kind} if kind else {})
            request = urllib.request.Request(server.url_for(path), data=data, headers=headers)
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)

        grounds = {"reference": "LANE-1", "offense_category": "robbery"}
        grounds["purpose"] = "identify the suspect in a robbery"
        case = call("/api/cases", "ivan", json.dumps(grounds).encode(), "application/json")
        boundary = "facesift-lane"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + photo.getvalue()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        done: list[float] = []

        def upload() -> None:
            path = f"/api/cases/{case['id']}/probes"
            call(path, "ivan", body, f"multipart/form-data; boundary={boundary}")
            done.append(time.monotonic())

        uploads = [threading.Thread(target=upload) for _ in range(48)]
        started = time.monotonic()
        for thread in uploads:
            thread.start()
        time.sleep(0.5)
        waits = []
        while len(done) < 36:  # at least 12 uploads still waiting, more than 40 at first
            begun = time.monotonic()
            call("/api/me", "rita")
            waits.append(time.monotonic() - begun)
            time.sleep(0.05)
        for thread in uploads:
            thread.join()
    assert len(done) == 48 and max(done) - started > 3, "the uploads must queue"
    assert len(waits) >= 10 and max(waits) < 0.75, (max(waits), len(waits))


def test_a_killed_analysis_process_does_not_break_the_server(client, world) -> None:
    """Probes are analysed in a pool of processes. One killed (SIGKILL: out of memory, an
    operator) while it analyses an upload, or while idle, costs that upload a retry in a
    fresh process; the upload and the next ones still succeed."""
    import os
    import signal
    import threading
    import time

    casework = client.app.state.services.casework
    case = open_case(client, world)
    assert upload(client, world, case["id"], PROBE.read_bytes()).status_code == 201
    started = casework.analysis_processes()
    assert started and os.getpid() not in started

    # Killed while idle.
    for pid in started:
        os.kill(pid, signal.SIGKILL)
    response = upload(client, world, case["id"], PROBE.read_bytes())
    assert response.status_code == 201, response.text
    assert len(response.json()["faces"]) == 1

    # Killed in the middle of an analysis (about a second for this 6 MP photo).
    big = io.BytesIO()
    Image.open(PROBE).convert("RGB").resize((2500, 2500)).save(big, format="JPEG", quality=90)
    results: list = []
    uploader = threading.Thread(
        target=lambda: results.append(upload(client, world, case["id"], big.getvalue()))
    )
    uploader.start()
    deadline = time.monotonic() + 30
    while not (alive := casework.analysis_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    uploader.join(timeout=120)
    assert results and results[0].status_code == 201, results and results[0].text
    assert len(results[0].json()["faces"]) == 1
    assert not set(alive) & set(casework.analysis_processes())

    response = upload(client, world, case["id"], PROBE.read_bytes())
    assert response.status_code == 201, response.text


# -- one configuration, one set of limits ----------------------------------------------------------


def test_the_server_and_the_command_line_find_the_same_faces_in_a_probe(client, world) -> None:
    """One probe preset (``VisionSettings.for_probes``): a photo that gives a face to search
    in one gives it in the other."""
    group = FIXTURE / "group" / "insightface_t1.jpg"
    case = open_case(client, world)
    served = upload(client, world, case["id"], group.read_bytes()).json()
    code, listed = run_json("faces", group, data_dir=None)  # stores nothing
    assert code == 0
    assert [f["box"] for f in served["faces"]] == [f["box"] for f in listed["faces"]]
    assert len(served["faces"]) >= 2


def test_every_surface_applies_the_same_limits(client, world, tmp_path) -> None:
    case = open_case(client, world)
    probe = upload(client, world, case["id"], PROBE.read_bytes()).json()
    over = {"face_index": 0, "top_k": MAX_CANDIDATES + 1}
    refused = client.post(
        f"/api/probes/{probe['id']}/searches", json=over, headers=world.auth("ivan")
    )
    assert refused.status_code == 422
    cli = run_cli("search", PROBE, "--top", str(MAX_CANDIDATES + 1), data_dir=tmp_path)
    assert cli.returncode == 2 and str(MAX_CANDIDATES) in cli.stderr
    body = {"reference": "CAP-1", "offense_category": "robbery"}
    for purpose in ("x" * (MIN_PURPOSE_CHARS - 1), "y" * MIN_PURPOSE_CHARS):
        opened = client.post(
            "/api/cases", json=body | {"purpose": purpose}, headers=world.auth("ivan")
        )
        assert opened.status_code == (400 if len(purpose) < MIN_PURPOSE_CHARS else 201)
    short = "z" * (MIN_PURPOSE_CHARS - 1)
    searched = run_cli("search", PROBE, "--case", "C", "--purpose", short, data_dir=tmp_path)
    assert searched.returncode == 4 and f"{MIN_PURPOSE_CHARS} characters" in searched.stderr


def test_unknown_addresses_answer_like_every_other_error(client, world) -> None:
    api = client.get("/api/no-such-thing", headers=world.auth("ivan"))
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert "detail" not in api.json()
    wrong_method = client.delete("/api/cases", headers=world.auth("ivan"))
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "invalid"
    assert "GET" in wrong_method.headers["allow"]
    page = client.get("/no-such-page", headers={"Accept": "text/html", **world.auth("ivan")})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and '"detail"' not in page.text
