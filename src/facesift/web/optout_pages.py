"""The opt-out pages: the public request and status pages (no account), and the privacy
officer's pages, over the same ``OptOut`` service as the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from facesift.errors import FacesiftError, InvalidInput
from facesift.server.optout_intake import take_request
from facesift.server.params import Id
from facesift.server.security import Signed, Svc, identify
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


def _caller(request: Request):
    try:
        return identify(request)
    except FacesiftError:
        return None


@router.get("/optout", summary="Ask to be removed and kept out (public)")
def optout_page(request: Request):
    return render(request, "optout.html", _caller(request), receipt=None)


@router.post("/optout", summary="Send an opt-out request (public form; rate-limited)")
async def optout_request(
    request: Request,
    svc: Svc,
    selfies: Annotated[list[UploadFile], File()],
    contact: Annotated[str, Form(max_length=200)],
):
    receipt = await take_request(request, svc, selfies, contact, "web")
    return render(request, "optout.html", None, status=201, receipt=receipt)


@router.get("/optout/status", summary="The status of an opt-out request (public)")
def optout_status_page(
    request: Request, svc: Svc, reference: Annotated[str, Query(max_length=40)] = ""
):
    found = svc.optout.status(reference) if reference else None
    return render(request, "optout_status.html", None, reference=reference, found=found)


@router.get("/privacy", summary="Opt-out requests (privacy officers)")
def privacy_page(request: Request, caller: Signed, svc: Svc):
    requests = svc.optout.requests(caller.principal)
    return render(request, "privacy.html", caller, requests=requests)


@router.get("/privacy/{request_id}", summary="An opt-out request: decide each face found")
def privacy_request_page(request_id: Id, request: Request, caller: Signed, svc: Svc):
    detail = svc.optout.detail(caller.principal, request_id)
    return render(request, "privacy_request.html", caller, request_=detail)


@router.post("/privacy/{request_id}/faces/{face_id}", summary="Remove or keep a face found (form)")
def privacy_decide(
    request_id: Id,
    face_id: Id,
    caller: Signed,
    svc: Svc,
    decision: Annotated[str, Form(max_length=20)],
):
    if decision not in ("remove", "not_them"):
        raise InvalidInput("the decision is remove or not_them")
    svc.optout.decide(caller.principal, request_id, face_id, decision)
    done = "removed" if decision == "remove" else "kept (not this person)"
    return redirect(f"/privacy/{request_id}", f"Face {face_id} {done}.")
