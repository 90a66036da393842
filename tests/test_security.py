"""Issue 12's findings, one test each (or more): no one person can act as another or grant
themselves more; sessions and tokens behave as users expect; every input is bounded.

Each runs on SQLite and PostgreSQL (``fresh_world``: a private copy of the server world)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from facesift.compose import open_store
from facesift.services.accounts import Accounts
from tests.helpers import run_cli
from tests.server_world import PASSWORD, World

pytestmark = pytest.mark.slow

NEW_PASSWORD = "a passphrase of my own"


def _audit(c: TestClient, w: World, action: str) -> list[dict]:
    answer = c.get("/api/audit", params={"action": action, "limit": 1000}, headers=w.auth("audrey"))
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def _sign_in(c: TestClient, name: str, password: str = PASSWORD):
    answer = c.post("/api/session", json={"name": name, "password": password})
    c.cookies.clear()
    return answer


# -- 1. no one person can act as another or grant themselves more ----------------------------------


def test_an_admin_reset_gives_no_password_and_waits_for_another_supervisor(
    fresh_world: World,
) -> None:
    """Today: ``PUT /api/users/{id}/password`` let one admin set a password of their choosing
    and sign in as the user. Now the admin only asks; a supervisor who is not that admin
    approves; the user, and only the user, sets the password with the one-time code."""
    w, ivan = fresh_world, fresh_world.user_ids["ivan"]
    with TestClient(w.app()) as c:
        chosen = c.put(
            f"/api/users/{ivan}/password",
            json={"password": "admin knows this"},
            headers=w.auth("admin"),
        )
        assert chosen.status_code in (404, 405)
        assert _sign_in(c, "ivan", "admin knows this").status_code == 401

        asked = c.post(f"/api/users/{ivan}/password-reset", headers=w.auth("admin"))
        assert asked.status_code == 202 and asked.json()["status"] == "pending"
        request_id = asked.json()["id"]
        # Nothing changes before the approval: the user still works.
        assert c.get("/api/me", headers=w.auth("ivan")).status_code == 200
        # The admin who asked cannot approve (not a supervisor), nor can the user.
        for who in ("admin", "ivan", "boss"):
            refused = c.post(f"/api/account-requests/{request_id}/approve", headers=w.auth(who))
            assert refused.status_code == 403, who
        approved = c.post(f"/api/account-requests/{request_id}/approve", headers=w.auth("sam"))
        assert approved.status_code == 200, approved.text
        code = approved.json()["one_time_code"]
        assert code and approved.json()["request"]["decided_by"] == "sam"
        again = c.post(f"/api/account-requests/{request_id}/approve", headers=w.auth("sam"))
        assert again.status_code == 409

        # Until the user sets a password the account can do nothing: its token is revoked,
        # the old password is gone.
        assert c.get("/api/me", headers=w.auth("ivan")).status_code == 401
        assert _sign_in(c, "ivan").status_code == 401
        wrong = c.post(
            "/api/password-code",
            json={"name": "ivan", "code": "not the code", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 401
        done = c.post(
            "/api/password-code", json={"name": "ivan", "code": code, "new_password": NEW_PASSWORD}
        )
        assert done.status_code == 200, done.text
        reused = c.post(
            "/api/password-code", json={"name": "ivan", "code": code, "new_password": "x" * 20}
        )
        assert reused.status_code == 401  # one time only
        assert _sign_in(c, "ivan", NEW_PASSWORD).status_code == 200
        # The whole sequence is audited.
        for action in (
            "account_change_requested",
            "account_change_approved",
            "password_code_issued",
            "password_set_with_code",
        ):
            assert _audit(c, w, action), action


def test_a_reset_can_be_refused_and_then_changes_nothing(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        asked = c.post(f"/api/users/{w.user_ids['rita']}/password-reset", headers=w.auth("admin"))
        refused = c.post(
            f"/api/account-requests/{asked.json()['id']}/refuse", headers=w.auth("sam")
        )
        assert refused.status_code == 200 and refused.json()["one_time_code"] is None
        assert refused.json()["request"]["status"] == "refused"
        assert c.get("/api/me", headers=w.auth("rita")).status_code == 200
        assert _sign_in(c, "rita").status_code == 200


def test_an_admin_never_learns_a_new_accounts_password(fresh_world: World) -> None:
    """Today the admin who made an account got its password, and could sign in as it once
    approved. Now the approving supervisor gets a one-time code for the user."""
    w = fresh_world
    with TestClient(w.app()) as c:
        made = c.post(
            "/api/users",
            json={"name": "newhire", "roles": ["reviewer"], "password": "admin chose this"},
            headers=w.auth("admin"),
        )
        assert made.status_code == 201 and "one_time_password" not in made.json()
        user_id = made.json()["user"]["id"]
        approved = c.post(f"/api/users/{user_id}/approve", headers=w.auth("sam"))
        assert approved.status_code == 200
        assert _sign_in(c, "newhire", "admin chose this").status_code == 401
        code = approved.json()["one_time_code"]
        c.post(
            "/api/password-code",
            json={"name": "newhire", "code": code, "new_password": NEW_PASSWORD},
        )
        assert _sign_in(c, "newhire", NEW_PASSWORD).status_code == 200


def test_nobody_changes_their_own_roles_and_a_supervisor_approves_a_change(
    fresh_world: World,
) -> None:
    """Today an admin gave itself the auditor role and read the audit log."""
    w = fresh_world
    with TestClient(w.app()) as c:
        own = c.put(
            f"/api/users/{w.user_ids['admin']}/roles",
            json={"roles": ["admin", "auditor"]},
            headers=w.auth("admin"),
        )
        assert own.status_code == 403
        assert c.get("/api/audit", headers=w.auth("admin")).status_code == 403

        asked = c.put(
            f"/api/users/{w.user_ids['rita']}/roles",
            json={"roles": ["reviewer", "auditor"]},
            headers=w.auth("admin"),
        )
        assert asked.status_code == 202
        assert c.get("/api/audit", headers=w.auth("rita")).status_code == 403  # not yet
        for who in ("admin", "boss", "rita", "audrey"):
            answer = c.post(
                f"/api/account-requests/{asked.json()['id']}/approve", headers=w.auth(who)
            )
            assert answer.status_code == 403, who
        pending = c.get("/api/account-requests", headers=w.auth("sam")).json()
        assert [r["id"] for r in pending] == [asked.json()["id"]]
        c.post(f"/api/account-requests/{asked.json()['id']}/approve", headers=w.auth("sam"))
        assert c.get("/api/audit", headers=w.auth("rita")).status_code == 200
        changed = _audit(c, w, "user_roles_changed")[-1]
        assert changed["actor"] == "sam" and changed["details"]["requested_by"] == "admin"


def test_nobody_records_their_own_training_and_supervisors_never_search(
    fresh_world: World,
) -> None:
    """Today a supervisor who was also an investigator recorded its own training and
    searched."""
    w = fresh_world
    store = open_store(w.data_dir, w.database_url)
    accounts = Accounts(store)
    sue = accounts.add_user("sue", ["supervisor", "investigator"], None, PASSWORD).user
    token = accounts.create_token(None, sue.id, "t").token
    store.close()
    sue_auth = {"Authorization": f"Bearer {token}"}
    with TestClient(w.app()) as c:
        own = c.put(
            f"/api/users/{sue.id}/training", json={"expires": "2099-01-01"}, headers=sue_auth
        )
        assert own.status_code == 403 and "own training" in own.json()["message"]
        by_sam = c.put(
            f"/api/users/{sue.id}/training", json={"expires": "2099-01-01"}, headers=w.auth("sam")
        )
        assert by_sam.status_code == 200
        case = c.post(
            "/api/cases",
            json={
                "reference": "SUE-1",
                "offense_category": "robbery",
                "purpose": "identify the suspect in an armed robbery",
            },
            headers=sue_auth,
        )
        assert case.status_code == 403 and "supervisor role cannot search" in case.json()["message"]


@pytest.mark.parametrize("name", ["operator", "Operator", "system", "unknown"])
def test_the_names_the_system_uses_are_reserved(fresh_world: World, name: str) -> None:
    """Today an app account named ``operator`` skipped approval: the command line wrote
    that name in the audit log."""
    w = fresh_world
    with TestClient(w.app()) as c:
        made = c.post(
            "/api/users", json={"name": name, "roles": ["reviewer"]}, headers=w.auth("admin")
        )
        assert made.status_code == 400 and "the system uses" in made.json()["message"]


def test_command_line_actions_are_marked_as_such_in_the_audit_log(fresh_world: World) -> None:
    w = fresh_world
    run_cli(
        "users",
        "add",
        "clara",
        "--role",
        "reviewer",
        data_dir=w.data_dir,
        check=True,
        database_url=w.database_url,
    )
    with TestClient(w.app()) as c:
        made = [e for e in _audit(c, w, "user_created") if e["details"]["user"] == "clara"]
        assert made[0]["actor"] == "cli:operator"
        ingest = _audit(c, w, "ingest")
        assert ingest and all(e["actor"].startswith("cli:") for e in ingest)
        users = c.get("/api/users", headers=w.auth("admin")).json()
        assert {u["name"]: u["created_by"] for u in users}["clara"] == "cli:operator"


def test_re_enabling_a_pending_account_does_not_approve_it(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        made = c.post(
            "/api/users", json={"name": "waiting", "roles": ["reviewer"]}, headers=w.auth("admin")
        ).json()["user"]
        for disabled in (True, False):
            answer = c.put(
                f"/api/users/{made['id']}/status",
                json={"disabled": disabled},
                headers=w.auth("admin"),
            )
            assert answer.status_code == 200
        assert answer.json()["status"] == "pending"
