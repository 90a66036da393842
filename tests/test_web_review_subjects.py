"""The grouped review in headless Chromium against a real ``facesift serve`` (issue 13, items
1 and 2): a manifest names two gallery photos of one man as one subject; the candidate list
shows him as one person with the probe's face beside his; rita works the review workspace
(keyboard next and previous, zoom, flicker, fade) and confirms the subject; rory confirms the
subject's *other* photo; the lead is released, where before issue 13 it was "inconclusive".
The queue says how many reviews are in, and each reviewer has a list of their own reviews.

Screenshots: ``artifacts/screenshots/review-subjects-*.png``; every new page is also checked
at phone width (390 px) for sideways scrolling (``review-subjects-390-*.png``)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser_support import page_errors, screenshot, sign_in, sign_out
from tests.server_world import PROBE, World
from tests.test_review_subjects_api import LABEL, PERSON, SUBJECT, name_subject


def _shot(page: Page, name: str) -> None:
    screenshot(page, f"review-subjects-{name}")
    assert page_errors(page) == [], f"{name}: {page_errors(page)}"


def _fits_a_phone(page: Page, name: str) -> None:
    """The page at 390 px: no sideways scroll. Then back to the laptop."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_load_state("load")
    screenshot(page, f"review-subjects-390-{name}")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 390, f"{name}: {scroll} px wide in a 390 px window"
    page.set_viewport_size({"width": 1366, "height": 768})
    page.reload()


def _seed_search(url: str, world: World, reference: str) -> dict:
    with httpx.Client(base_url=url, timeout=120, headers=world.auth("ivan")) as api:
        case = api.post(
            "/api/cases",
            json={
                "reference": reference,
                "offense_category": "homicide",
                "purpose": "identify the suspect seen leaving the scene of a homicide",
            },
        ).json()
        probe = api.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
        ).json()
        search = api.post(f"/api/probes/{probe['id']}/searches", json={"face_index": 0})
        assert search.status_code == 201, search.text
        full = api.get(f"/api/searches/{search.json()['id']}", headers=world.auth("sam")).json()
    return full


def _loaded(page: Page, selector: str) -> None:
    image = page.locator(selector).first
    image.scroll_into_view_if_needed()
    image.evaluate("i => i.complete ? 0 : new Promise(r => i.addEventListener('load', r))")
    assert image.evaluate("i => i.naturalWidth") > 0, selector


def test_two_reviewers_confirm_one_subject_from_different_photos_in_a_browser(
    browser_page: Page, live_server_factory, fresh_world: World, tmp_path: Path
) -> None:
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url
    # Searched before the manifest named the subject: his two photos are two people there
    # (a list keeps the subjects it was shown with).
    before = _seed_search(url, fresh_world, "UNGROUPED-2026-001")
    assert len(before["groups"]) == 2
    name_subject(fresh_world, tmp_path / "manifest")
    search = _seed_search(url, fresh_world, "GROUPED-2026-001")
    his = sorted(
        (c for c in search["candidates"] if f"/{PERSON}/" in c["image"]["path"]),
        key=lambda c: c["rank"],
    )
    assert len(his) == 2
    page = browser_page

    # rita: the queue says no review is in yet; she takes the list and works the workspace.
    sign_in(page, url, "rita")
    expect(page.locator(".reviews-in").first).to_have_text("0 of 2")
    _shot(page, "01-queue")
    _fits_a_phone(page, "queue")
    # Keyboard next and previous, on the list of two people (the ungrouped search).
    page.get_by_role("button", name=f"Take search {before['id']}").click()
    people = page.locator("[data-person]")
    expect(people).to_have_count(2)
    expect(people.first).to_have_class(re.compile("is-current"))
    page.keyboard.press("j")
    expect(people.nth(1)).to_have_class(re.compile("is-current"))
    expect(people.first).not_to_have_class(re.compile("is-current"))
    _shot(page, "01b-keyboard-next")
    page.keyboard.press("z")  # zooms the current person
    expect(people.nth(1).locator("[data-pair]")).to_have_class(re.compile("is-zoomed"))
    page.keyboard.press("k")
    expect(people.first).to_have_class(re.compile("is-current"))
    people.first.get_by_role("link", name="Next person").click()
    expect(people.nth(1)).to_have_class(re.compile("is-current"))
    # The compare page: j opens the next candidate, k the previous.
    faces = [c["face_id"] for c in before["candidates"]]
    page.goto(f"{url}/searches/{before['id']}/compare/{faces[0]}")
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"/compare/{faces[1]}$"))
    expect(page.get_by_role("heading", name=re.compile("beside candidate 2"))).to_be_visible()
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(f"/compare/{faces[0]}$"))
    page.goto(url + "/reviews")
    page.get_by_role("button", name=f"Take search {search['id']}").click()
    expect(page.locator(".flash-success")).to_contain_text("assigned to you")
    people = page.locator("[data-person]")
    expect(people).to_have_count(len(search["groups"]))
    first = people.first
    expect(first.locator("h3")).to_contain_text(f"Subject {LABEL}")
    expect(first.locator(".subject-record")).to_contain_text(SUBJECT)
    # The probe's face beside the candidate's, in every person's card.
    expect(page.locator(".chip-probe img")).to_have_count(len(search["groups"]))
    _loaded(page, ".chip-probe img")
    _loaded(page, ".chip-candidate img")
    _loaded(page, ".gallery-faces img")  # the subject's photo that is not a candidate
    expect(first).to_have_class(re.compile("is-current"))
    _shot(page, "02-workspace")
    assert len(search["groups"]) == 1  # his two photos: one subject, one person
    pair = first.locator("[data-pair]")
    first.get_by_role("button", name="Zoom").click()
    expect(pair).to_have_class(re.compile("is-zoomed"))
    _shot(page, "03-zoom")
    first.get_by_role("button", name="Zoom").click()
    first.get_by_role("button", name="Flicker").click()
    expect(pair).to_have_class(re.compile("is-flickering"))
    expect(pair).to_have_class(re.compile("flicker-probe"))  # it alternates
    # Overlaid, both faces are the chips aligned at their landmarks.
    for chip in (".chip-probe img", ".chip-candidate img"):
        image = pair.locator(chip)
        expect(image).to_have_attribute("src", re.compile(r"/crop\?aligned=true$"))
        image.evaluate("i => i.complete ? 0 : new Promise(r => i.addEventListener('load', r))")
        assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [150, 150]
    _shot(page, "04-flicker")
    first.get_by_role("button", name="Flicker").click()
    expect(pair).not_to_have_class(re.compile("is-overlaid"))
    expect(pair.locator(".chip-candidate img")).to_have_attribute(
        "src", re.compile(r"/crop$")
    )  # side by side again: the plain crops
    first.locator("[data-fade]").fill("40")
    expect(pair).to_have_class(re.compile("is-overlaid"))
    _shot(page, "05-fade")
    first.locator("[data-fade]").fill("100")

    first.get_by_label("This subject (2 photos) is the person").check()
    page.get_by_label("Confirm the chosen candidate as a lead").check()
    page.get_by_label("Similarities you saw").fill("Same hairline, ears and nose.")
    page.get_by_label("Differences you saw").fill("Lighting and age only.")
    expect(page.locator(".decision-panel")).to_be_in_viewport()  # the form stays in view
    _shot(page, "06-rita-confirms-the-subject")
    _fits_a_phone(page, "review-form")
    first.get_by_label("This subject (2 photos) is the person").check()
    page.get_by_label("Confirm the chosen candidate as a lead").check()
    page.get_by_label("Similarities you saw").fill("Same hairline, ears and nose.")
    page.get_by_label("Differences you saw").fill("Lighting and age only.")
    page.get_by_role("button", name="Record my review").click()
    expect(page.locator(".flash-success")).to_contain_text("awaits another reviewer")
    sign_out(page)

    # rory: one review is in; he confirms the subject's other photo, not the first.
    sign_in(page, url, "rory")
    row = page.locator("tr").filter(has_text=f"Search {search['id']}")
    expect(row.locator(".reviews-in")).to_have_text("1 of 2")
    page.get_by_role("button", name=f"Take search {search['id']}").click()
    other = page.locator(".subject-faces").get_by_label(f"Candidate {his[1]['rank']}")
    other.check()
    page.get_by_label("Confirm the chosen candidate as a lead").check()
    page.get_by_label("Similarities you saw").fill("The same scar above the left eyebrow.")
    page.get_by_label("Differences you saw").fill("Glasses in this photo.")
    _shot(page, "07-rory-confirms-another-photo")
    page.get_by_role("button", name="Record my review").click()
    expect(page.locator(".flash-success")).to_contain_text("the outcome is now: released")
    page.get_by_role("link", name="Your past reviews").click()
    expect(page.locator(".past-reviews")).to_contain_text(f"Search {search['id']}")
    expect(page.locator(".past-reviews")).to_contain_text("lead released")
    _shot(page, "08-past-reviews")
    _fits_a_phone(page, "past-reviews")
    sign_out(page)

    # ivan: the released lead, with its subject.
    sign_in(page, url, "ivan")
    page.goto(f"{url}/searches/{search['id']}")
    expect(page.locator(".page-header .badge")).to_have_text("lead released")
    lead = page.locator(".lead-card")
    expect(lead.locator(".subject")).to_contain_text(LABEL)
    _shot(page, "09-released-lead")
    _fits_a_phone(page, "released-lead")
