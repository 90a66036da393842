"""The browser stack on its own: headless Debian Chromium, driven by Playwright, clicks a button
on a page that a real HTTP server on 127.0.0.1 serves under the strict Content-Security-Policy
the web app will send (so the script must come from a file, never inline)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser_support import page_errors, screenshot

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; frame-ancestors 'none'"
)
FILES = {
    "/": (
        "text/html; charset=utf-8",
        """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facesift smoke</title>
<link rel="icon" href="data:,">
<script src="/smoke.js" defer></script></head>
<body><h1>Browser smoke test</h1>
<p id="message">before the click</p>
<button type="button" id="go">Change the text</button></body></html>
""",
    ),
    "/smoke.js": (
        "text/javascript; charset=utf-8",
        """document.getElementById("go").addEventListener("click", function () {
  document.getElementById("message").textContent = "clicked at " + location.host;
});
""",
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in FILES:
            self.send_error(404)
            return
        content_type, body = FILES[self.path]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def smoke_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_chromium_clicks_a_button_on_a_local_page(browser_page, smoke_server: str) -> None:
    page = browser_page
    response = page.goto(smoke_server + "/")
    assert response is not None and response.status == 200
    assert page.viewport_size == {"width": 1366, "height": 768}
    expect(page.locator("#message")).to_have_text("before the click")

    page.get_by_role("button", name="Change the text").click()

    host = smoke_server.removeprefix("http://")
    expect(page.locator("#message")).to_have_text(f"clicked at {host}")
    assert page_errors(page) == []
    path = screenshot(page, "browser-smoke")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
