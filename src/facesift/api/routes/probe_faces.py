"""Faces drawn by hand on a probe, and one search per face of a probe (issue 13, section 4)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from facesift.api.schemas import ProbeOut, SearchOut, shown
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc
from facesift.services.manual_face import ProbeFaces
from facesift.services.search import DEFAULT_TOP_K

router = APIRouter(route_class=OneHopRoute, prefix="/api", tags=["probes"])


class ManualFace(BaseModel):
    box: list[int] = Field(
        min_length=4, max_length=4, description="[left, top, right, bottom] in the probe's pixels"
    )


class EveryFace(BaseModel):
    collection: str | None = Field(default=None, max_length=200)
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_CANDIDATES)


class FaceNotSearched(BaseModel):
    face_index: int
    reason: str


class EveryFaceOut(BaseModel):
    probe_id: int
    searches: list[SearchOut] = Field(description="one search per face searched, in face order")
    not_searched: list[FaceNotSearched] = Field(description="faces refused, or not reached")


@router.post(
    "/probes/{probe_id}/manual-faces",
    response_model=ProbeOut,
    response_model_exclude_unset=True,
    status_code=201,
    summary="Add a face the detector missed, from a box drawn on the probe: a derivative probe",
)
async def add_manual_face(
    probe_id: Id, body: ManualFace, request: Request, caller: Signed, svc: Svc
) -> ProbeOut:
    add = partial(ProbeFaces(svc.casework).add_manual_face, caller.principal, probe_id, body.box)
    return shown(ProbeOut, await in_analysis_lane(request, add))


@router.post(
    "/probes/{probe_id}/searches/every-face",
    response_model=EveryFaceOut,
    response_model_exclude_unset=True,
    status_code=201,
    tags=["searches"],
    summary="One ordinary search per face of the probe, in its case (each audited and reviewed)",
)
def search_every_face(probe_id: Id, body: EveryFace, caller: Signed, svc: Svc) -> EveryFaceOut:
    done = ProbeFaces(svc.casework).search_every_face(
        caller.principal, probe_id, body.collection, body.top_k
    )
    return EveryFaceOut.model_validate(
        {
            "probe_id": done.probe_id,
            "searches": [shown(SearchOut, s) for s in done.searches],
            "not_searched": [
                {"face_index": r.face_index, "reason": r.reason} for r in done.refused
            ],
        }
    )
