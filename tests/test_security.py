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


# -- 2. sessions and tokens as users expect -------------------------------------------------------


def _session(app) -> tuple[TestClient, str]:
    client = TestClient(app)
    answer = client.post("/api/session", json={"name": "rita", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf_token"]


def test_changing_your_password_ends_your_other_sessions_and_revokes_your_tokens(
    fresh_world: World,
) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        (here, csrf), (there, _) = _session(c.app), _session(c.app)
        changed = here.put(
            "/api/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text
        assert here.get("/api/me").status_code == 200  # the session that changed it stays
        assert there.get("/api/me").status_code == 401
        assert c.get("/api/me", headers=w.auth("rita")).status_code == 401
        tokens = here.get("/api/tokens").json()
        assert tokens and all(t["revoked_at"] for t in tokens)


def test_users_list_their_sessions_and_end_any_of_them(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        (here, csrf), (there, _) = _session(c.app), _session(c.app)
        _session(c.app)
        sessions = here.get("/api/me/sessions").json()
        assert len(sessions) == 3 and sum(s["current"] for s in sessions) == 1
        theirs = next(s for s in there.get("/api/me/sessions").json() if s["current"])
        ended = here.delete(f"/api/me/sessions/{theirs['id']}", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200
        assert there.get("/api/me").status_code == 401
        assert len(here.get("/api/me/sessions").json()) == 2
        # Someone else's session is not yours to end, nor to see.
        others = c.get("/api/me/sessions", headers=w.auth("rory")).json()
        assert others == []
        mine = next(s for s in here.get("/api/me/sessions").json() if s["current"])
        foreign = c.delete(f"/api/me/sessions/{mine['id']}", headers=w.auth("rory"))
        assert foreign.status_code == 404
        assert here.get("/api/me").status_code == 200


def test_a_token_cannot_mint_a_token_that_outlives_it(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        short = c.post("/api/tokens", json={"name": "short", "days": 1}, headers=w.auth("rita"))
        assert short.status_code == 201
        bearer = {"Authorization": f"Bearer {short.json()['token']}"}
        child = c.post("/api/tokens", json={"name": "child", "days": 365}, headers=bearer)
        assert child.status_code == 201
        assert child.json()["expires_at"] <= short.json()["expires_at"]
        # Nor more rights: the child acts as rita does, no more.
        child_auth = {"Authorization": f"Bearer {child.json()['token']}"}
        assert c.get("/api/audit", headers=child_auth).status_code == 403
        assert c.get("/api/reviews/queue", headers=child_auth).status_code == 200


def test_a_wrong_current_password_counts_toward_the_lock_out(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        for i in range(5):
            wrong = c.put(
                "/api/me/password",
                json={"current_password": f"guess {i}", "new_password": NEW_PASSWORD},
                headers=w.auth("rory"),
            )
            assert wrong.status_code == 403
        locked = _sign_in(c, "rory")
        assert locked.status_code == 401 and "too many failed" in locked.json()["message"]


def test_failed_sign_ins_are_limited_by_client_address_too(fresh_world: World) -> None:
    """One client trying a new name each time is never locked out by name; by address it is,
    before any password hashing, with one audit entry for the whole flood."""
    w = fresh_world
    with TestClient(w.app(), client=("203.0.113.9", 5000)) as attacker:
        codes = [
            attacker.post(
                "/api/session", json={"name": f"guess{i}", "password": "wrong password"}
            ).status_code
            for i in range(30)
        ]
        assert codes[0] == 401 and codes[-1] == 429, codes
        assert codes.count(401) <= 20
        refusal = attacker.post("/api/session", json={"name": "rita", "password": PASSWORD})
        assert refusal.status_code == 429 and refusal.headers.get("retry-after")
        limited = _audit(attacker, w, "sign_in_rate_limited")
        assert len(limited) == 1 and limited[0]["details"]["address"] == "203.0.113.9"
    with TestClient(w.app(), client=("198.51.100.7", 5000)) as someone_else:
        assert _sign_in(someone_else, "rita").status_code == 200


def test_a_sign_in_flood_does_not_slow_other_users(server_world: World, tmp_path) -> None:
    """Issue 12: failed sign-ins under random names from one client pushed another user's
    ``GET /api/me`` p99 from 20 ms to 305 ms. Measured here against a real server: the other
    user's p99 without the flood, then with it (a few seconds each)."""
    import threading
    import time
    import urllib.error
    import urllib.request

    from tests.browser_support import start_server

    w = server_world.copy_to(tmp_path / "data")

    def me_latencies(server, seconds: float) -> list[float]:
        waits, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            request = urllib.request.Request(server.url_for("/api/me"), headers=w.auth("rita"))
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
            waits.append(time.monotonic() - started)
        return sorted(waits)

    def p99(waits: list[float]) -> float:
        return waits[int(len(waits) * 0.99) - 1]

    with start_server(w.data_dir, w.env()) as server:
        me_latencies(server, 0.5)  # warm up
        quiet = me_latencies(server, 2.0)
        stop, answers = threading.Event(), []

        def flood(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                request = urllib.request.Request(
                    server.url_for("/api/session"),
                    data=f'{{"name": "x{worker}n{n}", "password": "not it at all"}}'.encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                try:
                    urllib.request.urlopen(request, timeout=30)
                except urllib.error.HTTPError as refused:
                    answers.append(refused.code)

        attackers = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
        for thread in attackers:
            thread.start()
        try:
            busy = me_latencies(server, 4.0)
        finally:
            stop.set()
            for thread in attackers:
                thread.join()
    assert 429 in answers, answers[:30]
    print(f"p99 quiet {p99(quiet) * 1000:.0f} ms, under the flood {p99(busy) * 1000:.0f} ms")
    print(f"{answers.count(401)} sign-ins checked, {answers.count(429)} refused by address")
    # Before, such a flood took another user's p99 from 20 ms to 305 ms. The margin leaves
    # room for a shared machine (69 ms measured at a load average of 6), not for that.
    assert p99(busy) < 2 * p99(quiet) + 0.15, (p99(quiet), p99(busy), len(busy))


# -- 3. every input bounded -----------------------------------------------------------------------

MANIFEST_HEADER = "path,source_url,page_url,caption,captured_at,legal_basis\n"


def _manifest_ingest(tmp_path, name: str, content: bytes) -> tuple[int, dict]:
    import shutil

    from tests.conftest import photos
    from tests.helpers import run_json

    folder = tmp_path / "photos"
    folder.mkdir()
    good = photos("gallery")[:2]
    for photo in good:
        shutil.copy(photo.path, folder / photo.path.name)
    manifest = folder / name
    manifest.write_bytes(content.replace(b"GOOD0", good[0].path.name.encode()))
    return run_json(
        "ingest", folder, "--manifest", manifest, "--workers", "1", data_dir=tmp_path / "data"
    )


@pytest.mark.parametrize(
    "name, content, code",
    [
        (
            "latin1.csv",
            (MANIFEST_HEADER + "GOOD0,http://example.org/caf\u00e9,,,,consent\n").encode("latin-1"),
            "bad_manifest",
        ),
        (
            "long.csv",
            (MANIFEST_HEADER + "GOOD0,,,,,\nother.jpg,," + "x" * 140_000 + ",,,\n").encode(),
            "bad_manifest_row",
        ),
        (
            "bad.jsonl",
            b'{"path": "GOOD0", "source_url": null, "page_url": null, "caption": null, '
            b'"captured_at": null, "legal_basis": null}\n{"path": "x\xff\xfe.jpg"}\n',
            "bad_manifest_row",
        ),
    ],
)
def test_a_bad_manifest_never_stops_an_ingest(tmp_path, name: str, content: bytes, code) -> None:
    """Today a Latin-1 CSV, a field over 131,072 characters, or JSONL with invalid UTF-8 ended
    the ingest with a traceback; nothing was ingested and the audit said total 0."""
    status, summary = _manifest_ingest(tmp_path, name, content)
    assert summary, status
    assert summary["ingested"] == 2, summary
    assert code in {f["code"] for f in summary["failures"]}, summary["failures"]
    store = open_store(tmp_path / "data")
    closing = store.audit.entries(action="ingest")[-1]
    store.close()
    assert closing.details["ingested"] == 2 and closing.details["failed"] >= 1


def test_a_killed_ingest_is_still_audited(tmp_path) -> None:
    """Today a killed ingest stored 56 images with no audit entry. Each batch's entry is now
    written in the batch's own transaction."""
    import subprocess
    import sys

    from tests.conftest import photos

    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from facesift.compose import open_gallery\n"
        "from facesift.services.ingest import IngestOptions, ingest\n"
        "gallery = open_gallery(Path(sys.argv[1]))\n"
        "def progress(summary):\n"
        "    if summary.ingested >= 2:\n"
        "        os._exit(9)  # as a SIGKILL would: no cleanup, no closing entry\n"
        "ingest(gallery, [Path(p) for p in sys.argv[2:]],\n"
        "       IngestOptions(workers=1, write_batch=2, images_per_task=2), progress)\n"
    )
    files = [str(p.path) for p in photos("gallery")[:6]]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data"), *files], timeout=300
    )
    assert done.returncode == 9
    store = open_store(tmp_path / "data")
    stored = store.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    started = store.audit.entries(action="ingest_started")
    batches = store.audit.entries(action="ingest_batch")
    closing = store.audit.entries(action="ingest")
    store.close()
    assert stored >= 2 and not closing
    assert len(started) == 1
    assert sum(b.details["images"] for b in batches) == stored
    assert all(b.details["run"] == started[0].id for b in batches)


ROBBERY = {"offense_category": "robbery", "purpose": "identify the suspect in an armed robbery"}


def _open_case(c: TestClient, w: World, reference: str, **overrides):
    return c.post(
        "/api/cases", json={"reference": reference, **ROBBERY, **overrides}, headers=w.auth("ivan")
    )


def test_settings_are_checked_by_type(fresh_world: World) -> None:
    """Today a refused-purpose list given as 5 or [1, 2] was accepted, and then every case
    and search answered 500; given as "deport" or [""], it refused every purpose."""
    w = fresh_world
    bad_values = {
        "refused_purposes": [
            5,
            [1, 2],
            "deport",
            [""],
            [{"category": "x", "reason": "y", "terms": [""]}],
            [{"category": "x", "reason": "y", "terms": ["\u200b\u200b"]}],
            [{"category": "x", "reason": "y", "terms": ["parade"], "extra": 1}],
        ],
        "offense_categories": [[], "robbery", [""], [7]],
        "searches_per_minute": [True, 2.5, "10", 0],
        "target_fpir": [True, "0.01", 1.0],
        "trusted_hosts": ["testserver", [5], ["http://testserver"]],
    }
    with TestClient(w.app()) as c:
        for key, values in bad_values.items():
            for value in values:
                answer = c.put(
                    f"/api/settings/{key}", json={"value": value}, headers=w.auth("admin")
                )
                assert answer.status_code == 400, (key, value, answer.text)
        assert _open_case(c, w, "TYPED-1").status_code == 201
        # The default categories are a floor (the accountability issue): add to them.
        floor = c.get("/api/settings", headers=w.auth("admin")).json()["refused_purposes"]
        good = [*floor, {"category": "parades", "reason": "not here", "terms": [" parade "]}]
        answer = c.put(
            "/api/settings/refused_purposes", json={"value": good}, headers=w.auth("admin")
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["refused_purposes"][-1]["terms"] == ["parade"]
        assert _open_case(c, w, "TYPED-2").status_code == 201
        assert _open_case(c, w, "TYPED-3", purpose="find who was at the parade").status_code == 403


DISGUISED_PURPOSES = [
    "identify people at the pro\u200btest",  # a zero-width space
    "immi\u00adgration status check",  # a soft hyphen
    "identify people at the pr\u043etest",  # a Cyrillic o
    "identify people at the \uff50\uff52\uff4f\uff54\uff45\uff53\uff54",  # fullwidth
    "identify people at the \u03a1ROTEST",  # a Greek capital rho
    "check the de\u2060portation list",  # a word joiner
]


def test_the_refused_purpose_check_sees_through_disguises(server_world: World, tmp_path) -> None:
    # A copy: each refusal is an audited case_refused of ivan's, and the shared world's log
    # is what other tests count (the usage report's refusals, after this module ran first).
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        for n, purpose in enumerate(DISGUISED_PURPOSES):
            refused = _open_case(c, w, f"DISGUISE-{n}", purpose=purpose)
            assert refused.status_code == 403, (purpose, refused.text)
            assert refused.json()["error"] == "search_refused", purpose


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "ivan", "password": NaN}',
        b'{"name": "ivan", "password": Infinity}',
        b'{"name": "ivan", "password": -Infinity}',
        b'{"name": "ivan", "password": 1e400}',
        b'{"name": "ivan\\ud800", "password": "SECRET-VALUE"}',
        b'{"name": "ivan", "password": "\\udfff SECRET-VALUE"}',
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_non_finite_numbers_and_lone_surrogates_are_422_and_never_logged(
    server_world: World, raw: bytes, caplog
) -> None:
    """Today these gave 500 before sign-in, and the traceback logged the value."""
    import logging

    w = server_world
    caplog.set_level(logging.DEBUG)
    with TestClient(w.app(), raise_server_exceptions=False) as c:
        for path in ("/api/session", "/api/cases"):
            answer = c.post(
                path,
                content=raw,
                headers={**w.auth("ivan"), "Content-Type": "application/json"},
            )
            assert answer.status_code == 422, (path, answer.text)
            assert "SECRET-VALUE" not in answer.text
    assert "SECRET-VALUE" not in caplog.text and "Traceback" not in caplog.text


def test_bodies_are_refused_on_methods_that_take_none(server_world: World) -> None:
    """Today a 400 MB body on GET /healthz was read into memory and answered 200."""
    w = server_world
    with TestClient(w.app()) as c:
        for method, path in (("GET", "/healthz"), ("GET", "/api/me"), ("DELETE", "/api/session")):
            answer = c.request(method, path, content=b"x" * 1_000_000, headers=w.auth("rita"))
            assert answer.status_code == 400, (method, path)
            assert answer.json()["error"] == "body_not_allowed"
        assert c.get("/healthz").status_code == 200


def test_only_trusted_hosts_are_answered_and_origins_must_match_exactly(
    fresh_world: World,
) -> None:
    """Today any Host header was accepted, and the Origin check ignored the scheme."""
    w = fresh_world
    with TestClient(w.app()) as c:
        login = {"name": "ivan", "password": PASSWORD}
        for origin in ("https://testserver", "http://testserver:8080", "http://testserver.evil"):
            forged = c.post(
                "/login", data=login, headers={"Origin": origin}, follow_redirects=False
            )
            assert forged.status_code == 403, origin
        same = c.post(
            "/login", data=login, headers={"Origin": "http://testserver"}, follow_redirects=False
        )
        assert same.status_code == 303
        c.cookies.clear()

        assert (
            c.get("/api/me", headers={**w.auth("ivan"), "Host": "evil.example"}).status_code == 200
        )
        locked_out = c.put(
            "/api/settings/trusted_hosts",
            json={"value": ["facesift.example"]},
            headers=w.auth("admin"),
        )
        assert locked_out.status_code == 400  # it would refuse the admin's own host
        trusted = c.put(
            "/api/settings/trusted_hosts",
            json={"value": ["testserver", "facesift.example"]},
            headers=w.auth("admin"),
        )
        assert trusted.status_code == 200, trusted.text
        rebound = c.get("/api/me", headers={**w.auth("ivan"), "Host": "evil.example"})
        assert rebound.status_code == 400 and rebound.json()["error"] == "untrusted_host"
        named = c.get("/api/me", headers={**w.auth("ivan"), "Host": "facesift.example"})
        assert named.status_code == 200
        assert c.get("/healthz", headers={"Host": "10.0.0.5"}).status_code == 200


def test_probe_memory_is_bounded_by_a_pixel_budget(fresh_world: World) -> None:
    """Today two 49 MP probes at once took the server from 308 MB to 1,513 MB. Uploads take
    their pixels from a budget before decoding; when it is spent: 503 with Retry-After."""
    from tests.server_world import PROBE

    w = fresh_world
    with TestClient(w.app()) as c:
        case = _open_case(c, w, "PIXELS-1").json()
        budget = c.app.state.services.casework.pixels
        assert budget.try_take(budget.total)  # as if a huge probe were being analysed
        try:
            busy = c.post(
                f"/api/cases/{case['id']}/probes",
                files={"file": ("p.jpg", PROBE.read_bytes())},
                headers=w.auth("ivan"),
            )
            assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
        finally:
            budget.give_back(budget.total)
        assert budget.used == 0
        done = c.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": ("p.jpg", PROBE.read_bytes())},
            headers=w.auth("ivan"),
        )
        assert done.status_code == 201
        assert budget.used == 0  # given back after the analysis


def test_stats_never_show_a_stale_face_count(fresh_world: World) -> None:
    from tests.server_world import STRANGER

    w = fresh_world
    with TestClient(w.app()) as c:
        before = c.get("/api/stats", headers=w.auth("ivan")).json()
        run_cli(
            "ingest", "--collection", "late", "--workers", "1", STRANGER,
            data_dir=w.data_dir, check=True, database_url=w.database_url,
        )  # fmt: skip
        after = c.get("/api/stats", headers=w.auth("ivan")).json()
        assert after["faces"] > before["faces"]
        assert after["indexed_faces"] == after["faces"]


def test_a_real_server_sends_no_banner_and_reads_no_body_it_refuses(
    server_world: World, tmp_path
) -> None:
    """Today: ``Server: uvicorn`` on every answer, and a 400 MB body on ``GET /healthz``
    read into memory. Here the body is announced and never sent: the refusal must come at
    once, without waiting for it."""
    import socket
    import time
    import urllib.request

    from tests.browser_support import start_server

    w = server_world.copy_to(tmp_path / "data")
    with start_server(w.data_dir, w.env()) as server:
        with urllib.request.urlopen(server.url_for("/healthz"), timeout=10) as response:
            assert response.status == 200 and "server" not in response.headers
        for method in ("GET", "POST"):  # POST: over the upload limit
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                started = time.monotonic()
                connection.sendall(
                    (
                        f"{method} /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Content-Length: 400000000\r\n\r\n"
                    ).encode()
                )
                answer = connection.recv(4096).decode("latin-1")
                assert time.monotonic() - started < 5
            finally:
                connection.close()
            status = int(answer.split(" ", 2)[1])
            assert status in (400, 413), answer
            assert "\r\nserver:" not in answer.lower()


# -- 4. two-factor sign-in -------------------------------------------------------------------------


def _code(secret: str, steps_ahead: int = 0) -> str:
    import time

    import pyotp

    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def test_two_factor_sign_in_is_optional_and_codes_are_never_accepted_twice(
    fresh_world: World,
) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        start = c.post("/api/me/totp", headers=w.auth("rita"))
        assert start.status_code == 200 and start.json()["otpauth_uri"].startswith("otpauth://")
        secret = start.json()["secret"]
        assert _sign_in(c, "rita").status_code == 200  # not on until confirmed
        wrong = c.post("/api/me/totp/confirm", json={"code": "123456"}, headers=w.auth("rita"))
        assert wrong.status_code == 400
        on = c.post("/api/me/totp/confirm", json={"code": _code(secret)}, headers=w.auth("rita"))
        assert on.status_code == 200 and on.json() == {"two_factor": True}

        assert _sign_in(c, "rita").status_code == 401  # the password alone is not enough
        code = _code(secret, 1)
        signed = c.post(
            "/api/session", json={"name": "rita", "password": PASSWORD, "totp_code": code}
        )
        assert signed.status_code == 200, signed.text
        assert signed.json()["user"]["two_factor"] is True
        c.cookies.clear()
        replayed = c.post(
            "/api/session", json={"name": "rita", "password": PASSWORD, "totp_code": code}
        )
        assert replayed.status_code == 401
        assert _audit(c, w, "two_factor_enabled")
        # Wrong codes count toward the lock-out like wrong passwords.
        for _ in range(3):
            c.post("/api/session", json={"name": "rita", "password": PASSWORD, "totp_code": "1"})
        locked = c.post(
            "/api/session",
            json={"name": "rita", "password": PASSWORD, "totp_code": _code(secret, -1)},
        )
        assert locked.status_code == 401 and "too many failed" in locked.json()["message"]


def test_a_setting_requires_two_factor_sign_in_for_chosen_roles(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app()) as c:
        bad = c.put(
            "/api/settings/totp_required_roles", json={"value": ["king"]}, headers=w.auth("admin")
        )
        assert bad.status_code == 400
        required = c.put(
            "/api/settings/totp_required_roles",
            json={"value": ["auditor"]},
            headers=w.auth("admin"),
        )
        assert required.status_code == 200
        # The auditor can reach only their own account until they set it up.
        blocked = c.get("/api/audit", headers=w.auth("audrey"))
        assert blocked.status_code == 403 and "two-factor" in blocked.json()["message"]
        assert c.get("/api/me", headers=w.auth("audrey")).status_code == 200
        assert c.get("/api/cases", headers=w.auth("ivan")).status_code == 200  # not required
        secret = c.post("/api/me/totp", headers=w.auth("audrey")).json()["secret"]
        c.post("/api/me/totp/confirm", json={"code": _code(secret)}, headers=w.auth("audrey"))
        assert c.get("/api/audit", headers=w.auth("audrey")).status_code == 200
        off = c.post(
            "/api/me/totp/disable",
            json={"password": PASSWORD, "code": _code(secret, 1)},
            headers=w.auth("audrey"),
        )
        assert off.status_code == 403  # the role requires it


# -- 4. TLS ---------------------------------------------------------------------------------------


def _self_signed(folder) -> tuple:
    """A certificate for 127.0.0.1 and localhost, made here with ``cryptography``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facesift test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_serve_with_a_certificate_speaks_https_with_hsts(server_world: World, tmp_path) -> None:
    import os
    import ssl
    import subprocess
    import time
    import urllib.error
    import urllib.request

    from tests.browser_support import facesift_command, free_port

    w = server_world.copy_to(tmp_path / "data")
    certfile, keyfile = _self_signed(tmp_path)
    port = free_port()
    command = [
        *facesift_command(), "serve", "--data-dir", str(w.data_dir), "--host", "127.0.0.1",
        "--port", str(port), "--certfile", str(certfile), "--keyfile", str(keyfile),
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        command,
        env={**os.environ, **w.env()},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    trusting = ssl.create_default_context(cafile=str(certfile))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline, headers = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/healthz", context=trusting, timeout=2) as ok:
                    headers = ok.headers
                break
            except OSError:
                time.sleep(0.2)
        assert headers is not None, log.read_text()
        assert headers["strict-transport-security"].startswith("max-age=")
        sign_in = urllib.request.Request(
            f"{base}/api/session",
            data=f'{{"name": "ivan", "password": "{PASSWORD}"}}'.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(sign_in, context=trusting, timeout=30) as signed:
            assert "secure" in signed.headers["set-cookie"].lower()
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(urllib.error.URLError):  # a certificate nobody vouched for
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
