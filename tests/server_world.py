"""A small, real facesift installation for the server tests: the fixture's 20 gallery photos
ingested with the real model, and one account per role, each with a password and an API token.

Built once per test session and database (``server_world`` runs each test on SQLite and on
PostgreSQL) and copied for tests that change it. ``EVERY_BACKEND`` marks a test (or a module)
to run on the vectors in Milvus too: what must hold on every back end, such as deletions.
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from facesift.compose import open_store
from facesift.config import Config, VisionSettings
from facesift.index import load_index
from facesift.index.base import VectorIndex
from facesift.index.milvus import MilvusIndex, MilvusTarget
from facesift.server.app import create_app
from facesift.services.accounts import Accounts
from facesift.services.gallery import INDEX_FILE
from facesift.store.transfer import copy_database
from tests.conftest import FIXTURE, photos
from tests.helpers import run_cli
from tests.postgres import PostgresServer

TRAINED_UNTIL = "2099-12-31"
# name -> (roles, trained?)
PEOPLE: dict[str, tuple[list[str], bool]] = {
    "admin": (["admin"], False),
    "ivan": (["investigator"], True),  # the investigator most tests act as
    "iris": (["investigator"], True),  # a second investigator, with cases of her own
    "rita": (["reviewer"], True),
    "rory": (["reviewer"], True),
    "sam": (["supervisor"], False),
    "audrey": (["auditor"], False),
    "untrained": (["investigator"], False),
    "boss": (["admin", "investigator"], True),  # holds both roles: still cannot search
    "ivy": (["investigator", "reviewer"], True),  # may review others' searches, not her own
    "percy": (["privacy_officer"], False),  # decides opt-out requests
}
PASSWORD = "correct horse battery staple"
PROBE = FIXTURE / "identities" / "Colin_Powell" / "Colin_Powell_0003.jpg"
STRANGER = FIXTURE / "group" / "face_recognition_kit_with_rose.jpg"  # nobody in the gallery


@dataclass(frozen=True)
class World:
    data_dir: Path
    tokens: dict[str, str]  # user name -> API token
    user_ids: dict[str, int]
    database_url: str | None = None  # None: SQLite in data_dir
    postgres: PostgresServer | None = None
    vectors: str | None = None  # a Milvus collection's URL; None: FAISS files in data_dir

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def env(self) -> dict[str, str]:
        """The environment a facesift process needs to open this world's database."""
        env = {"FACESIFT_DATABASE_URL": self.database_url} if self.database_url else {}
        return env | ({"FACESIFT_VECTORS": self.vectors} if self.vectors else {})

    def config(self, **vision: object) -> Config:
        """This world's configuration; ``vision``: fields of ``VisionSettings``."""
        return Config(
            home=self.data_dir,
            database_url=self.database_url,
            vectors=self.vectors,
            vision=VisionSettings(**vision),
        )

    def app(self, **vision: object) -> FastAPI:
        return create_app(self.config(**vision))

    def vectors_flag(self) -> list[str]:
        """``--vectors URL`` for a command run on this world, when its vectors are in Milvus."""
        return ["--vectors", self.vectors] if self.vectors else []

    def raw_index(self) -> VectorIndex:
        """The vectors as stored, not repaired against the records as ``Gallery.open``
        would: what a search of the index itself can return."""
        if self.vectors:
            return MilvusIndex(MilvusTarget.parse(self.vectors))
        return load_index(self.data_dir / INDEX_FILE)

    def copy_to(self, target: Path) -> World:
        shutil.copytree(self.data_dir, target)
        # A copy in Milvus is a new collection, filled from the copied records when opened.
        vectors = _milvus_collection(self.vectors.split("/")[2]) if self.vectors else None
        if self.postgres is None:
            return World(target, self.tokens, self.user_ids, vectors=vectors)
        url = self.postgres.new_database()
        source, copy = open_store(self.data_dir, self.database_url), open_store(target, url)
        copy_database(source.db, copy.db)
        source.close()
        copy.close()
        return World(target, self.tokens, self.user_ids, url, self.postgres, vectors)


_collections = itertools.count()


def _milvus_collection(host_port: str) -> str:
    """A new collection on the Milvus server at ``host_port``, read at Strong consistency so
    a test's search sees the ingest just before it (Bounded has its own tests)."""
    return f"milvus://{host_port}/world_{os.getpid()}_{next(_collections)}?consistency=Strong"


def build_world(
    data_dir: Path, postgres: PostgresServer | None = None, milvus_url: str | None = None
) -> World:
    """``milvus_url`` (``milvus://HOST:PORT``): the vectors in a new collection there."""
    database_url = postgres.new_database() if postgres else None
    vectors = _milvus_collection(milvus_url.split("/")[2]) if milvus_url else None
    gallery = [str(p.path) for p in photos("gallery")]
    run_cli(
        "ingest",
        "--collection",
        "fixture",
        "--workers",
        "1",
        *gallery,
        *(["--vectors", vectors] if vectors else []),
        data_dir=data_dir,
        check=True,
        database_url=database_url,
    )
    store = open_store(data_dir, database_url)
    accounts = Accounts(store)
    tokens, ids = {}, {}
    for name, (roles, trained) in PEOPLE.items():
        user = accounts.add_user(name, roles, None, PASSWORD).user
        if trained:
            accounts.record_training(None, user.id, TRAINED_UNTIL)
        tokens[name] = accounts.create_token(None, user.id, "tests").token
        ids[name] = user.id
    store.close()
    return World(data_dir, tokens, ids, database_url, postgres, vectors)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The world on SQLite, and the same world on PostgreSQL: every test that uses it (or
    ``fresh_world``) runs on both databases; with ``EVERY_BACKEND``, also on PostgreSQL with
    the vectors in Milvus."""
    postgres = request.getfixturevalue("postgres_server") if request.param != "sqlite" else None
    milvus = request.getfixturevalue("milvus_url") if "milvus" in request.param else None
    return build_world(tmp_path_factory.mktemp("world") / "data", postgres, milvus)


# SQLite and PostgreSQL with FAISS, and PostgreSQL with Milvus (``-k "not milvus"`` skips it).
EVERY_BACKEND = pytest.mark.parametrize(
    "server_world", ["sqlite", "postgresql", "postgresql+milvus"], indirect=True
)

# SQLite alone: for what the database cannot change (a page's layout, its accessibility),
# where a second run on PostgreSQL would cost half a minute and test nothing new.
LAYOUT_ONLY = pytest.mark.parametrize("server_world", ["sqlite"], indirect=True)


@pytest.fixture
def fresh_world(server_world: World, tmp_path: Path) -> World:
    """A private copy, for a test that changes settings or accounts."""
    return server_world.copy_to(tmp_path / "data")
