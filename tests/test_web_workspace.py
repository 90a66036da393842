"""The workspace's pages through FastAPI's test client (issue 13, section 5): a page offers only
what its viewer may do, and only while the case allows it; a refused form comes back with what
was typed and a message in the user's words, never a dead-end error page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from facesift.governance.roles import Principal, Role
from facesift.web.abilities import may_search, search_refusal
from tests.server_world import PASSWORD, PROBE, World

SEARCH_BUTTON = "Search for this face"
UPLOAD_BUTTON = "Upload and find faces"
EDIT_BUTTON = "Make the edited copy"


@pytest.fixture
def client(fresh_world: World) -> Iterator[TestClient]:
    with TestClient(fresh_world.app()) as client:
        yield client


def _signed_in(client: TestClient, name: str) -> TestClient:
    signed = TestClient(client.app)
    answer = signed.post(
        "/login", data={"name": name, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return signed


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def _case_with_probe(client: TestClient, world: World) -> tuple[int, int]:
    case = client.post(
        "/api/cases",
        json={
            "reference": "WORKSPACE-1",
            "offense_category": "homicide",
            "purpose": "identify the suspect seen leaving the scene of a homicide",
        },
        headers=world.auth("ivan"),
    ).json()
    probe = client.post(
        f"/api/cases/{case['id']}/probes",
        files={"file": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
        headers=world.auth("ivan"),
    ).json()
    return case["id"], probe["id"]


def test_oversight_roles_are_not_offered_a_search(client: TestClient, fresh_world: World) -> None:
    case_id, probe_id = _case_with_probe(client, fresh_world)
    owner = client.get(f"/probes/{probe_id}", headers=fresh_world.auth("ivan")).text
    assert SEARCH_BUTTON in owner and EDIT_BUTTON in owner
    for name in ("sam", "audrey"):
        page = client.get(f"/probes/{probe_id}", headers=fresh_world.auth(name))
        assert page.status_code == 200
        assert SEARCH_BUTTON not in page.text and EDIT_BUTTON not in page.text
        assert "Only the investigator who opened the case" in page.text
        case_page = client.get(f"/cases/{case_id}", headers=fresh_world.auth(name)).text
        assert UPLOAD_BUTTON not in case_page
        # What the page no longer offers is indeed refused.
        refused = client.post(
            f"/api/probes/{probe_id}/searches",
            json={"face_index": 0},
            headers=fresh_world.auth(name),
        )
        assert refused.status_code == 403


def test_a_closed_case_offers_no_search_or_upload(client: TestClient, fresh_world: World) -> None:
    case_id, probe_id = _case_with_probe(client, fresh_world)
    auth = fresh_world.auth("ivan")
    assert UPLOAD_BUTTON in client.get(f"/cases/{case_id}", headers=auth).text
    closed = client.post(f"/api/cases/{case_id}/close", headers=auth)
    assert closed.status_code == 200, closed.text
    case_page = client.get(f"/cases/{case_id}", headers=auth).text
    assert UPLOAD_BUTTON not in case_page and "The case is closed" in case_page
    probe_page = client.get(f"/probes/{probe_id}", headers=auth).text
    assert SEARCH_BUTTON not in probe_page and EDIT_BUTTON not in probe_page
    assert "The case is closed" in probe_page


def test_a_refused_purpose_shows_the_form_again_with_what_was_typed(
    client: TestClient,
) -> None:
    ivan = _signed_in(client, "ivan")
    typed = {
        "csrf_token": _csrf(ivan, "/cases/new"),
        "reference": "KEEP-ME-2026-7",
        "offense_category": "homicide",
        "purpose": "find where the man is staying, to arrange his deportation",
        "authorisation_id": "WARRANT-99",
    }
    answer = ivan.post("/cases/new", data=typed, follow_redirects=False)
    assert answer.status_code == 403, answer.text
    html = answer.text
    assert "Go to the start page" not in html
    assert 'name="reference"' in html and 'value="KEEP-ME-2026-7"' in html
    assert '<option value="homicide" selected>' in html
    assert "to arrange his deportation</textarea>" in html
    assert 'value="WARRANT-99"' in html
    message = re.search(r'<p class="flash flash-error">(.*?)</p>', html, re.S).group(1)
    assert "immigration" in message.lower()
    # Nothing was opened, and the corrected form then works.
    typed["purpose"] = "identify the suspect seen leaving the scene of a homicide"
    opened = ivan.post("/cases/new", data=typed, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"].startswith("/cases/")


def _search_taken_by_rita(client: TestClient, world: World) -> int:
    _, probe_id = _case_with_probe(client, world)
    search = client.post(
        f"/api/probes/{probe_id}/searches", json={"face_index": 0}, headers=world.auth("ivan")
    ).json()
    taken = client.post(f"/api/searches/{search['id']}/assignment", headers=world.auth("rita"))
    assert taken.status_code == 200, taken.text
    return search["id"]


def test_a_review_mistake_shows_the_form_again_in_the_reviewers_words(
    client: TestClient, fresh_world: World
) -> None:
    search_id = _search_taken_by_rita(client, fresh_world)
    rita = _signed_in(client, "rita")
    form = {
        "csrf_token": _csrf(rita, f"/searches/{search_id}/review"),
        "decision": "confirm",  # ... but no candidate chosen
        "similarities": "Same hairline and the same shape of the nose.",
        "differences": "Lighting only.",
    }
    answer = rita.post(f"/searches/{search_id}/review", data=form, follow_redirects=False)
    assert answer.status_code == 400, answer.text
    html = answer.text
    text = re.sub(r"<[^>]+>", " ", html)  # what the reviewer reads
    assert "Go to the start page" not in text and "face_id" not in text
    message = re.search(r'<p class="flash flash-error">(.*?)</p>', html, re.S).group(1)
    assert "choose who the person is" in message
    assert "Same hairline and the same shape of the nose.</textarea>" in html
    assert "Lighting only.</textarea>" in html
    assert re.search(r'value="confirm" required checked', html)
    # No review was recorded: the corrected form is accepted.
    first = re.search(r'name="candidate_face_ids" value="(\d+)"', html).group(1)
    done = rita.post(
        f"/searches/{search_id}/review",
        data=form | {"candidate_face_ids": first},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_a_non_image_upload_returns_to_the_case_saying_what_to_fix(
    client: TestClient, fresh_world: World
) -> None:
    case_id, _ = _case_with_probe(client, fresh_world)
    ivan = _signed_in(client, "ivan")
    answer = ivan.post(
        f"/cases/{case_id}/probes",
        data={"csrf_token": _csrf(ivan, f"/cases/{case_id}")},
        files={"file": ("notes.txt", b"not a photo at all", "text/plain")},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{case_id}"
    page = ivan.get(f"/cases/{case_id}")
    message = re.search(r'<p class="flash flash-error">(.*?)</p>', page.text, re.S).group(1)
    assert message and "face_id" not in message
    assert "Upload and find faces" in page.text  # the form is there to try again


def test_the_timeline_and_audit_log_read_as_labelled_values(
    client: TestClient, fresh_world: World
) -> None:
    case_id, probe_id = _case_with_probe(client, fresh_world)
    timeline = client.get(f"/cases/{case_id}", headers=fresh_world.auth("ivan")).text
    section = timeline.split('class="timeline"', 1)[1].split("</table>", 1)[0]
    assert '<dl class="record-details">' in section
    assert "{&#34;" not in section and '{"' not in section  # no raw JSON
    assert "<dt>case</dt> <dd>WORKSPACE-1</dd>" in section
    assert "Opened case WORKSPACE-1." in section  # and a sentence for what was done
    assert f"Uploaded probe {probe_id}; faces found: 1." in section
    audit = client.get("/audit", headers=fresh_world.auth("audrey")).text
    assert '<dl class="record-details">' in audit and "{&#34;" not in audit


def test_the_audit_filter_takes_the_case_reference(client: TestClient, fresh_world: World) -> None:
    case_id, _ = _case_with_probe(client, fresh_world)
    audrey = fresh_world.auth("audrey")
    by_number = client.get(f"/audit?case_id={case_id}", headers=audrey).text
    by_reference = client.get("/audit?case_id=WORKSPACE-1", headers=audrey).text
    count = re.compile(r"([\d,]+) entries")
    assert count.search(by_reference).group(1) == count.search(by_number).group(1) != "0"
    assert 'value="WORKSPACE-1"' in by_reference  # the filter keeps what was typed
    unknown = client.get("/audit?case_id=NO-SUCH-CASE", headers=audrey)
    assert unknown.status_code == 200
    assert "No case has the reference" in unknown.text
    assert count.search(unknown.text).group(1) == "0"


def test_the_reason_a_page_offers_no_search_is_the_rules_own() -> None:
    def who(*roles: Role, user_id: int = 1, trained: str | None = "2099-12-31") -> Principal:
        return Principal(user_id, "someone", frozenset(roles), trained)

    open_case = {"created_by": 1, "status": "open"}
    assert may_search(who(Role.INVESTIGATOR), open_case)
    assert "closed" in search_refusal(who(Role.INVESTIGATOR), open_case | {"status": "closed"})
    assert "opened the case" in search_refusal(who(Role.SUPERVISOR), open_case)
    assert "opened the case" in search_refusal(who(Role.AUDITOR), open_case)
    assert "own cases" in search_refusal(who(Role.INVESTIGATOR, user_id=2), open_case)
    assert "admin" in search_refusal(who(Role.INVESTIGATOR, Role.ADMIN), open_case)
    assert "training" in search_refusal(who(Role.INVESTIGATOR, trained=None), open_case)


def test_a_refused_search_or_edit_returns_to_the_probe_saying_why(
    client: TestClient, fresh_world: World
) -> None:
    _, probe_id = _case_with_probe(client, fresh_world)
    ivan = _signed_in(client, "ivan")
    token = _csrf(ivan, f"/probes/{probe_id}")
    for path, form in (
        ("search", {"face": "9"}),  # the probe has one face
        ("edit", {"operation": "crop", "x1": "0", "y1": "0", "x2": "5", "y2": "5"}),
    ):
        answer = ivan.post(
            f"/probes/{probe_id}/{path}",
            data=form | {"csrf_token": token},
            follow_redirects=False,
        )
        assert answer.status_code == 303, (path, answer.text)
        assert answer.headers["location"] == f"/probes/{probe_id}"
        page = ivan.get(f"/probes/{probe_id}").text
        message = re.search(r'<p class="flash flash-error">(.*?)</p>', page, re.S).group(1)
        assert ("no face 9" if path == "search" else "32x32") in message, message
        assert "Search for this face" in page  # the form is there to try again
