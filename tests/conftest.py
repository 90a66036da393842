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
# Faces the default detector (CenterFace) finds in a gallery photo beside its person: people
# in the background that HOG misses (Tony_Blair_0001, Vladimir_Putin_0001) and one false
# face, a decoration (Ariel_Sharon_0001, score 0.46). HOG finds only the person.
EXTRA_FACES = {"Ariel_Sharon_0001.jpg": 1, "Tony_Blair_0001.jpg": 1, "Vladimir_Putin_0001.jpg": 1}


def default_faces(photo: FixturePhoto) -> int:
    """Faces the default detector finds in a fixture identity photo."""
    return 1 + EXTRA_FACES.get(photo.path.name, 0)


GALLERY_FACES = sum(default_faces(p) for p in PHOTOS if p.role == "gallery")  # 23


def photos(role: str) -> list[FixturePhoto]:
    return [p for p in PHOTOS if p.role == role]


@pytest.fixture(scope="session", autouse=True)
def _require_test_data() -> None:
    if not PHOTOS:
        pytest.fail(
            f"test photos not found at {FIXTURE}; set FACESIFT_TEST_DATA to the faces folder"
        )
