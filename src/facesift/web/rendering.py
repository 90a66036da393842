"""How every web page is drawn: the Jinja2 environment and its filters, the navigation bar,
the flash message a form's redirect carries, and the HTML error page.

Sign-in is the API's: a session cookie, and for every POST the session's CSRF token in the
hidden ``csrf_token`` field. A form POSTs and then redirects (303) to a page; its outcome
travels in a short-lived flash cookie (``redirect`` sets it, ``render`` shows and clears it).
Secrets made for the user (a one-time password, an API token) are shown in the POST's own
answer instead, once, and never put in a URL or a cookie.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesift.errors import (
    FacesiftError,
)
from facesift.governance.roles import ALL_ROLES, Principal, Role
from facesift.server.security import (
    Caller,
    identify,
)
from facesift.services.casework import LEAD_NOTICE
from facesift.web import records, scores

FLASH_COOKIE = "facesift_flash"
CASE_VIEWERS = (Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR)
ONE_TIME_PASSWORD_NOTICE = (
    "You signed in with a one-time password. Choose your own password below before you go on."
)

# (href, label, roles that may use it; empty: everyone signed in)
NAV: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("/", "Cases", CASE_VIEWERS),
    ("/reviews", "Reviews", (Role.REVIEWER,)),
    ("/activity", "Team activity", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/oversight/usage", "Usage", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/oversight/alerts", "Alerts", (Role.SUPERVISOR, Role.AUDITOR)),
    ("/audit", "Audit log", (Role.AUDITOR,)),
    ("/privacy", "Opt-out requests", (Role.PRIVACY_OFFICER,)),
    ("/users", "Users", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
    ("/settings", "Settings", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
    ("/tokens", "API tokens", ()),
    ("/stats", "Gallery", ()),
    ("/gallery", "Gallery photos", (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)),
)


def _when(value: str | None) -> str:
    """An ISO time as '2026-05-01 14:03:07 UTC'."""
    if not value:
        return ""
    return value.replace("T", " ")[:19] + (" UTC" if "T" in value else "")


def _one_in(rate: float | None) -> str:
    if not rate:
        return "–"
    return f"1 in {round(1 / rate):,}" if rate < 1 else "1 in 1"


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if value and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:g}%"


def _details(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("facesift.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(when=_when, one_in=_one_in, number=_number, percent=_percent, details=_details)
scores.install(_env)
records.install(_env)
_env.globals.update(LEAD_NOTICE=LEAD_NOTICE, ALL_ROLES=[str(r) for r in ALL_ROLES])

# -- rendering ---------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API, /healthz and /audit/export get JSON."""
    path = request.url.path
    return not (path.startswith(("/api/", "/audit/export")) or path == "/healthz")


def nav(principal: Principal | None, path: str) -> list[tuple[str, str, bool]]:
    if principal is None:
        return []
    items = []
    for href, label, roles in NAV:
        if roles and not principal.has_any(*roles):
            continue
        active = (
            path == "/" or path.startswith("/cases") if href == "/" else (path.startswith(href))
        )
        items.append((href, label, active))
    return items


def _take_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    level, _, text = unquote(raw).partition(":")
    if level not in ("info", "success", "warning", "error") or not text:
        return []
    return [(level, text[:500])]


def render(
    request: Request,
    template: str,
    caller: Caller | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    principal = caller.principal if caller else None
    messages = _take_flash(request) + context.pop("messages", [])
    html = _env.get_template(template).render(
        request=request,
        user=principal,
        caller=caller,
        path=request.url.path,
        nav=nav(principal, request.url.path),
        csrf_token=caller.csrf_token if caller else "",
        messages=messages,
        roles=_role_flags(principal),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _role_flags(principal: Principal | None) -> dict[str, bool]:
    return {str(role): bool(principal and principal.has(role)) for role in ALL_ROLES}


def redirect(url: str, message: str | None = None, level: str = "success") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{level}:{message}"),
            max_age=60,
            httponly=True,
            samesite="strict",
            path="/",
        )
    return response


def error_page(request: Request, error: FacesiftError, status: int) -> Response:
    if status == 401:
        return redirect("/login", error.message, "warning")
    try:
        caller = identify(request)
    except FacesiftError:
        caller = None
    if status == 403 and caller is not None and caller.must_change_password:
        return redirect("/account", ONE_TIME_PASSWORD_NOTICE, "warning")
    titles = {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        413: "Too large",
        415: "Not an accepted image",
        429: "Too many searches",
    }
    return render(
        request,
        "error.html",
        caller,
        status=status,
        status_code=status,
        title=titles.get(status, "That did not work"),
        error=error,
    )
