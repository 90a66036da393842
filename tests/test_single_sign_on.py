"""Single sign-on against a real OpenID Provider: node's certified ``oidc-provider``, started
here on loopback (``tests/oidc/provider.mjs``; ``make install`` puts it in place). No mock of
the protocol: the browser's part (the provider's login and consent forms) is played with
httpx, facesift's part runs in the app, which talks to the provider over HTTP.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.browser_support import free_port
from tests.server_world import World

pytestmark = pytest.mark.slow

PROVIDER = Path(__file__).parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "facesift", "a client secret for the tests"
CALLBACK = "http://testserver/login/oidc/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    if shutil.which("node") is None or not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("oidc-provider is not installed (make install)")
    port = free_port()
    process = subprocess.Popen(
        ["node", "provider.mjs", str(port), CLIENT_ID, CLIENT_SECRET, CALLBACK],
        cwd=PROVIDER,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso_app(fresh_world: World, provider: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FACESIFT_OIDC_ISSUER", provider)
    monkeypatch.setenv("FACESIFT_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("FACESIFT_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    with TestClient(fresh_world.app()) as client:
        yield client


def _through_the_provider(authorize_url: str, login: str) -> str:
    """Play the browser at the provider: its login form, its consent form. Returns the URL
    the provider sends the browser back to."""
    browser = httpx.Client()
    answer = browser.get(authorize_url)
    for _ in range(12):
        if answer.status_code in (302, 303):
            location = answer.headers["location"]
            if location.startswith(CALLBACK):
                return location
            answer = browser.get(httpx.URL(str(answer.url)).join(location))
            continue
        action, inner = re.search(
            r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', answer.text, re.S
        ).groups()
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', inner))
        if 'name="login"' in inner:
            fields |= {"login": login, "password": "anything"}
        answer = browser.post(action, data=fields)
    raise AssertionError("the provider never sent the browser back")


def _sign_in(client: TestClient, login: str):
    start = client.get("/login/oidc", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert "code_challenge=" in authorize and "nonce=" in authorize
    back = urlsplit(_through_the_provider(authorize, login))
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_a_provider_vouched_sign_in_gets_the_facesift_accounts_own_roles(sso_app) -> None:
    c = sso_app
    assert "/login/oidc" in c.get("/login").text
    answer = _sign_in(c, "ivan")
    assert answer.status_code == 200, answer.text
    me = c.get("/api/me").json()
    assert me["user"]["name"] == "ivan" and me["user"]["roles"] == ["investigator"]
    c.cookies.clear()


def test_an_unknown_account_or_a_replayed_answer_is_refused(sso_app) -> None:
    c = sso_app
    unknown = _sign_in(c, "someone-the-provider-knows")
    assert unknown.status_code in (302, 303) and unknown.headers["location"] == "/login"
    assert c.get("/api/me").status_code == 401
    # A callback whose state this server never issued (or already used): refused.
    start = c.get("/login/oidc", follow_redirects=False)
    back = urlsplit(_through_the_provider(start.headers["location"], "ivan"))
    first = c.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert first.status_code == 200
    c.cookies.clear()
    replay = c.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert replay.status_code in (302, 303) and c.get("/api/me").status_code == 401


def test_without_configuration_there_is_no_single_sign_on(fresh_world: World) -> None:
    with TestClient(fresh_world.app()) as c:
        assert c.get("/login/oidc", follow_redirects=False).status_code == 404
        assert "/login/oidc" not in c.get("/login").text


def test_another_server_process_can_finish_a_sign_in(sso_app, fresh_world: World) -> None:
    """With ``serve --workers N`` the provider may send the browser back to another process:
    the pending sign-in is in the database, not in one process's memory."""
    start = sso_app.get("/login/oidc", follow_redirects=False)
    back = urlsplit(_through_the_provider(start.headers["location"], "rita"))
    with TestClient(fresh_world.app(), cookies=dict(sso_app.cookies)) as other:
        finished = other.get(f"{back.path}?{back.query}", follow_redirects=False)
        assert finished.status_code == 200, finished.headers.get("location")
        assert other.get("/api/me").json()["user"]["name"] == "rita"
