"""A real Milvus standalone server for the tests, started once a session in a temporary
folder on free loopback ports (the ``milvus`` package ships the server; about 12 s to
start). Nothing has to be running beforehand."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_ready(uri: str, process: subprocess.Popen, log: Path) -> None:
    from pymilvus import MilvusClient

    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"milvus-server exited ({process.returncode}):\n{log.read_text()}")
        # The embedded etcd's peer port (2380) is fixed: a second server on this machine
        # cannot start, and says so only in its own log.
        milvus_log = log.parent / "data" / "logs" / "milvus-stdout.log"
        if milvus_log.exists() and "address already in use" in milvus_log.read_text():
            raise RuntimeError(f"milvus-server could not bind its ports; see {milvus_log}")
        try:
            MilvusClient(uri=uri, timeout=5).list_collections()
            return
        except Exception as exc:  # the server refuses connections until it is up
            last = exc
            time.sleep(1.0)
    raise RuntimeError(f"milvus-server not ready in {START_TIMEOUT_S} s: {last}")


@pytest.fixture(scope="session")
def milvus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``milvus://127.0.0.1:PORT`` of a running server; tests append ``/NAME``.

    Only one Milvus server can run on a machine (its embedded etcd's peer port, 2380, is
    fixed), so when pytest-xdist runs the suite on several workers the first worker that
    needs Milvus starts it, the others use it, and the controller stops it at the end
    (``pytest_sessionfinish`` below). Tests name their collections after their process."""
    if not _under_xdist():
        folder = tmp_path_factory.mktemp("milvus")
        process, url = _start(folder)
        try:
            yield url
        finally:
            _stop(process.pid, folder)
        return
    shared = _shared_state(tmp_path_factory.getbasetemp().parent)
    with shared.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker starts it; the others wait, then read
        if not shared.exists():
            folder = shared.parent / "milvus-shared"
            folder.mkdir()
            process, url = _start(folder)
            shared.write_text(json.dumps({"pid": process.pid, "folder": str(folder), "url": url}))
        url = json.loads(shared.read_text())["url"]
    yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On xdist's controller (and only there): stop the server a worker started."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    shared = _shared_state(config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    if shared.exists():
        state = json.loads(shared.read_text())
        _stop(state["pid"], Path(state["folder"]))
        shared.unlink()


def _under_xdist() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def _shared_state(root: Path) -> Path:
    return root / "milvus-shared.json"


def _start(folder: Path) -> tuple[subprocess.Popen, str]:
    server = Path(sys.executable).parent / "milvus-server"
    port = _free_port()  # the server finds free ports for its other services itself
    command = [str(server), "--data", str(folder / "data"), "--proxy-port", str(port)]
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}", process, log)
    except BaseException:
        _stop(process.pid, folder)
        raise
    return process, f"milvus://127.0.0.1:{port}"


def _stop(pid: int, folder: Path) -> None:
    """Stop the wrapper (the leader of its own process group) and the server binary it runs
    from a copy in the data folder (in a session of its own, so the wrapper's process group
    does not hold it). The binary also writes /tmp/milvus/server_id_PID whatever TMPDIR
    says: those files are removed."""
    servers = _processes_running_from(folder)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    for leftover in _processes_running_from(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)
    for server_pid in servers:
        Path(f"/tmp/milvus/server_id_{server_pid}").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is our own child that has exited."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_running_from(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in command:
            found.append(int(entry.name))
    return found
