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


# Values JSON parsers accept but facesift must refuse (422), and odd but valid Unicode that
# must never make a 5xx: each put, raw, into every field of every JSON body in the spec.
ODD_VALUES = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b'"\\ud800"',
    b'"a\\udfffb"',
    b'"pro\\u200btest \\u00ad \\u202e \\ufeff"',
    b'"\\uff50\\uff52\\uff4f \\u043e \\u0000"',
    b'"\\ud83d\\ude00 \\u0301\\u0301\\u0301"',
)
NOT_JSON_NUMBERS = ODD_VALUES[:6]


def _json_bodies(spec: dict) -> list[tuple[str, str, list[str]]]:
    """(method, path with ids filled in, body fields) of every operation taking JSON."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            fields = list(schema.get("properties", {})) or ["value"]
            url = path.replace("{key}", "searches_per_minute")
            url = "/".join("1" if part.startswith("{") else part for part in url.split("/"))
            found.append((method.upper(), url, fields))
    return found


def test_non_finite_numbers_and_odd_unicode_never_fail_the_server(
    fuzz_world: World, fuzz_server: LiveServer
) -> None:
    import json
    import urllib.error
    import urllib.request

    spec = json.load(urllib.request.urlopen(fuzz_server.url_for("/openapi.json")))
    operations = _json_bodies(spec)
    assert len(operations) > 10
    sent = 0
    for method, url, fields in operations:
        for field in fields:
            for value in ODD_VALUES:
                body = b"{" + json.dumps(field).encode() + b": " + value + b"}"
                request = urllib.request.Request(
                    fuzz_server.url_for(url),
                    data=body,
                    method=method,
                    headers={**fuzz_world.auth("admin"), "Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status = response.status
                except urllib.error.HTTPError as answer:
                    status = answer.code
                sent += 1
                assert status < 500, (method, url, field, value, status)
                if value in NOT_JSON_NUMBERS:
                    assert status == 422, (method, url, field, value, status)
    print(f"{sent} requests with odd values to {len(operations)} operations")
    assert fuzz_server.alive()
    logs = fuzz_server.stdout() + fuzz_server.stderr()
    assert "Traceback" not in logs
