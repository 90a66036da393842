"""Accounts: users and roles, sign-in, browser sessions and API tokens.

There are no default credentials. The first admin is made on the command line by the
machine's operator; later accounts made by an admin stay *pending* until a supervisor
(someone else) approves them. Every change, and every sign-in, failed ones included, is
written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from facesift.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role, parse_roles
from facesift.governance.secrets import (
    API_TOKEN_PREFIX,
    generate_password,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from facesift.store import Store
from facesift.store.accounts import ApiToken, User
from facesift.store.values import UserStatus

SESSION_HOURS = 12
# Password guessing: after this many failed sign-ins for one name within the window, that
# name is locked until the window has passed (each refusal is audited too).
MAX_FAILED_SIGN_INS = 5
LOCKOUT_MINUTES = 15
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365
OPERATOR = "operator"  # the actor for changes made on the command line, by the machine's owner
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class NewUser:
    user: User
    password: str | None  # the one-time password, when facesift made it


@dataclass(frozen=True)
class Session:
    token: str  # goes into the cookie; only its hash is stored
    csrf_token: str
    principal: Principal


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once
    record: ApiToken


def principal_of(user: User) -> Principal:
    return Principal(
        user.id, user.name, frozenset(Role(r) for r in user.roles), user.training_expires
    )


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat(timespec="microseconds")


class Accounts:
    def __init__(self, store: Store):
        self._store = store
        self.records = store.accounts

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
        roles = parse_roles(role_names)
        one_time = None if password else generate_password()
        password_hash = hash_password(password or one_time)
        created_by = actor.name if actor else OPERATOR
        status = UserStatus.ACTIVE if actor is None else UserStatus.PENDING
        with self._store.transaction():
            if self.records.user_by_name(name):
                raise Conflict(f"there is already a user called {name!r}")
            user_id = self.records.add_user(name, password_hash, roles, status, created_by)
            self._audit.append(
                "user_created",
                {"user": name, "roles": sorted(roles), "status": status},
                created_by,
            )
        return NewUser(self.records.user(user_id), one_time)

    def user(self, user_id: int) -> User:
        user = self.records.user(user_id)
        if user is None:
            raise NotFound(f"there is no user {user_id}")
        return user

    def user_named(self, name: str) -> User:
        user = self.records.user_by_name(name)
        if user is None:
            raise NotFound(f"there is no user called {name!r}")
        return user

    def list_users(self, actor: Principal) -> list[User]:
        if not actor.has_any(Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR):
            raise Forbidden("this needs the admin, supervisor or auditor role")
        return self.records.users()

    def approve(self, actor: Principal, user_id: int) -> User:
        user = self.user(user_id)
        rules.require_approve_user(actor, user_id, user.created_by)
        if user.status != UserStatus.PENDING:
            raise Conflict(f"{user.name} is {user.status}, not pending approval")
        with self._store.transaction():
            self.records.update_user(
                user_id, status=UserStatus.ACTIVE, approved_by=actor.name, approved_at=_later()
            )
            self._audit.append("user_approved", {"user": user.name}, actor.name)
        return self.user(user_id)

    def set_roles(self, actor: Principal | None, user_id: int, role_names: list[str]) -> User:
        if actor is not None:
            rules.require_manage_users(actor)
        user, roles = self.user(user_id), parse_roles(role_names)
        with self._store.transaction():
            self._guard_last_admin(user, removing=Role.ADMIN not in roles)
            self.records.set_roles(user_id, roles)
            self._audit.append(
                "user_roles_changed",
                {"user": user.name, "from": sorted(user.roles), "to": sorted(roles)},
                actor.name if actor else OPERATOR,
            )
        return self.user(user_id)

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
            rules.require_record_training(actor)
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

    def set_password(
        self, actor: Principal | None, user_id: int, password: str | None
    ) -> str | None:
        """Set a password (own, admin's reset, or operator's); returns a generated one."""
        if actor is not None and actor.user_id != user_id:
            rules.require_manage_users(actor)
        user = self.user(user_id)
        one_time = None if password else generate_password()
        with self._store.transaction():
            self.records.update_user(user_id, password_hash=hash_password(password or one_time))
            self.records.delete_sessions_of(user_id)
            self._audit.append(
                "password_changed", {"user": user.name}, actor.name if actor else OPERATOR
            )
        return one_time

    def change_own_password(self, actor: Principal, current: str, new: str) -> None:
        """A signed-in user replaces their password (the one-time one, for a start)."""
        user = self.user(actor.user_id)
        if not verify_password(user.password_hash, current):
            self._audit.append("password_change_failed", {"user": user.name}, user.name)
            raise Forbidden("the current password is wrong")
        if new == current:
            raise InvalidInput("the new password must differ from the current one")
        with self._store.transaction():
            self.records.update_user(user.id, password_hash=hash_password(new))
            self._audit.append("password_changed", {"user": user.name}, user.name)

    def _guard_last_admin(self, user: User, removing: bool) -> None:
        if (
            removing
            and "admin" in user.roles
            and user.status == UserStatus.ACTIVE
            and self.records.active_admin_count() <= 1
        ):
            raise Conflict("this is the last active admin; make another admin first")

    # -- signing in ----------------------------------------------------------------------------

    def sign_in(self, name: str, password: str, via: str = "web") -> Session:
        window_start = _later(minutes=-LOCKOUT_MINUTES)
        if self._audit.count_since("login_failed", window_start, user=name) >= MAX_FAILED_SIGN_INS:
            self._audit.append("login_locked", {"user": name, "via": via}, "unknown")
            raise Unauthenticated(
                f"too many failed sign-ins for this name; try again in {LOCKOUT_MINUTES} minutes"
            )
        user = self.records.user_by_name(name)
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.status != UserStatus.ACTIVE:
            reason = "bad credentials" if not ok or user is None else f"account {user.status}"
            self._audit.append(
                "login_failed",
                {"user": name, "via": via, "reason": reason},
                name if user else "unknown",
            )
            # One message for every cause, so it does not reveal which names exist.
            raise Unauthenticated("wrong user name or password, or the account is not active")
        token, csrf = new_token(), new_token()
        with self._store.transaction():
            self.records.add_session(token_hash(token), user.id, csrf, _later(hours=SESSION_HOURS))
            self._audit.append("login", {"user": name, "via": via}, name)
        return Session(token, csrf, principal_of(user))

    def session(self, token: str) -> Session | None:
        row = self.records.session(token_hash(token))
        if row is None:
            return None
        user = self.records.user(row["user_id"])
        if user is None or user.status != UserStatus.ACTIVE:
            return None
        return Session(token, row["csrf_token"], principal_of(user))

    def sign_out(self, token: str, principal: Principal) -> None:
        with self._store.transaction():
            self.records.delete_session(token_hash(token))
            self._audit.append("logout", {"user": principal.name}, principal.name)

    # -- API tokens ----------------------------------------------------------------------------

    def create_token(
        self, actor: Principal | None, user_id: int, name: str, days: int = DEFAULT_TOKEN_DAYS
    ) -> NewToken:
        """A user makes their own tokens; an admin or the operator may make one for anyone."""
        if actor is not None and actor.user_id != user_id:
            rules.require_manage_users(actor)
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise InvalidInput(f"a token lasts 1 to {MAX_TOKEN_DAYS} days")
        name = name.strip()
        if not name or len(name) > 80:
            raise InvalidInput("a token needs a name of 1-80 characters")
        user = self.user(user_id)
        token = new_token(API_TOKEN_PREFIX)
        with self._store.transaction():
            token_id = self.records.add_token(user_id, name, token_hash(token), _later(days=days))
            self._audit.append(
                "token_created",
                {"user": user.name, "token_id": token_id, "name": name, "days": days},
                actor.name if actor else OPERATOR,
            )
        return NewToken(token, self.records.token(token_id))

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
        return self.records.token(token_id)

    def token_principal(self, token: str) -> Principal | None:
        record = self.records.live_token(token_hash(token))
        if record is None:
            return None
        user = self.records.user(record.user_id)
        if user is None or user.status != UserStatus.ACTIVE:
            return None
        self.records.touch_token(record.id)
        return principal_of(user)
