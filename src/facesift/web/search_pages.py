"""The searches: running one from a probe's face, its candidate list, a candidate beside the
probe's face, and the team's searches (supervisors, auditors).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SearchRefused,
)
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.params import Id, PageAfter
from facesift.server.security import (
    Signed,
    Svc,
)
from facesift.services.casework.base import PAGE_SIZE
from facesift.services.search import DEFAULT_TOP_K
from facesift.web import scores
from facesift.web.form_errors import in_words
from facesift.web.probe_pages import faces_in_percent
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


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
    return redirect(f"/searches/{search.id}")


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
    candidate = next((c for c in search.candidates or [] if c["face_id"] == face_id), None)
    if candidate is None and search.candidates_withheld:
        raise Forbidden("the candidates are withheld from the requester until a lead is released")
    if candidate is None:
        raise NotFound(f"face {face_id} is not a candidate of search {search_id}")
    probe = svc.casework.probe(caller.principal, search.probe_id)
    face = faces_in_percent(probe)[search.face_index]
    return render(
        request, "compare.html", caller, search=search, candidate=candidate, probe=probe, face=face
    )


@router.get("/activity", summary="The team's searches (supervisors, auditors)")
def activity_page(request: Request, caller: Signed, svc: Svc, before: PageAfter = None):
    searches = svc.casework.team_searches(caller.principal, before=before)
    older = searches[-1].id if len(searches) == PAGE_SIZE else None
    return render(request, "activity.html", caller, searches=searches, older=older, first=before)
