"""The web app end to end, in headless Chromium against a real ``facesift serve``:

1. an investigator signs in, opens a case, uploads a fixture probe, picks the face, searches,
   and sees the list pending review, blind: how many candidates, none of them;
2. two reviewers sign in in turn, take the list from the queue, see the right person's
   gallery photo first, and confirm that candidate;
3. the investigator sees the released lead, with its notice;
4. the auditor verifies the audit chain with one click.

The walk runs at laptop width (1366 px) and at phone width (390 px), and no step may scroll
sideways. Screenshots of every step go to ``artifacts/screenshots/e2e-*.png`` (phone:
``e2e-390-*.png``). No page may log a console
error (a CSP violation would), and no page calls a candidate a "match".
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from facesift.services.casework import LEAD_NOTICE
from tests.browser_support import page_errors, screenshot, sign_in, sign_out
from tests.server_world import PASSWORD, PROBE

PERSON = "Colin_Powell"


def _shot(page: Page, name: str) -> None:
    width = page.viewport_size["width"]
    screenshot(page, f"e2e-{name}" if width == 1366 else f"e2e-{width}-{name}")
    assert page_errors(page) == [], f"{name}: {page_errors(page)}"
    # No step of the walk scrolls sideways, on a laptop or a phone.
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name}: the page is {scroll} px wide in a {width} px window"


def _no_match_word(page: Page) -> None:
    text = page.inner_text("body").lower()
    assert "match" not in text, "a candidate list never speaks of matches"


@pytest.mark.parametrize("width", [1366, 390], ids=["laptop", "phone"])
def test_search_review_release_and_audit_in_a_browser(
    browser_page: Page, live_server_factory, fresh_world, width: int
) -> None:
    page = browser_page
    page.set_viewport_size({"width": width, "height": 768 if width == 1366 else 844})
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url

    # 1. The investigator: sign in, open a case, upload the probe, pick the face, search.
    page.goto(url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # sent to sign in
    page.get_by_label("User name").fill("ivan")
    page.get_by_label("Password").fill(PASSWORD)
    _shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Cases")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)  # not an auditor

    page.get_by_role("link", name="Open a new case").click()
    page.get_by_label("Case reference").fill("E2E-2026-001")
    page.get_by_label("Offense category").select_option(index=1)
    page.get_by_label("Purpose of the searches").fill(
        "Identify the suspect of an armed robbery from a still of the shop's camera."
    )
    _shot(page, "02-new-case")
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("heading", name=re.compile("Case E2E-2026-001"))).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text("is open")

    page.get_by_label("Still photo").set_input_files(str(PROBE))
    _shot(page, "03-case-upload")
    page.get_by_role("button", name="Upload and find faces").click()
    expect(page.locator(".flash")).to_contain_text("1 face found")
    box = page.locator(".face-box[data-face='0']")
    expect(box).to_be_visible()  # placed over the face by app.js
    box.click()
    expect(page.get_by_role("radio", name="Face 0")).to_be_checked()
    expect(box).to_have_attribute("aria-pressed", "true")
    _shot(page, "04-face-picker")

    page.get_by_role("button", name="Search for this face").click()
    expect(page.get_by_role("heading", name=re.compile("Candidate list"))).to_be_visible()
    expect(page.locator(".page-header .badge")).to_have_text("pending review")
    # Blind until released: the requester sees how many candidates, none of them.
    expect(page.locator(".pending-count")).to_contain_text("withheld from you")
    expect(page.locator(".withheld")).to_be_visible()
    expect(page.locator("#candidate-1")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(PERSON)
    expect(page.locator(".expected")).to_contain_text("per search")
    _no_match_word(page)
    search_url = page.url
    _shot(page, "05-pending-blind")
    sign_out(page)

    # 2. Two reviewers in turn take the list from the queue and confirm candidate 1, each
    # without the other's decision.
    for step, reviewer in (("07", "rita"), ("08", "rory")):
        sign_in(page, url, reviewer)
        expect(page.get_by_role("heading", name=re.compile("awaiting your review"))).to_be_visible()
        page.get_by_role("button", name=re.compile(r"Take search \d+")).first.click()
        expect(page.locator(".flash-success")).to_contain_text("assigned to you")
        if reviewer == "rita":
            page.goto(search_url)
            first = page.locator("#candidate-1")
            expect(first.locator(".source-path")).to_contain_text(f"/{PERSON}/{PERSON}_")
            expect(first.locator("img.candidate-crop")).to_have_attribute(
                "src", re.compile(r"^/api/faces/\d+/crop$")
            )
            crop = first.locator("img.candidate-crop")
            crop.scroll_into_view_if_needed()  # lazy: below the fold on a phone until scrolled to
            crop.evaluate(
                "img => img.complete ? 0 : new Promise(r => img.addEventListener('load', r))"
            )
            assert crop.evaluate("img => img.naturalWidth") > 0
            _no_match_word(page)
            _shot(page, "06a-candidate-list")
            first.get_by_role("link", name="Compare side by side").click()
            expect(
                page.get_by_role("heading", name=re.compile("beside candidate 1"))
            ).to_be_visible()
            _no_match_word(page)
            _shot(page, "06b-compare")
            page.goto(search_url + "/review")
        page.get_by_label("Candidate 1", exact=True).check()
        page.get_by_label("Confirm the chosen candidate as a lead").check()
        page.get_by_label("Similarities you saw").fill("Same face shape, hairline and nose.")
        page.get_by_label("Differences you saw").fill("None beyond lighting and age.")
        expect(page.locator("body")).not_to_contain_text("rita:" if reviewer == "rory" else "rory:")
        _shot(page, f"{step}a-review-{reviewer}")
        page.get_by_role("button", name="Record my review").click()
        expect(page.locator(".flash-success")).to_contain_text("review of search")
        _shot(page, f"{step}b-reviewed-{reviewer}")
        sign_out(page)
    expect(page.locator(".flash")).to_contain_text("signed out")

    # 3. The investigator sees the released lead, with the notice.
    sign_in(page, url, "ivan")
    page.goto(search_url)
    expect(page.locator(".page-header .badge")).to_have_text("lead released")
    lead = page.locator(".lead-card")
    expect(lead.locator(".lead-notice")).to_have_text(LEAD_NOTICE)
    expect(lead.locator(".source-path")).to_contain_text(PERSON)
    _no_match_word(page)
    _shot(page, "09-released-lead")
    page.get_by_role("link", name="Case E2E-2026-001").click()
    expect(page.locator(".timeline")).to_contain_text("review outcome")
    _shot(page, "10-case-timeline")
    sign_out(page)

    # 4. The auditor verifies the chain with one click.
    sign_in(page, url, "audrey")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.locator(".audit-table")).to_contain_text("review outcome")
    _shot(page, "11-audit-log")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator(".flash-success")).to_contain_text("Chain verified")
    _shot(page, "12-audit-verified")


def test_the_api_documentation_renders_every_operation(
    browser_page: Page, live_server_factory, server_world
) -> None:
    """/docs draws the OpenAPI document FastAPI writes (3.1) with the bundled Swagger UI,
    from the server's own files: Swagger UI 4 said "Unable to render this definition"."""
    page = browser_page
    url = live_server_factory(server_world.data_dir, server_world.env()).url
    page.goto(url + "/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/cases" in paths and "/api/searches/{search_id}" in paths, paths
    _shot(page, "api-docs")
