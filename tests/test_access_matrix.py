"""Every route in the OpenAPI spec, called by every role and by an anonymous caller.

``EXPECTED`` is the access matrix: which roles a route admits. The test calls each route with
valid arguments and classifies the answer: 401/403 (or a page's redirect to sign-in) is
"denied", anything else "allowed". A route missing from the matrix fails the test, so a new
route cannot ship without a decision about who may call it. The observed matrix is written
to ``artifacts/route-role-matrix.md``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.browser_support import artifacts_dir
from tests.server_world import PASSWORD, PROBE, World

pytestmark = pytest.mark.slow

ROLES = (
    "anonymous",
    "investigator",
    "reviewer",
    "supervisor",
    "auditor",
    "admin",
    "privacy_officer",
)
ACTOR = {
    "investigator": "ivan",
    "reviewer": "rita",
    "supervisor": "sam",
    "auditor": "audrey",
    "admin": "admin",
    "privacy_officer": "percy",
}
PUBLIC = set(ROLES)
SIGNED_IN = set(ROLES) - {"anonymous"}
OVERSIGHT = {"supervisor", "auditor"}
CASE_VIEW = {"investigator"} | OVERSIGHT
SEARCH_VIEW = CASE_VIEW | {"reviewer"}  # the reviewer is assigned to the search
# While a list is pending review its requester sees no candidate: the images are for the
# assigned reviewers and oversight.
CANDIDATE_VIEW = OVERSIGHT | {"reviewer"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("POST", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): SIGNED_IN,
    ("GET", "/api/me"): SIGNED_IN,
    ("GET", "/api/users"): {"admin", "supervisor", "auditor"},
    ("POST", "/api/users"): {"admin"},
    ("POST", "/api/users/{user_id}/approve"): {"supervisor"},
    ("PUT", "/api/users/{user_id}/roles"): {"admin"},
    ("PUT", "/api/users/{user_id}/training"): {"admin", "supervisor"},
    ("PUT", "/api/users/{user_id}/status"): {"admin"},
    ("POST", "/api/users/{user_id}/password-reset"): {"admin"},
    ("GET", "/api/account-requests"): {"admin", "supervisor", "auditor"},
    ("POST", "/api/account-requests/{account_request_id}/approve"): {"supervisor"},
    ("POST", "/api/account-requests/{account_request_id}/refuse"): {"supervisor"},
    ("POST", "/api/password-code"): PUBLIC,
    ("GET", "/api/me/sessions"): SIGNED_IN,
    ("DELETE", "/api/me/sessions/{session_id}"): SIGNED_IN,
    ("POST", "/api/me/totp"): SIGNED_IN,
    ("POST", "/api/me/totp/confirm"): SIGNED_IN,
    ("POST", "/api/me/totp/disable"): SIGNED_IN,
    ("GET", "/api/tokens"): SIGNED_IN,
    ("POST", "/api/tokens"): SIGNED_IN,
    ("DELETE", "/api/tokens/{token_id}"): {"investigator", "admin"},  # the owner, or an admin
    ("GET", "/api/settings"): {"admin", "supervisor", "auditor"},
    ("PUT", "/api/settings/{key}"): {"admin"},
    ("GET", "/api/cases"): CASE_VIEW,
    ("POST", "/api/cases"): {"investigator"},
    ("GET", "/api/cases/{case_id}"): CASE_VIEW,
    ("POST", "/api/cases/{case_id}/close"): {"investigator"},
    ("POST", "/api/cases/{case_id}/keep-probe-images"): {"investigator"},
    ("GET", "/api/cases/{case_id}/disclosure"): CASE_VIEW,
    ("POST", "/api/cases/{case_id}/probes"): {"investigator"},
    ("GET", "/api/probes/{probe_id}"): SEARCH_VIEW,
    ("GET", "/api/probes/{probe_id}/image"): SEARCH_VIEW,
    ("GET", "/api/probes/{probe_id}/faces/{face_index}/crop"): SEARCH_VIEW,
    ("POST", "/api/probes/{probe_id}/edits"): {"investigator"},
    ("POST", "/api/probes/{probe_id}/searches"): {"investigator"},
    ("POST", "/api/probes/{probe_id}/manual-faces"): {"investigator"},
    ("POST", "/api/probes/{probe_id}/searches/every-face"): {"investigator"},
    # The gallery's photo records: those who run or oversee it; re-scanning changes it.
    ("GET", "/api/gallery"): {"admin", "supervisor", "auditor"},
    ("GET", "/api/gallery/photos"): {"admin", "supervisor", "auditor"},
    ("POST", "/api/gallery/photos/{image_id}/rescan"): {"admin"},
    ("POST", "/api/gallery/failures/retry"): {"admin"},
    ("GET", "/api/searches"): OVERSIGHT,
    ("GET", "/api/searches/{search_id}"): SEARCH_VIEW,
    ("GET", "/api/reviews/queue"): {"reviewer"},
    ("GET", "/api/reviews/mine"): {"reviewer"},
    ("POST", "/api/searches/{search_id}/reviews"): {"reviewer"},
    ("POST", "/api/searches/{search_id}/assignment"): {"reviewer"},
    ("GET", "/api/faces/{face_id}/crop"): CANDIDATE_VIEW,
    ("GET", "/api/images/{image_id}"): CANDIDATE_VIEW,
    ("GET", "/api/audit"): {"auditor"},
    ("GET", "/api/audit/verify"): {"auditor"},
    ("GET", "/audit/export"): {"auditor"},
    ("GET", "/api/stats"): SIGNED_IN,
    ("POST", "/api/evaluations"): {"auditor"},
    # The web pages: the same rules, through the same services.
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): SIGNED_IN,
    ("GET", "/"): SIGNED_IN,  # cases, or the first page the user's roles can use
    ("GET", "/cases/new"): {"investigator"},
    ("POST", "/cases/new"): {"investigator"},
    ("GET", "/cases/{case_id}"): CASE_VIEW,
    ("GET", "/cases/{case_id}/disclosure"): CASE_VIEW,
    ("POST", "/cases/{case_id}/probes"): {"investigator"},
    ("POST", "/cases/{case_id}/close"): {"investigator"},
    ("GET", "/probes/{probe_id}"): SEARCH_VIEW,
    ("POST", "/probes/{probe_id}/edit"): {"investigator"},
    ("POST", "/probes/{probe_id}/search"): {"investigator"},
    ("POST", "/probes/{probe_id}/manual-face"): {"investigator"},
    ("POST", "/probes/{probe_id}/search-every-face"): {"investigator"},
    ("GET", "/gallery"): {"admin", "supervisor", "auditor"},
    ("GET", "/gallery/photos"): {"admin", "supervisor", "auditor"},
    ("POST", "/gallery/photos/{image_id}/rescan"): {"admin"},
    ("POST", "/gallery/failures/retry"): {"admin"},
    ("GET", "/searches/{search_id}"): SEARCH_VIEW,
    ("GET", "/searches/{search_id}/compare/{face_id}"): CANDIDATE_VIEW,
    ("POST", "/searches/{search_id}/take"): {"reviewer"},
    ("GET", "/reviews"): {"reviewer"},
    ("GET", "/reviews/past"): {"reviewer"},
    ("GET", "/searches/{search_id}/review"): {"reviewer"},
    ("POST", "/searches/{search_id}/review"): {"reviewer"},
    ("GET", "/audit"): {"auditor"},
    ("POST", "/audit/verify"): {"auditor"},
    ("GET", "/users"): {"admin", "supervisor", "auditor"},
    ("POST", "/users"): {"admin"},
    ("POST", "/users/{user_id}/roles"): {"admin"},
    ("POST", "/users/{user_id}/status"): {"admin"},
    ("POST", "/users/{user_id}/password"): {"admin"},
    ("POST", "/users/{user_id}/approve"): {"supervisor"},
    ("POST", "/users/{user_id}/training"): {"admin", "supervisor"},
    ("POST", "/users/requests/{account_request_id}/approve"): {"supervisor"},
    ("POST", "/users/requests/{account_request_id}/refuse"): {"supervisor"},
    ("GET", "/password-code"): PUBLIC,
    # Single sign-on (not set up in this world: 404, and the callback's missing query: 422).
    ("GET", "/login/oidc"): PUBLIC,
    ("GET", "/login/oidc/callback"): PUBLIC,
    ("POST", "/password-code"): PUBLIC,
    ("POST", "/account/sessions/{session_id}/end"): SIGNED_IN,
    ("POST", "/account/totp"): SIGNED_IN,
    ("POST", "/account/totp/confirm"): SIGNED_IN,
    ("POST", "/account/totp/disable"): SIGNED_IN,
    ("GET", "/tokens"): SIGNED_IN,
    ("POST", "/tokens"): SIGNED_IN,
    ("POST", "/tokens/{token_id}/revoke"): {"investigator", "admin"},
    ("GET", "/stats"): SIGNED_IN,
    ("GET", "/activity"): OVERSIGHT,
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("PUT", "/api/me/password"): SIGNED_IN,
    ("GET", "/settings"): {"admin", "supervisor", "auditor"},
    ("POST", "/settings"): {"admin"},
    # Opt-out: the person needs no account; the faces found are for privacy officers alone.
    ("POST", "/api/optout/requests"): PUBLIC,
    ("GET", "/api/optout/status/{reference}"): PUBLIC,
    ("GET", "/api/optout/requests"): {"privacy_officer"},
    ("GET", "/api/optout/requests/{request_id}"): {"privacy_officer"},
    ("POST", "/api/optout/requests/{request_id}/faces/{face_id}"): {"privacy_officer"},
    ("GET", "/api/optout/requests/{request_id}/selfies/{n}"): {"privacy_officer"},
    ("GET", "/api/optout/faces/{face_id}/crop"): {"privacy_officer"},
    ("GET", "/optout"): PUBLIC,
    ("POST", "/optout"): PUBLIC,
    ("GET", "/optout/status"): PUBLIC,
    ("GET", "/privacy"): {"privacy_officer"},
    # Oversight: usage and misuse alerts for supervisors and auditors; transparency is public.
    ("GET", "/api/oversight/usage"): OVERSIGHT,
    ("GET", "/api/oversight/alerts"): OVERSIGHT,
    ("GET", "/api/oversight/accountability"): {"admin", "supervisor", "auditor"},
    ("GET", "/api/transparency"): PUBLIC,
    ("GET", "/oversight/usage"): OVERSIGHT,
    ("GET", "/oversight/alerts"): OVERSIGHT,
    ("GET", "/transparency"): PUBLIC,
    ("GET", "/privacy/{request_id}"): {"privacy_officer"},
    ("POST", "/privacy/{request_id}/faces/{face_id}"): {"privacy_officer"},
}


@dataclass
class Targets:
    """Ids the calls refer to: objects owned by the investigator, and accounts to act on."""

    ids: dict[str, object] = field(default_factory=dict)
    names: itertools.count = field(default_factory=itertools.count)


def _prepare(client: TestClient, world: World) -> Targets:
    ivan = world.auth("ivan")
    client.put(
        "/api/settings/searches_per_minute", json={"value": 1000}, headers=world.auth("admin")
    )
    case = client.post(
        "/api/cases",
        json={
            "reference": "MATRIX-1",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery",
        },
        headers=ivan,
    ).json()
    closable = client.post(
        "/api/cases",
        json={
            "reference": "MATRIX-2",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery",
        },
        headers=ivan,
    ).json()
    probe = client.post(
        f"/api/cases/{case['id']}/probes",
        files={"file": ("p.jpg", PROBE.read_bytes())},
        headers=ivan,
    ).json()
    search = client.post(
        f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=ivan
    ).json()
    # The reviewer takes the search, so the reviewer's column is that of an assigned one.
    client.post(f"/api/searches/{search['id']}/assignment", headers=world.auth("rita"))
    search = client.get(f"/api/searches/{search['id']}", headers=world.auth("sam")).json()
    token = client.post("/api/tokens", json={"name": "matrix"}, headers=ivan).json()
    target = client.post(
        "/api/users", json={"name": "target", "roles": ["reviewer"]}, headers=world.auth("admin")
    ).json()["user"]
    # A change of roles for the target, asked by the admin, for a supervisor to decide.
    request = client.put(
        f"/api/users/{target['id']}/roles",
        json={"roles": ["reviewer"]},
        headers=world.auth("admin"),
    ).json()
    candidate = search["candidates"][0]
    # An opt-out request by the probe's person: it finds the candidate's face.
    optout = client.post(
        "/api/optout/requests",
        files={"selfies": ("me.jpg", PROBE.read_bytes())},
        data={"contact": "me@example.org"},
    ).json()
    found = client.get("/api/optout/requests", headers=world.auth("percy")).json()
    return Targets(
        {
            "case_id": case["id"],
            "probe_id": probe["id"],
            "face_index": 0,
            "search_id": search["id"],
            "face_id": candidate["face_id"],
            "image_id": candidate["image"]["id"],
            "token_id": token["id"],
            "user_id": target["id"],
            "key": "searches_per_minute",
            "closable_case_id": closable["id"],
            "reference": optout["reference"],
            "request_id": found[0]["id"],
            "n": 0,
            "account_request_id": request["id"],
            "session_id": "no-such-session",
        }
    )


def _call(client: TestClient, world: World, targets: Targets, role: str, method: str, path: str):
    ids = dict(targets.ids)
    if path.endswith("/close"):
        ids["case_id"] = ids["closable_case_id"]
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    headers = {} if role == "anonymous" else world.auth(ACTOR[role])
    n = next(targets.names)
    photo = PROBE.read_bytes()
    bodies = {
        ("POST", "/api/session"): {"json": {"name": "ivan", "password": PASSWORD}},
        ("POST", "/api/users"): {"json": {"name": f"made{n}", "roles": ["reviewer"]}},
        ("PUT", "/api/users/{user_id}/roles"): {"json": {"roles": ["reviewer"]}},
        ("PUT", "/api/users/{user_id}/training"): {"json": {"expires": "2099-01-01"}},
        ("PUT", "/api/users/{user_id}/status"): {"json": {"disabled": False}},
        # Fails on input (the new password is too short: 400), after the route admitted it.
        ("POST", "/api/password-code"): {
            "json": {"name": "target", "code": "x", "new_password": "short"}
        },
        ("POST", "/password-code"): {
            "data": {"name": "target", "code": "x", "new_password": "short"}
        },
        # A wrong code after a start is bad input (400); turning off what is off, 409.
        ("POST", "/api/me/totp/confirm"): {"json": {"code": "000000"}},
        ("POST", "/api/me/totp/disable"): {"json": {"password": PASSWORD, "code": "000000"}},
        ("POST", "/account/totp/confirm"): {"data": {"code": "000000"}},
        ("POST", "/account/totp/disable"): {"data": {"password": PASSWORD, "code": "000000"}},
        ("POST", "/api/tokens"): {"json": {"name": f"t{n}"}},
        ("PUT", "/api/settings/{key}"): {"json": {"value": 1000}},
        ("POST", "/api/cases"): {
            "json": {
                "reference": f"M-{n}",
                "offense_category": "fraud",
                "purpose": "identify a fraudster seen on camera",
            }
        },
        ("POST", "/api/cases/{case_id}/probes"): {"files": {"file": ("p.jpg", photo)}},
        # Not a zip: an auditor gets 400 (allowed, and nothing is run), the others 403.
        ("POST", "/api/evaluations"): {"files": {"file": ("set.zip", b"not a zip")}},
        ("POST", "/login"): {"data": {"name": "ivan", "password": PASSWORD}},
        ("POST", "/cases/new"): {
            "data": {
                "reference": f"P-{n}",
                "offense_category": "fraud",
                "purpose": "identify a fraudster seen on camera",
            }
        },
        ("POST", "/cases/{case_id}/probes"): {"files": {"file": ("p.jpg", photo)}},
        ("POST", "/probes/{probe_id}/edit"): {"data": {"operation": "mirror"}},
        ("POST", "/probes/{probe_id}/search"): {"data": {"face": "0"}},
        # A box too small: admitted, then refused on input (400), so nothing is made.
        ("POST", "/probes/{probe_id}/manual-face"): {
            "data": {"x1": "0", "y1": "0", "x2": "8", "y2": "8"}
        },
        ("POST", "/api/probes/{probe_id}/manual-faces"): {"json": {"box": [0, 0, 8, 8]}},
        ("POST", "/api/probes/{probe_id}/searches/every-face"): {"json": {}},
        # No file failed in this world: admitted, then 404.
        ("POST", "/api/gallery/failures/retry"): {
            "json": {"path": "/no/such/file.jpg", "collection": "fixture"}
        },
        ("POST", "/gallery/failures/retry"): {
            "data": {"path": "/no/such/file.jpg", "collection": "fixture"}
        },
        ("POST", "/searches/{search_id}/review"): {
            "data": {
                "decision": "inconclusive",
                "similarities": "similar",
                "differences": "lighting",
            }
        },
        ("POST", "/users"): {"data": {"name": f"page{n}", "roles": ["reviewer"]}},
        ("POST", "/users/{user_id}/roles"): {"data": {"roles": ["reviewer"]}},
        ("POST", "/users/{user_id}/status"): {"data": {"disabled": "false"}},
        ("POST", "/users/{user_id}/training"): {"data": {"expires": "2099-01-01"}},
        ("POST", "/tokens"): {"data": {"name": f"page token {n}"}},
        # Wrong current password: a 403 would read as "denied", so send a valid change
        # that fails on input instead (the new password is too short: 400).
        ("POST", "/account/password"): {
            "data": {
                "current_password": PASSWORD,
                "new_password": "short",
                "repeat_password": "short",
            }
        },
        ("PUT", "/api/me/password"): {
            "json": {"current_password": PASSWORD, "new_password": "short"}
        },
        ("POST", "/settings"): {
            "data": {
                "offense_categories": "robbery\nfraud",
                "refused_purposes": "[]",
                "searches_per_minute": "1000",
                "max_upload_bytes": "10000000",
            }
        },
        ("POST", "/api/probes/{probe_id}/edits"): {"json": {"operation": "mirror"}},
        ("POST", "/api/cases/{case_id}/keep-probe-images"): {
            "json": {"reason": "an appeal is pending on this identification"}
        },
        ("POST", "/api/optout/requests"): {
            "files": {"selfies": ("me.jpg", photo)},
            "data": {"contact": "me@example.org"},
        },
        ("POST", "/optout"): {
            "files": {"selfies": ("me.jpg", photo)},
            "data": {"contact": "me@example.org"},
        },
        # "not_them": the face stays in the gallery for the routes called after this one.
        ("POST", "/api/optout/requests/{request_id}/faces/{face_id}"): {
            "json": {"decision": "not_them"}
        },
        ("POST", "/privacy/{request_id}/faces/{face_id}"): {"data": {"decision": "not_them"}},
        ("POST", "/api/probes/{probe_id}/searches"): {"json": {"face_index": 0}},
        ("POST", "/api/searches/{search_id}/reviews"): {
            "json": {
                "decision": "inconclusive",
                "similarities": "similar",
                "differences": "lighting",
            }
        },
    }
    response = client.request(
        method, url, headers=headers, follow_redirects=False, **bodies.get((method, path), {})
    )
    client.cookies.clear()  # a sign-in must not carry over to the next caller
    return response


def _denied(response) -> bool:
    if response.status_code in (401, 403):
        return True
    # A page refused for want of a sign-in sends the browser to exactly /login.
    return response.status_code in (302, 303) and response.headers.get("location") == "/login"


def test_every_route_admits_exactly_the_roles_it_should(
    server_world: World, tmp_path: Path
) -> None:
    world = server_world.copy_to(tmp_path / "data")
    with TestClient(world.app()) as client:
        spec = client.get("/openapi.json").json()
        routes = sorted(
            (method.upper(), path) for path, item in spec["paths"].items() for method in item
        )
        unknown = [route for route in routes if route not in EXPECTED]
        assert not unknown, f"routes with no access decision in EXPECTED: {unknown}"
        targets = _prepare(client, world)
        observed: dict[tuple[str, str], set[str]] = {}
        problems = []
        for method, path in routes:
            allowed = set()
            for role in ROLES:
                response = _call(client, world, targets, role, method, path)
                assert response.status_code < 500, (method, path, role, response.text)
                if not _denied(response):
                    allowed.add(role)
            observed[(method, path)] = allowed
            if allowed != EXPECTED[(method, path)]:
                problems.append(
                    f"{method} {path}: allowed {sorted(allowed)}, "
                    f"expected {sorted(EXPECTED[(method, path)])}"
                )
    _write_matrix(observed)
    assert not problems, "\n".join(problems)


def _write_matrix(observed: dict[tuple[str, str], set[str]]) -> None:
    lines = ["| route | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for (method, path), allowed in sorted(observed.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        marks = " | ".join("yes" if role in allowed else "-" for role in ROLES)
        lines.append(f"| `{method} {path}` | {marks} |")
    target = artifacts_dir() / "route-role-matrix.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
