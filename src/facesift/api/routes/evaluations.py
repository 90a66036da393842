"""Evaluations for auditors: upload a labelled zip, get the rates and the HTML report."""

from __future__ import annotations

from fastapi import APIRouter, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facesift.api.schemas import EvaluationOut
from facesift.governance import roles as rules
from facesift.governance.search_policy import DEFAULT_TARGET_FPIR
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc

router = APIRouter(route_class=OneHopRoute, prefix="/api")


@router.post(
    "/evaluations",
    response_model=EvaluationOut,
    tags=["evaluations"],
    summary="Run a labelled zip (labels.csv and its photos) in a sandbox; auditors only",
)
async def run_evaluation(
    file: UploadFile,
    caller: Signed,
    svc: Svc,
    target_fpir: float = Form(default=DEFAULT_TARGET_FPIR, gt=0, le=0.5),
    groups: str = Form(default="", max_length=1000, description="group columns, comma-separated"),
) -> dict:
    """The report's rates as JSON, with the HTML report (plots included) in ``html``."""
    rules.require_evaluate(caller.principal)  # before reading a large upload
    content = await file.read()
    columns = [c.strip() for c in groups.split(",") if c.strip()] or None
    report = await run_in_threadpool(
        svc.evaluations.run, caller.principal, content, target_fpir, columns
    )
    from facesift.services.evaluation_report import render_html  # matplotlib: when needed

    return report.as_dict() | {"html": await run_in_threadpool(render_html, report)}
