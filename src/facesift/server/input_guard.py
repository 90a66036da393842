"""Checks on a request before any route sees it (issue 12, "every input bounded").

- ``body_not_allowed``: GET, HEAD, OPTIONS and DELETE take no body here. Before this, a
  400 MB body on ``GET /healthz`` was read into memory and answered 200.
- ``bad_json_values``: NaN, Infinity, numbers that overflow to infinity (``1e400``), lone
  surrogates (``"\\ud800"``, not text in any encoding) and nesting too deep to parse. Python's
  JSON reader accepts all but the last; the value then failed deep inside (500, with the
  client's value in the server's traceback). They are refused with 422 here, and the answer
  names the problem, never the value.
- ``untrusted_host``: the ``trusted_hosts`` setting (empty: any host) lists the names (with
  an optional port; ``*.example.org`` for subdomains) the server answers to; others get 400,
  which stops DNS rebinding.
- ``same_origin``: Origin's scheme, host and port must be the request's own.
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlsplit

MAX_JSON_DEPTH = 64
_DEFAULT_PORTS = {"http": 80, "https": 443}
BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class _Refused(ValueError):
    pass


def body_not_allowed(method: str, headers) -> bool:
    if method not in BODILESS:
        return False
    length = headers.get("content-length")
    return bool(headers.get("transfer-encoding")) or (length not in (None, "", "0"))


def bad_json_values(body: bytes) -> str | None:
    """What is wrong with a JSON body's values, or None (a syntax error is left to the
    route's own parser, which says where it is)."""

    def constant(name: str) -> float:
        raise _Refused(f"{name} is not a number facesift accepts")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise _Refused("a number is too large to be represented")
        return value

    try:
        value = json.loads(body, parse_constant=constant, parse_float=finite)
    except _Refused as refused:
        return str(refused)
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    except RecursionError:
        return "the JSON is nested too deeply"
    except ValueError:  # a syntax error, or an integer too long to convert
        return None
    return _bad_value(value, 0)


def _bad_value(value: object, depth: int) -> str | None:
    if depth > MAX_JSON_DEPTH:
        return "the JSON is nested too deeply"
    if isinstance(value, str):
        return _bad_text(value)
    if isinstance(value, list):
        return next((p for v in value if (p := _bad_value(v, depth + 1))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _bad_text(key) or _bad_value(item, depth + 1)
            if problem:
                return problem
    return None


def _bad_text(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone surrogate, which is not text"
    return None


def untrusted_host(host_header: str | None, trusted: list[str]) -> bool:
    if not trusted:
        return False
    host = (host_header or "").lower()
    name = urlsplit(f"//{host}").hostname or ""
    for pattern in (p.lower() for p in trusted):
        if pattern in (host, name):
            return False
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return False
    return True


def same_origin(origin: str, scheme: str, host_header: str | None) -> bool:
    """Whether ``origin`` names this request's own scheme, host and port."""
    try:
        sent, own = urlsplit(origin), urlsplit(f"{scheme}://{host_header or ''}")
        sent_port = sent.port or _DEFAULT_PORTS.get(sent.scheme)
        own_port = own.port or _DEFAULT_PORTS.get(own.scheme)
    except ValueError:  # a port that is not a number
        return False
    return (
        sent.scheme == own.scheme
        and bool(sent.hostname)
        and sent.hostname == own.hostname
        and sent_port == own_port
    )
