"""Users, their roles, browser sessions, API tokens; and settings. Typed values out.

Only hashes of secrets reach this module. The rules about who may change what live in
``facesift.governance``; the services apply them before calling here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from facesift.store.audit import utc_now
from facesift.store.database import Database, Record
from facesift.store.values import UserStatus


@dataclass(frozen=True)
class User:
    id: int
    name: str
    status: UserStatus
    roles: frozenset[str]
    training_expires: str | None
    created_at: str
    created_by: str
    approved_by: str | None
    password_hash: str
    reset_code_hash: str | None = None
    reset_code_expires: str | None = None
    totp_secret: str | None = None
    totp_pending_secret: str | None = None
    totp_last_step: int | None = None
    must_change_password: bool = False  # signed in with a one-time password: change it first

    def describe(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "roles": sorted(self.roles),
            "training_expires": self.training_expires,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "approved_by": self.approved_by,
            "awaiting_password": self.reset_code_hash is not None,
            "two_factor": self.totp_secret is not None,
        }


@dataclass(frozen=True)
class AccountRequest:
    """A change to an account that waits for a second person: a password reset or roles."""

    id: int
    kind: str  # "password_reset" or "roles"
    user_id: int
    roles: tuple[str, ...] | None
    requested_by: int
    requested_at: str
    status: str  # "pending", "approved" or "refused"
    decided_by: int | None
    decided_at: str | None


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's browser sessions, named by a digest of its token's hash."""

    id: str
    created_at: str
    expires_at: str
    token_hash: str


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None

    def describe(self) -> dict:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


class AccountRecords:
    def __init__(self, db: Database):
        self._db = db

    # -- users ---------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        password_hash: str,
        roles: frozenset[str],
        status: UserStatus,
        created_by: str,
    ) -> int:
        user_id = self._db.insert(
            "INSERT INTO users (name, password_hash, status, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, password_hash, status, utc_now(), created_by),
        )
        self.set_roles(user_id, roles)
        return user_id

    def set_roles(self, user_id: int, roles: frozenset[str]) -> None:
        self._db.execute("DELETE FROM user_roles WHERE user_id = ?", (user_id,))
        self._db.executemany(
            "INSERT INTO user_roles (user_id, role) VALUES (?, ?)",
            [(user_id, str(role)) for role in sorted(roles)],
        )

    def user(self, user_id: int) -> User | None:
        found = self._users_where("users.id = ?", (user_id,))
        return found[0] if found else None

    def user_by_name(self, name: str) -> User | None:
        found = self._users_where("users.name = ?", (name,))
        return found[0] if found else None

    def users(self) -> list[User]:
        return self._users_where("1 = 1", ())

    def _users_where(self, condition: str, params: tuple) -> list[User]:
        """Users with their roles in one statement (a row per role): every request with a
        token reads its user, and a second query for the roles was a second round trip."""
        rows = self._db.execute(
            "SELECT users.*, user_roles.role AS held_role FROM users"
            " LEFT JOIN user_roles ON user_roles.user_id = users.id"
            f" WHERE {condition} ORDER BY users.id, user_roles.role",
            params,
        )
        return _grouped_users(rows)

    def token_holder(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """A live token and its user, with the user's roles, in one statement: every API
        request asks. Read as two (the token, then the user), it was two round trips on
        PostgreSQL, each about 0.2 ms of the server's CPU on the 2-core test machine."""
        rows = list(
            self._db.execute(
                f"SELECT users.*, user_roles.role AS held_role, {_TOKEN_COLUMNS}"
                " FROM api_tokens JOIN users ON users.id = api_tokens.user_id"
                " LEFT JOIN user_roles ON user_roles.user_id = users.id"
                " WHERE api_tokens.token_hash = ? AND api_tokens.revoked_at IS NULL"
                " AND api_tokens.expires_at > ? ORDER BY user_roles.role",
                (token_hash, utc_now()),
            )
        )
        if not rows:
            return None
        token = {key.removeprefix("token_"): rows[0][key] for key in _TOKEN_KEYS}
        return _to_token(token | {"user_id": rows[0]["id"]}), _grouped_users(rows)[0]

    def update_user(self, user_id: int, **values: object) -> None:
        allowed = {
            "status",
            "training_expires",
            "approved_by",
            "approved_at",
            "password_hash",
            "reset_code_hash",
            "reset_code_expires",
            "totp_secret",
            "totp_pending_secret",
            "totp_last_step",
            "must_change_password",
        }
        if not values or set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        assignments = ", ".join(f"{column} = ?" for column in values)
        self._db.execute(
            f"UPDATE users SET {assignments} WHERE id = ?", (*values.values(), user_id)
        )

    def advance_totp_step(self, user_id: int, step: int) -> bool:
        """Record ``step`` as the last accepted code's, if it is newer: False when another
        sign-in used this code (or a later one) first, so a code works only once."""
        updated = self._db.execute(
            "UPDATE users SET totp_last_step = ? WHERE id = ?"
            " AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, user_id, step),
        )
        return updated.rowcount == 1

    def active_admin_count(self) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id"
            " WHERE users.status = 'active' AND user_roles.role = 'admin'"
        ).one()[0]

    # -- requests a second person decides ------------------------------------------------------

    def add_request(
        self, kind: str, user_id: int, roles: frozenset[str] | None, requested_by: int
    ) -> int:
        return self._db.insert(
            "INSERT INTO account_requests (kind, user_id, roles, requested_by, requested_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                kind,
                user_id,
                None if roles is None else json.dumps(sorted(roles)),
                requested_by,
                utc_now(),
            ),
        )

    def request(self, request_id: int) -> AccountRequest | None:
        row = self._db.execute(
            "SELECT * FROM account_requests WHERE id = ?", (request_id,)
        ).fetchone()
        return _to_request(row) if row else None

    def requests(self, status: str | None = None) -> list[AccountRequest]:
        if status is None:
            rows = self._db.execute("SELECT * FROM account_requests ORDER BY id")
        else:
            rows = self._db.execute(
                "SELECT * FROM account_requests WHERE status = ? ORDER BY id", (status,)
            )
        return [_to_request(r) for r in rows]

    def decide_request(self, request_id: int, status: str, decided_by: int) -> bool:
        """Mark a pending request decided; False if it was no longer pending."""
        updated = self._db.execute(
            "UPDATE account_requests SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = 'pending'",
            (status, decided_by, utc_now(), request_id),
        )
        return updated.rowcount == 1

    # -- sessions ------------------------------------------------------------------------------

    def add_session(self, token_hash: str, user_id: int, csrf_token: str, expires_at: str) -> None:
        self._db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash, user_id, csrf_token, utc_now(), expires_at),
        )

    def session(self, token_hash: str) -> Record | None:
        return self._db.execute(
            "SELECT * FROM sessions WHERE token_hash = ? AND expires_at > ?",
            (token_hash, utc_now()),
        ).fetchone()

    def delete_session(self, token_hash: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def delete_sessions_of(self, user_id: int, keep: str | None = None) -> None:
        """End a user's sessions, all but the one whose hash is ``keep``."""
        self._db.execute(
            "DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?", (user_id, keep or "")
        )

    def sessions_of(self, user_id: int) -> list[SessionInfo]:
        rows = self._db.execute(
            "SELECT token_hash, created_at, expires_at FROM sessions"
            " WHERE user_id = ? AND expires_at > ? ORDER BY created_at",
            (user_id, utc_now()),
        )
        return [
            SessionInfo(
                session_id(r["token_hash"]), r["created_at"], r["expires_at"], r["token_hash"]
            )
            for r in rows
        ]

    def revoke_tokens_of(self, user_id: int) -> None:
        self._db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (utc_now(), user_id),
        )

    # -- API tokens ----------------------------------------------------------------------------

    def add_token(self, user_id: int, name: str, token_hash: str, expires_at: str) -> int:
        return self._db.insert(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, name, token_hash, utc_now(), expires_at),
        )

    def live_token(self, token_hash: str) -> ApiToken | None:
        row = self._db.execute(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL"
            " AND expires_at > ?",
            (token_hash, utc_now()),
        ).fetchone()
        return _to_token(row) if row else None

    def touch_token(self, token_id: int) -> None:
        self._db.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (utc_now(), token_id)
        )

    def token(self, token_id: int) -> ApiToken | None:
        row = self._db.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
        return _to_token(row) if row else None

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        if user_id is None:
            rows = self._db.execute("SELECT * FROM api_tokens ORDER BY id")
        else:
            rows = self._db.execute(
                "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id", (user_id,)
            )
        return [_to_token(r) for r in rows]

    def revoke_token(self, token_id: int) -> None:
        self._db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (utc_now(), token_id),
        )


class SignOnRecords:
    """Single sign-ons under way (``services.single_sign_on``): each read once, then gone."""

    def __init__(self, db: Database):
        self._db = db

    def add(self, state_hash: str, nonce: str, verifier: str, redirect_uri: str, expires: str):
        self._db.execute("DELETE FROM oidc_pending WHERE expires_at < ?", (utc_now(),))
        self._db.execute(
            "INSERT INTO oidc_pending (state_hash, nonce, verifier, redirect_uri, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (state_hash, nonce, verifier, redirect_uri, expires),
        )

    def take(self, state_hash: str) -> Record | None:
        """The pending sign-in, removed; None if unknown, already taken or expired."""
        row = self._db.execute(
            "SELECT * FROM oidc_pending WHERE state_hash = ?", (state_hash,)
        ).fetchone()
        if row is None:
            return None
        deleted = self._db.execute("DELETE FROM oidc_pending WHERE state_hash = ?", (state_hash,))
        if deleted.rowcount != 1 or row["expires_at"] < utc_now():
            return None  # another process took it first, or it is stale
        return row


class SettingRecords:
    """Key/value settings, JSON values."""

    def __init__(self, db: Database):
        self._db = db

    def setting(self, key: str) -> object | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else None

    def setting_or(self, key: str, default: object) -> object:
        """The stored value (a stored null included), else ``default``."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def stored_settings(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored JSON text of each of ``keys`` that is set, in one query."""
        wanted = list(keys)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})", wanted)
        return {row["key"]: row["value"] for row in rows}

    def put_setting(self, key: str, value: object, actor: str) -> None:
        self._db.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (key, json.dumps(value), utc_now(), actor),
        )


def session_id(token_hash: str) -> str:
    """A session's public name: a digest of its token's hash, so listing sessions never shows
    what is looked up to honour one."""
    return hashlib.sha256(f"session:{token_hash}".encode()).hexdigest()[:20]


def _to_request(row: Record) -> AccountRequest:
    roles = tuple(json.loads(row["roles"])) if row["roles"] else None
    return AccountRequest(
        row["id"],
        row["kind"],
        row["user_id"],
        roles,
        row["requested_by"],
        row["requested_at"],
        row["status"],
        row["decided_by"],
        row["decided_at"],
    )


# The token's columns beside its user's, renamed where both tables have the name.
_TOKEN_KEYS = (
    "token_id",
    "token_name",
    "token_created_at",
    "token_expires_at",
    "token_revoked_at",
    "token_last_used_at",
)
_TOKEN_COLUMNS = ", ".join(
    f"api_tokens.{key.removeprefix('token_')} AS {key}" for key in _TOKEN_KEYS
)


def _grouped_users(rows: Iterable[Record]) -> list[User]:
    """Users from rows of a user and one of its roles each (``held_role``), in row order."""
    grouped: dict[int, tuple[Record, set[str]]] = {}
    for row in rows:
        _, roles = grouped.setdefault(row["id"], (row, set()))
        if row["held_role"] is not None:
            roles.add(row["held_role"])
    return [_to_user(row, frozenset(roles)) for row, roles in grouped.values()]


def _to_token(row: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        row["id"],
        row["user_id"],
        row["name"],
        row["created_at"],
        row["expires_at"],
        row["revoked_at"],
        row["last_used_at"],
    )


def _to_user(row: Record, roles: frozenset[str]) -> User:
    return User(
        row["id"],
        row["name"],
        UserStatus(row["status"]),
        roles,
        row["training_expires"],
        row["created_at"],
        row["created_by"],
        row["approved_by"],
        row["password_hash"],
        row["reset_code_hash"],
        row["reset_code_expires"],
        row["totp_secret"],
        row["totp_pending_secret"],
        row["totp_last_step"],
        bool(row["must_change_password"]),
    )
