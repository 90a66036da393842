"""The web pages: server-rendered HTML over the same services as the JSON API.

Each handler reads its form, calls one service method, and renders a template. Sign-in is
the API's: a session cookie, and for every POST the session's CSRF token in the hidden
``csrf_token`` field. A form POSTs and then redirects (303) to a page; its outcome travels
in a short-lived flash cookie. Secrets made for the user (a one-time password, an API token)
are shown in the POST's own answer instead, once, and never put in a URL or a cookie.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

import anyio
import jinja2
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesift.errors import (
    Conflict,
    FacesiftError,
    Forbidden,
    ImageError,
    InvalidInput,
    NotFound,
    RateLimited,
    SearchRefused,
    Unauthenticated,
)
from facesift.governance.roles import ALL_ROLES, Principal, Role
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.governance.secrets import token_hash
from facesift.server.context import Services
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.security import (
    SESSION_COOKIE,
    Caller,
    Signed,
    Svc,
    client_address,
    identify,
    optional_caller,
    set_session_cookie,
)
from facesift.services.accounts import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS
from facesift.services.casework import LEAD_NOTICE
from facesift.services.search import DEFAULT_TOP_K
from facesift.web import records, scores
from facesift.web.abilities import search_refusal
from facesift.web.approvals import approvals_for
from facesift.web.form_errors import in_words, refill_status
from facesift.web.settings_form import FLOOR_LABELS, MB, wanted_settings

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)
FLASH_COOKIE = "facesift_flash"
AUDIT_PAGE = 50
CASE_VIEWERS = (Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR)
ONE_TIME_PASSWORD_NOTICE = (
    "You signed in with a one-time password. Choose your own password below before you go on."
)

# (href, label, roles that may use it; empty: everyone signed in)
NAV: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("/", "Cases", CASE_VIEWERS),
    ("/reviews", "Reviews", (Role.REVIEWER,)),
    ("/activity", "Team activity", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/oversight/usage", "Usage", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/oversight/alerts", "Alerts", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/audit", "Audit log", (Role.AUDITOR,)),
    ("/privacy", "Opt-out requests", (Role.PRIVACY_OFFICER,)),
    ("/users", "Users", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
    ("/settings", "Settings", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
    ("/tokens", "API tokens", ()),
    ("/stats", "Gallery", ()),
    ("/gallery", "Gallery photos", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
)


def _when(value: str | None) -> str:
    """An ISO time as '2026-05-01 14:03:07 UTC'."""
    if not value:
        return ""
    return value.replace("T", " ")[:19] + (" UTC" if "T" in value else "")


def _one_in(rate: float | None) -> str:
    if not rate:
        return "–"
    return f"1 in {round(1 / rate):,}" if rate < 1 else "1 in 1"


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if value and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:g}%"


def _details(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("facesift.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(when=_when, one_in=_one_in, number=_number, percent=_percent, details=_details)
scores.install(_env)
records.install(_env)
_env.globals.update(LEAD_NOTICE=LEAD_NOTICE, ALL_ROLES=[str(r) for r in ALL_ROLES])


# -- rendering ---------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API, /healthz and /audit/export get JSON."""
    path = request.url.path
    return not (path.startswith(("/api/", "/audit/export")) or path == "/healthz")


def _nav(principal: Principal | None, path: str) -> list[tuple[str, str, bool]]:
    if principal is None:
        return []
    items = []
    for href, label, roles in NAV:
        if roles and not principal.has_any(*roles):
            continue
        active = (
            path == "/" or path.startswith("/cases") if href == "/" else (path.startswith(href))
        )
        items.append((href, label, active))
    return items


def _take_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    level, _, text = unquote(raw).partition(":")
    if level not in ("info", "success", "warning", "error") or not text:
        return []
    return [(level, text[:500])]


def render(
    request: Request,
    template: str,
    caller: Caller | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    principal = caller.principal if caller else None
    messages = _take_flash(request) + context.pop("messages", [])
    html = _env.get_template(template).render(
        request=request,
        user=principal,
        caller=caller,
        path=request.url.path,
        nav=_nav(principal, request.url.path),
        csrf_token=caller.csrf_token if caller else "",
        messages=messages,
        roles=_role_flags(principal),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _role_flags(principal: Principal | None) -> dict[str, bool]:
    return {str(role): bool(principal and principal.has(role)) for role in ALL_ROLES}


def redirect(url: str, message: str | None = None, level: str = "success") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{level}:{message}"),
            max_age=60,
            httponly=True,
            samesite="strict",
            path="/",
        )
    return response


def error_page(request: Request, error: FacesiftError, status: int) -> Response:
    if status == 401:
        return redirect("/login", error.message, "warning")
    try:
        caller = identify(request)
    except FacesiftError:
        caller = None
    if status == 403 and caller is not None and caller.must_change_password:
        return redirect("/account", ONE_TIME_PASSWORD_NOTICE, "warning")
    titles = {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        413: "Too large",
        415: "Not an accepted image",
        429: "Too many searches",
    }
    return render(
        request,
        "error.html",
        caller,
        status=status,
        status_code=status,
        title=titles.get(status, "That did not work"),
        error=error,
    )


# -- signing in --------------------------------------------------------------------------------


@router.get("/login", summary="Sign-in page")
def login_page(request: Request, caller: Annotated[Caller | None, Depends(optional_caller)]):
    if caller is not None:
        return redirect("/")
    return render(request, "login.html", name="")


@router.post("/login", summary="Sign in (form)")
def login(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str | None, Form(max_length=16)] = None,
):
    try:
        session = svc.accounts.sign_in(
            name, password, via="web", address=client_address(request), totp_code=totp_code
        )
    except Unauthenticated as failed:
        return render(
            request, "login.html", status=401, name=name, messages=[("error", failed.message)]
        )
    response = (
        redirect("/account", ONE_TIME_PASSWORD_NOTICE, "warning")
        if svc.accounts.must_change_password(session.principal)
        else redirect("/")
    )
    set_session_cookie(response, request, session.token)
    return response


@router.post("/logout", summary="Sign out (form)")
def logout(caller: Signed, svc: Svc):
    if caller.session_token:
        svc.accounts.sign_out(caller.session_token, caller.principal)
    # Not plain /login: that is where refused requests are sent.
    response = redirect("/login?signed-out", "You are signed out.", "info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- cases -------------------------------------------------------------------------------------


@router.get("/", summary="Cases (the home page)")
def home(request: Request, caller: Signed, svc: Svc):
    if not caller.principal.has_any(*CASE_VIEWERS):
        # Nothing to list: go to the first page this user's roles can use.
        return redirect(_nav(caller.principal, "/")[0][0])
    cases = svc.casework.cases(caller.principal)
    approvals = approvals_for(svc, caller.principal)  # a supervisor's decisions to make
    return render(request, "cases.html", caller, cases=cases, approvals=approvals)


@router.get("/cases/new", summary="New case form")
def new_case_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request,
        "case_new.html",
        caller,
        categories=svc.casework.offense_categories(caller.principal),
    )


@router.post("/cases/new", summary="Open a case (form)")
def new_case(
    request: Request,
    caller: Signed,
    svc: Svc,
    reference: Annotated[str, Form(max_length=100)],
    offense_category: Annotated[str, Form(max_length=100)],
    purpose: Annotated[str, Form(max_length=2000)],
    authorisation_id: Annotated[str, Form(max_length=100)] = "",
    authorisation_expires: Annotated[str, Form(max_length=10)] = "",
    collections: Annotated[str, Form(max_length=2000)] = "",
):
    values = {
        "reference": reference,
        "offense_category": offense_category,
        "purpose": purpose,
        "authorisation_id": authorisation_id,
        "authorisation_expires": authorisation_expires,
        "collections": collections,
    }
    try:
        case = svc.casework.open_case(caller.principal, values)
    except (InvalidInput, SearchRefused, Conflict) as refused:  # the form again, filled in
        return render(
            request,
            "case_new.html",
            caller,
            status=refill_status(refused),
            categories=svc.casework.offense_categories(caller.principal),
            form=values,
            messages=[("error", in_words(refused))],
        )
    return redirect(f"/cases/{case['id']}", f"Case {case['reference']} is open.")


@router.get("/cases/{case_id}", summary="A case: probes, searches, the full timeline")
def case_page(case_id: Id, request: Request, caller: Signed, svc: Svc):
    work, who = svc.casework, caller.principal
    case = work.view_case(who, case_id)
    return render(
        request,
        "case.html",
        caller,
        case=case,
        probes=work.probes(who, case_id),
        searches=work.searches(who, case_id),
        timeline=work.timeline(who, case_id),
        owner=case["created_by"] == who.user_id,
        search_refusal=search_refusal(who, case),
    )


@router.post("/cases/{case_id}/probes", summary="Upload a probe photo (form)")
async def upload_probe(
    case_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    file: Annotated[UploadFile, File()],
):
    content = await file.read()
    add = partial(svc.casework.add_probe, caller.principal, case_id, content)
    try:
        probe = await in_analysis_lane(request, add)
    except (ImageError, InvalidInput) as refused:  # back to the case, saying what to fix
        return redirect(f"/cases/{case_id}", in_words(refused), "error")
    found = len(probe["faces"])
    return redirect(
        f"/probes/{probe['id']}",
        f"Probe uploaded; {found} face{'s' if found != 1 else ''} found.",
        "success" if found else "warning",
    )


@router.post("/cases/{case_id}/close", summary="Close a case (form)")
def close_case(case_id: Id, caller: Signed, svc: Svc):
    case = svc.casework.close_case(caller.principal, case_id)
    return redirect(f"/cases/{case_id}", f"Case {case['reference']} is closed.")


@router.get("/cases/{case_id}/disclosure", summary="The disclosure packet, printable")
def disclosure_page(case_id: Id, request: Request, caller: Signed, svc: Svc):
    packet = svc.casework.disclosure(caller.principal, case_id)
    return render(request, "disclosure.html", caller, packet=packet)


# -- probes and searches -----------------------------------------------------------------------


def _faces_in_percent(probe: dict) -> list[dict]:
    width, height = probe["width"] or 1, probe["height"] or 1
    faces = []
    for index, face in enumerate(probe["faces"]):
        x1, y1, x2, y2 = face["box"]
        faces.append(
            {
                "index": index,
                "box": face["box"],
                "left": round(100 * x1 / width, 2),
                "top": round(100 * y1 / height, 2),
                "width": round(100 * (x2 - x1) / width, 2),
                "height": round(100 * (y2 - y1) / height, 2),
                "manual": bool(face.get("manual")),
            }
        )
    return faces


@router.get("/probes/{probe_id}", summary="A probe: pick a face and search; edit the probe")
def probe_page(probe_id: Id, request: Request, caller: Signed, svc: Svc):
    probe = svc.casework.open_probe(caller.principal, probe_id)
    case = svc.casework.records.case(probe["case_id"])  # open_probe checked the access
    collections = [c["name"] for c in svc.oversight.stats(caller.principal)["collections"]]
    return render(
        request,
        "probe.html",
        caller,
        probe=probe,
        faces=_faces_in_percent(probe),
        quality=[svc.settings.judge_quality(face) for face in probe["faces"]],
        collections=collections,
        top_k=DEFAULT_TOP_K,
        max_top_k=MAX_CANDIDATES,
        search_refusal=search_refusal(caller.principal, case),
        selected_face=_wanted_face(request, len(probe["faces"])),
    )


def _wanted_face(request: Request, faces: int) -> int | None:
    """The face a link asked to have picked (``?face=N``, as after drawing one)."""
    wanted = request.query_params.get("face", "")
    return int(wanted) if wanted.isdigit() and int(wanted) < faces else None


@router.post("/probes/{probe_id}/edit", summary="Crop, rotate or mirror a probe (form)")
async def edit_probe(
    probe_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    operation: Annotated[str, Form(max_length=10)],
    degrees: Annotated[int | None, Form()] = None,
    x1: Annotated[int | None, Form()] = None,
    y1: Annotated[int | None, Form()] = None,
    x2: Annotated[int | None, Form()] = None,
    y2: Annotated[int | None, Form()] = None,
):
    box = [x1, y1, x2, y2] if None not in (x1, y1, x2, y2) else None
    edit = {"operation": operation, "degrees": degrees, "box": box}
    try:
        made = await in_analysis_lane(
            request, partial(svc.casework.edit_probe, caller.principal, probe_id, edit)
        )
    except (ImageError, InvalidInput) as refused:  # back to the probe, saying what to fix
        return redirect(f"/probes/{probe_id}", in_words(refused), "error")
    return redirect(
        f"/probes/{made['id']}",
        f"Made an edited copy of probe {probe_id} ({operation}); the original stays.",
    )


@router.post("/probes/{probe_id}/search", summary="Search the gallery for a face (form)")
def run_search(
    probe_id: Id,
    caller: Signed,
    svc: Svc,
    face: Annotated[int, Form(ge=0, le=1000)],
    collection: Annotated[str, Form(max_length=200)] = "",
    top_k: Annotated[int, Form(ge=1, le=MAX_CANDIDATES)] = DEFAULT_TOP_K,
):
    try:
        search = svc.casework.run_search(
            caller.principal, probe_id, face, collection or None, top_k
        )
    except (InvalidInput, SearchRefused, RateLimited) as refused:  # back to the probe
        return redirect(f"/probes/{probe_id}", in_words(refused), "error")
    return redirect(f"/searches/{search['id']}")


@router.get("/searches/{search_id}", summary="A candidate list")
def search_page(search_id: Id, request: Request, caller: Signed, svc: Svc):
    search = svc.casework.search(caller.principal, search_id)
    chart = scores.distance_chart(svc.calibration, search)  # empty where none is shown
    return render(request, "search.html", caller, search=search, chart=chart)


@router.get(
    "/searches/{search_id}/compare/{face_id}",
    summary="The probe's face beside one candidate's face",
)
def compare_page(search_id: Id, face_id: Id, request: Request, caller: Signed, svc: Svc):
    search = svc.casework.search(caller.principal, search_id)
    candidate = next((c for c in search["candidates"] if c["face_id"] == face_id), None)
    if candidate is None and search["candidates_withheld"]:
        raise Forbidden("the candidates are withheld from the requester until a lead is released")
    if candidate is None:
        raise NotFound(f"face {face_id} is not a candidate of search {search_id}")
    probe = svc.casework.probe(caller.principal, search["probe_id"])
    face = _faces_in_percent(probe)[search["face_index"]]
    return render(
        request, "compare.html", caller, search=search, candidate=candidate, probe=probe, face=face
    )


# -- review ------------------------------------------------------------------------------------


@router.get("/reviews", summary="Searches awaiting your review")
def review_queue(request: Request, caller: Signed, svc: Svc):
    return render(
        request, "reviews.html", caller, queue=svc.casework.review_queue(caller.principal)
    )


@router.post("/searches/{search_id}/take", summary="Take a search from the review queue (form)")
def take_review(search_id: Id, caller: Signed, svc: Svc):
    svc.casework.take_review(caller.principal, search_id)
    return redirect(f"/searches/{search_id}/review", f"Search {search_id} is assigned to you.")


@router.get("/searches/{search_id}/review", summary="The review form")
def review_page(search_id: Id, request: Request, caller: Signed, svc: Svc):
    search = svc.casework.search_to_review(caller.principal, search_id)
    return render(request, "review.html", caller, search=search)


@router.post("/searches/{search_id}/review", summary="Record your review (form)")
def review(
    search_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    decision: Annotated[str, Form(max_length=20)] = "",
    similarities: Annotated[str, Form(max_length=4000)] = "",
    differences: Annotated[str, Form(max_length=4000)] = "",
    candidate_face_id: Annotated[int | None, Form()] = None,
    candidate_face_ids: Annotated[list[int] | None, Form(max_length=MAX_CANDIDATES)] = None,
    subjects: Annotated[list[str] | None, Form(max_length=MAX_CANDIDATES)] = None,
):
    values = {
        "decision": decision,
        "candidate_face_id": candidate_face_id,
        "candidate_face_ids": candidate_face_ids or [],
        "subjects": subjects or [],
        "similarities": similarities,
        "differences": differences,
    }
    try:
        search = svc.casework.submit_review(caller.principal, search_id, values)
    except InvalidInput as refused:  # the form again, as the reviewer left it
        return render(
            request,
            "review.html",
            caller,
            status=refill_status(refused),
            search=svc.casework.search_to_review(caller.principal, search_id),
            form=values,
            messages=[("error", in_words(refused))],
        )
    outcome = search["status"].replace("_", " ")
    return redirect(
        "/reviews",
        f"Your review of search {search_id} is recorded"
        + (
            f"; the outcome is now: {outcome}."
            if search["status"] != "pending_review"
            else "; it awaits another reviewer."
        ),
    )


# -- audit, users, tokens, statistics, activity ------------------------------------------------


@router.get("/audit", summary="The audit log, filtered (auditors)")
def audit_page(
    request: Request,
    caller: Signed,
    svc: Svc,
    user: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    case_id: Annotated[str, Query(max_length=100)] = "",  # a case's reference or number
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
):
    case, messages = _audit_case(svc, case_id.strip())
    found = svc.oversight.entries(
        caller.principal,
        user=user or None,
        action=action or None,
        case_id=case,
        since=since or None,
        until=until or None,
        limit=AUDIT_PAGE,
        offset=offset,
    )
    filters = {"user": user, "action": action, "case_id": case_id, "since": since, "until": until}
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "audit.html",
        caller,
        found=found,
        filters=filters,
        query=query,
        offset=offset,
        page=AUDIT_PAGE,
        actions=svc.oversight.actions(caller.principal),
        messages=messages,
    )


def _audit_case(svc: Services, wanted: str) -> tuple[int | None, list[tuple[str, str]]]:
    """The case the audit filter names, by its number or its reference (what people know)."""
    if not wanted:
        return None, []
    if wanted.isdigit():
        return int(wanted), []
    found = svc.casework.records.case_by_reference(wanted)
    if found is None:  # filter on no case at all: an empty page that says why
        return 0, [("warning", f"No case has the reference “{wanted}”.")]
    return found["id"], []


@router.post("/audit/verify", summary="Verify the audit chain (form)")
def verify_audit(caller: Signed, svc: Svc):
    report = svc.oversight.verify(caller.principal)
    if report["ok"]:
        return redirect(
            "/audit",
            f"Chain verified: all {report['entries']:,} entries are intact"
            " and linked to the anchor.",
        )
    where = f" at entry {report['first_bad_id']}" if report["first_bad_id"] else ""
    return redirect("/audit", f"The chain is broken{where}: {report['problem']}.", "error")


@router.get("/users", summary="Users (admins manage, supervisors approve, auditors read)")
def users_page(request: Request, caller: Signed, svc: Svc):
    return _users_page_with(request, caller, svc, created=None)


def _users_page_with(request: Request, caller: Caller, svc: Services, **shown: Any):
    names = {u.id: u.name for u in svc.accounts.records.users()}
    return render(
        request,
        "users.html",
        caller,
        users=[u.describe() for u in svc.accounts.list_users(caller.principal)],
        requests=[
            {
                "id": r.id,
                "kind": r.kind.replace("_", " "),
                "user": names.get(r.user_id, "?"),
                "user_id": r.user_id,
                "roles": ", ".join(r.roles or ()),
                "requested_by": names.get(r.requested_by, "?"),
                "requested_by_id": r.requested_by,
            }
            for r in svc.accounts.requests(caller.principal)
        ],
        **shown,
    )


@router.post("/users", summary="Create an account (form); pending until a supervisor approves")
def add_user(
    request: Request,
    caller: Signed,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
):
    made = svc.accounts.add_user(name, roles or [], caller.principal)
    return redirect(
        "/users",
        f"{made.user.name} is created and pending. The supervisor who approves the account "
        "gets a one-time code for them to set their own password.",
    )


@router.post("/users/{user_id}/roles", summary="Change a user's roles (form)")
def set_roles(
    user_id: Id,
    caller: Signed,
    svc: Svc,
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
):
    made = svc.accounts.request_roles(caller.principal, user_id, roles or [])
    wanted = ", ".join(made.roles or ())
    return redirect("/users", f"Asked for the roles {wanted}; a supervisor must approve.")


@router.post("/users/{user_id}/status", summary="Disable or enable an account (form)")
def set_status(user_id: Id, caller: Signed, svc: Svc, disabled: Annotated[bool, Form()]):
    user = svc.accounts.set_disabled(caller.principal, user_id, disabled)
    return redirect("/users", f"{user.name} is now {user.status}.")


@router.post("/users/{user_id}/password", summary="Ask for a password reset (form)")
def reset_password(user_id: Id, caller: Signed, svc: Svc):
    svc.accounts.request_password_reset(caller.principal, user_id)
    name = svc.accounts.user(user_id).name
    return redirect(
        "/users", f"Asked for a password reset for {name}; a supervisor must approve it."
    )


@router.post("/users/{user_id}/approve", summary="Approve a pending account (form)")
def approve_user(user_id: Id, request: Request, caller: Signed, svc: Svc):
    issued = svc.accounts.approve(caller.principal, user_id)
    name = svc.accounts.user(user_id).name
    if issued is None:
        return redirect("/users", f"{name} is approved and active.")
    return _users_page_with(
        request,
        caller,
        svc,
        created={
            "name": name,
            "code": issued.code,
            "expires_at": issued.expires_at,
            "what": f"{name} is approved and active.",
        },
    )


@router.post("/users/{user_id}/training", summary="Record a training attestation (form)")
def record_training(
    user_id: Id, caller: Signed, svc: Svc, expires: Annotated[str, Form(max_length=10)]
):
    user = svc.accounts.record_training(caller.principal, user_id, expires)
    return redirect(
        "/users", f"Training recorded for {user.name}, valid until {user.training_expires}."
    )


@router.get("/settings", summary="Settings (admins change them; supervisors, auditors read)")
def settings_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request,
        "settings.html",
        caller,
        settings=svc.settings.read(caller.principal),
        mb=MB,
        floor_labels=FLOOR_LABELS,
    )


@router.post("/settings", summary="Change the settings (form)")
async def change_settings(request: Request, caller: Signed, svc: Svc):
    # Sizes in MB, lists as rows and lines (web/settings_form.py); the settings judge them.
    form = await request.form(max_fields=2_000)
    wanted = wanted_settings(form)
    alert_rules = form.get("alert_rules")  # the misuse alert rules (oversight), as JSON
    wanted |= _alert_rules(alert_rules if isinstance(alert_rules, str) else None)
    changed = await anyio.to_thread.run_sync(svc.settings.update, caller.principal, wanted)
    message = f"Changed: {', '.join(changed)}." if changed else "Nothing changed."
    return redirect("/settings", message)


def _alert_rules(text: str | None) -> dict[str, object]:
    """The settings form's misuse alert rules: {rule setting: its value}, each checked by
    the settings like any other."""
    if text is None or not text.strip():
        return {}
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the misuse alert rules are not valid JSON: {exc}") from None
    if not isinstance(rules, dict) or not all(key.startswith("alert_") for key in rules):
        raise InvalidInput("the misuse alert rules are {alert_...: {enabled, ...}, ...}")
    return rules


@router.get("/account", summary="Your account: roles, training, password")
def account_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request,
        "account.html",
        caller,
        account=svc.accounts.user(caller.principal.user_id).describe(),
        sessions=_own_sessions(caller, svc),
    )


def _own_sessions(caller: Caller, svc: Services) -> list[dict]:
    current = token_hash(caller.session_token) if caller.session_token else None
    return [
        {"id": s.id, "created_at": s.created_at, "current": s.token_hash == current}
        for s in svc.accounts.sessions(caller.principal)
    ]


@router.post("/account/password", summary="Change your own password (form)")
def change_own_password(
    request: Request,
    caller: Signed,
    svc: Svc,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    repeat_password: Annotated[str, Form(max_length=256)],
):
    if new_password != repeat_password:
        raise InvalidInput("the two new passwords differ")
    svc.accounts.change_own_password(
        caller.principal,
        current_password,
        new_password,
        caller.session_token,
        client_address(request),
    )
    return redirect(
        "/account", "Your password is changed; your other sessions and API tokens are ended."
    )


@router.get("/tokens", summary="Your API tokens")
def tokens_page(request: Request, caller: Signed, svc: Svc):
    return _tokens_page_with(request, caller, svc, made=None)


def _tokens_page_with(request: Request, caller: Caller, svc: Services, **shown: Any):
    who = caller.principal
    tokens = [t.describe() for t in svc.accounts.tokens(who, who.user_id)]
    return render(
        request,
        "tokens.html",
        caller,
        tokens=tokens,
        default_days=DEFAULT_TOKEN_DAYS,
        max_days=MAX_TOKEN_DAYS,
        **shown,
    )


@router.post("/tokens", summary="Make an API token (form); shown once")
def create_token(
    request: Request,
    caller: Signed,
    svc: Svc,
    name: Annotated[str, Form(max_length=80)],
    days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = DEFAULT_TOKEN_DAYS,
):
    made = svc.accounts.create_token(caller.principal, caller.principal.user_id, name, days)
    return _tokens_page_with(
        request, caller, svc, made={"token": made.token, **made.record.describe()}
    )


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token (form)")
def revoke_token(token_id: Id, caller: Signed, svc: Svc):
    token = svc.accounts.revoke_token(caller.principal, token_id)
    return redirect("/tokens", f"Token “{token.name}” is revoked.")


@router.get("/stats", summary="Gallery statistics")
def stats_page(request: Request, caller: Signed, svc: Svc):
    return render(request, "stats.html", caller, stats=svc.oversight.stats(caller.principal))


@router.get("/activity", summary="The team's searches (supervisors, auditors)")
def activity_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request, "activity.html", caller, searches=svc.casework.searches(caller.principal)
    )
