"""The pages of issue 12's account safeguards: a supervisor decides a change an admin asked
for; a user sets their own password with a one-time code; a user ends one of their sessions.
The rules are the services' (``services.accounts``); these are thin forms over them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facesift.errors import Unauthenticated
from facesift.server.params import Id
from facesift.server.security import Signed, Svc, client_address, set_session_cookie
from facesift.web.account_pages import own_sessions
from facesift.web.rendering import redirect, render
from facesift.web.user_pages import users_page_with

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.post(
    "/users/requests/{account_request_id}/approve",
    summary="Approve a change of roles or a password reset (form)",
)
def approve_request(account_request_id: Id, request: Request, caller: Signed, svc: Svc):
    decision = svc.accounts.decide(caller.principal, account_request_id, True)
    name = svc.accounts.user(decision.request.user_id).name
    if decision.code is None:
        return redirect("/users", f"Approved: {name}'s roles are changed.")
    return users_page_with(
        request,
        caller,
        svc,
        created={
            "name": name,
            "code": decision.code.code,
            "expires_at": decision.code.expires_at,
            "what": f"Password reset approved; {name} is signed out everywhere.",
        },
    )


@router.post(
    "/users/requests/{account_request_id}/refuse",
    summary="Refuse a change of roles or a password reset (form)",
)
def refuse_request(account_request_id: Id, caller: Signed, svc: Svc):
    decision = svc.accounts.decide(caller.principal, account_request_id, False)
    name = svc.accounts.user(decision.request.user_id).name
    return redirect("/users", f"Refused the change to {name}'s account.")


@router.get("/password-code", summary="Set your password with a one-time code")
def password_code_page(request: Request):
    return render(request, "password_code.html", name="")


@router.post("/password-code", summary="Set your password with a one-time code (form)")
def set_password_with_code(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=128)],
    new_password: Annotated[str, Form(max_length=256)],
):
    try:
        svc.accounts.set_password_with_code(name, code, new_password, client_address(request))
    except Unauthenticated as failed:
        return render(
            request,
            "password_code.html",
            status=401,
            name=name,
            messages=[("error", failed.message)],
        )
    return redirect("/login", "Your password is set; sign in with it.")


@router.post("/account/sessions/{session_id}/end", summary="End one of your sessions (form)")
def end_session(session_id: Annotated[str, Path(max_length=64)], caller: Signed, svc: Svc):
    svc.accounts.end_session(caller.principal, session_id)
    return redirect("/account", "The session is ended.")


def _account_page(request: Request, caller, svc, **shown):
    return render(
        request,
        "account.html",
        caller,
        account=svc.accounts.user(caller.principal.user_id).describe(),
        sessions=own_sessions(caller, svc),
        **shown,
    )


@router.post("/account/totp", summary="Start setting up two-factor sign-in (form)")
def start_totp(request: Request, caller: Signed, svc: Svc):
    setup = svc.accounts.start_two_factor(caller.principal)
    return _account_page(request, caller, svc, totp_setup=setup)


@router.post("/account/totp/confirm", summary="Turn two-factor sign-in on (form)")
def confirm_totp(caller: Signed, svc: Svc, code: Annotated[str, Form(max_length=16)]):
    svc.accounts.confirm_two_factor(caller.principal, code)
    return redirect("/account", "Two-factor sign-in is on: sign in with a code from now on.")


@router.post("/account/totp/disable", summary="Turn two-factor sign-in off (form)")
def disable_totp(
    request: Request,
    caller: Signed,
    svc: Svc,
    password: Annotated[str, Form(max_length=256)],
    code: Annotated[str, Form(max_length=16)],
):
    svc.accounts.stop_two_factor(caller.principal, password, code, client_address(request))
    return redirect("/account", "Two-factor sign-in is off.")


# -- single sign-on (OpenID Connect) ------------------------------------------------------------

OIDC_STATE_COOKIE = "facesift_oidc_state"
OIDC_COOKIE_PATH = "/login/oidc"


@router.get("/login/oidc", summary="Sign in through the identity provider (OpenID Connect)")
def oidc_start(request: Request, svc: Svc):
    sso = request.app.state.single_sign_on
    url, state = sso.start(str(request.url_for("oidc_callback")), svc.accounts.sign_ons)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the browser must send it when the provider sends it back here.
    response.set_cookie(
        OIDC_STATE_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=OIDC_COOKIE_PATH,
    )
    return response


@router.get(
    "/login/oidc/callback",
    name="oidc_callback",
    summary="Where the identity provider sends the browser back",
)
def oidc_callback(
    request: Request,
    svc: Svc,
    code: Annotated[str, Query(max_length=2048)],
    state: Annotated[str, Query(max_length=256)],
):
    sso = request.app.state.single_sign_on
    name = sso.finish(state, request.cookies.get(OIDC_STATE_COOKIE), code, svc.accounts.sign_ons)
    session = svc.accounts.sign_in_vouched(name, sso.config.issuer, client_address(request))
    # A page, not a redirect: after the provider's cross-site redirect a browser would not
    # send the new SameSite=Strict cookie along a redirect chain; a same-site step it does.
    response = HTMLResponse(
        '<!doctype html><meta http-equiv="refresh" content="0;url=/"><title>Signed in</title>'
        '<p>Signed in. <a href="/">Continue</a></p>'
    )
    set_session_cookie(response, request, session.token)
    response.delete_cookie(OIDC_STATE_COOKIE, path=OIDC_COOKIE_PATH)
    return response
