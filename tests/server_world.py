"""A small, real facesift installation for the server tests: the fixture's 20 gallery photos
ingested with the real model, and one account per role, each with a password and an API token.

Built once per test session (``server_world`` fixture) and copied for tests that change it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from facesift.services.accounts import Accounts
from facesift.store import Store
from tests.conftest import FIXTURE, photos
from tests.helpers import run_cli

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
}
PASSWORD = "correct horse battery staple"
PROBE = FIXTURE / "identities" / "Colin_Powell" / "Colin_Powell_0003.jpg"
STRANGER = FIXTURE / "group" / "face_recognition_kit_with_rose.jpg"  # nobody in the gallery


@dataclass(frozen=True)
class World:
    data_dir: Path
    tokens: dict[str, str]  # user name -> API token
    user_ids: dict[str, int]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def copy_to(self, target: Path) -> World:
        shutil.copytree(self.data_dir, target)
        return World(target, self.tokens, self.user_ids)


def build_world(data_dir: Path) -> World:
    gallery = [str(p.path) for p in photos("gallery")]
    run_cli(
        "ingest",
        "--collection",
        "fixture",
        "--workers",
        "1",
        *gallery,
        data_dir=data_dir,
        check=True,
    )
    store = Store(data_dir)
    accounts = Accounts(store)
    tokens, ids = {}, {}
    for name, (roles, trained) in PEOPLE.items():
        user = accounts.add_user(name, roles, None, PASSWORD).user
        if trained:
            accounts.record_training(None, user.id, TRAINED_UNTIL)
        tokens[name] = accounts.create_token(None, user.id, "tests").token
        ids[name] = user.id
    store.close()
    return World(data_dir, tokens, ids)


@pytest.fixture(scope="session")
def server_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world") / "data")


@pytest.fixture
def fresh_world(server_world: World, tmp_path: Path) -> World:
    """A private copy, for a test that changes settings or accounts."""
    return server_world.copy_to(tmp_path / "data")
