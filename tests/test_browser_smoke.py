"""The browser stack on its own: headless Debian Chromium, driven by Playwright, clicks a button
on a page that a real HTTP server on 127.0.0.1 serves under the strict Content-Security-Policy
the web app will send (so the script must come from a file, never inline)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser_support import page_errors, screenshot, static_server

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facesift smoke</title>
<link rel="icon" href="data:,">
<script src="/smoke.js" defer></script></head>
<body><h1>Browser smoke test</h1>
<p id="message">before the click</p>
<button type="button" id="go">Change the text</button></body></html>
"""
SCRIPT = b"""document.getElementById("go").addEventListener("click", function () {
  document.getElementById("message").textContent = "clicked at " + location.host;
});
"""
FILES = {
    "/": ("text/html; charset=utf-8", PAGE),
    "/smoke.js": ("text/javascript; charset=utf-8", SCRIPT),
}


def test_chromium_clicks_a_button_on_a_local_page(browser_page) -> None:
    page = browser_page
    with static_server(FILES) as (url, _posts):
        response = page.goto(url + "/")
        assert response is not None and response.status == 200
        assert page.viewport_size == {"width": 1366, "height": 768}
        expect(page.locator("#message")).to_have_text("before the click")

        page.get_by_role("button", name="Change the text").click()

        expect(page.locator("#message")).to_have_text(f"clicked at {url.removeprefix('http://')}")
        assert page_errors(page) == []
        path = screenshot(page, "browser-smoke")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
