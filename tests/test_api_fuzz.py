"""Schemathesis against the live server's ``/openapi.json``: generated requests, valid
(positive) and invalid (negative), to every operation, as signed-in users of several roles.
No answer may be a 5xx, and the server must stay up.

Hypothesis drives each operation's strategy directly (schemathesis' pytest plugin does not
yet run under pytest 9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.browser_support import LiveServer, start_server
from tests.server_world import World

pytestmark = pytest.mark.slow
FUZZ_AS = ("ivan", "rita", "audrey", "admin")
EXAMPLES = 6  # per operation and mode; each example is sent once per user in FUZZ_AS


@pytest.fixture(scope="module")
def fuzz_world(server_world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    return server_world.copy_to(tmp_path_factory.mktemp("fuzz") / "data")


@pytest.fixture(scope="module")
def fuzz_server(fuzz_world: World) -> Iterator[LiveServer]:
    with start_server(fuzz_world.data_dir, fuzz_world.env()) as server:
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_server_fail(mode, fuzz_world: World, fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(fuzz_server.url_for("/openapi.json"))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def send(case) -> None:
            for who in FUZZ_AS:
                response = case.call(
                    base_url=fuzz_server.url,
                    headers=fuzz_world.auth(who),
                    allow_redirects=False,
                    timeout=60,
                )
                case.validate_response(response, checks=[not_a_server_error])

        try:
            send()
        except Unsatisfiable:
            # Nothing can be invalid about an operation without parameters: no negative case.
            assert mode is GenerationMode.NEGATIVE
    assert fuzz_server.alive()


def test_the_server_logs_no_secrets_or_probe_data(
    fuzz_server: LiveServer, fuzz_world: World
) -> None:
    logs = fuzz_server.stdout() + fuzz_server.stderr()
    for token in fuzz_world.tokens.values():
        assert token not in logs
    assert "password" not in logs.lower() and "sha256" not in logs.lower()
