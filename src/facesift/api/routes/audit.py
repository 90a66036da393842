"""The audit log for auditors: browse, verify, export; gallery statistics; health."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from facesift.api.context import Services
from facesift.api.params import MAX_ID, OptionalIdQuery
from facesift.api.security import Caller, require_caller, services
from facesift.governance import roles as rules
from facesift.store.audit import utc_now

router = APIRouter()
Svc = Annotated[Services, Depends(services)]
Signed = Annotated[Caller, Depends(require_caller)]
CHECKPOINT_EVERY = 1000


@router.get("/healthz", tags=["health"], summary="Liveness; needs no sign-in")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/api/audit", tags=["audit"], summary="Browse the audit log, newest first")
def audit_entries(
    caller: Signed, svc: Svc,
    user: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    case_id: OptionalIdQuery = None,
    since: Annotated[str | None, Query(max_length=32, description="ISO date or time")] = None,
    until: Annotated[str | None, Query(max_length=32, description="ISO date or time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict:
    rules.require_read_audit(caller.principal)
    total, entries = svc.gallery.store.audit.filtered(
        actor=user, action=action, case_id=case_id, since=since, until=until,
        limit=limit, offset=offset,
    )
    return {"total": total, "entries": [dataclasses.asdict(e) for e in entries]}


@router.get("/api/audit/verify", tags=["audit"], summary="Verify the whole hash chain")
def verify_audit(caller: Signed, svc: Svc) -> dict:
    rules.require_read_audit(caller.principal)
    audit = svc.gallery.store.audit
    report = audit.verify()
    audit.append("audit_verified", {"ok": report.ok, "entries": report.entries},
                 caller.principal.name)
    return dataclasses.asdict(report)


@router.get("/audit/export", tags=["audit"], response_class=Response,
            summary="The whole log as JSONL, with checkpoint hashes a third party can keep")
def export_audit(caller: Signed, svc: Svc) -> Response:
    """One entry per line. Every 1,000 entries, and at the end, a checkpoint line gives the
    id and hash reached: keep them elsewhere, and any later rewrite of the log shows."""
    rules.require_read_audit(caller.principal)
    audit = svc.gallery.store.audit
    audit.append("audit_exported", {}, caller.principal.name)
    lines, last, count = [], None, 0
    for count, entry in enumerate(audit.entries(), start=1):
        lines.append(json.dumps({"entry": dataclasses.asdict(entry)}, sort_keys=True))
        last = entry
        if count % CHECKPOINT_EVERY == 0:
            lines.append(_checkpoint(entry, count))
    if last is not None:
        lines.append(_checkpoint(last, count))
    return Response(
        "\n".join(lines) + "\n", media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="facesift-audit.jsonl"'},
    )


def _checkpoint(entry, count: int) -> str:
    return json.dumps({"checkpoint": {"id": entry.id, "hash": entry.hash, "entries": count,
                                      "exported_at": utc_now()}}, sort_keys=True)


@router.get("/api/stats", tags=["gallery"], summary="Gallery statistics")
def stats(caller: Signed, svc: Svc) -> dict:
    numbers = svc.gallery.store.stats()
    return {
        "collections": numbers.collections, "images": numbers.images, "faces": numbers.faces,
        "ingest_failures": numbers.failures, "indexed_faces": svc.gallery.size(),
        "model_id": svc.calibration.model_id,
        "threshold": svc.calibration.default_threshold,
        "expected_false_candidates_per_search": svc.calibration.expected_false_candidates(
            svc.calibration.default_threshold, svc.gallery.size()),
    }
