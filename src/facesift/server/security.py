"""Who is asking: a browser session (cookie + CSRF token) or an API token (bearer).

Browser sessions live in an HttpOnly, SameSite=Strict cookie. A state-changing request made
with the cookie must also carry the session's CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``). Scripts send ``Authorization: Bearer fs_...`` and need no CSRF
token, because a browser never adds that header by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request, Response

from facesift.errors import Forbidden, Unauthenticated
from facesift.governance.roles import Principal
from facesift.governance.secrets import same_secret
from facesift.server.context import Services
from facesift.services.accounts import SESSION_HOURS

SESSION_COOKIE = "facesift_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# What a user whose role requires two-factor sign-in may reach before setting it up.
TWO_FACTOR_SETUP_PATHS = ("/api/me", "/api/session", "/account", "/logout")
# What a user who signed in with a one-time password may reach before changing it (a
# browser or API session; see services.accounts.must_change_password).
ONE_TIME_PASSWORD_PATHS = ("/api/me", "/api/session", "/account", "/logout")


@dataclass(frozen=True)
class Caller:
    principal: Principal
    csrf_token: str | None  # None for API-token callers
    session_token: str | None
    api_token: str | None = None  # the bearer token an API caller sent
    needs_two_factor: bool = False  # a role requires it and it is not set up yet
    must_change_password: bool = False  # signed in with a one-time password, not yet changed


def services(request: Request) -> Services:
    return request.app.state.services


async def _services(request: Request) -> Services:
    """The dependency: async, so FastAPI does not hand it to a worker thread and back (a
    sync dependency costs a thread's round trip at every request)."""
    return services(request)


def identify(request: Request) -> Caller | None:
    """The caller, or None if the request carries no valid credentials."""
    svc = services(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        identity = svc.accounts.token_identity(header[7:].strip())
        if identity is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        return Caller(
            identity.principal,
            None,
            None,
            header[7:].strip(),
            identity.needs_two_factor,
            # must_change_password is not for tokens: only the operator, or a user who has
            # chosen their own password, can have made one (the token pages are closed until
            # then).
        )
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session = svc.accounts.session(token)
        if session is not None:
            return Caller(
                session.principal,
                session.csrf_token,
                token,
                None,
                session.identity.needs_two_factor,
                session.identity.must_change_password,
            )
    return None


async def check_csrf(request: Request, caller: Caller) -> None:
    if request.method in SAFE_METHODS or caller.csrf_token is None:
        return
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not isinstance(sent, str) or not same_secret(sent, caller.csrf_token):
        raise Forbidden("the form's security token is missing or stale; reload the page")


async def require_caller(request: Request) -> Caller:
    """FastAPI dependency: the signed-in caller, CSRF-checked; 401 otherwise. Looked up in
    a worker thread: it reads (and for tokens writes) the database, which may wait for a
    writer's lock, and the event loop must never wait."""
    caller = await anyio.to_thread.run_sync(identify, request)
    if caller is None:
        raise Unauthenticated("sign in first")
    if caller.needs_two_factor and not request.url.path.startswith(TWO_FACTOR_SETUP_PATHS):
        raise Forbidden(
            "your role requires two-factor sign-in: set it up on your account page first"
        )
    if caller.must_change_password and not request.url.path.startswith(ONE_TIME_PASSWORD_PATHS):
        raise Forbidden(
            "you signed in with a one-time password: choose your own on your account page first"
        )
    await check_csrf(request, caller)
    request.state.caller = caller
    return caller


async def optional_caller(request: Request) -> Caller | None:
    try:
        return await anyio.to_thread.run_sync(identify, request)
    except Unauthenticated:
        return None


# Handler parameters: the app's services, and the signed-in (CSRF-checked) caller.
Svc = Annotated[Services, Depends(_services)]
Signed = Annotated[Caller, Depends(require_caller)]


def client_address(request: Request) -> str:
    """The address the connection comes from (behind a proxy: the proxy's, unless the server
    was told to trust its forwarded-for header; see the README)."""
    return request.client.host if request.client else ""


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
