"""The oversight pages: usage and misuse alerts for supervisors and auditors, and the public
transparency page (no account), over the same services as the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from facesift.errors import FacesiftError
from facesift.governance import alert_rules
from facesift.server.optout_intake import client_address
from facesift.server.security import Signed, Svc, identify
from facesift.services.transparency import transparency
from facesift.web.charts import bar_chart
from facesift.web.rendering import render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/oversight/usage", summary="Usage in a period, with charts (supervisors, auditors)")
def usage_page(
    request: Request,
    caller: Signed,
    svc: Svc,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
):
    report = svc.usage.report(caller.principal, first or None, last or None)
    counts = [
        ("Searches per user", [(name, t.searches) for name, t in report.per_user.items()]),
        ("Searches by offense category", list(report.by_offense_category.items())),
        ("Searches by outcome", list(report.by_outcome.items())),
        ("Refusals by category", list(report.refusals_by_category.items())),
    ]
    charts = [(title, bar_chart(title, rows)) for title, rows in counts]
    return render(request, "usage.html", caller, report=report, charts=charts)


@router.get("/oversight/alerts", summary="Misuse alerts (supervisors, auditors)")
def alerts_page(request: Request, caller: Signed, svc: Svc):
    alerts = svc.alerts.alerts(caller.principal)  # supervisors and auditors only
    settings = [(key, svc.settings.get(key)) for key in alert_rules.RULES]
    return render(request, "alerts.html", caller, alerts=alerts, rules=settings)


@router.get("/transparency", summary="What the system holds and the rules it keeps (public)")
def transparency_page(request: Request, svc: Svc):
    svc.transparency_rate.check(client_address(request))
    try:
        caller = identify(request)
    except FacesiftError:
        caller = None
    shown = transparency(svc.gallery, svc.settings, svc.calibration)
    return render(request, "transparency.html", caller, shown=shown)
