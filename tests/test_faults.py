"""Faults and load: SIGKILL at random moments, and searching while an ingest writes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from facesift.services.calibration import load_calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.search import CANDIDATES, SearchRequest, search
from facesift.vision import FaceAnalyzer, VisionConfig
from tests.conftest import LFW, REPO, photos


@pytest.mark.slow
def test_random_sigkills_during_ingest_and_rebuild_lose_nothing() -> None:
    """The short CI run of bench/crash.py; the benchmark runs it with 20+ kills each."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "crash.py"),
            "--ingest-kills",
            "3",
            "--rebuild-kills",
            "3",
            "--rebuild-faces",
            "8000",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "final gallery equals the uninterrupted one" in result.stdout
    assert "all invariants held" in result.stdout


def test_searches_answer_correctly_while_an_ingest_runs(tmp_path, database_url) -> None:
    """On SQLite and on PostgreSQL: a gallery held open sees what an ingest in another
    process adds (SQLite's data_version, PostgreSQL's change counter)."""
    analyzer = FaceAnalyzer.from_config(VisionConfig())
    calibration = load_calibration(analyzer.model_id)
    database = ["--database", database_url] if database_url else []
    with Gallery.open(tmp_path, database_url) as gallery:
        ingest(gallery, [p.path for p in photos("gallery")], IngestOptions(workers=1))
    extra = sorted((LFW / "images").glob("A*/*.jpg"))[:150]
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facesift",
            *database,
            "ingest",
            *map(str, extra),
            "--workers",
            "1",
            "--write-batch",
            "4",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    probes = photos("probe")
    answered = 0
    try:
        with Gallery.open(tmp_path, database_url) as gallery:
            while writer.poll() is None or answered < len(probes):
                probe = probes[answered % len(probes)]
                request = SearchRequest(
                    "LOAD-1", "search during a running ingest", offense_category="robbery"
                )
                result = search(gallery, analyzer, calibration, probe.path.read_bytes(), request)
                assert result.outcome == CANDIDATES
                assert probe.identity in result.candidates[0].image["path"]
                answered += 1
                time.sleep(0.05)
    finally:
        writer.wait(timeout=300)
    assert writer.returncode == 0, writer.stderr.read()
    assert answered >= len(probes)
    with Gallery.open(tmp_path, database_url) as gallery:
        assert gallery.store.stats().images == 20 + len(extra)
        assert gallery.store.audit.verify().ok
