"""The users: admins create accounts and ask for changes of roles, status or password;
supervisors approve them (``security_pages``); auditors read. Training attestations.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.server.context import Services
from facesift.server.params import Id
from facesift.server.security import (
    Caller,
    Signed,
    Svc,
)
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/users", summary="Users (admins manage, supervisors approve, auditors read)")
def users_page(request: Request, caller: Signed, svc: Svc):
    return users_page_with(request, caller, svc, created=None)


def users_page_with(request: Request, caller: Caller, svc: Services, **shown: Any):
    names = {u.id: u.name for u in svc.accounts.records.users()}
    return render(
        request,
        "users.html",
        caller,
        users=[u.describe() for u in svc.accounts.list_users(caller.principal)],
        requests=[
            {
                "id": r.id,
                "kind": r.kind.replace("_", " "),
                "user": names.get(r.user_id, "?"),
                "user_id": r.user_id,
                "roles": ", ".join(r.roles or ()),
                "requested_by": names.get(r.requested_by, "?"),
                "requested_by_id": r.requested_by,
            }
            for r in svc.accounts.requests(caller.principal)
        ],
        **shown,
    )


@router.post("/users", summary="Create an account (form); pending until a supervisor approves")
def add_user(
    request: Request,
    caller: Signed,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
):
    made = svc.accounts.add_user(name, roles or [], caller.principal)
    return redirect(
        "/users",
        f"{made.user.name} is created and pending. The supervisor who approves the account "
        "gets a one-time code for them to set their own password.",
    )


@router.post("/users/{user_id}/roles", summary="Change a user's roles (form)")
def set_roles(
    user_id: Id,
    caller: Signed,
    svc: Svc,
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
):
    made = svc.accounts.request_roles(caller.principal, user_id, roles or [])
    wanted = ", ".join(made.roles or ())
    return redirect("/users", f"Asked for the roles {wanted}; a supervisor must approve.")


@router.post("/users/{user_id}/status", summary="Disable or enable an account (form)")
def set_status(user_id: Id, caller: Signed, svc: Svc, disabled: Annotated[bool, Form()]):
    user = svc.accounts.set_disabled(caller.principal, user_id, disabled)
    return redirect("/users", f"{user.name} is now {user.status}.")


@router.post("/users/{user_id}/password", summary="Ask for a password reset (form)")
def reset_password(user_id: Id, caller: Signed, svc: Svc):
    svc.accounts.request_password_reset(caller.principal, user_id)
    name = svc.accounts.user(user_id).name
    return redirect(
        "/users", f"Asked for a password reset for {name}; a supervisor must approve it."
    )


@router.post("/users/{user_id}/approve", summary="Approve a pending account (form)")
def approve_user(user_id: Id, request: Request, caller: Signed, svc: Svc):
    issued = svc.accounts.approve(caller.principal, user_id)
    name = svc.accounts.user(user_id).name
    if issued is None:
        return redirect("/users", f"{name} is approved and active.")
    return users_page_with(
        request,
        caller,
        svc,
        created={
            "name": name,
            "code": issued.code,
            "expires_at": issued.expires_at,
            "what": f"{name} is approved and active.",
        },
    )


@router.post("/users/{user_id}/training", summary="Record a training attestation (form)")
def record_training(
    user_id: Id, caller: Signed, svc: Svc, expires: Annotated[str, Form(max_length=10)]
):
    user = svc.accounts.record_training(caller.principal, user_id, expires)
    return redirect(
        "/users", f"Training recorded for {user.name}, valid until {user.training_expires}."
    )
