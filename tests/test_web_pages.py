"""The web pages through FastAPI's test client: sign-in, the CSRF check, error pages, the
navigation each role gets, and secrets shown once. (The browser walk is test_web_e2e.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.server_world import PASSWORD, World

NAV_LINKS = re.compile(r'<nav class="site-nav".*?</nav>', re.S)


@pytest.fixture
def app(fresh_world: World):
    with TestClient(fresh_world.app()) as client:
        yield client.app


def _client(app, name: str | None = None) -> TestClient:
    client = TestClient(app)
    if name:
        answer = client.post(
            "/login", data={"name": name, "password": PASSWORD}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
    return client


def _csrf(client: TestClient, path: str = "/tokens") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def _nav(html: str) -> list[str]:
    match = NAV_LINKS.search(html)
    return re.findall(r'<a href="([^"]+)"', match.group(0)) if match else []


@pytest.fixture
def clients(app) -> Iterator:
    yield lambda name=None: _client(app, name)


def test_a_page_sends_the_signed_out_to_sign_in(clients) -> None:
    answer = clients().get("/cases/1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    page = clients().get("/")
    assert "<h1>Sign in</h1>" in page.text and 'name="password"' in page.text


def test_a_failed_sign_in_says_so_on_the_form(clients) -> None:
    answer = clients().post("/login", data={"name": "ivan", "password": "wrong"})
    assert answer.status_code == 401
    assert "wrong user name or password" in answer.text
    assert 'value="ivan"' in answer.text  # the name stays filled in
    assert "facesift_session" not in answer.headers.get("set-cookie", "")


def test_a_form_without_its_csrf_token_is_refused_with_a_page(clients) -> None:
    client = clients("audrey")
    answer = client.post("/audit/verify", data={})
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "security token is missing or stale" in answer.text
    ok = client.post("/audit/verify", data={"csrf_token": _csrf(client)})
    assert ok.status_code == 200 and "Chain verified" in ok.text


def test_the_navigation_shows_only_what_the_roles_can_use(clients) -> None:
    assert _nav(clients("ivan").get("/").text) == ["/", "/tokens", "/stats"]
    assert _nav(clients("audrey").get("/").text) == [
        "/",
        "/activity",
        "/oversight/usage",
        "/oversight/alerts",
        "/audit",
        "/users",
        "/settings",
        "/tokens",
        "/stats",
        "/gallery",  # the gallery's photo records: not for investigators or reviewers
    ]
    assert _nav(clients("rita").get("/reviews").text) == ["/reviews", "/tokens", "/stats"]
    admin = clients("admin").get("/", follow_redirects=False)
    assert admin.status_code == 303 and admin.headers["location"] == "/users"


def test_a_forbidden_page_explains_why(clients) -> None:
    answer = clients("ivan").get("/audit")
    assert answer.status_code == 403
    assert "this needs the auditor role" in answer.text
    assert "<h1>Not allowed" in answer.text


def test_a_new_one_time_code_and_a_new_token_are_shown_once(clients) -> None:
    admin = clients("admin")
    csrf = _csrf(admin, "/users")
    made = admin.post(
        "/users",
        data={"csrf_token": csrf, "name": "newbie", "roles": ["investigator", "reviewer"]},
        follow_redirects=False,
    )
    assert made.status_code == 303  # no password for the admin to see
    sam = clients("sam")
    page = sam.get("/users").text
    newbie = re.search(r'action="/users/(\d+)/approve"', page).group(1)
    approved = sam.post(f"/users/{newbie}/approve", data={"csrf_token": _csrf(sam, "/users")})
    assert approved.status_code == 200
    code = re.search(r'class="secret">([^<]+)<', approved.text).group(1)
    assert code not in sam.get("/users").text
    token = admin.post("/tokens", data={"csrf_token": csrf, "name": "nightly"})
    secret = re.search(r'class="secret">(fs_[^<]+)<', token.text).group(1)
    assert secret not in admin.get("/tokens").text


def test_pages_and_their_form_fields_are_in_the_openapi_spec(app) -> None:
    spec = TestClient(app).get("/openapi.json").json()
    login = spec["paths"]["/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in login
    upload = spec["paths"]["/cases/{case_id}/probes"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    for path in ("/", "/cases/{case_id}", "/searches/{search_id}", "/audit", "/reviews"):
        assert path in spec["paths"]


def test_admins_change_settings_and_each_change_is_audited(fresh_world) -> None:
    import json as _json

    from fastapi.testclient import TestClient

    w = fresh_world
    with TestClient(w.app()) as c:
        from facesift.governance.policy import DEFAULT_REFUSED_PURPOSES

        # The default categories are a floor: an admin adds to them.
        added = {"category": "test", "reason": "not allowed here", "terms": ["parade"]}
        refused = [*DEFAULT_REFUSED_PURPOSES, added]
        answer = c.post(
            "/settings",
            headers=w.auth("admin"),
            follow_redirects=False,
            data={
                "offense_categories": "robbery\n fraud \n\n",
                "refused_purposes": _json.dumps(refused),
                "searches_per_minute": "5",
                "max_upload_bytes": "10485760",
                "target_fpir_percent": "0.5",
            },
        )
        assert answer.status_code == 303
        settings = c.get("/api/settings", headers=w.auth("audrey")).json()
        assert settings["offense_categories"] == ["robbery", "fraud"]
        assert settings["refused_purposes"] == refused and settings["searches_per_minute"] == 5
        assert settings["target_fpir"] == 0.005
        changes = c.get(
            "/api/audit", params={"action": "setting_changed"}, headers=w.auth("audrey")
        ).json()["entries"]
        assert {e["details"]["key"] for e in changes} == {
            "offense_categories",
            "refused_purposes",
            "searches_per_minute",
            "target_fpir",
        }
        case = c.post(
            "/api/cases",
            headers=w.auth("ivan"),
            json={
                "reference": "P-1",
                "offense_category": "robbery",
                "purpose": "identify a robber seen at the parade",
            },
        )
        assert case.status_code == 403 and "not allowed here" in case.json()["message"]
        form = {
            "offense_categories": "robbery",
            "refused_purposes": _json.dumps(refused),
            "searches_per_minute": "5",
            "max_upload_bytes": "10485760",
        }
        for change, problem in (
            ({"refused_purposes": "{not json"}, "not valid JSON"),
            ({"refused_purposes": "[]"}, "cannot be removed"),
            ({"target_fpir_percent": "20"}, "target_fpir"),
        ):
            bad = c.post("/settings", headers=w.auth("admin"), data={**form, **change})
            assert bad.status_code == 400 and problem in bad.text
        assert c.get("/api/settings", headers=w.auth("audrey")).json()["target_fpir"] == 0.005
        page = c.get("/settings", headers=w.auth("audrey"))
        assert page.status_code == 200 and "readonly" in page.text
