"""/openapi.json documents what every API route answers: a named schema for JSON, a media
type for images and files. A route that returned a bare ``dict`` would show up here as an
untyped object."""

from __future__ import annotations

from facesift.config import Config
from facesift.server import create_app


def _answers(operation: dict) -> dict:
    return next(v for code, v in operation["responses"].items() if code.startswith("2"))


def test_every_api_route_documents_what_it_answers(tmp_path) -> None:
    spec = create_app(Config(home=tmp_path)).openapi()
    untyped = []
    for path, operations in spec["paths"].items():
        if not (path.startswith("/api/") or path == "/healthz"):
            continue
        for method, operation in operations.items():
            content = _answers(operation).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                if not content or content == {"application/json": {}}:
                    untyped.append(f"{method.upper()} {path}")
                continue
            named = schema.get("$ref") or schema.get("items", {}).get("$ref")
            if not named:
                untyped.append(f"{method.upper()} {path}")
    assert untyped == [], f"routes without a response model: {untyped}"
