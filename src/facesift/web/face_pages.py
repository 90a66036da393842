"""The probe page's forms for faces the detector missed (a box drawn by hand) and for a
search of every face of a group photo, over ``services.manual_face`` as the API is."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import ImageError, InvalidInput, RateLimited, SearchRefused
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.security import Signed, Svc
from facesift.services.manual_face import ProbeFaces
from facesift.services.search import DEFAULT_TOP_K
from facesift.web.form_errors import in_words
from facesift.web.rendering import redirect

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)
Pixel = Annotated[int, Form(ge=0, le=1_000_000)]


@router.post("/probes/{probe_id}/manual-face", summary="Add a face drawn by hand (form)")
async def add_manual_face(
    probe_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    x1: Pixel,
    y1: Pixel,
    x2: Pixel,
    y2: Pixel,
):
    add = partial(
        ProbeFaces(svc.casework).add_manual_face, caller.principal, probe_id, [x1, y1, x2, y2]
    )
    try:
        made = await in_analysis_lane(request, add)
    except (ImageError, InvalidInput) as refused:  # back to the probe, saying what to fix
        return redirect(f"/probes/{probe_id}", in_words(refused), "error")
    index = len(made.faces) - 1
    return redirect(
        f"/probes/{made.id}?face={index}",
        f"Added face {index}, drawn by hand, in a copy of probe {probe_id}; the original stays. "
        "Its searches are marked as of a manual face.",
    )


@router.post("/probes/{probe_id}/search-every-face", summary="Search every face (form)")
def search_every_face(
    probe_id: Id,
    caller: Signed,
    svc: Svc,
    collection: Annotated[str, Form(max_length=200)] = "",
    top_k: Annotated[int, Form(ge=1, le=MAX_CANDIDATES)] = DEFAULT_TOP_K,
):
    try:
        done = ProbeFaces(svc.casework).search_every_face(
            caller.principal, probe_id, collection or None, top_k
        )
    except (InvalidInput, SearchRefused, RateLimited) as refused:
        return redirect(f"/probes/{probe_id}", in_words(refused), "error")
    ran = len(done.searches)
    message = f"Ran {ran} search{'es' if ran != 1 else ''}, one per face"
    if done.refused:
        faces = "; ".join(f"face {r.face_index}: {r.reason}" for r in done.refused)
        message += f". Not searched: {faces}"
    if not ran:
        return redirect(f"/probes/{probe_id}", message + ".", "error")
    probe = svc.casework.records.probe(probe_id)
    case_id = probe["case_id"] if probe else 0
    return redirect(
        f"/cases/{case_id}#searches", message + ".", "warning" if done.refused else "success"
    )
