"""The settings: admins change them; supervisors and auditors read them."""

from __future__ import annotations

import json

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from facesift.errors import (
    InvalidInput,
)
from facesift.server.security import (
    Signed,
    Svc,
)
from facesift.web.rendering import redirect, render
from facesift.web.settings_form import FLOOR_LABELS, MB, wanted_settings

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/settings", summary="Settings (admins change them; supervisors, auditors read)")
def settings_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request,
        "settings.html",
        caller,
        settings=svc.settings.read(caller.principal),
        mb=MB,
        floor_labels=FLOOR_LABELS,
    )


@router.post("/settings", summary="Change the settings (form)")
async def change_settings(request: Request, caller: Signed, svc: Svc):
    # Sizes in MB, lists as rows and lines (web/settings_form.py); the settings judge them.
    form = await request.form(max_fields=2_000)
    wanted = wanted_settings(form)
    alert_rules = form.get("alert_rules")  # the misuse alert rules (oversight), as JSON
    wanted |= _alert_rules(alert_rules if isinstance(alert_rules, str) else None)
    changed = await anyio.to_thread.run_sync(svc.settings.update, caller.principal, wanted)
    message = f"Changed: {', '.join(changed)}." if changed else "Nothing changed."
    return redirect("/settings", message)


def _alert_rules(text: str | None) -> dict[str, object]:
    """The settings form's misuse alert rules: {rule setting: its value}, each checked by
    the settings like any other."""
    if text is None or not text.strip():
        return {}
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the misuse alert rules are not valid JSON: {exc}") from None
    if not isinstance(rules, dict) or not all(key.startswith("alert_") for key in rules):
        raise InvalidInput("the misuse alert rules are {alert_...: {enabled, ...}, ...}")
    return rules
