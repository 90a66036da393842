"""Accounts: users and roles, sign-in, browser sessions and API tokens.

There are no default credentials. The first admin is made on the command line by the
machine's operator; later accounts made by an admin stay *pending* until a supervisor
(someone else) approves them. Every change, and every sign-in, failed ones included, is
written to the audit log.

No one person can act as another or grant themselves more (issue 12):
- an admin never learns or chooses a user's password. A new account, or a reset, gets a
  one-time code that is shown only to the supervisor who approves it (never the admin who
  asked), and the user sets their own password with it. Until then the account has no
  usable password, no sessions and no tokens;
- a change of roles is asked for by an admin and applied only when a supervisor who is
  neither the asker nor the account's holder approves it; nobody records their own training;
- the command line acts as ``cli:operator``, which no account name can be (no colon), and
  the names the system itself writes in the audit log are reserved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, TypeGuard

from facesift.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from facesift.governance import roles as rules
from facesift.governance.policy import DEFAULT_TOKEN_DAYS
from facesift.governance.roles import Principal, Role, parse_roles
from facesift.governance.secrets import (
    API_TOKEN_PREFIX,
    NO_PASSWORD,
    check_password_strength,
    generate_password,
    hash_password,
    new_token,
    same_secret,
    token_hash,
    verify_password,
)
from facesift.services import two_factor
from facesift.services.sign_in_limit import SignInLimiter
from facesift.store import Store
from facesift.store.accounts import AccountRequest, ApiToken, SessionInfo, User
from facesift.store.audit import CLI_ACTOR_PREFIX
from facesift.store.values import UserStatus

if TYPE_CHECKING:
    from facesift.services.settings import Settings

SESSION_HOURS = 12
# Password guessing: after this many failed sign-ins for one name within the window, that
# name is locked until the window has passed (each refusal is audited too).
MAX_FAILED_SIGN_INS = 5
LOCKOUT_MINUTES = 15
MAX_TOKEN_DAYS = 365
# A token's last use is written at most once a minute. Written at every request, it made
# every API read a database write: on SQLite each read then queued for the write lock
# behind searches, and waited in SQLite's backing-off sleeps (reads' p99 about 300 ms under
# bench/load.py at 50 users).
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)
# The actor for account changes made on the command line by the machine's owner. The colon
# keeps it apart from every account name.
OPERATOR = f"{CLI_ACTOR_PREFIX}operator"
# Names the system writes in the audit log, or that read as the system: no account takes them.
RESERVED_NAMES = frozenset({"operator", "system", "unknown", "anonymous", "cli", "facesift"})
RESET_CODE_HOURS = 24
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class NewUser:
    user: User
    password: str | None  # the one-time password, when facesift made it


@dataclass(frozen=True)
class Identity:
    """Who a credential names, and what they must do before anything else, from one read of
    their account a request (it was read again for each question: up to three reads)."""

    principal: Principal
    needs_two_factor: bool  # a role of theirs requires it and it is not set up yet
    must_change_password: bool  # signed in with a one-time password, not yet replaced


@dataclass(frozen=True)
class Session:
    token: str  # goes into the cookie; only its hash is stored
    csrf_token: str
    identity: Identity

    @property
    def principal(self) -> Principal:
        return self.identity.principal


@dataclass(frozen=True)
class IssuedCode:
    """A one-time code with which a user sets their own password; shown once."""

    user: User
    code: str
    expires_at: str


@dataclass(frozen=True)
class Decision:
    request: AccountRequest
    code: IssuedCode | None  # for an approved password reset


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once
    record: ApiToken


def principal_of(user: User) -> Principal:
    return Principal(
        user.id, user.name, frozenset(Role(r) for r in user.roles), user.training_expires
    )


def _usable(user: User | None) -> TypeGuard[User]:
    """An active account with a password: one waiting for its one-time code does nothing."""
    return (
        user is not None
        and user.status == UserStatus.ACTIVE
        and user.password_hash != NO_PASSWORD
        and user.reset_code_hash is None
    )


def _recorded_long_ago(last_used_at: str | None) -> bool:
    if last_used_at is None:
        return True
    return datetime.fromisoformat(last_used_at) < datetime.now(UTC) - TOKEN_USE_RECORDED_EVERY


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat(timespec="microseconds")


class Accounts:
    def __init__(self, store: Store, settings: Settings | None = None):
        self._store = store
        # The server's settings, read together and kept for a second: which roles need two
        # factors is asked at every request. Without them (the CLI), read from the store.
        self._settings = settings
        self.records = store.accounts
        self.limiter = SignInLimiter()
        self.sign_ons = store.sign_ons  # single sign-ons under way

    @property
    def _audit(self):
        return self._store.audit

    def has_admin(self) -> bool:
        return self.records.active_admin_count() > 0

    # -- users ---------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        role_names: list[str],
        actor: Principal | None = None,
        password: str | None = None,
    ) -> NewUser:
        """``actor`` None: the operator on the command line; the account is active at once.
        Made by an admin through the server: pending until a supervisor approves it."""
        if actor is not None:
            rules.require_manage_users(actor)
        if not _NAME.match(name):
            raise InvalidInput("a user name is 2-64 letters, digits, dots, dashes or underscores")
        if name.lower() in RESERVED_NAMES:
            raise InvalidInput(f"{name!r} is a name the system uses; choose another")
        roles = parse_roles(role_names)
        if actor is not None and password is not None:
            raise InvalidInput("an admin does not choose a user's password")
        if actor is not None:
            # No password until the approving supervisor's one-time code is used.
            one_time, password_hash = None, NO_PASSWORD
        else:
            secret = password or generate_password()
            one_time = None if password else secret
            password_hash = hash_password(secret)
        created_by = actor.name if actor else OPERATOR
        status = UserStatus.ACTIVE if actor is None else UserStatus.PENDING
        with self._store.transaction():
            if self.records.user_by_name(name):
                raise Conflict(f"there is already a user called {name!r}")
            user_id = self.records.add_user(name, password_hash, roles, status, created_by)
            if one_time:  # facesift chose it: the user must choose their own at first sign-in
                self.records.update_user(user_id, must_change_password=1)
            self._audit.append(
                "user_created",
                {"user": name, "roles": sorted(roles), "status": status}
                | ({"one_time_password": True} if one_time else {}),
                created_by,
            )
        return NewUser(self.user(user_id), one_time)

    def user(self, user_id: int) -> User:
        user = self.records.user(user_id)
        if user is None:
            raise NotFound(f"there is no user {user_id}")
        return user

    def _request(self, request_id: int) -> AccountRequest:
        request = self.records.request(request_id)
        if request is None:
            raise NotFound(f"there is no account request {request_id}")
        return request

    def _token(self, token_id: int) -> ApiToken:
        record = self.records.token(token_id)
        if record is None:
            raise NotFound(f"there is no token {token_id}")
        return record

    def user_named(self, name: str) -> User:
        user = self.records.user_by_name(name)
        if user is None:
            raise NotFound(f"there is no user called {name!r}")
        return user

    def list_users(self, actor: Principal) -> list[User]:
        if not actor.has_any(Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR):
            raise Forbidden("this needs the admin, supervisor or auditor role")
        return self.records.users()

    def approve(self, actor: Principal, user_id: int) -> IssuedCode | None:
        """Activate a pending account. One an admin made has no password yet: the approving
        supervisor gets the one-time code to hand to its user."""
        user = self.user(user_id)
        rules.require_approve_user(actor, user_id, user.created_by)
        if user.status != UserStatus.PENDING:
            raise Conflict(f"{user.name} is {user.status}, not pending approval")
        with self._store.transaction():
            self.records.update_user(
                user_id, status=UserStatus.ACTIVE, approved_by=actor.name, approved_at=_later()
            )
            self._audit.append("user_approved", {"user": user.name}, actor.name)
            if user.password_hash == NO_PASSWORD and user.reset_code_hash is None:
                return self._issue_code(user, actor)
        return None

    def set_roles(self, actor: None, user_id: int, role_names: list[str]) -> User:
        """The operator, on the command line. In the app, see ``request_roles``."""
        if actor is not None:
            raise Forbidden("in the app, a change of roles waits for a supervisor's approval")
        user, roles = self.user(user_id), parse_roles(role_names)
        with self._store.transaction():
            self._apply_roles(user, roles, OPERATOR, None)
        return self.user(user_id)

    def _apply_roles(
        self, user: User, roles: frozenset[Role], actor: str, requested_by: str | None
    ) -> None:
        self._guard_last_admin(user, removing=Role.ADMIN not in roles)
        self.records.set_roles(user.id, roles)
        details = {"user": user.name, "from": sorted(user.roles), "to": sorted(roles)}
        if requested_by:
            details["requested_by"] = requested_by
        self._audit.append("user_roles_changed", details, actor)

    # -- changes a second person approves ------------------------------------------------------

    def request_roles(
        self, actor: Principal, user_id: int, role_names: list[str]
    ) -> AccountRequest:
        """An admin asks for ``user_id``'s roles to become ``role_names``."""
        rules.require_request_account_change(actor, user_id)
        user, roles = self.user(user_id), parse_roles(role_names)
        return self._add_request(actor, user, "roles", roles)

    def request_password_reset(self, actor: Principal, user_id: int) -> AccountRequest:
        """An admin asks for a reset; nothing changes until a supervisor approves it."""
        rules.require_request_account_change(actor, user_id)
        return self._add_request(actor, self.user(user_id), "password_reset", None)

    def _add_request(
        self, actor: Principal, user: User, kind: str, roles: frozenset[Role] | None
    ) -> AccountRequest:
        with self._store.transaction():
            request_id = self.records.add_request(kind, user.id, roles, actor.user_id)
            details = {"request_id": request_id, "kind": kind, "user": user.name}
            if roles is not None:
                details["roles"] = sorted(roles)
            self._audit.append("account_change_requested", details, actor.name)
        return self._request(request_id)

    def requests(self, actor: Principal, pending_only: bool = True) -> list[AccountRequest]:
        if not actor.has_any(Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR):
            raise Forbidden("this needs the admin, supervisor or auditor role")
        return self.records.requests("pending" if pending_only else None)

    def decide(self, actor: Principal, request_id: int, approve: bool) -> Decision:
        request = self.records.request(request_id)
        if request is None:
            raise NotFound(f"there is no account request {request_id}")
        rules.require_decide_account_change(actor, request.user_id, request.requested_by)
        user, asker = self.user(request.user_id), self.user(request.requested_by)
        code = None
        with self._store.transaction():
            if not self.records.decide_request(
                request_id, "approved" if approve else "refused", actor.user_id
            ):
                raise Conflict(f"request {request_id} was already decided")
            details = {"request_id": request_id, "kind": request.kind, "user": user.name}
            self._audit.append(
                "account_change_approved" if approve else "account_change_refused",
                details | {"requested_by": asker.name},
                actor.name,
            )
            if approve and request.kind == "roles":
                roles = parse_roles(list(request.roles or ()))
                self._apply_roles(user, roles, actor.name, asker.name)
            elif approve:
                self.records.update_user(user.id, password_hash=NO_PASSWORD)
                self.records.delete_sessions_of(user.id)
                self.records.revoke_tokens_of(user.id)
                code = self._issue_code(user, actor)
        return Decision(self._request(request_id), code)

    def _issue_code(self, user: User, actor: Principal) -> IssuedCode:
        code, expires = new_token(), _later(hours=RESET_CODE_HOURS)
        self.records.update_user(
            user.id, reset_code_hash=token_hash(code), reset_code_expires=expires
        )
        self._audit.append(
            "password_code_issued", {"user": user.name, "expires_at": expires}, actor.name
        )
        return IssuedCode(self.user(user.id), code, expires)

    def set_password_with_code(self, name: str, code: str, new: str, address: str = "") -> None:
        """The user sets their own password with the one-time code (not signed in)."""
        self._refuse_if_locked(name, "code", address)
        check_password_strength(new)
        user = self.records.user_by_name(name)
        valid = (
            user is not None
            and user.reset_code_hash is not None
            and same_secret(user.reset_code_hash, token_hash(code))
            and (user.reset_code_expires or "") > _later()
        )
        if not valid or user is None:
            self._failed(name, "code", "bad or expired one-time code", user is not None, address)
            raise Unauthenticated("the one-time code is wrong or has expired")
        new_hash = hash_password(new)  # before the transaction: never hash holding its lock
        with self._store.transaction():
            self.records.update_user(
                user.id,
                password_hash=new_hash,
                reset_code_hash=None,
                reset_code_expires=None,
            )
            self._audit.append("password_set_with_code", {"user": user.name}, user.name)

    def set_disabled(self, actor: Principal | None, user_id: int, disabled: bool) -> User:
        if actor is not None:
            rules.require_manage_users(actor)
        user = self.user(user_id)
        if disabled and actor is not None and actor.user_id == user_id:
            raise Forbidden("you cannot disable your own account")
        with self._store.transaction():
            if disabled:
                self._guard_last_admin(user, removing=True)
                self.records.delete_sessions_of(user_id)
            status = (
                UserStatus.DISABLED
                if disabled
                else (
                    UserStatus.ACTIVE
                    # Re-enabling never skips an approval that was not given.
                    if user.approved_by or user.created_by == OPERATOR
                    else UserStatus.PENDING
                )
            )
            self.records.update_user(user_id, status=status)
            self._audit.append(
                "user_disabled" if disabled else "user_enabled",
                {"user": user.name},
                actor.name if actor else OPERATOR,
            )
        return self.user(user_id)

    def record_training(self, actor: Principal | None, user_id: int, expires: str) -> User:
        if actor is not None:
            rules.require_record_training(actor, user_id)
        try:
            expires = date.fromisoformat(expires).isoformat()
        except ValueError:
            raise InvalidInput(f"{expires!r} is not a date like 2027-06-30") from None
        user = self.user(user_id)
        with self._store.transaction():
            self.records.update_user(user_id, training_expires=expires)
            self._audit.append(
                "training_recorded",
                {"user": user.name, "expires": expires},
                actor.name if actor else OPERATOR,
            )
        return self.user(user_id)

    def set_password(self, actor: None, user_id: int, password: str | None) -> str | None:
        """The operator, on the command line, sets a password; returns a generated one. In the
        app, see ``request_password_reset`` and ``change_own_password``."""
        if actor is not None:
            raise Forbidden("in the app, a password reset waits for a supervisor's approval")
        user = self.user(user_id)
        secret = password or generate_password()
        one_time = None if password else secret
        new_hash = hash_password(secret)
        with self._store.transaction():
            self.records.update_user(
                user_id,
                password_hash=new_hash,
                reset_code_hash=None,
                reset_code_expires=None,
                must_change_password=int(one_time is not None),
            )
            self.records.delete_sessions_of(user_id)
            self._audit.append(
                "password_changed",
                {"user": user.name} | ({"one_time_password": True} if one_time else {}),
                actor.name if actor else OPERATOR,
            )
        return one_time

    def change_own_password(
        self,
        actor: Principal,
        current: str,
        new: str,
        session_token: str | None = None,
        address: str = "",
    ) -> None:
        """A signed-in user replaces their password. Their other sessions end and their API
        tokens are revoked (a stolen one stops working); the session used here stays. A
        wrong current password counts toward the sign-in lock-out, like a failed sign-in."""
        user = self.user(actor.user_id)
        self._refuse_if_locked(user.name, "password_change", address)
        if not verify_password(user.password_hash, current):
            self._failed(user.name, "password_change", "wrong current password", True, address)
            raise Forbidden("the current password is wrong")
        if new == current:
            raise InvalidInput("the new password must differ from the current one")
        new_hash = hash_password(new)  # before the transaction: never hash holding its lock
        with self._store.transaction():
            self.records.update_user(user.id, password_hash=new_hash, must_change_password=0)
            keep = token_hash(session_token) if session_token else None
            self.records.delete_sessions_of(user.id, keep=keep)
            self.records.revoke_tokens_of(user.id)
            self._audit.append(
                "password_changed",
                {"user": user.name, "other_sessions_ended": True, "tokens_revoked": True},
                user.name,
            )

    # -- two-factor sign-in --------------------------------------------------------------------

    def required_two_factor_roles(self) -> frozenset[str]:
        roles = (
            self._settings.get("totp_required_roles")
            if self._settings is not None
            else self._store.settings.setting("totp_required_roles")
        )
        return frozenset(roles) if isinstance(roles, list) else frozenset()

    def _identity(self, user: User) -> Identity:
        required = bool(self.required_two_factor_roles() & set(user.roles))
        return Identity(
            principal_of(user),
            needs_two_factor=required and user.totp_secret is None,
            must_change_password=bool(user.must_change_password),
        )

    def start_two_factor(self, actor: Principal) -> two_factor.TotpSetup:
        """A new secret, waiting for a first code before it counts (shown once)."""
        user = self.user(actor.user_id)
        if user.totp_secret is not None:
            raise Conflict("two-factor sign-in is already on; turn it off first to change it")
        setup = two_factor.new_setup(user.name)
        self.records.update_user(user.id, totp_pending_secret=setup.secret)
        return setup

    def confirm_two_factor(self, actor: Principal, code: str) -> None:
        user = self.user(actor.user_id)
        if user.totp_pending_secret is None:
            raise Conflict("start setting up two-factor sign-in first")
        step = two_factor.accepted_step(user.totp_pending_secret, code, None)
        if step is None:
            raise InvalidInput("that code does not match; check the app's clock and try again")
        with self._store.transaction():
            self.records.update_user(
                user.id,
                totp_secret=user.totp_pending_secret,
                totp_pending_secret=None,
                totp_last_step=step,
            )
            self._audit.append("two_factor_enabled", {"user": user.name}, user.name)

    def stop_two_factor(
        self, actor: Principal, password: str, code: str, address: str = ""
    ) -> None:
        user = self.user(actor.user_id)
        if user.totp_secret is None:
            raise Conflict("two-factor sign-in is not on")
        if self.required_two_factor_roles() & user.roles:
            raise Forbidden("your role requires two-factor sign-in")
        self._refuse_if_locked(user.name, "two_factor", address)
        step = two_factor.accepted_step(user.totp_secret, code, user.totp_last_step)
        if not verify_password(user.password_hash, password) or step is None:
            self._failed(user.name, "two_factor", "wrong password or code", True, address)
            raise Forbidden("the password or the two-factor code is wrong")
        with self._store.transaction():
            self.records.update_user(user.id, totp_secret=None, totp_last_step=None)
            self._audit.append("two_factor_disabled", {"user": user.name}, user.name)

    # -- one's own sessions --------------------------------------------------------------------

    def sessions(self, actor: Principal) -> list[SessionInfo]:
        return self.records.sessions_of(actor.user_id)

    def end_session(self, actor: Principal, session_id: str) -> None:
        mine = {s.id: s for s in self.records.sessions_of(actor.user_id)}
        if session_id not in mine:
            raise NotFound(f"you have no session {session_id!r}")
        with self._store.transaction():
            self.records.delete_session(mine[session_id].token_hash)
            self._audit.append(
                "session_ended", {"user": actor.name, "session": session_id}, actor.name
            )

    def _guard_last_admin(self, user: User, removing: bool) -> None:
        if (
            removing
            and "admin" in user.roles
            and user.status == UserStatus.ACTIVE
            and self.records.active_admin_count() <= 1
        ):
            raise Conflict("this is the last active admin; make another admin first")

    # -- signing in ----------------------------------------------------------------------------

    def _refuse_if_locked(self, name: str, via: str, address: str) -> None:
        """Refuse, before any password hashing, a client address sending too many failed
        sign-ins (429, audited once a window) and a name with too many (401, audited)."""
        if self.limiter.blocked(address):
            if self.limiter.first_refusal(address):
                self._audit.append(
                    "sign_in_rate_limited", {"address": address, "via": via}, "unknown"
                )
            raise RateLimited(
                "too many failed sign-ins from this address; try again in a few minutes"
            )
        window_start = _later(minutes=-LOCKOUT_MINUTES)
        if self._audit.count_since("login_failed", window_start, user=name) >= MAX_FAILED_SIGN_INS:
            self._audit.append("login_locked", {"user": name, "via": via}, "unknown")
            raise Unauthenticated(
                f"too many failed sign-ins for this name; try again in {LOCKOUT_MINUTES} minutes"
            )

    def _failed(self, name: str, via: str, reason: str, known: bool, address: str) -> None:
        self.limiter.failed(address)
        details = {"user": name, "via": via, "reason": reason}
        if address:
            details["address"] = address
        self._audit.append("login_failed", details, name if known else "unknown")

    def sign_in(
        self,
        name: str,
        password: str,
        via: str = "web",
        address: str = "",
        totp_code: str | None = None,
    ) -> Session:
        # The address's one check at a time comes first: a refusal costs no database read.
        with self.limiter.checking(address) as allowed:
            if not allowed:
                raise RateLimited("a sign-in from this address is already being checked")
            self._refuse_if_locked(name, via, address)
            user = self.records.user_by_name(name)
            ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.status != UserStatus.ACTIVE:
            reason = "bad credentials" if not ok or user is None else f"account {user.status}"
            self._failed(name, via, reason, user is not None, address)
            # One message for every cause, so it does not reveal which names exist.
            raise Unauthenticated("wrong user name or password, or the account is not active")
        if user.totp_secret is not None:
            step = two_factor.accepted_step(user.totp_secret, totp_code, user.totp_last_step)
            if step is None or not self.records.advance_totp_step(user.id, step):
                self._failed(name, via, "missing or wrong two-factor code", True, address)
                raise Unauthenticated("a valid two-factor code from your app is needed")
        token, csrf = new_token(), new_token()
        with self._store.transaction():
            self.records.add_session(token_hash(token), user.id, csrf, _later(hours=SESSION_HOURS))
            self._audit.append("login", {"user": name, "via": via}, name)
        return Session(token, csrf, self._identity(user))

    def sign_in_vouched(self, name: str, issuer: str, address: str = "") -> Session:
        """A sign-in an identity provider vouched for (``services.single_sign_on``): the
        account of that name, with its own roles. Not for accounts with two-factor sign-in
        on (they sign in with password and code), nor any that is not active."""
        user = self.records.user_by_name(name)
        if not _usable(user) or user.totp_secret is not None:
            reason = "no such account" if user is None else "account not usable with sign-on"
            self._failed(name, "oidc", reason, user is not None, address)
            raise Unauthenticated(
                "single sign-on has no active facesift account of that name to sign in to, "
                "or the account signs in with its password and two-factor code"
            )
        token, csrf = new_token(), new_token()
        with self._store.transaction():
            self.records.add_session(token_hash(token), user.id, csrf, _later(hours=SESSION_HOURS))
            self._audit.append("login", {"user": name, "via": "oidc", "issuer": issuer}, name)
        return Session(token, csrf, self._identity(user))

    def session(self, token: str) -> Session | None:
        row = self.records.session(token_hash(token))
        if row is None:
            return None
        user = self.records.user(row["user_id"])
        if not _usable(user):
            return None
        return Session(token, row["csrf_token"], self._identity(user))

    def sign_out(self, token: str, principal: Principal) -> None:
        with self._store.transaction():
            self.records.delete_session(token_hash(token))
            self._audit.append("logout", {"user": principal.name}, principal.name)

    # -- API tokens ----------------------------------------------------------------------------

    def create_token(
        self,
        actor: Principal | None,
        user_id: int,
        name: str,
        days: int = DEFAULT_TOKEN_DAYS,
        minted_with: ApiToken | None = None,
    ) -> NewToken:
        """A user makes their own tokens; the operator may make one for anyone. A token made
        by a caller who signed in with a token (``minted_with``) expires no later than that
        token (the answer's ``expires_at`` says when); it has the same rights, the user's,
        never more: tokens carry no rights of their own, and none for another user."""
        if actor is not None and actor.user_id != user_id:
            raise Forbidden("you make API tokens only for yourself")
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise InvalidInput(f"a token lasts 1 to {MAX_TOKEN_DAYS} days")
        expires = _later(days=days)
        if minted_with is not None:
            expires = min(expires, minted_with.expires_at)
        name = name.strip()
        if not name or len(name) > 80:
            raise InvalidInput("a token needs a name of 1-80 characters")
        user = self.user(user_id)
        token = new_token(API_TOKEN_PREFIX)
        with self._store.transaction():
            token_id = self.records.add_token(user_id, name, token_hash(token), expires)
            self._audit.append(
                "token_created",
                {
                    "user": user.name,
                    "token_id": token_id,
                    "name": name,
                    "days": days,
                    "expires_at": expires,
                },
                actor.name if actor else OPERATOR,
            )
        return NewToken(token, self._token(token_id))

    def tokens(self, actor: Principal | None, user_id: int | None) -> list[ApiToken]:
        if actor is not None and user_id != actor.user_id:
            rules.require_manage_users(actor)
        return self.records.tokens(user_id)

    def revoke_token(self, actor: Principal | None, token_id: int) -> ApiToken:
        record = self.records.token(token_id)
        if record is None:
            raise NotFound(f"there is no token {token_id}")
        if actor is not None and record.user_id != actor.user_id:
            rules.require_manage_users(actor)
        with self._store.transaction():
            self.records.revoke_token(token_id)
            self._audit.append(
                "token_revoked",
                {"token_id": token_id, "user_id": record.user_id},
                actor.name if actor else OPERATOR,
            )
        return self._token(token_id)

    def token_identity(self, token: str) -> Identity | None:
        found = self.records.token_holder(token_hash(token))
        if found is None:
            return None
        record, user = found
        if not _usable(user):
            return None
        if _recorded_long_ago(record.last_used_at):
            self.records.touch_token(record.id)
        return self._identity(user)

    def live_token(self, token: str) -> ApiToken | None:
        return self.records.live_token(token_hash(token))
