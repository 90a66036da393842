"""A real Milvus standalone server for the tests, started once a session in a temporary
folder on free loopback ports (the ``milvus`` package ships the server; about 12 s to
start). Nothing has to be running beforehand."""

from __future__ import annotations

import contextlib
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
    """``milvus://127.0.0.1:PORT`` of a running server; tests append ``/NAME``."""
    folder = tmp_path_factory.mktemp("milvus")
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
        yield f"milvus://127.0.0.1:{port}"
    finally:
        _stop(process, folder)


def _stop(process: subprocess.Popen, folder: Path) -> None:
    """Stop the wrapper and the server binary it runs from a copy in the data folder (in a
    session of its own, so the wrapper's process group does not hold it). The binary also
    writes /tmp/milvus/server_id_PID whatever TMPDIR says: those files are removed."""
    servers = _processes_running_from(folder)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in _processes_running_from(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in servers:
        Path(f"/tmp/milvus/server_id_{pid}").unlink(missing_ok=True)


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
