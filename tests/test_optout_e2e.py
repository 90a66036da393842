"""Opt-out in a browser, against a real ``facesift serve``:

1. a person with no account sends a selfie on the public page and gets a reference;
2. the privacy officer opens the request and decides each face found, removing the person's;
3. the status page says done, with counts;
4. an investigator's search with a probe of that person gives no candidate;
5. re-ingesting the person's photos stores none of their faces.

Screenshots go to ``artifacts/screenshots/optout-*.png``; no page may log a console error.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser_support import page_errors, screenshot, sign_in, sign_out
from tests.conftest import photos
from tests.helpers import run_json
from tests.server_world import PROBE

PERSON = "Colin_Powell"


def _shot(page: Page, name: str) -> None:
    screenshot(page, f"optout-{name}")
    assert page_errors(page) == [], f"{name}: {page_errors(page)}"


def test_opt_out_in_a_browser_removes_the_person_and_keeps_them_out(
    browser_page: Page, live_server_factory, fresh_world, tmp_path: Path
) -> None:
    page = browser_page
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url

    # 1. The public page: no account.
    page.goto(url + "/optout")
    expect(page.get_by_role("heading", name=re.compile("removed and kept out"))).to_be_visible()
    page.get_by_label(re.compile("Selfies")).set_input_files(str(PROBE))
    page.get_by_label(re.compile("How to reach you")).fill("colin@example.org")
    _shot(page, "01-request")
    page.get_by_role("button", name="Send the request").click()
    receipt = page.locator(".optout-receipt")
    expect(receipt).to_contain_text("Your reference is")
    reference = page.locator(".optout-receipt .reference").inner_text()
    assert re.fullmatch(r"OPT-[0-9A-F]{4}-[0-9A-F]{4}", reference)
    _shot(page, "02-reference")

    # 2. The privacy officer decides each face found.
    sign_in(page, url, "percy")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Opt-out requests").click()
    page.get_by_role("link", name=f"Open {reference}").click()
    expect(page.get_by_role("heading", name=f"Opt-out request {reference}")).to_be_visible()
    _shot(page, "03-officer")
    while page.locator("li.candidate form").count():
        face = page.locator("li.candidate:has(form)").first
        path = face.locator(".source-path").inner_text()
        face_id = face.get_attribute("id").removeprefix("found-")
        if PERSON in path:
            face.get_by_role("button", name=f"Remove face {face_id}: it is this person").click()
        else:
            face.get_by_role("button", name=f"Keep face {face_id}: not this person").click()
        expect(page.locator(".flash-success")).to_contain_text(f"Face {face_id}")
    expect(page.locator(".status")).to_have_text("done")
    _shot(page, "04-decided")
    sign_out(page)

    # 3. The status, by reference: counts, never photos.
    page.goto(url + f"/optout/status?reference={reference}")
    expect(page.locator(".optout-status .status")).to_have_text("done")
    assert int(page.locator(".optout-status .removed").inner_text()) >= 2
    assert page.locator("img").count() == 0
    _shot(page, "05-status")

    # 4. A search with a probe of the person: no candidate.
    sign_in(page, url, "ivan")
    page.goto(url + "/cases/new")
    page.get_by_label("Case reference").fill("OPT-E2E-1")
    page.get_by_label("Offense category").select_option(index=1)
    page.get_by_label("Purpose of the searches").fill("Identify the suspect of an armed robbery.")
    page.get_by_role("button", name="Open the case").click()
    page.get_by_label("Still photo").set_input_files(str(PROBE))
    page.get_by_role("button", name="Upload and find faces").click()
    page.get_by_role("button", name="Search for this face").click()
    expect(page.locator(".page-header .badge")).to_have_text("no candidate")
    _shot(page, "06-no-candidate")

    # 5. Re-ingesting the person's photos (re-encoded, so no tombstone applies) stores none.
    again = tmp_path / "again"
    again.mkdir()
    for n, photo in enumerate(p for p in photos("gallery") if p.identity == PERSON):
        Image.open(photo.path).save(again / f"copy{n}.png")
    code, summary = run_json(
        "ingest", again, "--workers", "1",
        data_dir=fresh_world.data_dir, database_url=fresh_world.database_url,
    )  # fmt: skip
    assert code == 0 and summary["faces"] == 0 and summary["suppressed"] >= 2, summary
