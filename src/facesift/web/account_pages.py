"""A user's own account: roles, training, sessions, their own password, and their API
tokens (made once and shown once, revoked).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import (
    InvalidInput,
)
from facesift.governance.secrets import token_hash
from facesift.server.context import Services
from facesift.server.params import Id
from facesift.server.security import (
    Caller,
    Signed,
    Svc,
    client_address,
)
from facesift.services.accounts import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/account", summary="Your account: roles, training, password")
def account_page(request: Request, caller: Signed, svc: Svc):
    return render(
        request,
        "account.html",
        caller,
        account=svc.accounts.user(caller.principal.user_id).describe(),
        sessions=own_sessions(caller, svc),
    )


def own_sessions(caller: Caller, svc: Services) -> list[dict]:
    current = token_hash(caller.session_token) if caller.session_token else None
    return [
        {"id": s.id, "created_at": s.created_at, "current": s.token_hash == current}
        for s in svc.accounts.sessions(caller.principal)
    ]


@router.post("/account/password", summary="Change your own password (form)")
def change_own_password(
    request: Request,
    caller: Signed,
    svc: Svc,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    repeat_password: Annotated[str, Form(max_length=256)],
):
    if new_password != repeat_password:
        raise InvalidInput("the two new passwords differ")
    svc.accounts.change_own_password(
        caller.principal,
        current_password,
        new_password,
        caller.session_token,
        client_address(request),
    )
    return redirect(
        "/account", "Your password is changed; your other sessions and API tokens are ended."
    )


@router.get("/tokens", summary="Your API tokens")
def tokens_page(request: Request, caller: Signed, svc: Svc):
    return _tokens_page_with(request, caller, svc, made=None)


def _tokens_page_with(request: Request, caller: Caller, svc: Services, **shown: Any):
    who = caller.principal
    tokens = [t.describe() for t in svc.accounts.tokens(who, who.user_id)]
    return render(
        request,
        "tokens.html",
        caller,
        tokens=tokens,
        default_days=DEFAULT_TOKEN_DAYS,
        max_days=MAX_TOKEN_DAYS,
        **shown,
    )


@router.post("/tokens", summary="Make an API token (form); shown once")
def create_token(
    request: Request,
    caller: Signed,
    svc: Svc,
    name: Annotated[str, Form(max_length=80)],
    days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = DEFAULT_TOKEN_DAYS,
):
    made = svc.accounts.create_token(caller.principal, caller.principal.user_id, name, days)
    return _tokens_page_with(
        request, caller, svc, made={"token": made.token, **made.record.describe()}
    )


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token (form)")
def revoke_token(token_id: Id, caller: Signed, svc: Svc):
    token = svc.accounts.revoke_token(caller.principal, token_id)
    return redirect("/tokens", f"Token “{token.name}” is revoked.")
