"""A real Dask cluster for the tests: a scheduler and two single-threaded worker processes,
started with Dask's own command line, all on 127.0.0.1 (nothing listens elsewhere)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 90
WORKERS = 2


@dataclass(frozen=True)
class DaskCluster:
    address: str  # tcp://127.0.0.1:PORT

    def worker_pids(self) -> dict[str, int]:
        from distributed import Client

        with Client(self.address, timeout="20s", set_as_default=False) as client:
            return client.run(os.getpid)

    def busy_workers(self) -> list[str]:
        """Workers that have tasks running now."""
        from distributed import Client

        with Client(self.address, timeout="20s", set_as_default=False) as client:
            return [worker for worker, tasks in client.processing().items() if tasks]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with Client(address, timeout="5s", set_as_default=False) as client:
                client.wait_for_workers(count, timeout=START_TIMEOUT_S)
                return
        except (OSError, TimeoutError):
            time.sleep(0.5)
    raise RuntimeError(f"the Dask cluster at {address} did not get {count} workers")


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    folder = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(folder), "OMP_NUM_THREADS": "1"}
    processes = []
    try:
        with (folder / "scheduler.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
        with (folder / "workers.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nworkers",
                        str(WORKERS),
                        "--nthreads",
                        "1",
                        "--local-directory",
                        str(folder),
                        *common,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
        _wait_for_workers(address, WORKERS)
        yield DaskCluster(address)
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
