"""Users, their roles, browser sessions, API tokens; and settings. Typed values out.

Only hashes of secrets reach this module. The rules about who may change what live in
``facesift.governance``; the services apply them before calling here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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
        }


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
        row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return self._to_user(row) if row else None

    def user_by_name(self, name: str) -> User | None:
        row = self._db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return self._to_user(row) if row else None

    def users(self) -> list[User]:
        return [self._to_user(r) for r in self._db.execute("SELECT * FROM users ORDER BY id")]

    def update_user(self, user_id: int, **values: object) -> None:
        allowed = {"status", "training_expires", "approved_by", "approved_at", "password_hash"}
        if not values or set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        assignments = ", ".join(f"{column} = ?" for column in values)
        self._db.execute(
            f"UPDATE users SET {assignments} WHERE id = ?", (*values.values(), user_id)
        )

    def active_admin_count(self) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id"
            " WHERE users.status = 'active' AND user_roles.role = 'admin'"
        ).one()[0]

    def _to_user(self, row: Record) -> User:
        rows = self._db.execute("SELECT role FROM user_roles WHERE user_id = ?", (row["id"],))
        roles = frozenset(r["role"] for r in rows)
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
        )

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

    def delete_sessions_of(self, user_id: int) -> None:
        self._db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

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


class SettingRecords:
    """Key/value settings, JSON values."""

    def __init__(self, db: Database):
        self._db = db

    def setting(self, key: str) -> object | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else None

    def put_setting(self, key: str, value: object, actor: str) -> None:
        self._db.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (key, json.dumps(value), utc_now(), actor),
        )


def _to_token(row: Record) -> ApiToken:
    return ApiToken(
        row["id"],
        row["user_id"],
        row["name"],
        row["created_at"],
        row["expires_at"],
        row["revoked_at"],
        row["last_used_at"],
    )
