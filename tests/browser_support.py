"""Browser end-to-end support: a real ``facesift serve`` process and headless Chromium.

Loaded as a pytest plugin by ``tests/conftest.py``, so its fixtures are available in every
test module without an import:

- ``browser``: one headless Chromium for the session (Debian's ``/usr/bin/chromium``, never a
  browser that Playwright downloads).
- ``browser_page``: a fresh context and page per test, 1366x768 like a laptop. A failed test
  leaves ``failed-<test>.png`` among the screenshots.
- ``live_server_factory``: ``factory(data_dir, env=None) -> LiveServer``; every server it
  started is stopped at the end of the test.

and plain helpers to import: ``start_server`` (also a context manager), ``screenshot``,
``page_errors`` (console errors and uncaught exceptions, CSP violations among them) and
``static_server`` (fixed files on 127.0.0.1 under the app's CSP, for tests without the app).

Without Chromium a browser test is skipped locally, but fails in CI (``CI=true``): there
``make install`` must have installed it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("FACESIFT_CHROMIUM", "/usr/bin/chromium"))
# As the machine notes' probe started it: without the background-networking flags Chromium
# keeps trying to reach Google's hosts, which a closed network refuses. Playwright adds a
# fresh temporary --user-data-dir of its own to every launch.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
# The Content-Security-Policy the web app sends with every page.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; frame-ancestors 'none'"
)
SERVER_START_TIMEOUT = 60.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def artifacts_dir() -> Path:
    """``$FACESIFT_ARTIFACTS`` (a relative path is taken from the repository root), else
    ``artifacts/``."""
    path = Path(os.environ.get("FACESIFT_ARTIFACTS", "artifacts"))
    return path if path.is_absolute() else REPO / path


def _missing(reason: str) -> None:
    """Skip locally; fail in CI, where ``make install`` must have provided the browser."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)", pytrace=False)
    pytest.skip(f"{reason}; run `make install` (scripts/install-browser.sh) to install it")


# ---------------------------------------------------------------------------- the server


class ServerStartError(RuntimeError):
    pass


@dataclass
class LiveServer:
    """A running ``facesift serve`` subprocess on 127.0.0.1."""

    data_dir: Path
    port: int
    process: subprocess.Popen
    log_dir: Path
    command: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def stdout(self) -> str:
        return _read(self.log_dir / "stdout.log")

    def stderr(self) -> str:
        return _read(self.log_dir / "stderr.log")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate the server's process group, then kill it if it has not gone in time."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout)
        # Anything the server started in its own group (pool workers) goes with it.
        _signal_group(self.process, signal.SIGKILL)
        shutil.rmtree(self.log_dir, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    # The server was started in a session of its own, so its group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def facesift_command() -> list[str]:
    """The ``facesift`` script of the environment running the tests (``.venv/bin/facesift``)."""
    script = Path(sys.executable).parent / "facesift"
    return [str(script)] if script.exists() else [sys.executable, "-m", "facesift"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200 and json.load(response) == {"status": "ok"}
    except (OSError, ValueError):
        return False


def start_server(
    data_dir: Path | str,
    env: dict[str, str] | None = None,
    *,
    timeout: float = SERVER_START_TIMEOUT,
    extra_args: list[str] | None = None,
) -> LiveServer:
    """Start ``facesift serve --data-dir DATA_DIR`` on a free port of 127.0.0.1 and return it
    once ``GET /healthz`` answers 200 ``{"status": "ok"}``. ``env`` is added to this process's
    environment. Raises ``ServerStartError`` with the server's stderr if it exits or does not
    answer within ``timeout`` seconds. Stop it with ``.stop()`` or use it in a ``with``."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    last_error = ""
    for _attempt in range(3):  # another process may take the free port before the server
        port = free_port()
        command = [
            *facesift_command(),
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *(extra_args or []),
        ]
        log_dir = Path(tempfile.mkdtemp(prefix="facesift-serve-"))
        with (log_dir / "stdout.log").open("wb") as out, (log_dir / "stderr.log").open("wb") as err:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        server = LiveServer(data_dir, port, process, log_dir, command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _healthy(server.url):
                return server
            if process.poll() is not None:
                break
            time.sleep(0.1)
        alive = process.poll() is None
        stderr = server.stderr()
        server.stop()
        last_error = (
            f"`{' '.join(command)}` "
            + (
                f"did not answer GET /healthz within {timeout:.0f} s"
                if alive
                else f"exited with code {process.returncode} before GET /healthz answered"
            )
            + f"\n--- its stderr (last 4000 characters) ---\n{stderr[-4000:]}"
        )
        if alive or "address already in use" not in stderr.lower():
            break
    raise ServerStartError(last_error)


@pytest.fixture
def live_server_factory() -> Iterator[Callable[..., LiveServer]]:
    """``factory(data_dir, env=None, **kwargs) -> LiveServer``, as ``start_server``; all the
    servers it started are stopped when the test ends."""
    servers: list[LiveServer] = []

    def factory(data_dir: Path | str, env: dict[str, str] | None = None, **kwargs: Any):
        server = start_server(data_dir, env, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in reversed(servers):
        server.stop()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, launched once per test session."""
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


_ERRORS: dict[int, list[str]] = {}


def page_errors(page: Any) -> list[str]:
    """The console errors and uncaught exceptions of a ``browser_page`` so far (a page that
    breaks the Content-Security-Policy logs an error here)."""
    return list(_ERRORS.get(id(page), []))


@pytest.fixture
def browser_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Playwright ``Page`` in a fresh context (no cookies), 1366x768."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = _ERRORS.setdefault(id(page), [])

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url") or "?"
            errors.append(f"console: {message.text} [{where}]")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        yield page
    finally:
        report = getattr(request.node, "_browser_report_call", None)
        if report is not None and report.failed and not page.is_closed():
            with contextlib.suppress(Exception):
                screenshot(page, "failed-" + request.node.name)
        _ERRORS.pop(id(page), None)
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item._browser_report_call = report  # read by browser_page's teardown
    return report


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` as ``<artifacts>/screenshots/NAME.png`` and return its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "screenshot"
    path = artifacts_dir() / "screenshots" / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            page.screenshot(path=str(path), full_page=full_page)
            return path
        except Exception as error:  # playwright's Error
            # Chromium sometimes has no frame to give when the machine is loaded ("Unable
            # to capture screenshot": once in a whole suite's run, on the phone size); the
            # page is fine, so ask again.
            if "Unable to capture screenshot" not in str(error) or attempt == 2:
                raise
            page.wait_for_timeout(500)
    raise AssertionError("unreachable")


# ------------------------------------------------------------------ a fixed-file server


@contextlib.contextmanager
def static_server(
    files: dict[str, tuple[str, bytes]], csp: str = APP_CSP
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Serve ``{path: (content type, body)}`` on a free port of 127.0.0.1 with the given
    Content-Security-Policy; yields ``(base url, posts)``, where every POST is recorded in
    ``posts`` as ``(path, body)`` and answered with a redirect to ``/``."""
    posts: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in files:
                self.send_error(404)
                return
            content_type, body = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            posts.append((self.path, self.rfile.read(length).decode(errors="replace")))
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()
        server.server_close()


def sign_in(page: Any, url: str, name: str, password: str | None = None) -> None:
    """Sign ``name`` in through the sign-in form, as a person would, and wait for the page
    to show them signed in. ``password``: the test worlds' one password by default."""
    from playwright.sync_api import expect

    from tests.server_world import PASSWORD

    page.goto(url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password or PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".user-name")).to_have_text(name)


def sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
