"""Changes one person may not make alone, one-time codes, and one's own sessions (issue 12).

- ``POST /api/users/{id}/password-reset``: an admin asks; nothing changes yet.
- ``GET /api/account-requests``, ``POST /api/account-requests/{id}/approve|refuse``: a
  supervisor who is neither the asker nor the account's holder decides. An approved reset
  ends the user's sessions and tokens and returns a one-time code, shown once, to the
  supervisor, who hands it to the user.
- ``POST /api/password-code``: the user, not signed in, sets their own password with it.
- ``GET /api/me/sessions``, ``DELETE /api/me/sessions/{id}``: see and end your sessions.
- ``POST /api/me/totp``, ``.../confirm``, ``.../disable``: two-factor sign-in (TOTP).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from facesift.governance.secrets import token_hash
from facesift.server.params import Id
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc, client_address

if TYPE_CHECKING:
    from facesift.server.context import Services
    from facesift.store.accounts import AccountRequest

router = APIRouter(route_class=OneHopRoute, prefix="/api")


class AccountRequestOut(BaseModel):
    id: int
    kind: str = Field(description="password_reset or roles")
    user_id: int
    user: str
    roles: list[str] | None
    requested_by: str
    requested_at: str
    status: str = Field(description="pending, approved or refused")
    decided_by: str | None
    decided_at: str | None

    @classmethod
    def of(cls, request: AccountRequest, svc: Services) -> AccountRequestOut:
        name = {u.id: u.name for u in svc.accounts.records.users()}
        return cls(
            id=request.id,
            kind=request.kind,
            user_id=request.user_id,
            user=name.get(request.user_id, "?"),
            roles=list(request.roles) if request.roles is not None else None,
            requested_by=name.get(request.requested_by, "?"),
            requested_at=request.requested_at,
            status=request.status,
            decided_by=name.get(request.decided_by) if request.decided_by else None,
            decided_at=request.decided_at,
        )


class Approval(BaseModel):
    user: dict
    one_time_code: str | None = Field(
        description="for the user to set their own password; shown only now"
    )
    code_expires_at: str | None


class DecisionOut(BaseModel):
    request: AccountRequestOut
    one_time_code: str | None = Field(
        description="an approved reset: for the user to set their password; shown only now"
    )
    code_expires_at: str | None


class CodeBody(BaseModel):
    name: str = Field(max_length=64)
    code: str = Field(max_length=128)
    new_password: str = Field(max_length=256)


class PasswordSet(BaseModel):
    password_set: bool


class SessionOut(BaseModel):
    id: str
    created_at: str
    expires_at: str
    current: bool = Field(description="the session this request was made with")


class SessionEnded(BaseModel):
    ended: str


@router.post(
    "/users/{user_id}/password-reset",
    tags=["users"],
    status_code=202,
    response_model=AccountRequestOut,
    summary="Ask for a password reset; a supervisor (not you, not the user) approves it",
)
def request_password_reset(user_id: Id, caller: Signed, svc: Svc) -> AccountRequestOut:
    made = svc.accounts.request_password_reset(caller.principal, user_id)
    return AccountRequestOut.of(made, svc)


@router.get(
    "/account-requests",
    tags=["users"],
    response_model=list[AccountRequestOut],
    summary="Changes to accounts waiting for a supervisor's decision",
)
def list_requests(caller: Signed, svc: Svc, pending: bool = True) -> list[AccountRequestOut]:
    return [AccountRequestOut.of(r, svc) for r in svc.accounts.requests(caller.principal, pending)]


def _decide(account_request_id: int, caller, svc, approve: bool) -> DecisionOut:
    decision = svc.accounts.decide(caller.principal, account_request_id, approve)
    code = decision.code
    return DecisionOut(
        request=AccountRequestOut.of(decision.request, svc),
        one_time_code=code.code if code else None,
        code_expires_at=code.expires_at if code else None,
    )


@router.post(
    "/account-requests/{account_request_id}/approve",
    tags=["users"],
    response_model=DecisionOut,
    summary="Approve a change of roles or a password reset (supervisors)",
)
def approve_request(account_request_id: Id, caller: Signed, svc: Svc) -> DecisionOut:
    return _decide(account_request_id, caller, svc, True)


@router.post(
    "/account-requests/{account_request_id}/refuse",
    tags=["users"],
    response_model=DecisionOut,
    summary="Refuse a change of roles or a password reset (supervisors)",
)
def refuse_request(account_request_id: Id, caller: Signed, svc: Svc) -> DecisionOut:
    return _decide(account_request_id, caller, svc, False)


@router.post(
    "/password-code",
    tags=["session"],
    response_model=PasswordSet,
    summary="Set your own password with the one-time code a supervisor gave you",
)
def set_password_with_code(body: CodeBody, request: Request, svc: Svc) -> PasswordSet:
    svc.accounts.set_password_with_code(
        body.name, body.code, body.new_password, client_address(request)
    )
    return PasswordSet(password_set=True)


class TotpStart(BaseModel):
    secret: str = Field(description="base32, for typing into an authenticator app; shown once")
    otpauth_uri: str


class TotpCode(BaseModel):
    code: str = Field(max_length=16)


class TotpOff(BaseModel):
    password: str = Field(max_length=256)
    code: str = Field(max_length=16)


class TwoFactorState(BaseModel):
    two_factor: bool


@router.post(
    "/me/totp",
    tags=["session"],
    response_model=TotpStart,
    summary="Start setting up two-factor sign-in; confirm with a first code",
)
def start_totp(caller: Signed, svc: Svc) -> TotpStart:
    setup = svc.accounts.start_two_factor(caller.principal)
    return TotpStart(secret=setup.secret, otpauth_uri=setup.uri)


@router.post(
    "/me/totp/confirm",
    tags=["session"],
    response_model=TwoFactorState,
    summary="Turn two-factor sign-in on with a first code from the app",
)
def confirm_totp(body: TotpCode, caller: Signed, svc: Svc) -> TwoFactorState:
    svc.accounts.confirm_two_factor(caller.principal, body.code)
    return TwoFactorState(two_factor=True)


@router.post(
    "/me/totp/disable",
    tags=["session"],
    response_model=TwoFactorState,
    summary="Turn two-factor sign-in off (not where your role requires it)",
)
def disable_totp(body: TotpOff, request: Request, caller: Signed, svc: Svc) -> TwoFactorState:
    svc.accounts.stop_two_factor(
        caller.principal, body.password, body.code, client_address(request)
    )
    return TwoFactorState(two_factor=False)


@router.get(
    "/me/sessions",
    tags=["session"],
    response_model=list[SessionOut],
    summary="Your signed-in browser sessions",
)
def my_sessions(caller: Signed, svc: Svc) -> list[SessionOut]:
    current = token_hash(caller.session_token) if caller.session_token else None
    return [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            expires_at=s.expires_at,
            current=s.token_hash == current,
        )
        for s in svc.accounts.sessions(caller.principal)
    ]


@router.delete(
    "/me/sessions/{session_id}",
    tags=["session"],
    response_model=SessionEnded,
    summary="End one of your sessions",
)
def end_session(
    session_id: Annotated[str, Path(max_length=64)], caller: Signed, svc: Svc
) -> SessionEnded:
    svc.accounts.end_session(caller.principal, session_id)
    return SessionEnded(ended=session_id)
