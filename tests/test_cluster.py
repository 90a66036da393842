"""Ingest on a real Dask cluster (``facesift ingest --cluster tcp://...``): the same gallery
as a local ingest, and nothing lost when a worker is killed mid-ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import LFW, photos
from tests.helpers import gallery_state, run_json


def _lfw_photos(count: int) -> list[Path]:
    folders = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())
    return [sorted(folder.glob("*.jpg"))[0] for folder in folders[-count:]]


def test_a_cluster_ingest_equals_a_local_one(dask_cluster, tmp_path) -> None:
    files = [p.path for p in photos("gallery")] + [p.path for p in photos("group")]
    code, local = run_json("ingest", *files, "--workers", "2", data_dir=tmp_path / "local")
    assert code == 0
    code, remote = run_json(
        "ingest", *files, "--cluster", dask_cluster.address, data_dir=tmp_path / "cluster"
    )
    assert code == 0
    assert (remote["ingested"], remote["faces"], remote["failed"]) == (
        local["ingested"],
        local["faces"],
        0,
    )
    assert gallery_state(tmp_path / "cluster") == gallery_state(tmp_path / "local")


def test_a_worker_killed_mid_ingest_loses_nothing(dask_cluster, tmp_path) -> None:
    files = _lfw_photos(60)
    command = [
        sys.executable,
        "-m",
        "facesift",
        "ingest",
        *map(str, files),
        "--cluster",
        dask_cluster.address,
        "--json",
        "--data-dir",
        str(tmp_path / "cluster"),
    ]
    ingest = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and ingest.poll() is None:
        busy = dask_cluster.busy_workers()
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.2)
    assert victim is not None, "the ingest finished before a worker could be killed"
    pids = dask_cluster.worker_pids()
    os.kill(pids[victim], signal.SIGKILL)  # the worker dies with tasks in hand
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, err
    summary = json.loads(out)
    assert (summary["ingested"], summary["failed"]) == (60, 0)
    code, local = run_json("ingest", *files, "--workers", "2", data_dir=tmp_path / "local")
    assert code == 0 and local["faces"] == summary["faces"]
    assert gallery_state(tmp_path / "cluster") == gallery_state(tmp_path / "local")
    assert victim not in dask_cluster.worker_pids()  # it really died; a new one took its place
