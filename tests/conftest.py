"""Shared fixtures. Test photos are read from ``$FACESIFT_TEST_DATA`` (default
``../shared/faces`` beside the repository); they are never copied into the repository."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# Fixtures: browser, browser_page, live_server_factory (browser tests); milvus_url; dask_cluster.
pytest_plugins = [
    "tests.browser_support",
    "tests.postgres",
    "tests.server_world",
    "tests.milvus_server",
    "tests.dask_cluster",
]

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = Path(os.environ.get("FACESIFT_TEST_DATA", REPO.parent / "shared" / "faces"))
FIXTURE = TEST_DATA / "fixture"
LFW = TEST_DATA / "lfw"


@dataclass(frozen=True)
class FixturePhoto:
    path: Path
    identity: str
    role: str  # gallery, probe, group or negative
    expected_faces: int


def _fixture_photos() -> list[FixturePhoto]:
    labels = FIXTURE / "labels.csv"
    if not labels.exists():
        return []
    with labels.open(newline="") as handle:
        return [
            FixturePhoto(FIXTURE / r["path"], r["identity"], r["role"], int(r["expected_faces"]))
            for r in csv.DictReader(handle)
        ]


PHOTOS = _fixture_photos()


def photos(role: str) -> list[FixturePhoto]:
    return [p for p in PHOTOS if p.role == role]


@pytest.fixture(scope="session", autouse=True)
def _require_test_data() -> None:
    if not PHOTOS:
        pytest.fail(
            f"test photos not found at {FIXTURE}; set FACESIFT_TEST_DATA to the faces folder"
        )
