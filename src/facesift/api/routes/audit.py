"""The audit log for auditors: browse, verify, export; gallery statistics; health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from facesift.api.schemas import AuditPage, ChainOut, GalleryStats, Health
from facesift.server.params import MAX_ID, OptionalIdQuery
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc

router = APIRouter(route_class=OneHopRoute)


@router.get(
    "/healthz", response_model=Health, tags=["health"], summary="Liveness; needs no sign-in"
)
def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/api/audit",
    response_model=AuditPage,
    tags=["audit"],
    summary="Browse the audit log, newest first",
)
def audit_entries(
    caller: Signed,
    svc: Svc,
    user: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    case_id: OptionalIdQuery = None,
    since: Annotated[str | None, Query(max_length=32, description="ISO date or time")] = None,
    until: Annotated[str | None, Query(max_length=32, description="ISO date or time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict:
    return svc.oversight.entries(
        caller.principal,
        user=user,
        action=action,
        case_id=case_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/api/audit/verify",
    response_model=ChainOut,
    tags=["audit"],
    summary="Verify the whole hash chain",
)
def verify_audit(caller: Signed, svc: Svc) -> dict:
    return svc.oversight.verify(caller.principal)


@router.get(
    "/audit/export",
    responses={200: {"content": {"application/x-ndjson": {}}}},
    tags=["audit"],
    response_class=Response,
    summary="The whole log as JSONL, with checkpoint hashes a third party can keep",
)
def export_audit(caller: Signed, svc: Svc) -> Response:
    lines = list(svc.oversight.export(caller.principal))
    return Response(
        "\n".join(lines) + "\n",
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="facesift-audit.jsonl"'},
    )


@router.get(
    "/api/stats", response_model=GalleryStats, tags=["gallery"], summary="Gallery statistics"
)
def stats(caller: Signed, svc: Svc) -> dict:
    return svc.oversight.stats(caller.principal)
