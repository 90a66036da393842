"""The cases: the home page's list, opening a case, one case's page (its probes, searches
and timeline), closing it, and its printable disclosure packet.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import (
    Conflict,
    InvalidInput,
    SearchRefused,
)
from facesift.server.params import Id, PageAfter
from facesift.server.security import (
    Signed,
    Svc,
)
from facesift.services.casework.base import PAGE_SIZE
from facesift.web.abilities import search_refusal
from facesift.web.approvals import approvals_for
from facesift.web.form_errors import in_words, refill_status
from facesift.web.rendering import CASE_VIEWERS, nav, redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/", summary="Cases (the home page)")
def home(request: Request, caller: Signed, svc: Svc, before: PageAfter = None):
    if not caller.principal.has_any(*CASE_VIEWERS):
        # Nothing to list: go to the first page this user's roles can use.
        return redirect(nav(caller.principal, "/")[0][0])
    cases = svc.casework.cases(caller.principal, before=before)
    older = cases[-1].id if len(cases) == PAGE_SIZE else None
    approvals = approvals_for(svc, caller.principal)  # a supervisor's decisions to make
    return render(
        request, "cases.html", caller, cases=cases, approvals=approvals, older=older, first=before
    )


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
    return redirect(f"/cases/{case.id}", f"Case {case.reference} is open.")


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
        owner=case.created_by == who.user_id,
        search_refusal=search_refusal(who, case),
    )


@router.post("/cases/{case_id}/close", summary="Close a case (form)")
def close_case(case_id: Id, caller: Signed, svc: Svc):
    case = svc.casework.close_case(caller.principal, case_id)
    return redirect(f"/cases/{case_id}", f"Case {case.reference} is closed.")


@router.get("/cases/{case_id}/disclosure", summary="The disclosure packet, printable")
def disclosure_page(case_id: Id, request: Request, caller: Signed, svc: Svc):
    packet = svc.casework.disclosure(caller.principal, case_id)
    return render(request, "disclosure.html", caller, packet=packet)
