"""Accessibility: axe-core (Deque's engine, from npm: ``scripts/install-axe.sh``, run by
``make install``) runs inside every page type, signed in as each role that uses it, in
headless Chromium against a real ``facesift serve``, at laptop and phone width. No page may
have a serious or critical violation of WCAG 2.1 A or AA. The findings, minor ones included,
go to ``artifacts/accessibility.md``.

axe is loaded from ``tests/axe/node_modules`` into each page with Playwright's
``add_script_tag`` (the browser context bypasses the app's Content-Security-Policy for that
one script: the app itself still allows no inline script). Without axe-core the test is
skipped locally and fails in CI, as the browser tests do without Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import REPO, artifacts_dir, in_ci, sign_in
from tests.server_world import LAYOUT_ONLY
from tests.test_web_responsive import _pages, _seed

AXE = REPO / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
# Pages beyond the responsive test's: the public ones, the gallery's, and an unknown page.
MORE = {
    None: ["/login", "/optout", "/password-code", "/no-such-page"],
    "admin": ["/tokens", "/account"],
    "audrey": ["/gallery/photos?problem=no_provenance", "/stats", "/activity", "/settings"],
    "percy": ["/account"],
}
RUN_AXE = """async tags => {
  const found = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return {passes: found.passes.length, violations: found.violations.map(v => ({id: v.id,
    impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))};
}"""


def _axe_path() -> Path:
    if not AXE.exists():
        reason = "axe-core is not installed; run `make install` (scripts/install-axe.sh)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return AXE


def _violations(page: Page, axe: Path) -> list[dict]:
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(axe))
    found = page.evaluate(RUN_AXE, TAGS)
    assert found["passes"] > 5, f"axe checked almost nothing on {page.url}"
    return found["violations"]


@LAYOUT_ONLY
def test_every_page_type_has_no_serious_accessibility_violation(
    browser: Browser, live_server_factory, fresh_world
) -> None:
    axe = _axe_path()
    url = live_server_factory(fresh_world.data_dir, fresh_world.env()).url
    ids = _seed(url, fresh_world)
    visits: dict[str | None, list[str]] = {None: []}
    for user, paths in _pages(ids).items():
        visits[user] = list(paths)
    for user, paths in MORE.items():
        visits.setdefault(user, []).extend(p for p in paths if p not in visits[user])
    report, blocking = (
        ["| width | user | page | impact | rule | where |", "|---|---|---|---|---|---|"],
        [],
    )
    for user, paths in visits.items():
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, locale="en-GB", bypass_csp=True
        )
        page = context.new_page()
        if user is not None:
            sign_in(page, url, user)
        for width, height in ((1366, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            for path in paths:
                page.goto(url + path)
                for v in _violations(page, axe):
                    where = "; ".join(v["nodes"])
                    who = user or "-"
                    report.append(
                        f"| {width} | {who} | {path} | {v['impact']} | {v['id']} | {where} |"
                    )
                    if v["impact"] in BLOCKING:
                        blocking.append(
                            f"{width}px {user or '-'} {path}: {v['id']} ({v['help']}) at {where}"
                        )
        context.close()
    out = artifacts_dir() / "accessibility.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# axe-core findings, every page type and role\n\n" + "\n".join(report) + "\n")
    assert blocking == [], "\n".join(sorted(set(blocking)))


@LAYOUT_ONLY
def test_axe_finds_a_serious_violation_when_there_is_one(
    browser: Browser, live_server_factory, server_world
) -> None:
    """The check can fail: an image without a text alternative and an unlabelled field,
    put into the sign-in page, are found as critical."""
    axe = _axe_path()
    url = live_server_factory(server_world.data_dir, server_world.env()).url
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(url + "/login")
    page.evaluate(
        """() => document.querySelector("main").insertAdjacentHTML(
            "beforeend", '<img src="/static/favicon.svg"><input type="text">')"""
    )
    found = {v["id"]: v["impact"] for v in _violations(page, axe)}
    assert found.get("image-alt") == "critical" and found.get("label") == "critical", found
    context.close()
