"""The web app's look and behaviour on their own, before any route serves them: base.html and
macros.html rendered with Jinja2, served with app.css and app.js under the app's strict
Content-Security-Policy, in headless Chromium. Nothing may break the CSP (no console error),
a face box selects its radio, and a form with data-confirm is only sent once confirmed."""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path

import jinja2
from PIL import Image
from playwright.sync_api import expect

from tests.browser_support import page_errors, screenshot, static_server

WEB = Path(__file__).resolve().parent.parent / "src" / "facesift" / "web"
PAGE = """{% extends "base.html" %}
{% from "macros.html" import status_badge, lead_warning, face_picker %}
{% block title %}Assets{% endblock %}
{% block content %}
<h1>Assets {{ status_badge("pending") }}</h1>
{{ lead_warning() }}
<form method="post" action="/search">{{ face_picker("/photo.png", faces) }}</form>
<form method="post" action="/withdraw" data-confirm="Withdraw this search?">
  <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
  <button type="submit" class="button-danger">Withdraw</button>
</form>
{% endblock %}
"""
FACES = [
    {"index": 0, "left": 10, "top": 20, "width": 20, "height": 30},
    {"index": 1, "left": 60, "top": 25, "width": 25, "height": 35},
]


def _files() -> dict[str, tuple[str, bytes]]:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.from_string(PAGE).render(
        user={"name": "Ada Reviewer", "roles": ["reviewer", "investigator"]},
        nav=[("/", "Home", False), ("/cases", "Cases", True)],
        csrf_token="token-123",
        messages=[("success", "Saved.")],
        faces=FACES,
    )
    photo = io.BytesIO()
    Image.new("RGB", (400, 300), (120, 140, 160)).save(photo, "PNG")
    files = {
        "/": ("text/html; charset=utf-8", html.encode()),
        "/photo.png": ("image/png", photo.getvalue()),
    }
    for path in (WEB / "static").iterdir():
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files[f"/static/{path.name}"] = (content_type, path.read_bytes())
    return files


def test_base_page_renders_under_the_csp_with_working_face_picker_and_confirm(browser_page):
    page = browser_page
    with static_server(_files()) as (url, posts):
        page.goto(url + "/")
        expect(page).to_have_title("Assets · facesift")
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases")
        ).to_have_attribute("aria-current", "page")
        expect(page.locator(".user-box")).to_contain_text("Ada Reviewer")
        expect(page.locator(".user-box")).to_contain_text("investigator, reviewer")
        expect(page.get_by_role("status")).to_contain_text("Saved.")
        expect(page.get_by_role("note")).to_contain_text("not an identification")
        # app.css is applied (the header's colour) and app.js placed the boxes by percentage.
        header = page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(23, 50, 77)"
        image = page.locator(".face-picker-image img").bounding_box()
        box = page.locator('.face-box[data-face="1"]').bounding_box()
        assert abs(box["x"] - (image["x"] + 0.60 * image["width"])) < 2
        assert abs(box["width"] - 0.25 * image["width"]) < 2

        face_1 = page.get_by_role("button", name="Select face 1")
        face_1.click()
        expect(page.get_by_role("radio", name="Face 1")).to_be_checked()
        expect(face_1).to_have_attribute("aria-pressed", "true")
        page.get_by_role("radio", name="Face 0").check()
        expect(face_1).to_have_attribute("aria-pressed", "false")
        screenshot(page, "web-assets")

        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Withdraw").click()
        page.wait_for_timeout(300)
        assert posts == []
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.get_by_role("button", name="Withdraw").click()
        assert posts == [("/withdraw", "csrf_token=token-123")]
        assert page_errors(page) == []
