"""Opt-out by selfie: the public request and status (no account), and the privacy officer's
review of the faces found."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from facesift.server.optout_intake import take_request
from facesift.server.params import Id
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc

router = APIRouter(route_class=OneHopRoute, prefix="/api/optout", tags=["opt-out"])


class OptOutReceipt(BaseModel):
    reference: str = Field(description="quote it to ask for the status")
    status: Literal["received", "in_review", "done"]
    faces_found: int


class OptOutStatus(BaseModel):
    reference: str
    status: Literal["received", "in_review", "done"]
    received_at: str
    selfies: int
    faces_found: int
    faces_removed: int
    faces_kept: int = Field(description="found, but judged by the privacy officer not to be you")
    done_at: str | None


class OptOutRequestSummary(OptOutStatus):
    id: int
    contact: str


class FoundFace(BaseModel):
    face_id: int
    image_id: int
    distance: float
    decision: Literal["removed", "not_them"] | None
    decided_by: str | None
    path: str | None
    collection: str | None


class OptOutRequestDetail(OptOutRequestSummary):
    faces: list[FoundFace]
    selfies_kept: int


class Decision(BaseModel):
    decision: Literal["remove", "not_them"]


@router.post(
    "/requests",
    status_code=201,
    response_model=OptOutReceipt,
    summary="Ask to be removed and kept out (no account; rate-limited): selfies and a contact",
)
async def request_optout(
    request: Request,
    svc: Svc,
    selfies: list[UploadFile],
    contact: str = Form(max_length=200),
) -> OptOutReceipt:
    receipt = await take_request(request, svc, selfies, contact, "api")
    return OptOutReceipt(**receipt.__dict__)


@router.get(
    "/status/{reference}",
    response_model=OptOutStatus,
    summary="The status of an opt-out request (no account): counts, never photos",
)
def optout_status(reference: str, svc: Svc) -> OptOutStatus:
    return OptOutStatus(**asdict(svc.optout.status(reference[:40])))


@router.get(
    "/requests",
    response_model=list[OptOutRequestSummary],
    summary="Opt-out requests (privacy officers)",
)
def optout_requests(caller: Signed, svc: Svc) -> list[OptOutRequestSummary]:
    return [OptOutRequestSummary(**asdict(r)) for r in svc.optout.requests(caller.principal)]


@router.get(
    "/requests/{request_id}",
    response_model=OptOutRequestDetail,
    summary="A request and the gallery faces it found (privacy officers); audited",
)
def optout_request(request_id: Id, caller: Signed, svc: Svc) -> OptOutRequestDetail:
    return OptOutRequestDetail(**asdict(svc.optout.detail(caller.principal, request_id)))


@router.post(
    "/requests/{request_id}/faces/{face_id}",
    response_model=OptOutRequestDetail,
    summary="Remove a face found (it is the person) or keep it (it is not); audited",
)
def decide_face(
    request_id: Id, face_id: Id, body: Decision, caller: Signed, svc: Svc
) -> OptOutRequestDetail:
    decided = svc.optout.decide(caller.principal, request_id, face_id, body.decision)
    return OptOutRequestDetail(**asdict(decided))


@router.get(
    "/requests/{request_id}/selfies/{n}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A selfie of a request in review (privacy officers); audited",
)
def selfie(request_id: Id, n: int, caller: Signed, svc: Svc) -> Response:
    return Response(svc.optout.selfie(caller.principal, request_id, n), media_type="image/jpeg")


@router.get(
    "/faces/{face_id}/crop",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A gallery face awaiting an opt-out decision, cropped (privacy officers)",
)
def face_crop(face_id: Id, caller: Signed, svc: Svc) -> Response:
    return Response(svc.optout.face_crop(caller.principal, face_id), media_type="image/jpeg")
