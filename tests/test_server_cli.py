"""The operator's commands around the server, run as a user would: ``facesift serve``,
``facesift users ...`` and ``facesift tokens ...``, against a real server process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser_support import start_server
from tests.helpers import run_cli

pytestmark = pytest.mark.slow


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_first_admin_comes_from_the_command_line_never_from_defaults(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_server(data) as server:
        status, body = _get(server.url_for("/api/me"))
        assert status == 503 and "facesift users add NAME --role admin" in body["message"]
        assert "users add" in server.stderr()  # the operator is told at start-up too
        for name, password in (("admin", "admin"), ("admin", "password"), ("root", "root")):
            assert (
                _post_json(server.url_for("/api/session"), {"name": name, "password": password})[0]
                == 503
            )

        made = run_cli("users", "add", "chief", "--role", "admin", data_dir=data, check=True)
        password = re.search(r"one-time password: (\S+)", made.stdout).group(1)
        # The running server notices the new admin: no restart needed.
        status, body = _post_json(
            server.url_for("/api/session"), {"name": "chief", "password": password}
        )
        assert status == 200 and body["user"]["roles"] == ["admin"]
        assert (
            _post_json(server.url_for("/api/session"), {"name": "chief", "password": "admin"})[0]
            == 401
        )
        # The operator's log says what runs, from INFO up, and never holds a password.
        log = server.stderr()
        assert "applied migration 0001" in log and f"serving {data}" in log
        assert password not in log


def test_tokens_made_on_the_command_line_work_until_revoked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("users", "add", "chief", "--role", "admin", data_dir=data, check=True)
    run_cli("users", "add", "ann", "--role", "auditor", data_dir=data, check=True)
    made = run_cli(
        "tokens",
        "create",
        "ann",
        "--name",
        "nightly export",
        "--days",
        "7",
        data_dir=data,
        check=True,
    )
    token = re.search(r"(fs_\S+)", made.stdout).group(1)
    token_id = re.search(r"token (\d+) for ann", made.stdout).group(1)
    listed = json.loads(
        run_cli("tokens", "list", "ann", "--json", data_dir=data, check=True).stdout
    )
    assert [t["name"] for t in listed] == ["nightly export"]
    assert token not in json.dumps(listed)
    with start_server(data) as server:
        status, body = _get(server.url_for("/api/audit/verify"), token)
        assert status == 200 and body["ok"] is True
        run_cli("tokens", "revoke", token_id, data_dir=data, check=True)
        assert _get(server.url_for("/api/me"), token)[0] == 401
    users = json.loads(run_cli("users", "list", "--json", data_dir=data, check=True).stdout)
    assert {u["name"]: u["roles"] for u in users} == {"chief": ["admin"], "ann": ["auditor"]}
    audit = run_cli("audit", "verify", data_dir=data, check=True)
    assert audit.returncode == 0


def test_bad_roles_and_dates_are_explained(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad_role = run_cli("users", "add", "x1", "--role", "superuser", data_dir=data)
    assert bad_role.returncode == 1 and "unknown role 'superuser'" in bad_role.stderr
    run_cli("users", "add", "x2", "--role", "investigator", data_dir=data, check=True)
    bad_date = run_cli("users", "training", "x2", "--until", "next year", data_dir=data)
    assert bad_date.returncode == 1 and "not a date" in bad_date.stderr


def test_the_command_line_search_is_refused_once_there_are_accounts(
    server_world, tmp_path: Path
) -> None:
    from tests.server_world import PROBE

    world = server_world.copy_to(tmp_path / "data")
    db = world.database_url
    refused = run_cli(
        "search",
        PROBE,
        "--case",
        "C-1",
        "--purpose",
        "identify a robber",
        data_dir=world.data_dir,
        database_url=db,
    )
    assert refused.returncode == 4
    assert "facesift serve" in refused.stderr
    shown = run_cli("audit", "show", "--json", data_dir=world.data_dir, check=True, database_url=db)
    assert '"search_refused"' in shown.stdout


def test_a_server_process_freezes_what_it_made_at_start(tmp_path: Path) -> None:
    """``facesift serve`` freezes its start-up heap (``gc.freeze``), so the collector's full
    passes stop scanning it (80-130 ms pauses every few seconds at 50 users, before); an app
    made in a test process freezes nothing, or no test's app would ever be collected."""
    code = (
        "import gc, sys\n"
        "from fastapi.testclient import TestClient\n"
        "from facesift.config import Config\n"
        "from facesift.server.app import create_app\n"
        "for freeze in (False, True):\n"
        "    app = create_app(Config(data_dir=sys.argv[1]), freeze_after_start=freeze)\n"
        "    with TestClient(app):\n"
        "        print(gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    unfrozen, frozen = (int(n) for n in done.stdout.split())
    assert unfrozen == 0
    assert frozen > 50_000  # modules, routes, the services: about 175,000 objects


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_the_server_runs_on_the_c_http_parser_and_event_loop(tmp_path: Path) -> None:
    """httptools and uvloop, which uvicorn takes when they are installed, cost 0.4-0.6 ms
    less of the server's CPU a request than h11 and asyncio's loop (bench/README.md): a
    server that fell back to them (a dependency lost, uvicorn choosing otherwise) is slower
    at every request. What the running process has loaded says which it uses."""
    with start_server(tmp_path / "data") as server:
        with urllib.request.urlopen(server.url_for("/healthz"), timeout=30) as answer:
            assert answer.status == 200
        loaded = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/httptools/parser/" in loaded
    assert "/uvloop/loop." in loaded
