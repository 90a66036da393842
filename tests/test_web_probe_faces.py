"""A face the detector misses, drawn by hand in the browser (issue 13, section 4), in headless
Chromium against a real ``facesift serve``: the investigator uploads the fixture's photo of
dogs (no face found), drags a box around a dog's face on the photo, adds it, and searches it;
the search's audit entry and the disclosure packet mark it as drawn by hand, and the packet
carries the face images and prints to PDF. The box's number inputs are the keyboard's way
in: typing in them moves the box. Screenshots: ``artifacts/screenshots/faces-*.png``; the
packet's PDF: ``artifacts/disclosure-manual-face.pdf``."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.browser_support import artifacts_dir, page_errors, screenshot
from tests.conftest import FIXTURE
from tests.server_world import PASSWORD

DOGS = FIXTURE / "negative" / "dlib_dogs.jpg"  # 900x916, no human face
DOG_FACE = (150, 600, 340, 790)  # the lower left dog's face, in the photo's pixels


def _shot(page: Page, name: str) -> None:
    screenshot(page, f"faces-{name}")
    assert page_errors(page) == [], f"{name}: {page_errors(page)}"


def _drag(page: Page, box: tuple[int, int, int, int], size: tuple[int, int]) -> None:
    image = page.locator(".box-drawer img")
    image.scroll_into_view_if_needed()
    shown = image.bounding_box()
    assert shown is not None
    scale_x, scale_y = shown["width"] / size[0], shown["height"] / size[1]
    page.mouse.move(shown["x"] + box[0] * scale_x, shown["y"] + box[1] * scale_y)
    page.mouse.down()
    page.mouse.move(shown["x"] + 250 * scale_x, shown["y"] + 700 * scale_y, steps=4)
    page.mouse.move(shown["x"] + box[2] * scale_x, shown["y"] + box[3] * scale_y, steps=4)
    page.mouse.up()


def _within(box: Locator, photo: Locator) -> tuple[float, float, float, float]:
    """``box``'s x, y, width and height as shares of ``photo``'s."""
    b, p = box.bounding_box(), photo.bounding_box()
    assert b is not None and p is not None
    return (
        (b["x"] - p["x"]) / p["width"],
        (b["y"] - p["y"]) / p["height"],
        b["width"] / p["width"],
        b["height"] / p["height"],
    )


def test_a_face_drawn_by_hand_is_searched_and_marked_manual(
    browser_page: Page, live_server_factory, fresh_world
) -> None:
    page = browser_page
    world = fresh_world
    url = live_server_factory(world.data_dir, world.env()).url
    page.goto(url + "/login")
    page.get_by_label("User name").fill("ivan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Open a new case").click()
    page.get_by_label("Case reference").fill("DRAWN-1")
    page.get_by_label("Offense category").select_option(index=1)
    page.get_by_label("Purpose of the searches").fill(
        "Identify the person in a still where the detector found no face."
    )
    page.get_by_role("button", name="Open the case").click()
    page.get_by_label("Still photo").set_input_files(str(DOGS))
    page.get_by_role("button", name="Upload and find faces").click()
    expect(page.locator(".flash")).to_contain_text("0 faces found")
    expect(page.locator(".probe-noface")).to_contain_text("Draw a box")

    # The keyboard's way: typing the edges moves the drawn box.
    drawn = page.locator(".drawn-box")
    expect(drawn).to_be_visible()  # the starting box, from the inputs' first values
    photo = page.locator(".box-drawer img")
    # The box is placed in the photo's own proportions: measured against the photo, once it
    # has loaded (a CI run measured the box before the photo's layout settled, and failed).
    photo.evaluate(
        "img => img.complete ? null : new Promise(done => img.addEventListener('load', done))"
    )
    before = _within(drawn, photo)
    page.locator("#draw-x1").fill("40")
    after = _within(drawn, photo)
    assert after[0] < before[0] - 0.05 and after[2] > before[2] + 0.05, (before, after)
    # The pointer's way: drag around the dog's face; the inputs follow.
    _drag(page, DOG_FACE, (900, 916))
    values = [int(page.locator(f"#draw-{k}").input_value()) for k in ("x1", "y1", "x2", "y2")]
    assert all(abs(v - want) <= 6 for v, want in zip(values, DOG_FACE, strict=True)), values
    _shot(page, "01-drawn-box")
    page.get_by_role("button", name="Add this face").click()
    expect(page.locator(".flash-success")).to_contain_text("drawn by hand")
    expect(page.get_by_role("radio", name=re.compile("Face 0 \\(drawn by hand\\)"))).to_be_checked()
    _shot(page, "02-manual-face")
    page.get_by_role("button", name="Search for this face").click()
    expect(page.get_by_role("heading", name=re.compile("Candidate list"))).to_be_visible()
    search_id = int(page.url.rstrip("/").split("/")[-1])
    expect(page.locator(".manual-face-mark")).to_contain_text("drawn by hand")
    _shot(page, "03-searched")

    with httpx.Client(base_url=url, timeout=60) as api:
        entries = api.get(
            "/api/audit", params={"action": "search"}, headers=world.auth("audrey")
        ).json()["entries"]
    searched = next(e for e in entries if e["details"]["search_id"] == search_id)
    assert searched["details"]["manual_face"] is True

    page.get_by_role("link", name=re.compile("Case DRAWN-1")).first.click()
    page.get_by_role("link", name=re.compile("[Dd]isclosure")).first.click()
    expect(page.locator(".manual-mark").first).to_have_text("drawn by hand")
    probe_face = page.locator(".packet-faces img").first
    assert probe_face.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert probe_face.evaluate("img => img.naturalWidth") > 0
    _shot(page, "04-disclosure")
    # Printed: no navigation, and A4 wide with nothing cut off at the right.
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden()
    pdf = artifacts_dir() / "disclosure-manual-face.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(pdf), format="A4", print_background=True)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 less the margins, at 96 dpi
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 718, f"the printed packet is {wide} px wide"
    _shot(page, "05-disclosure-print")


def test_search_every_face_of_a_group_photo_in_the_browser(
    browser_page: Page, live_server_factory, fresh_world
) -> None:
    """The fixture's group photo has six faces: one click (and a confirmation) runs six
    searches in the case, each listed on the case page."""
    page = browser_page
    world = fresh_world
    url = live_server_factory(world.data_dir, world.env()).url
    group = FIXTURE / "group" / "insightface_t1.jpg"
    with httpx.Client(base_url=url, timeout=120) as api:
        api.put(
            "/api/settings/searches_per_minute", json={"value": 100}, headers=world.auth("admin")
        )
        case = api.post(
            "/api/cases",
            json={
                "reference": "GROUP-1",
                "offense_category": "homicide",
                "purpose": "identify the people in a photo taken at the scene of a homicide",
            },
            headers=world.auth("ivan"),
        ).json()
        probe = api.post(
            f"/api/cases/{case['id']}/probes",
            files={"file": (group.name, group.read_bytes(), "image/jpeg")},
            headers=world.auth("ivan"),
        ).json()
    assert len(probe["faces"]) == 6
    page.goto(url + "/login")
    page.get_by_label("User name").fill("ivan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{url}/probes/{probe['id']}")
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Search every face (6 searches)").click()
    expect(page.locator(".flash-success")).to_contain_text("Ran 6 searches, one per face")
    assert asked and "6 searches" in asked[0]
    assert page.url.startswith(f"{url}/cases/{case['id']}")
    _shot(page, "06-every-face")
    with httpx.Client(base_url=url, timeout=60) as api:
        searches = api.get(f"/api/cases/{case['id']}", headers=world.auth("ivan")).json()
    assert sorted(s["face_index"] for s in searches["searches"]) == list(range(6))
