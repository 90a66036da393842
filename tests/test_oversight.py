"""Oversight, on SQLite and PostgreSQL: the accountability report from the live settings,
usage counts after real searches and refusals, the four misuse alert rules (each in a
scenario that should fire it and a control that should not), and the public transparency
page."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesift.compose import open_store
from facesift.governance.policy import DEFAULT_REFUSED_PURPOSES
from facesift.services.alerts import RecentProbes
from facesift.services.settings import Settings
from facesift.store.database import Database, resolve_url
from facesift.store.oversight import SearchedProbe
from tests.helpers import run_cli, run_json
from tests.server_world import PROBE, STRANGER, World

pytestmark = pytest.mark.slow
ROBBERY = "identify the suspect in an armed robbery of a pharmacy"
REFUSED = "locate an undocumented immigrant for deportation"


def _case(c: TestClient, w: World, reference: str, user: str = "ivan", purpose: str = ROBBERY):
    return c.post(
        "/api/cases",
        json={"reference": reference, "offense_category": "robbery", "purpose": purpose},
        headers=w.auth(user),
    )


def _probe(c: TestClient, w: World, case_id: int, content: bytes, user: str = "ivan") -> dict:
    made = c.post(
        f"/api/cases/{case_id}/probes", files={"file": ("p.jpg", content)}, headers=w.auth(user)
    )
    assert made.status_code == 201, made.text
    return made.json()


def _search(c: TestClient, w: World, probe_id: int, user: str = "ivan") -> dict:
    done = c.post(f"/api/probes/{probe_id}/searches", json={"face_index": 0}, headers=w.auth(user))
    assert done.status_code in (200, 201), done.text
    return done.json()


def _setting(c: TestClient, w: World, key: str, value: object) -> None:
    put = c.put(f"/api/settings/{key}", json={"value": value}, headers=w.auth("admin"))
    assert put.status_code == 200, put.text


def _png(path: Path) -> bytes:
    """The same pixels in another file: another SHA-256, the same face template."""
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _quiet_rules(c: TestClient, w: World) -> None:
    """Every rule off but the one a test looks at is turned back on by it."""
    _setting(c, w, "searches_per_minute", 1000)
    for key in ("alert_same_face", "alert_case_searches", "alert_reworded_purpose"):
        _setting(c, w, key, {"enabled": False})
    _setting(c, w, "alert_search_hours", {"enabled": False})


# -- the accountability report ---------------------------------------------------------------


def test_the_accountability_report_holds_the_live_refused_purposes_and_retention(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    store = open_store(w.data_dir, w.database_url)
    try:
        settings = Settings(store)
        extra = {
            "category": "bulk surveillance of a neighbourhood",
            "reason": "facesift is not used to watch whole areas",
            "terms": ["dragnet"],
        }
        settings.put(None, "refused_purposes", [*DEFAULT_REFUSED_PURPOSES, extra])
        settings.put(
            None,
            "retention",
            {
                "probe_images_days": 11,
                "probe_templates_days": 123,
                "candidate_lists_days": 456,
                "collections": {"fixture": 789},
            },
        )
    finally:
        store.close()
    out = tmp_path / "reports" / "acc"
    done = run_cli(
        "report",
        "accountability",
        "--out",
        out,
        data_dir=w.data_dir,
        database_url=w.database_url,
    )
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "reports" / "acc.md").read_text()
    page = (tmp_path / "reports" / "acc.html").read_text()
    for text in (markdown, page):
        assert "bulk surveillance of a neighbourhood" in text
        assert "immigration enforcement" in text  # the floor is always listed
        assert "123 days" in text and "456 days" in text and "789 days" in text
        assert "never means that the person is absent" in text
        assert "/optout" in text
        # The world's investigators: ivan, iris, boss, ivy (trained) and untrained.
        assert "investigator: 5 active, 4 with valid training" in text
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "admin: 2 active, 1 with valid training" in markdown  # admin, and boss (trained)
    # The same report from the server, for those who may read the settings.
    with TestClient(w.app()) as c:
        served = c.get("/api/oversight/accountability", headers=w.auth("audrey"))
        assert served.status_code == 200
        assert "bulk surveillance of a neighbourhood" in served.json()["markdown"]
        assert "123 days" in served.json()["html"]
        assert c.get("/api/oversight/accountability", headers=w.auth("ivan")).status_code == 403


# -- usage -----------------------------------------------------------------------------------


def test_usage_counts_searches_refusals_and_reviews_as_they_happened(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        case = _case(c, w, "USE-1").json()
        probe = _probe(c, w, case["id"], PROBE.read_bytes())
        first = _search(c, w, probe["id"])  # candidates: pending review
        stranger = _probe(c, w, case["id"], STRANGER.read_bytes())
        _search(c, w, stranger["id"])  # no candidate
        mirrored = c.post(
            f"/api/probes/{probe['id']}/edits",
            json={"operation": "mirror"},
            headers=w.auth("ivan"),
        )
        assert mirrored.status_code == 201, mirrored.text
        _search(c, w, mirrored.json()["id"])  # a search of an edited probe
        iris_case = _case(c, w, "USE-2", user="iris").json()
        _search(c, w, _probe(c, w, iris_case["id"], PROBE.read_bytes(), user="iris")["id"], "iris")
        assert _case(c, w, "USE-3", purpose=REFUSED).status_code == 403  # refused purpose
        # Both reviewers confirm the same first candidate of ivan's first search: released.
        shown = c.get(f"/api/searches/{first['id']}", headers=w.auth("sam")).json()
        face = shown["candidates"][0]["face_id"]
        for reviewer in ("rita", "rory"):
            c.post(f"/api/searches/{first['id']}/assignment", headers=w.auth(reviewer))
            review = c.post(
                f"/api/searches/{first['id']}/reviews",
                json={
                    "decision": "confirm",
                    "candidate_face_id": face,
                    "similarities": "the same ear shape and hairline",
                    "differences": "none beyond lighting",
                },
                headers=w.auth(reviewer),
            )
            assert review.status_code in (200, 201), review.text

        today = datetime.now(UTC).date().isoformat()
        usage = c.get(
            "/api/oversight/usage", params={"from": today, "to": today}, headers=w.auth("sam")
        )
        assert usage.status_code == 200, usage.text
        report = usage.json()
        total = report["total"]
        assert total["searches"] == 4 and total["edited_probes"] == 1
        assert total["with_candidates"] + total["no_candidate"] == 4
        assert total["no_candidate"] >= 1  # the stranger
        assert total["released"] == 1
        assert total["pending_review"] == total["with_candidates"] - 1
        assert report["per_user"]["ivan"]["searches"] == 3
        assert report["per_user"]["ivan"]["edited_probes"] == 1
        assert report["per_user"]["ivan"]["refusals"] == 1
        assert report["per_user"]["iris"]["searches"] == 1
        assert report["by_offense_category"] == {"robbery": 4}
        assert report["refusals_by_category"] == {"purpose: immigration enforcement": 1}
        assert report["agreement"] == {"decided_pairs": 1, "agreed": 1, "rate": 1.0}
        assert report["per_user"]["rita"]["reviews_in_agreement"] == 1
        # A period without them counts none of it.
        empty = c.get(
            "/api/oversight/usage",
            params={"from": "2020-01-01", "to": "2020-01-31"},
            headers=w.auth("sam"),
        ).json()
        assert empty["total"]["searches"] == 0 and empty["per_user"] == {}
        bad = c.get("/api/oversight/usage", params={"from": "yesterday"}, headers=w.auth("sam"))
        assert bad.status_code == 400 and "date" in bad.json()["message"]
        backwards = c.get(
            "/api/oversight/usage",
            params={"from": "2026-02-01", "to": "2026-01-01"},
            headers=w.auth("sam"),
        )
        assert backwards.status_code == 400
        last_day = c.get(
            "/api/oversight/usage",
            params={"from": "9999-12-30", "to": "9999-12-31"},
            headers=w.auth("sam"),
        )
        assert last_day.status_code == 400, last_day.text

        # The supervisor's page: the same counts, a chart, linked from the navigation.
        page = c.get("/oversight/usage", headers=w.auth("sam"))
        assert page.status_code == 200
        assert re.search(r'id="total-searches">4<', page.text)
        assert "<svg" in page.text and 'data-count="3"' in page.text  # ivan's bar
        assert 'href="/oversight/usage"' in c.get("/activity", headers=w.auth("sam")).text
        assert c.get("/oversight/usage", headers=w.auth("ivan")).status_code == 403
        assert c.get("/api/oversight/usage", headers=w.auth("ivan")).status_code == 403
        audited = c.get(
            "/api/audit", params={"action": "usage_report_read"}, headers=w.auth("audrey")
        ).json()
        assert audited["total"] >= 2 and audited["entries"][0]["actor"] == "sam"

    code, text_report = run_json(
        "report", "usage", "--from", today, "--to", today, data_dir=w.data_dir,
        database_url=w.database_url,
    )  # fmt: skip
    assert code == 0
    assert text_report["total"]["searches"] == 4
    # The refused case, and ivan's two refused looks at the usage page and API.
    assert text_report["total"]["refusals"] == 3
    assert text_report["refusals_by_category"]["role, training or ownership"] == 2
    words = run_cli(
        "report", "usage", "--from", today, data_dir=w.data_dir, database_url=w.database_url
    )
    assert words.returncode == 0 and "Searches: 4 (" in words.stdout
    assert "1 of edited probes" in words.stdout
    wrong = run_cli("report", "usage", "--from", "31/12/2026", data_dir=w.data_dir,
                    database_url=w.database_url)  # fmt: skip
    assert wrong.returncode != 0 and "a date like" in wrong.stderr + wrong.stdout


# -- misuse alerts ---------------------------------------------------------------------------


def _alerts(c: TestClient, w: World, rule: str) -> list[dict]:
    shown = c.get("/api/oversight/alerts", headers=w.auth("sam"))
    assert shown.status_code == 200, shown.text
    return [a for a in shown.json() if a["rule"] == rule]


def test_searches_outside_the_set_hours_raise_an_alert(server_world: World, tmp_path: Path):
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        case = _case(c, w, "HOURS-1").json()
        probe = _probe(c, w, case["id"], PROBE.read_bytes())
        # Control: all day allowed.
        _setting(c, w, "alert_search_hours", {"enabled": True, "start_hour": 0, "end_hour": 24})
        _search(c, w, probe["id"])
        assert _alerts(c, w, "alert_search_hours") == []
        # Scenario: the hours exclude this one.
        hour = datetime.now(UTC).hour
        hours = {"start_hour": hour + 1, "end_hour": 24} if hour < 23 else {"end_hour": 23}
        hours["enabled"] = True  # off by default: the team's hours are the operator's to set
        _setting(c, w, "alert_search_hours", hours)
        _search(c, w, probe["id"])
        found = _alerts(c, w, "alert_search_hours")
        assert len(found) == 1 and found[0]["user"] == "ivan"
        assert found[0]["case_id"] == case["id"] and "outside the set hours" in found[0]["message"]
        shown = c.get("/api/settings", headers=w.auth("sam")).json()["alert_search_hours"]
        assert shown["enabled"] is True and shown["end_hour"] == hours["end_hour"]
        bad = c.put(
            "/api/settings/alert_search_hours",
            json={"value": {"start_hour": 20, "end_hour": 8}},
            headers=w.auth("admin"),
        )
        assert bad.status_code == 400 and "end_hour" in bad.json()["message"]


def _logged_alerts(c: TestClient, w: World, wait_for: int, seconds: float = 10.0) -> int:
    """The misuse alerts on the audit log (read as an auditor, which scans nothing), polled
    until there are ``wait_for`` of them or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        log = c.get("/api/audit", params={"action": "misuse_alert"}, headers=w.auth("audrey"))
        total = log.json()["total"]
        if total >= wait_for or time.monotonic() > deadline:
            return total
        time.sleep(0.1)


def test_the_server_judges_searches_in_the_background(server_world: World, tmp_path: Path):
    """The alert scan runs in the server's own thread, woken by each search: the alert is on
    the log without anyone opening the alerts list, and the search did not wait for it."""
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        _setting(c, w, "alert_same_face", {"days": 30})
        first = _case(c, w, "BG-1").json()
        _search(c, w, _probe(c, w, first["id"], PROBE.read_bytes())["id"])
        assert _logged_alerts(c, w, wait_for=1, seconds=2.0) == 0  # control: one case only
        again = _case(c, w, "BG-2").json()
        _search(c, w, _probe(c, w, again["id"], PROBE.read_bytes())["id"])
        assert _logged_alerts(c, w, wait_for=1) == 1


def test_the_same_face_in_different_cases_raises_an_alert(server_world: World, tmp_path: Path):
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        _setting(c, w, "alert_same_face", {"days": 30})
        first = _case(c, w, "FACE-1").json()
        _search(c, w, _probe(c, w, first["id"], PROBE.read_bytes())["id"])
        # Control: another face in another case.
        other = _case(c, w, "FACE-2").json()
        _search(c, w, _probe(c, w, other["id"], STRANGER.read_bytes())["id"])
        assert _alerts(c, w, "alert_same_face") == []
        # Scenario: the same photo, and the same pixels in another file, in two more cases.
        again = _case(c, w, "FACE-3").json()
        _search(c, w, _probe(c, w, again["id"], PROBE.read_bytes())["id"])
        recoded = _case(c, w, "FACE-4", user="iris").json()
        _search(c, w, _probe(c, w, recoded["id"], _png(PROBE), user="iris")["id"], "iris")
        found = {a["case_id"]: a for a in _alerts(c, w, "alert_same_face")}
        assert set(found) == {again["id"], recoded["id"]}
        assert found[again["id"]]["details"]["other_cases"] == [first["id"]]
        assert "the same probe photo (SHA-256)" in found[again["id"]]["details"]["how"]
        assert found[recoded["id"]]["user"] == "iris"
        assert set(found[recoded["id"]]["details"]["other_cases"]) == {first["id"], again["id"]}
        # Alerts are on the audit log, for auditors too; investigators never see them.
        log = c.get(
            "/api/audit", params={"action": "misuse_alert"}, headers=w.auth("audrey")
        ).json()
        assert log["total"] == 2
        assert c.get("/api/oversight/alerts", headers=w.auth("ivan")).status_code == 403
        # Nor in their case's timeline: an alert is about the user, for supervisors.
        timeline = c.get(f"/api/cases/{again['id']}", headers=w.auth("ivan")).json()["timeline"]
        actions = {event["action"] for event in timeline}
        assert "search" in actions and "misuse_alert" not in actions
        assert c.get("/oversight/alerts", headers=w.auth("ivan")).status_code == 403
        page = c.get("/oversight/alerts", headers=w.auth("sam"))
        assert page.status_code == 200 and "alert_same_face" in page.text
        assert "days 30" in page.text  # the rule as set, beside its alerts
    listed = run_cli("report", "alerts", "--json", data_dir=w.data_dir, database_url=w.database_url)
    assert listed.returncode == 0, listed.stderr
    assert sorted(a["alert_case_id"] for a in json.loads(listed.stdout)) == sorted(found)


def test_many_searches_in_a_case_with_nothing_else_raise_an_alert(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        _setting(c, w, "alert_case_searches", {"searches": 3, "hours": 24})
        # Control: the same number of searches, but a reviewer took one in between.
        worked = _case(c, w, "MANY-1").json()
        probe = _probe(c, w, worked["id"], PROBE.read_bytes())
        taken = _search(c, w, probe["id"])
        c.post(f"/api/searches/{taken['id']}/assignment", headers=w.auth("rita"))
        _search(c, w, probe["id"])
        _search(c, w, probe["id"])
        assert _alerts(c, w, "alert_case_searches") == []
        # Scenario: only searching.
        browsing = _case(c, w, "MANY-2").json()
        probe = _probe(c, w, browsing["id"], PROBE.read_bytes())
        for _ in range(2):
            _search(c, w, probe["id"])
        assert _alerts(c, w, "alert_case_searches") == []  # two: below the setting
        _search(c, w, probe["id"])
        found = _alerts(c, w, "alert_case_searches")
        assert [a["case_id"] for a in found] == [browsing["id"]]
        assert found[0]["details"]["searches"] == 3
        # A fourth, judged in a later scan than the alert: the same stretch, no second alert.
        _search(c, w, probe["id"])
        assert len(_alerts(c, w, "alert_case_searches")) == 1


def test_a_case_opened_after_a_refused_purpose_raises_an_alert(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        _quiet_rules(c, w)
        _setting(c, w, "alert_reworded_purpose", {"hours": 72})
        # Control: iris opens a case with no refusal before it.
        clean = _case(c, w, "WORD-1", user="iris").json()
        # Scenario: ivan is refused, then words it differently.
        assert _case(c, w, "WORD-2", purpose=REFUSED).status_code == 403
        reworded = _case(
            c, w, "WORD-3", purpose="locate a person without papers wanted for an armed robbery"
        ).json()
        found = _alerts(c, w, "alert_reworded_purpose")
        assert [a["case_id"] for a in found] == [reworded["id"]]
        assert found[0]["user"] == "ivan" and clean["id"] not in [a["case_id"] for a in found]
        assert found[0]["details"]["refused_purpose"] == REFUSED
        assert "without papers" in found[0]["details"]["new_purpose"]
        # Judged once: a second look raises nothing new.
        assert len(_alerts(c, w, "alert_reworded_purpose")) == 1


# -- transparency ----------------------------------------------------------------------------


def test_the_transparency_page_needs_no_account_and_counts_per_collection(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    db = Database(resolve_url(w.data_dir, w.database_url))
    try:
        images = int(db.execute("SELECT COUNT(*) FROM images").one()[0])
        faces = int(db.execute("SELECT COUNT(*) FROM faces").one()[0])
    finally:
        db.close()
    with TestClient(w.app()) as c:
        page = c.get("/transparency")  # no account
        assert page.status_code == 200
        row = re.search(
            r"<tr><td>fixture</td><td>([^<]*)</td><td class=\"num\">([\d,]+)</td>"
            r"<td class=\"num\">([\d,]+)</td></tr>",
            page.text,
        )
        assert row is not None, page.text
        assert (int(row.group(2)), int(row.group(3))) == (images, faces)
        assert 'href="/optout"' in page.text and "for the life of the system" in page.text
        assert "Refused purposes" in page.text
        shown = c.get("/api/transparency").json()
        assert [(h["collection"], h["images"], h["faces"]) for h in shown["holdings"]] == [
            ("fixture", images, faces)
        ]
        assert shown["faces"] == faces and shown["optout_page"] == "/optout"


def test_the_transparency_page_limits_views_per_address() -> None:
    from facesift.errors import RateLimited
    from facesift.services.transparency import PageRate

    rate = PageRate(limit=2)
    rate.check("192.0.2.1")
    rate.check("192.0.2.1")
    with pytest.raises(RateLimited, match="at most 2 views a minute"):
        rate.check("192.0.2.1")
    rate.check("192.0.2.2")  # another address has its own allowance


def test_admins_set_the_alert_rules_on_the_settings_page(server_world: World, tmp_path: Path):
    w = server_world.copy_to(tmp_path / "data")
    with TestClient(w.app()) as c:
        current = c.get("/api/settings", headers=w.auth("admin")).json()
        form = {
            "offense_categories": "\n".join(current["offense_categories"]),
            "refused_purposes": json.dumps(current["refused_purposes"]),
            "searches_per_minute": str(current["searches_per_minute"]),
            "max_upload_bytes": str(current["max_upload_bytes"]),
        }
        page = c.get("/settings", headers=w.auth("admin")).text
        assert 'name="alert_rules"' in page and "alert_reworded_purpose" in page
        rules = {
            "alert_search_hours": {"enabled": True, "start_hour": 6, "end_hour": 22},
            "alert_case_searches": {"enabled": True, "searches": 5, "hours": 12},
        }
        saved = c.post(
            "/settings",
            headers=w.auth("admin"),
            data={**form, "alert_rules": json.dumps(rules)},
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        now = c.get("/api/settings", headers=w.auth("sam")).json()
        assert now["alert_search_hours"] == rules["alert_search_hours"]
        assert now["alert_case_searches"] == rules["alert_case_searches"]
        for text, problem in (
            ("{not json", "not valid JSON"),
            ('{"alert_bogus": {}}', "unknown setting"),
            ('{"alert_same_face": {"days": 0}}', "alert_same_face is"),
        ):
            bad = c.post("/settings", headers=w.auth("admin"), data={**form, "alert_rules": text})
            assert bad.status_code == 400 and problem in bad.text, bad.text
        assert c.get("/api/settings", headers=w.auth("sam")).json()["alert_same_face"]["days"] == 90


def test_the_alert_scan_mark_moves_once_for_rival_scanners(
    server_world: World, tmp_path: Path
) -> None:
    w = server_world.copy_to(tmp_path / "data")
    first, second = open_store(w.data_dir, w.database_url), open_store(w.data_dir, w.database_url)
    try:
        assert first.oversight.scan_mark("alerts_scanned_through") == 0
        assert second.oversight.scan_mark("alerts_scanned_through") == 0
        with first.transaction():
            assert first.oversight.advance_scan_mark("alerts_scanned_through", 0, 5)
        with second.transaction():  # it read 0 too: it lost, and writes nothing
            assert not second.oversight.advance_scan_mark("alerts_scanned_through", 0, 7)
        assert second.oversight.scan_mark("alerts_scanned_through") == 5
    finally:
        first.close()
        second.close()


def test_one_alert_scanner_at_a_time_holds_the_lease(server_world: World, tmp_path: Path):
    """On PostgreSQL one process at a time may judge new entries (the others' judging would
    be thrown away by the mark's compare and set); the lease is taken without waiting and let
    go at the block's end. SQLite has no lease: every scanner may judge."""
    w = server_world.copy_to(tmp_path / "data")
    first, second = open_store(w.data_dir, w.database_url), open_store(w.data_dir, w.database_url)
    try:
        with first.oversight.scan_lease() as held:
            assert held
            with second.oversight.scan_lease() as also:
                assert also is (w.database_url is None)
        with second.oversight.scan_lease() as held:
            assert held
    finally:
        first.close()
        second.close()


def test_searches_judged_while_another_worker_held_the_lease_are_judged_after(
    server_world: World, tmp_path: Path
):
    """A server whose background scan found the lease held tries again a moment later, so
    the searches it skipped are judged once the lease is free, with no search to wake it."""
    w = server_world.copy_to(tmp_path / "data")
    if w.database_url is None:
        pytest.skip("the lease is PostgreSQL's; on SQLite every scan runs")
    rival = open_store(w.data_dir, w.database_url)
    try:
        with TestClient(w.app()) as c:
            _quiet_rules(c, w)
            _setting(c, w, "alert_same_face", {"days": 30})
            with rival.oversight.scan_lease() as held:
                assert held
                for reference in ("LEASE-1", "LEASE-2"):
                    case = _case(c, w, reference).json()
                    _search(c, w, _probe(c, w, case["id"], PROBE.read_bytes())["id"])
                assert _logged_alerts(c, w, wait_for=1, seconds=2.0) == 0  # nobody judged
            assert _logged_alerts(c, w, wait_for=1) == 1
    finally:
        rival.close()


def test_the_recent_probes_near_a_face_are_those_a_one_by_one_comparison_finds():
    # The same-face rule compares with every probe of the window in array operations; it
    # must find exactly what comparing them one by one finds, skipping destroyed templates
    # (None), templates of another length, and the probes the rule leaves out.
    rng = np.random.default_rng(11)
    templates = [rng.normal(size=4).astype(np.float32) for _ in range(40)]
    shapes = [None if n % 7 == 0 else t if n % 5 else t[:3] for n, t in enumerate(templates)]
    probes = [
        SearchedProbe(n, n % 6, n, 0, f"sha{n % 3}", f"2026-11-{1 + n % 28:02d}", template)
        for n, template in enumerate(shapes)
    ]
    recent = RecentProbes(probes)
    face = templates[3] + 0.1
    among = recent.case_id != 2
    near = recent.near(face, among, limit=1.5)
    expected = [
        among[n]
        and p.template is not None
        and len(p.template) == 4
        and float(np.linalg.norm(p.template - face)) <= 1.5
        for n, p in enumerate(probes)
    ]
    assert near.tolist() == expected
    assert 3 < sum(expected) < 30  # the case is neither empty nor everything
    assert not recent.near(None, among, limit=1.5).any()
    assert (recent.at >= "2026-11-20").tolist() == [p.at >= "2026-11-20" for p in probes]
