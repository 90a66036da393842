"""Signing in and out with a name and password (the login form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import (
    Unauthenticated,
)
from facesift.server.security import (
    SESSION_COOKIE,
    Caller,
    Signed,
    Svc,
    client_address,
    optional_caller,
    set_session_cookie,
)
from facesift.web.rendering import ONE_TIME_PASSWORD_NOTICE, redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/login", summary="Sign-in page")
def login_page(request: Request, caller: Annotated[Caller | None, Depends(optional_caller)]):
    if caller is not None:
        return redirect("/")
    return render(request, "login.html", name="")


@router.post("/login", summary="Sign in (form)")
def login(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str | None, Form(max_length=16)] = None,
):
    try:
        session = svc.accounts.sign_in(
            name, password, via="web", address=client_address(request), totp_code=totp_code
        )
    except Unauthenticated as failed:
        return render(
            request, "login.html", status=401, name=name, messages=[("error", failed.message)]
        )
    response = (
        redirect("/account", ONE_TIME_PASSWORD_NOTICE, "warning")
        if session.identity.must_change_password
        else redirect("/")
    )
    set_session_cookie(response, request, session.token)
    return response


@router.post("/logout", summary="Sign out (form)")
def logout(caller: Signed, svc: Svc):
    if caller.session_token:
        svc.accounts.sign_out(caller.session_token, caller.principal)
    # Not plain /login: that is where refused requests are sent.
    response = redirect("/login?signed-out", "You are signed out.", "info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
