"""``facesift serve --workers N`` on PostgreSQL: several server processes over one database.

A face removed on the command line must never be returned by any worker afterwards (opt-out
depends on it), and faces ingested beside the workers must be found by them. A worker
killed while it answers loses nothing that was acknowledged and leaves nothing half
written, and the others go on serving."""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from facesift.store import Store
from tests.browser_support import start_server
from tests.helpers import run_cli
from tests.server_world import PROBE, STRANGER, World, build_world
from tests.test_api import searched

pytestmark = pytest.mark.slow
SEARCHES_AFTER = 8  # enough that both workers answer some (the kernel spreads connections)
REFERENCES = itertools.count()  # case references, unique across the simulated users


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


@dataclass
class Outcomes:
    """What the simulated investigators were told: the ids acknowledged, and the requests
    that got no answer (their connection died with the worker)."""

    cases: list[int] = field(default_factory=list)
    probes: list[int] = field(default_factory=list)
    searches: list[int] = field(default_factory=list)
    cut_off: int = 0
    refused: list[str] = field(default_factory=list)  # any answer but 201: none expected
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, response: httpx.Response, ids: list[int]) -> int | None:
        """The new id, kept in ``ids``; None (and the answer kept) if it was refused."""
        with self.lock:
            if response.status_code != 201:
                self.refused.append(f"{response.request.url.path}: {response.status_code}")
                return None
            ids.append(response.json()["id"])
            return ids[-1]


def investigate(url: str, world: World, who: str, stop: threading.Event, out: Outcomes) -> None:
    """Open a case, then upload the probe and search it, again and again, until ``stop``;
    a request cut off is not retried (its outcome is unknown to the user too)."""
    photo = PROBE.read_bytes()
    case_id = None
    while not stop.is_set() and not out.refused:
        with httpx.Client(base_url=url, timeout=60, headers=world.auth(who)) as client:
            try:
                if case_id is None:
                    body = {
                        "reference": f"KILL-{os.getpid()}-{next(REFERENCES)}",
                        "offense_category": "robbery",
                        "purpose": "identify the suspect in an armed robbery of a pharmacy",
                    }
                    case_id = out.answered(client.post("/api/cases", json=body), out.cases)
                while case_id is not None and not stop.is_set() and not out.refused:
                    upload = client.post(
                        f"/api/cases/{case_id}/probes", files={"file": ("p.jpg", photo)}
                    )
                    probe_id = out.answered(upload, out.probes)
                    if probe_id is None:
                        return
                    search = client.post(f"/api/probes/{probe_id}/searches", json={"face_index": 0})
                    out.answered(search, out.searches)
            except httpx.TransportError:  # the worker died with the request: a new connection
                with out.lock:
                    out.cut_off += 1


def workers_of(server_pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes: the supervisor's spawned children (not its resource
    tracker)."""
    workers = []
    for child in psutil.Process(server_pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:  # a killed worker not yet reaped
            continue
    return workers


def busiest(workers: list[psutil.Process], port: int) -> psutil.Process:
    """The worker holding the most client connections: each has a request in flight."""

    def held(worker: psutil.Process) -> int:
        connections = worker.net_connections(kind="tcp")
        return sum(c.status == "ESTABLISHED" and c.laddr.port == port for c in connections)

    return max(workers, key=held)


def test_a_worker_killed_mid_request_loses_nothing_and_the_rest_serve_on(
    tmp_path: Path, postgres_server
) -> None:
    world = build_world(tmp_path / "data", postgres_server)
    out, stop = Outcomes(), threading.Event()
    with start_server(world.data_dir, world.env(), extra_args=["--workers", "2"]) as server:
        httpx.put(
            server.url_for("/api/settings/searches_per_minute"),
            json={"value": 100_000},
            headers=world.auth("admin"),
        ).raise_for_status()
        users = [
            threading.Thread(target=investigate, args=(server.url, world, who, stop, out))
            for who in ("ivan", "iris", "ivy") * 2
        ]
        for user in users:
            user.start()
        try:
            deadline = time.monotonic() + 60
            while len(out.searches) < 10 and time.monotonic() < deadline and not out.refused:
                time.sleep(0.05)
            assert len(out.searches) >= 10, "the workers did not answer before the kill"
            victim = busiest(workers_of(server.process.pid), int(server.url.rsplit(":", 1)[1]))
            its_analysis = victim.children(recursive=True)
            victim.send_signal(signal.SIGKILL)
            before = len(out.searches)
            # The others answer on: searches acknowledged after the kill.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                after = len(out.searches) - before
                if after >= 10 or out.refused:
                    break
                time.sleep(0.05)
            assert after >= 10, f"{after} searches answered in the minute after the kill"
        finally:
            stop.set()
            for user in users:
                user.join(timeout=120)
        assert not out.refused, out.refused
        assert out.cut_off >= 1, "the kill landed between requests; nothing was cut off"
        # The killed worker's analysis processes end with it (they watch their parent), and
        # uvicorn's supervisor starts a worker in its place.
        _, alive = psutil.wait_procs(its_analysis, timeout=10)
        assert not alive, f"analysis processes outlived their worker: {alive}"
        deadline = time.monotonic() + 30
        while len(workers_of(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        replaced = [w.pid for w in workers_of(server.process.pid)]
        assert len(replaced) == 2 and victim.pid not in replaced, replaced

    store = Store(world.data_dir, world.database_url)
    try:
        db = store.db
        rows = {
            table: {r[0] for r in db.execute(f"SELECT id FROM {table}")}
            for table in ("cases", "probes", "searches")
        }
        # Everything acknowledged was kept...
        assert set(out.cases) <= rows["cases"]
        assert set(out.probes) <= rows["probes"]
        assert set(out.searches) <= rows["searches"]
        # ...and nothing was half written: every probe and search kept has its audit entry
        # (a request cut off after its commit may have left a complete one, never a part).
        uploaded = db.json_text("details", "probe_id")
        audited_probes = {
            int(r[0])
            for r in db.execute(f"SELECT {uploaded} FROM audit_log WHERE action = 'probe_uploaded'")
        }
        assert rows["probes"] <= audited_probes
        unaudited = db.execute(
            "SELECT COUNT(*) FROM searches s LEFT JOIN audit_log a ON a.id = s.audit_id"
            " WHERE a.id IS NULL"
        ).one()[0]
        assert unaudited == 0
        assert store.audit.verify().ok
    finally:
        store.close()
    verified = run_cli("audit", "verify", data_dir=world.data_dir, database_url=world.database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
