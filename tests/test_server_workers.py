"""``facesift serve --workers N`` on PostgreSQL: several server processes over one database.

A face removed on the command line must never be returned by any worker afterwards (opt-out
depends on it), and faces ingested beside the workers must be found by them."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.browser_support import start_server
from tests.helpers import run_cli
from tests.server_world import STRANGER, build_world
from tests.test_api import searched

pytestmark = pytest.mark.slow
SEARCHES_AFTER = 8  # enough that both workers answer some (the kernel spreads connections)


def test_workers_never_return_a_removed_face_and_find_one_ingested_beside_them(
    tmp_path: Path, postgres_server
) -> None:
    world = build_world(tmp_path / "data", postgres_server)
    db = world.database_url
    with (
        start_server(world.data_dir, world.env(), extra_args=["--workers", "2"]) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        client.put(
            "/api/settings/searches_per_minute", json={"value": 1000}, headers=world.auth("admin")
        )
        first = searched(client, world)  # type: ignore[arg-type]
        assert first["outcome"] == "candidates"
        removed = first["candidates"][0]["face_id"]
        run_cli(
            "remove", "--face", str(removed), data_dir=world.data_dir, check=True, database_url=db
        )
        for _ in range(SEARCHES_AFTER):
            result = searched(client, world)  # type: ignore[arg-type]
            assert removed not in [c["face_id"] for c in result.get("candidates", [])]

        before = searched(client, world, photo=STRANGER)  # type: ignore[arg-type]
        assert before["outcome"] == "no_candidate"
        run_cli(
            "ingest", "--workers", "1", "--collection", "late", STRANGER,
            data_dir=world.data_dir, check=True, database_url=db,
        )  # fmt: skip
        for _ in range(SEARCHES_AFTER // 2):
            after = searched(client, world, photo=STRANGER)  # type: ignore[arg-type]
            assert after["outcome"] == "candidates"
            assert after["candidates"][0]["image"]["collection"] == "late"

        # Answers are not held back by Nagle's algorithm: an answer written in two parts
        # waited for the client's delayed acknowledgement, 40 ms each, on the workers'
        # shared socket (one process: 3-5 ms).
        took = []
        for _ in range(21):
            started = time.monotonic()
            client.get("/api/me", headers=world.auth("ivan")).raise_for_status()
            took.append(time.monotonic() - started)
        assert statistics.median(took) < 0.025, took


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    result = run_cli("serve", "--workers", "2", data_dir=tmp_path, timeout=60)
    assert result.returncode == 2 and "PostgreSQL" in result.stderr
