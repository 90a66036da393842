"""The audit log for auditors: filtered, paged, and verified link by link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from facesift.server.context import Services
from facesift.server.security import (
    Signed,
    Svc,
)
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)
AUDIT_PAGE = 50


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
