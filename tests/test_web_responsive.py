"""Every main page at phone width (390 px) and laptop width (1366 px), in headless Chromium
against a real ``facesift serve``: no page scrolls sideways, and every action (a button or a
button-styled link in the page's main part) is visible and lies inside the viewport, for the
roles that use the page; and a page never offers an action its viewer's roles cannot take.
Screenshots: ``artifacts/screenshots/responsive-<width>-<page>.png``.

The world is seeded through the JSON API (a case, a probe, a search taken by a reviewer, a
pending account for the supervisor to approve), so the pages have rows and actions to show."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import page_errors, screenshot, sign_in
from tests.server_world import LAYOUT_ONLY, PROBE

WIDTHS = ((390, 844), (1366, 768))
# The page's actions: buttons and button-styled links in <main>, those a user is shown.
# Actions a role may not take, so its pages must not offer them (they would answer 403).
NOT_OFFERED = {
    "sam": (
        "Search for this face",
        "Upload and find faces",
        "Make the edited copy",
        "Add this face",
    ),
    "audrey": (
        "Search for this face",
        "Upload and find faces",
        "Make the edited copy",
        "Add this face",
    ),
}
ACTIONS = "main button:visible, main a.button:visible, main input[type=submit]:visible"


def _seed(url: str, world) -> dict[str, int]:
    """A case with a probe and a search that rita has taken; a pending account."""
    with httpx.Client(base_url=url, timeout=120) as api:

        def post(path: str, who: str, **kwargs) -> dict:
            answer = api.post(path, headers=world.auth(who), **kwargs)
            assert answer.status_code in (200, 201), answer.text
            return answer.json()

        case = post(
            "/api/cases",
            "ivan",
            json={
                "reference": "PHONE-2026-001",
                "offense_category": "homicide",
                "purpose": "identify the suspect seen leaving the scene of a homicide",
            },
        )
        probe = post(
            f"/api/cases/{case['id']}/probes",
            "ivan",
            files={"file": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
        )
        search = post(f"/api/probes/{probe['id']}/searches", "ivan", json={"face_index": 0})
        post(f"/api/searches/{search['id']}/assignment", "rita")
        post("/api/users", "admin", json={"name": "newcomer", "roles": ["investigator"]})
        full = api.get(f"/api/searches/{search['id']}", headers=world.auth("rita")).json()
    return {
        "case": case["id"],
        "probe": probe["id"],
        "search": search["id"],
        "face": full["candidates"][0]["face_id"],
    }


def _pages(ids: dict[str, int]) -> dict[str, list[str]]:
    case, probe, search = ids["case"], ids["probe"], ids["search"]
    return {
        "ivan": [
            "/",
            "/cases/new",
            f"/cases/{case}",
            f"/probes/{probe}",
            f"/searches/{search}",
            f"/cases/{case}/disclosure",
            "/tokens",
            "/account",
            "/stats",
        ],
        "rita": [
            "/reviews",
            f"/searches/{search}",
            f"/searches/{search}/review",
            f"/searches/{search}/compare/{ids['face']}",
        ],
        "sam": [
            "/",
            "/activity",
            "/users",
            "/settings",
            f"/cases/{case}",
            f"/probes/{probe}",
            "/oversight/usage",
            "/oversight/alerts",
            "/transparency",
            "/gallery",
        ],
        "audrey": ["/audit", f"/cases/{case}/disclosure", "/users", f"/probes/{probe}"],
        "admin": ["/users", "/settings", "/gallery", "/gallery/photos?collection=fixture"],
        "percy": ["/privacy"],
    }


def _overflow(page: Page) -> dict:
    return page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
                  wide: Array.from(document.querySelectorAll('body *'))
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 5).map(e => e.tagName + '.' + e.className)})"""
    )


def _actions_off_screen(page: Page) -> list[str]:
    width = page.evaluate("window.innerWidth")
    off = []
    for action in page.locator(ACTIONS).all():
        box = action.bounding_box()
        if box is None or box["x"] < 0 or box["x"] + box["width"] > width + 1:
            off.append(action.inner_text().strip() or action.get_attribute("class") or "?")
    return off


@LAYOUT_ONLY
def test_every_page_fits_the_screen_with_its_actions_on_it(
    browser: Browser, live_server_factory, fresh_world
) -> None:
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url
    ids = _seed(url, fresh_world)
    problems = []
    for user, paths in _pages(ids).items():
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        sign_in(page, url, user)
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            for path in paths:
                answer = page.goto(url + path)
                assert answer is not None and answer.status == 200, (user, path, answer.status)
                page.wait_for_load_state("load")
                name = f"responsive-{width}-{user}-{path.strip('/').replace('/', '-') or 'home'}"
                screenshot(page, name)
                sizes = _overflow(page)
                if sizes["scroll"] > sizes["inner"]:
                    problems.append(f"{width}px {user} {path}: {sizes}")
                for action in NOT_OFFERED.get(user, ()):
                    if page.get_by_role("button", name=action).count():
                        problems.append(f"{width}px {user} {path}: offers {action!r}")
                off = _actions_off_screen(page)
                if off:
                    problems.append(f"{width}px {user} {path}: actions off-screen {off}")
        assert errors == [], errors
        context.close()
    assert problems == [], "\n".join(problems)


@LAYOUT_ONLY
@pytest.mark.parametrize("width", [390])
def test_the_candidate_list_stays_short_at_phone_width(
    browser_page: Page, live_server_factory, fresh_world, width: int
) -> None:
    """The list once printed one character per line (25,664 px tall): each candidate's text
    must now have room, so the whole page stays within a few screens per candidate."""
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url
    ids = _seed(url, fresh_world)
    page = browser_page
    sign_in(page, url, "rita")
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(f"{url}/searches/{ids['search']}")
    candidates = page.locator("ol.candidates > li")
    count = candidates.count()
    assert count >= 1
    first = candidates.first.bounding_box()
    assert first["height"] < 1400, first  # about one and a half screens, not thirty
    body = page.locator(".candidate-body").first.bounding_box()
    assert body["width"] > 250, body  # the text has the card's width, not a sliver
    screenshot(page, f"responsive-{width}-candidate-list")
    assert page_errors(page) == []
