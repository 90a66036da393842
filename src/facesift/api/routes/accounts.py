"""Sign-in, users and roles, API tokens, settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from facesift.server.params import Id, OptionalIdQuery
from facesift.server.security import (
    SESSION_COOKIE,
    Signed,
    Svc,
    set_session_cookie,
)
from facesift.services.accounts import DEFAULT_TOKEN_DAYS

router = APIRouter(prefix="/api")


class Credentials(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=256)


class NewUserBody(BaseModel):
    name: str = Field(max_length=64)
    roles: list[str] = Field(max_length=5)
    password: str | None = Field(default=None, max_length=256)


class RolesBody(BaseModel):
    roles: list[str] = Field(max_length=5)


class TrainingBody(BaseModel):
    expires: str = Field(max_length=10, description="ISO date, e.g. 2027-06-30")


class StatusBody(BaseModel):
    disabled: bool


class PasswordBody(BaseModel):
    password: str | None = Field(
        default=None, max_length=256, description="leave out to have one generated"
    )


class OwnPasswordBody(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class NewTokenBody(BaseModel):
    name: str = Field(max_length=80)
    days: int = Field(default=DEFAULT_TOKEN_DAYS, ge=1, le=365)


class SettingBody(BaseModel):
    value: Any


@router.post("/session", tags=["session"], summary="Sign in (sets the session cookie)")
def sign_in(body: Credentials, request: Request, response: Response, svc: Svc) -> dict:
    session = svc.accounts.sign_in(body.name, body.password, via="api")
    set_session_cookie(response, request, session.token)
    return {
        "user": svc.accounts.user(session.principal.user_id).describe(),
        "csrf_token": session.csrf_token,
    }


@router.delete("/session", tags=["session"], summary="Sign out")
def sign_out(caller: Signed, response: Response, svc: Svc) -> dict:
    if caller.session_token:
        svc.accounts.sign_out(caller.session_token, caller.principal)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True}


@router.get("/me", tags=["session"], summary="Who is signed in")
def me(caller: Signed, svc: Svc) -> dict:
    user = svc.accounts.user(caller.principal.user_id).describe()
    return {
        "user": user,
        "csrf_token": caller.csrf_token,
        "training_valid": caller.principal.training_valid(),
    }


@router.put("/me/password", tags=["session"], summary="Change your own password")
def change_own_password(body: OwnPasswordBody, caller: Signed, svc: Svc) -> dict:
    svc.accounts.change_own_password(caller.principal, body.current_password, body.new_password)
    return {"changed": True}


@router.get("/users", tags=["users"])
def list_users(caller: Signed, svc: Svc) -> list[dict]:
    return [u.describe() for u in svc.accounts.list_users(caller.principal)]


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    summary="Create an account (pending until a supervisor approves it)",
)
def add_user(body: NewUserBody, caller: Signed, svc: Svc) -> dict:
    made = svc.accounts.add_user(body.name, body.roles, caller.principal, body.password)
    return {"user": made.user.describe(), "one_time_password": made.password}


@router.post("/users/{user_id}/approve", tags=["users"])
def approve_user(user_id: Id, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.approve(caller.principal, user_id).describe()


@router.put("/users/{user_id}/roles", tags=["users"])
def set_roles(user_id: Id, body: RolesBody, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.set_roles(caller.principal, user_id, body.roles).describe()


@router.put(
    "/users/{user_id}/training",
    tags=["users"],
    summary="Record a training attestation and its expiry",
)
def record_training(user_id: Id, body: TrainingBody, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.record_training(caller.principal, user_id, body.expires).describe()


@router.put("/users/{user_id}/status", tags=["users"])
def set_status(user_id: Id, body: StatusBody, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.set_disabled(caller.principal, user_id, body.disabled).describe()


@router.put("/users/{user_id}/password", tags=["users"])
def set_password(user_id: Id, body: PasswordBody, caller: Signed, svc: Svc) -> dict:
    generated = svc.accounts.set_password(caller.principal, user_id, body.password)
    return {"one_time_password": generated}


@router.get("/tokens", tags=["tokens"], summary="Your API tokens (admins: anyone's)")
def list_tokens(caller: Signed, svc: Svc, user_id: OptionalIdQuery = None) -> list[dict]:
    owner = caller.principal.user_id if user_id is None else user_id
    return [t.describe() for t in svc.accounts.tokens(caller.principal, owner)]


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    summary="Make an API token for yourself; it is shown once",
)
def create_token(body: NewTokenBody, caller: Signed, svc: Svc) -> dict:
    made = svc.accounts.create_token(
        caller.principal, caller.principal.user_id, body.name, body.days
    )
    return {"token": made.token, **made.record.describe()}


@router.delete("/tokens/{token_id}", tags=["tokens"])
def revoke_token(token_id: Id, caller: Signed, svc: Svc) -> dict:
    return svc.accounts.revoke_token(caller.principal, token_id).describe()


@router.get("/settings", tags=["settings"])
def read_settings(caller: Signed, svc: Svc) -> dict:
    return svc.settings.read(caller.principal)


@router.put("/settings/{key}", tags=["settings"])
def change_setting(key: str, body: SettingBody, caller: Signed, svc: Svc) -> dict:
    svc.settings.put(caller.principal, key, body.value)
    return {key: svc.settings.get(key)}
