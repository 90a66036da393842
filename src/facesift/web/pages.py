"""The web pages: server-rendered HTML over the same services as the JSON API.

Each resource has its own module (``case_pages``, ``probe_pages``, ``search_pages``,
``review_pages``, ``user_pages``...); each handler reads its form, calls one service method,
and renders a template through ``web.rendering``, which also says how sign-in, CSRF and the
flash messages of a form's redirect work.

This module gathers the routers the app has always included as ``pages.router``, in their
old order (the order a path is matched in), and keeps ``wants_html`` and ``error_page`` where
the app's error handlers look for them.
"""

from __future__ import annotations

from fastapi import APIRouter

from facesift.web import (
    account_pages,
    audit_pages,
    case_pages,
    probe_pages,
    search_pages,
    settings_pages,
    sign_in_pages,
    user_pages,
)
from facesift.web.rendering import error_page, wants_html

__all__ = ["error_page", "router", "wants_html"]

router = APIRouter()
for pages in (
    sign_in_pages,
    case_pages,
    probe_pages,
    search_pages,
    audit_pages,
    user_pages,
    settings_pages,
    account_pages,
):
    router.include_router(pages.router)
