"""The web pages: server-rendered HTML over the same services as the JSON API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesift.errors import FacesiftError

router = APIRouter()


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API, /healthz and /audit/export get JSON."""
    path = request.url.path
    return not (path.startswith(("/api/", "/audit/export")) or path == "/healthz")


def error_page(request: Request, error: FacesiftError, status: int) -> Response:
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(f"<h1>{status}</h1><p>{error.message}</p>", status_code=status)
