"""The probes: uploading a probe photo to a case, the probe page (pick a face, then search),
and an edited copy of a probe (crop, rotate, mirror). Faces drawn by hand are in
``face_pages``.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from facesift.errors import (
    ImageError,
    InvalidInput,
)
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.security import (
    Signed,
    Svc,
)
from facesift.services.casework.values import Probe
from facesift.services.search import DEFAULT_TOP_K
from facesift.web.abilities import search_refusal
from facesift.web.form_errors import in_words
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


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
    found = len(probe.faces)
    return redirect(
        f"/probes/{probe.id}",
        f"Probe uploaded; {found} face{'s' if found != 1 else ''} found.",
        "success" if found else "warning",
    )


def faces_in_percent(probe: Probe) -> list[dict]:
    width, height = probe.width or 1, probe.height or 1
    faces = []
    for index, face in enumerate(probe.faces):
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
    case = svc.casework.records.case(probe.case_id)  # open_probe checked the access
    collections = [c["name"] for c in svc.oversight.stats(caller.principal)["collections"]]
    return render(
        request,
        "probe.html",
        caller,
        probe=probe,
        faces=faces_in_percent(probe),
        quality=[svc.settings.judge_quality(face) for face in probe.faces],
        collections=collections,
        top_k=DEFAULT_TOP_K,
        max_top_k=MAX_CANDIDATES,
        search_refusal=search_refusal(caller.principal, case),
        selected_face=_wanted_face(request, len(probe.faces)),
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
        f"/probes/{made.id}",
        f"Made an edited copy of probe {probe_id} ({operation}); the original stays.",
    )
