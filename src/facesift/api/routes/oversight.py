"""Oversight over the API: the usage report and the misuse alerts (supervisors, auditors),
and the public transparency summary (no account)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Request

from facesift.api.schemas import AccountabilityOut, AlertOut, TransparencyOut, UsageOut
from facesift.governance import roles as rules
from facesift.server.optout_intake import client_address
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc
from facesift.services.accountability_report import accountability_report
from facesift.services.transparency import transparency

router = APIRouter(route_class=OneHopRoute, prefix="/api")
DAY = "ISO date, e.g. 2026-05-31"


@router.get(
    "/oversight/usage",
    response_model=UsageOut,
    tags=["oversight"],
    summary="Usage in a period, per user and in total (supervisors, auditors)",
)
def usage(
    caller: Signed,
    svc: Svc,
    first: Annotated[str | None, Query(alias="from", max_length=10, description=DAY)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10, description=DAY)] = None,
) -> dict:
    return svc.usage.report(caller.principal, first, last).as_dict()


@router.get(
    "/oversight/alerts",
    response_model=list[AlertOut],
    tags=["oversight"],
    summary="Misuse alerts, newest first (supervisors, auditors)",
)
def alerts(
    caller: Signed, svc: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[dict]:
    return [dataclasses.asdict(a) for a in svc.alerts.alerts(caller.principal, limit)]


@router.get(
    "/transparency",
    response_model=TransparencyOut,
    tags=["oversight"],
    summary="What the system holds and the rules it keeps (public; rate-limited)",
)
def public_transparency(request: Request, svc: Svc) -> dict:
    svc.transparency_rate.check(client_address(request))
    return dataclasses.asdict(transparency(svc.gallery, svc.settings, svc.calibration))


@router.get(
    "/oversight/accountability",
    response_model=AccountabilityOut,
    tags=["oversight"],
    summary="The accountability report, as Markdown and HTML (admins, supervisors, auditors)",
)
def accountability(caller: Signed, svc: Svc) -> dict:
    rules.require_read_settings(caller.principal)  # it is made of the settings
    report = accountability_report(svc.gallery, svc.settings, svc.calibration)
    return {
        "generated_at": report.generated_at,
        "summary": report.summary,
        "markdown": report.to_markdown(),
        "html": report.to_html(),
    }
