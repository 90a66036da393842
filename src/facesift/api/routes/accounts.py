"""Sign-in, users and roles, API tokens, settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from facesift.api.routes.account_security import AccountRequestOut, Approval
from facesift.api.schemas import (
    Me,
    NewTokenOut,
    NewUserOut,
    PasswordChanged,
    SettingChanged,
    SettingsOut,
    SignedIn,
    SignedOut,
    TokenOut,
    UserOut,
)
from facesift.errors import InvalidInput
from facesift.server.input_guard import untrusted_host
from facesift.server.params import Id, OptionalIdQuery
from facesift.server.routing import OneHopRoute
from facesift.server.security import (
    SESSION_COOKIE,
    Signed,
    Svc,
    client_address,
    set_session_cookie,
)
from facesift.services.accounts import DEFAULT_TOKEN_DAYS

router = APIRouter(route_class=OneHopRoute, prefix="/api")


class Credentials(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=256)
    totp_code: str | None = Field(
        default=None, max_length=16, description="with two-factor sign-in: the app's code"
    )


class NewUserBody(BaseModel):
    name: str = Field(max_length=64)
    roles: list[str] = Field(max_length=5)


class RolesBody(BaseModel):
    roles: list[str] = Field(max_length=5)


class TrainingBody(BaseModel):
    expires: str = Field(max_length=10, description="ISO date, e.g. 2027-06-30")


class StatusBody(BaseModel):
    disabled: bool


class OwnPasswordBody(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class NewTokenBody(BaseModel):
    name: str = Field(max_length=80)
    days: int = Field(default=DEFAULT_TOKEN_DAYS, ge=1, le=365)


class SettingBody(BaseModel):
    value: Any


@router.post(
    "/session",
    response_model=SignedIn,
    tags=["session"],
    summary="Sign in (sets the session cookie)",
)
def sign_in(body: Credentials, request: Request, response: Response, svc: Svc) -> dict:
    session = svc.accounts.sign_in(
        body.name,
        body.password,
        via="api",
        address=client_address(request),
        totp_code=body.totp_code,
    )
    set_session_cookie(response, request, session.token)
    return {
        "user": svc.accounts.user(session.principal.user_id).describe(),
        "csrf_token": session.csrf_token,
    }


@router.delete("/session", response_model=SignedOut, tags=["session"], summary="Sign out")
def sign_out(caller: Signed, response: Response, svc: Svc) -> dict:
    if caller.session_token:
        svc.accounts.sign_out(caller.session_token, caller.principal)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True}


@router.get("/me", response_model=Me, tags=["session"], summary="Who is signed in")
def me(caller: Signed, svc: Svc) -> dict:
    user = svc.accounts.user(caller.principal.user_id).describe()
    return {
        "user": user,
        "csrf_token": caller.csrf_token,
        "training_valid": caller.principal.training_valid(),
    }


@router.put(
    "/me/password",
    response_model=PasswordChanged,
    tags=["session"],
    summary="Change your own password",
)
def change_own_password(body: OwnPasswordBody, request: Request, caller: Signed, svc: Svc) -> dict:
    """Your other sessions end and your API tokens are revoked."""
    svc.accounts.change_own_password(
        caller.principal,
        body.current_password,
        body.new_password,
        caller.session_token,
        client_address(request),
    )
    return {"changed": True}


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(caller: Signed, svc: Svc) -> list[dict]:
    return [u.describe() for u in svc.accounts.list_users(caller.principal)]


@router.post(
    "/users",
    response_model=NewUserOut,
    tags=["users"],
    status_code=201,
    summary="Create an account (pending until a supervisor approves it)",
)
def add_user(body: NewUserBody, caller: Signed, svc: Svc) -> dict:
    """The account has no password: the supervisor who approves it gets a one-time code
    for its user, who sets their own password with it."""
    made = svc.accounts.add_user(body.name, body.roles, caller.principal)
    return {"user": made.user.describe()}


@router.post(
    "/users/{user_id}/approve",
    tags=["users"],
    response_model=Approval,
    summary="Approve a pending account; returns the one-time code for its user, shown once",
)
def approve_user(user_id: Id, caller: Signed, svc: Svc) -> Approval:
    issued = svc.accounts.approve(caller.principal, user_id)
    user = svc.accounts.user(user_id)
    return Approval(
        user=user.describe(),
        one_time_code=issued.code if issued else None,
        code_expires_at=issued.expires_at if issued else None,
    )


@router.put(
    "/users/{user_id}/roles",
    tags=["users"],
    status_code=202,
    response_model=AccountRequestOut,
    summary="Ask for a change of roles; a supervisor (not you, not the user) approves it",
)
def set_roles(user_id: Id, body: RolesBody, caller: Signed, svc: Svc) -> AccountRequestOut:
    made = svc.accounts.request_roles(caller.principal, user_id, body.roles)
    return AccountRequestOut.of(made, svc)


@router.put(
    "/users/{user_id}/training",
    response_model=UserOut,
    tags=["users"],
    summary="Record a training attestation and its expiry",
)
def record_training(user_id: Id, body: TrainingBody, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.record_training(caller.principal, user_id, body.expires).describe()


@router.put("/users/{user_id}/status", response_model=UserOut, tags=["users"])
def set_status(user_id: Id, body: StatusBody, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.set_disabled(caller.principal, user_id, body.disabled).describe()


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    tags=["tokens"],
    summary="Your API tokens (admins: anyone's)",
)
def list_tokens(caller: Signed, svc: Svc, user_id: OptionalIdQuery = None) -> list[dict]:
    owner = caller.principal.user_id if user_id is None else user_id
    return [t.describe() for t in svc.accounts.tokens(caller.principal, owner)]


@router.post(
    "/tokens",
    response_model=NewTokenOut,
    tags=["tokens"],
    status_code=201,
    summary="Make an API token for yourself; it is shown once",
)
def create_token(body: NewTokenBody, caller: Signed, svc: Svc) -> dict:
    minted_with = svc.accounts.live_token(caller.api_token) if caller.api_token else None
    made = svc.accounts.create_token(
        caller.principal, caller.principal.user_id, body.name, body.days, minted_with
    )
    return {"token": made.token, **made.record.describe()}


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["tokens"])
def revoke_token(token_id: Id, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.revoke_token(caller.principal, token_id).describe()


@router.get("/settings", response_model=SettingsOut, tags=["settings"])
def read_settings(caller: Signed, svc: Svc) -> dict:
    return svc.settings.read(caller.principal)


@router.put("/settings/{key}", response_model=SettingChanged, tags=["settings"])
def change_setting(key: str, body: SettingBody, request: Request, caller: Signed, svc: Svc) -> dict:
    hosts = body.value if isinstance(body.value, list) else []
    if (
        key == "trusted_hosts"
        and all(isinstance(h, str) for h in hosts)
        and untrusted_host(request.headers.get("host"), hosts)
    ):
        # Not a list that would shut out the very host this change comes through.
        raise InvalidInput("trusted_hosts must include the host name you are using now")
    svc.settings.put(caller.principal, key, body.value)
    return {key: svc.settings.get(key)}
