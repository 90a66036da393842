"""A sync API route runs in one worker thread: FastAPI checks its answer on the event loop
(``server.routing``), not in a second hop to the threads."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from facesift.config import Config
from facesift.server import create_app
from facesift.server.routing import OneHopRoute

SEEN: dict[str, str] = {}  # where each step of the last request ran


class Answer(BaseModel):
    total: int

    @field_validator("total")
    @classmethod
    def note_check(cls, value: int) -> int:
        SEEN["answer checked"] = threading.current_thread().name
        return value


async def on_the_loop() -> int:
    SEEN["event loop"] = threading.current_thread().name
    return 40


def _app_recording_threads(route_class: type[APIRoute]) -> tuple[FastAPI, dict[str, str]]:
    """A route with a dependency, a query parameter and a response model, each noting the
    thread it ran on."""
    SEEN.clear()
    router = APIRouter(route_class=route_class)

    @router.get("/sum", response_model=Answer)
    def add(base: Annotated[int, Depends(on_the_loop)], more: int = 0) -> dict:
        SEEN["route"] = threading.current_thread().name
        return {"total": base + more}

    app = FastAPI()
    app.include_router(router)
    return app, SEEN


def test_a_sync_route_answers_as_before_and_its_answer_is_checked_on_the_event_loop() -> None:
    app, seen = _app_recording_threads(OneHopRoute)
    with TestClient(app) as client:
        assert client.get("/sum", params={"more": 2}).json() == {"total": 42}
        assert client.get("/sum", params={"more": "x"}).status_code == 422
    assert seen["route"] != seen["event loop"]  # the route still runs off the loop
    assert seen["answer checked"] == seen["event loop"]


def test_fastapis_own_route_checks_a_sync_routes_answer_in_a_second_hop() -> None:
    """What ``OneHopRoute`` saves: with FastAPI's route the check runs off the loop too."""
    app, seen = _app_recording_threads(APIRoute)
    with TestClient(app) as client:
        assert client.get("/sum", params={"more": 2}).json() == {"total": 42}
    assert seen["answer checked"] != seen["event loop"]


def test_every_api_route_of_the_app_is_answered_in_one_hop(tmp_path) -> None:
    app = create_app(Config(home=tmp_path))
    api = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/api/")]
    assert len(api) > 50
    assert [r.path for r in api if not isinstance(r, OneHopRoute)] == []
