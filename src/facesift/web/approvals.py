"""What waits for a supervisor's decision, for their start page (issue 13, section 5): new
accounts pending approval, and changes of roles and password resets an admin asked for.
Only what this supervisor may decide is offered (never their own account, nor a change they
asked for, nor an account they created): the services check the same rules again."""

from __future__ import annotations

from dataclasses import dataclass

from facesift.governance.roles import Principal, Role
from facesift.server.context import Services
from facesift.store.values import UserStatus


@dataclass(frozen=True)
class PendingAccount:
    user_id: int
    name: str
    roles: str
    created_by: str
    created_at: str


@dataclass(frozen=True)
class PendingChange:
    request_id: int
    kind: str  # "roles" or "password reset"
    user: str
    roles: str
    requested_by: str
    requested_at: str


@dataclass(frozen=True)
class Approvals:
    accounts: list[PendingAccount]
    changes: list[PendingChange]

    @property
    def count(self) -> int:
        return len(self.accounts) + len(self.changes)


def approvals_for(svc: Services, supervisor: Principal) -> Approvals | None:
    """None for anyone who is not a supervisor."""
    if not supervisor.has(Role.SUPERVISOR):
        return None
    users = svc.accounts.records.users()
    names = {u.id: u.name for u in users}
    accounts = [
        PendingAccount(u.id, u.name, ", ".join(sorted(u.roles)), u.created_by, u.created_at)
        for u in users
        if u.status == UserStatus.PENDING
        and u.id != supervisor.user_id
        and u.created_by != supervisor.name
    ]
    changes = [
        PendingChange(
            r.id,
            r.kind.replace("_", " "),
            names.get(r.user_id, "?"),
            ", ".join(r.roles or ()),
            names.get(r.requested_by, "?"),
            r.requested_at,
        )
        for r in svc.accounts.requests(supervisor)
        if supervisor.user_id not in (r.user_id, r.requested_by)
    ]
    return Approvals(accounts, changes)
