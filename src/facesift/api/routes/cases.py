"""Cases, probes, searches, reviews, and the gallery images shown with candidates."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from facesift.api.schemas import (
    CaseFile,
    CaseOut,
    Disclosure,
    PastReviewOut,
    ProbeOut,
    SearchOut,
    TimelineEvent,
    shown,
)
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import MAX_ID, Id, PageAfter, PageSize
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc
from facesift.services.casework.base import PAGE_SIZE
from facesift.services.casework.values import ReviewAssignment
from facesift.services.search import DEFAULT_TOP_K

router = APIRouter(route_class=OneHopRoute, prefix="/api")
ALIGNED = "cut at the face's five landmarks (150 px, eyes at fixed places), for overlaying"


class NewCase(BaseModel):
    reference: str = Field(max_length=100)
    offense_category: str = Field(max_length=100)
    purpose: str = Field(max_length=2000)
    authorisation_id: str | None = Field(default=None, max_length=100)
    authorisation_expires: str | None = Field(default=None, max_length=10, description="ISO date")
    collections: list[str] | None = Field(
        default=None, max_length=50, description="the collections the case may search; none: all"
    )


class ProbeEdit(BaseModel):
    operation: Literal["crop", "rotate", "mirror"]
    box: list[int] | None = Field(default=None, description="crop: [x1, y1, x2, y2]")
    degrees: Literal[90, 180, 270] | None = None


class NewSearch(BaseModel):
    face_index: int = Field(ge=0, le=1000)
    collection: str | None = Field(default=None, max_length=200)
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_CANDIDATES)


class NewReview(BaseModel):
    """A confirmation names the person: ``subject`` (a group's ``key``), or the candidates
    judged to be one person (``candidate_face_ids``), or one ``candidate_face_id``."""

    decision: Literal["confirm", "no_lead", "inconclusive"]
    candidate_face_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    candidate_face_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, max_length=MAX_CANDIDATES
    )
    subject: str | None = Field(default=None, max_length=400)
    similarities: str = Field(max_length=4000)
    differences: str = Field(max_length=4000)


def _jpeg(content: bytes) -> Response:
    return Response(content, media_type="image/jpeg")


@router.get(
    "/cases", response_model=list[CaseOut], response_model_exclude_unset=True, tags=["cases"]
)
def list_cases(
    caller: Signed, svc: Svc, limit: PageSize = PAGE_SIZE, before: PageAfter = None
) -> list[CaseOut]:
    """Newest first, ``limit`` at a time: the next page is ``?before=`` the last id."""
    found = svc.casework.cases(caller.principal, before=before, limit=limit)
    return [shown(CaseOut, case) for case in found]


@router.post(
    "/cases",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    tags=["cases"],
    status_code=201,
)
def open_case(body: NewCase, caller: Signed, svc: Svc) -> CaseOut:
    return shown(CaseOut, svc.casework.open_case(caller.principal, body.model_dump()))


@router.get(
    "/cases/{case_id}",
    response_model=CaseFile,
    response_model_exclude_unset=True,
    tags=["cases"],
    summary="A case with its probes, searches and timeline",
)
def case(case_id: Id, caller: Signed, svc: Svc) -> dict:
    work = svc.casework
    return {
        "case": shown(CaseOut, work.view_case(caller.principal, case_id)),
        "probes": [shown(ProbeOut, p) for p in work.probes(caller.principal, case_id)],
        "searches": [shown(SearchOut, s) for s in work.searches(caller.principal, case_id)],
        "timeline": [shown(TimelineEvent, e) for e in work.timeline(caller.principal, case_id)],
    }


class KeepProbeImages(BaseModel):
    reason: str = Field(max_length=2000, description="why the probe images must be kept")


class ProbeImagesKept(BaseModel):
    case_id: int
    keep_probe_images: str = Field(description="the reason recorded")


@router.post(
    "/cases/{case_id}/keep-probe-images",
    tags=["cases"],
    response_model=ProbeImagesKept,
    summary="Record why the case's probe images must outlive its closure (retention); audited",
)
def keep_probe_images(
    case_id: Id, body: KeepProbeImages, caller: Signed, svc: Svc
) -> ProbeImagesKept:
    case = svc.casework.keep_probe_images(caller.principal, case_id, body.reason)
    return ProbeImagesKept(case_id=case.id, keep_probe_images=case.keep_probe_images or "")


@router.post(
    "/cases/{case_id}/close",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    tags=["cases"],
)
def close_case(case_id: Id, caller: Signed, svc: Svc) -> CaseOut:
    return shown(CaseOut, svc.casework.close_case(caller.principal, case_id))


@router.get(
    "/cases/{case_id}/disclosure",
    responses={200: {"model": Disclosure}},
    tags=["cases"],
    summary="The disclosure packet (JSON); audited",
)
def disclosure(case_id: Id, caller: Signed, svc: Svc) -> Response:
    packet = svc.casework.disclosure(caller.principal, case_id)
    reference = "".join(
        ch if ch.isalnum() or ch in "-_" else "_" for ch in packet.case["reference"]
    )
    return Response(
        json.dumps(packet.fields(), indent=2, default=str),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{reference}.json"'},
    )


@router.post(
    "/cases/{case_id}/probes",
    response_model=ProbeOut,
    response_model_exclude_unset=True,
    tags=["probes"],
    status_code=201,
    summary="Upload a still probe photo (checked by content); finds its faces",
)
async def upload_probe(
    case_id: Id, file: UploadFile, request: Request, caller: Signed, svc: Svc
) -> ProbeOut:
    # The app refused any body over the upload limit before it was read; add_probe checks
    # the file's own size against the limit.
    content = await file.read()
    add = partial(svc.casework.add_probe, caller.principal, case_id, content)
    return shown(ProbeOut, await in_analysis_lane(request, add))


@router.get(
    "/probes/{probe_id}",
    response_model=ProbeOut,
    response_model_exclude_unset=True,
    tags=["probes"],
)
def probe(probe_id: Id, caller: Signed, svc: Svc) -> ProbeOut:
    return shown(ProbeOut, svc.casework.open_probe(caller.principal, probe_id))


@router.get(
    "/probes/{probe_id}/image",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    tags=["probes"],
    response_class=Response,
)
def probe_image(probe_id: Id, caller: Signed, svc: Svc) -> Response:
    content, media_type = svc.casework.probe_image(caller.principal, probe_id)
    return Response(content, media_type=media_type)


@router.get(
    "/probes/{probe_id}/faces/{face_index}/crop",
    responses={200: {"content": {"image/jpeg": {}}}},
    tags=["probes"],
    response_class=Response,
    summary="One face of a probe, cropped as candidates' faces are (for review side by side)",
)
def probe_face_crop(
    probe_id: Id,
    face_index: Annotated[int, Path(ge=0, le=1000)],
    caller: Signed,
    svc: Svc,
    aligned: Annotated[bool, Query(description=ALIGNED)] = False,
) -> Response:
    work = svc.casework
    return _jpeg(work.probe_face_crop(caller.principal, probe_id, face_index, aligned))


@router.post(
    "/probes/{probe_id}/edits",
    response_model=ProbeOut,
    response_model_exclude_unset=True,
    tags=["probes"],
    status_code=201,
    summary="Crop, rotate or mirror a probe: makes a derivative probe",
)
async def edit_probe(
    probe_id: Id, body: ProbeEdit, request: Request, caller: Signed, svc: Svc
) -> ProbeOut:
    edit = partial(svc.casework.edit_probe, caller.principal, probe_id, body.model_dump())
    return shown(ProbeOut, await in_analysis_lane(request, edit))


@router.post(
    "/probes/{probe_id}/searches",
    response_model=SearchOut,
    response_model_exclude_unset=True,
    tags=["searches"],
    status_code=201,
    summary="Search the gallery for one face of the probe",
)
def run_search(probe_id: Id, body: NewSearch, caller: Signed, svc: Svc) -> SearchOut:
    found = svc.casework.run_search(
        caller.principal, probe_id, body.face_index, body.collection, body.top_k
    )
    return shown(SearchOut, found)


@router.get(
    "/searches",
    response_model=list[SearchOut],
    response_model_exclude_unset=True,
    tags=["searches"],
    summary="The team's searches (supervisors, auditors)",
)
def team_searches(
    caller: Signed, svc: Svc, limit: PageSize = PAGE_SIZE, before: PageAfter = None
) -> list[SearchOut]:
    """Newest first, ``limit`` at a time: the next page is ``?before=`` the last id."""
    found = svc.casework.team_searches(caller.principal, before=before, limit=limit)
    return [shown(SearchOut, s) for s in found]


@router.get(
    "/searches/{search_id}",
    response_model=SearchOut,
    response_model_exclude_unset=True,
    tags=["searches"],
)
def search(search_id: Id, caller: Signed, svc: Svc) -> SearchOut:
    return shown(SearchOut, svc.casework.search(caller.principal, search_id))


@router.get(
    "/reviews/queue",
    response_model=list[SearchOut],
    response_model_exclude_unset=True,
    tags=["reviews"],
    summary="Searches awaiting your review",
)
def review_queue(
    caller: Signed, svc: Svc, limit: PageSize = PAGE_SIZE, after: PageAfter = None
) -> list[SearchOut]:
    """Oldest first, ``limit`` at a time: the next page is ``?after=`` the last id."""
    queue = svc.casework.review_queue(caller.principal, after=after or 0, limit=limit)
    return [shown(SearchOut, s) for s in queue]


@router.get(
    "/reviews/mine",
    response_model=list[PastReviewOut],
    tags=["reviews"],
    summary="Your own past reviews, newest first",
)
def my_reviews(caller: Signed, svc: Svc) -> list[PastReviewOut]:
    return [shown(PastReviewOut, r) for r in svc.casework.my_reviews(caller.principal)]


@router.post(
    "/searches/{search_id}/assignment",
    tags=["reviews"],
    response_model=ReviewAssignment,
    summary="Take a search from the review queue (at most two reviewers per search); audited",
)
def take_review(search_id: Id, caller: Signed, svc: Svc) -> ReviewAssignment:
    return svc.casework.take_review(caller.principal, search_id)


@router.post(
    "/searches/{search_id}/reviews",
    response_model=SearchOut,
    response_model_exclude_unset=True,
    tags=["reviews"],
    status_code=201,
)
def review(search_id: Id, body: NewReview, caller: Signed, svc: Svc) -> SearchOut:
    found = svc.casework.submit_review(caller.principal, search_id, body.model_dump())
    return shown(SearchOut, found)


@router.get(
    "/faces/{face_id}/crop",
    responses={200: {"content": {"image/jpeg": {}}}},
    tags=["images"],
    response_class=Response,
    summary="A candidate's face, cropped (only for searches you may see)",
)
def face_crop(
    face_id: Id,
    caller: Signed,
    svc: Svc,
    aligned: Annotated[bool, Query(description=ALIGNED)] = False,
) -> Response:
    return _jpeg(svc.casework.face_crop(caller.principal, face_id, aligned))


@router.get(
    "/images/{image_id}",
    responses={200: {"content": {"image/jpeg": {}}}},
    tags=["images"],
    response_class=Response,
    summary="A candidate's source photo (only for searches you may see)",
)
def gallery_image(image_id: Id, caller: Signed, svc: Svc) -> Response:
    return _jpeg(svc.casework.gallery_image(caller.principal, image_id))
