"""A one-time password must be changed at the first sign-in (issue 13, section 5), and a
supervisor's start page shows what waits for their approval.

A password facesift generated (the operator's ``users add`` without ``--password``) signs in,
but until its holder chooses their own, every page sends them to their account page and
every API call but their own account's is refused; after the change, all works. A password
the operator typed is not one-time. The reset code and a new account's code are already
used before any sign-in (``/password-code``), so they never sign in at all.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers import run_cli
from tests.server_world import PASSWORD, World

NEW_PASSWORD = "a long password of my own choosing"


def _one_time_auditor(world: World) -> str:
    made = run_cli(
        "users", "add", "newaud", "--role", "auditor",
        data_dir=world.data_dir, database_url=world.database_url, check=True,
    )  # fmt: skip
    return re.search(r"one-time password: (\S+)", made.stdout).group(1)


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_a_one_time_password_must_be_changed_at_the_first_sign_in(fresh_world: World) -> None:
    world = fresh_world
    one_time = _one_time_auditor(world)
    with TestClient(world.app()) as client:
        signed = client.post(
            "/login", data={"name": "newaud", "password": one_time}, follow_redirects=False
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/account"
        account = client.get("/account")
        assert "one-time password" in account.text
        # Every other page sends them back to choose a password; the API refuses.
        for path in ("/audit", "/", "/tokens"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"] == "/account", path
        refused = client.get("/api/audit")
        assert refused.status_code == 403 and "one-time password" in refused.json()["message"]
        assert client.get("/api/me").status_code == 200  # their own account stays open
        changed = client.post(
            "/account/password",
            data={
                "csrf_token": _csrf(client, "/account"),
                "current_password": one_time,
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
            },
            follow_redirects=False,
        )
        assert changed.status_code == 303, changed.text
        assert client.get("/audit").status_code == 200
        assert client.get("/api/audit").status_code == 200
    # A password the operator typed is the user's own: no change is forced (the world's).
    with TestClient(world.app()) as client:
        signed = client.post(
            "/login", data={"name": "audrey", "password": PASSWORD}, follow_redirects=False
        )
        assert signed.headers["location"] == "/"
        assert client.get("/audit").status_code == 200


def test_the_supervisors_start_page_shows_pending_approvals(fresh_world: World) -> None:
    world = fresh_world
    with TestClient(world.app()) as client:
        made = client.post(
            "/api/users",
            json={"name": "newcomer", "roles": ["investigator"]},
            headers=world.auth("admin"),
        )
        assert made.status_code == 201, made.text
        target = made.json()["user"]["id"]
        client.post(
            f"/api/users/{world.user_ids['rita']}/password-reset", headers=world.auth("admin")
        )
        client.put(
            f"/api/users/{world.user_ids['rory']}/roles",
            json={"roles": ["reviewer", "investigator"]},
            headers=world.auth("admin"),
        )
        client.post("/login", data={"name": "sam", "password": PASSWORD})
        home = client.get("/").text
        waiting = home[home.index("Waiting for your approval") : home.index("Every search")]
        assert "(3)" in waiting
        assert "newcomer" in waiting and f'action="/users/{target}/approve"' in waiting
        assert "password reset for <strong>rita</strong>" in waiting
        assert "roles for <strong>rory</strong>: investigator, reviewer" in waiting
        approved = client.post(f"/users/{target}/approve", data={"csrf_token": _csrf(client, "/")})
        assert approved.status_code == 200 and "one-time code" in approved.text
        assert "(2)" in client.get("/").text
    # Nobody else's start page lists approvals.
    with TestClient(world.app()) as client:
        client.post("/login", data={"name": "audrey", "password": PASSWORD})
        assert "Waiting for your approval" not in client.get("/").text
