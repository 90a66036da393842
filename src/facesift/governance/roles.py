"""Who may do what: the six roles and the separation-of-duties rules.

Every check here raises ``Forbidden`` with the rule that refused, so the API, the web pages
and the audit log all give the same reason. A user may hold several roles; each rule looks
at the whole set, so holding a second role never removes a restriction of the first:
an admin or an auditor who is also an investigator still cannot search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from facesift.errors import Forbidden, InvalidInput


class Role(StrEnum):
    INVESTIGATOR = "investigator"  # runs searches within their own cases
    REVIEWER = "reviewer"  # reviews candidate lists, never their own search
    SUPERVISOR = "supervisor"  # approves new accounts, sees the team's activity
    AUDITOR = "auditor"  # reads the audit log, reports and cases; cannot search
    ADMIN = "admin"  # manages users and settings; cannot search
    PRIVACY_OFFICER = "privacy_officer"  # decides opt-out requests; never an investigator


ALL_ROLES = tuple(Role)
# Roles whose holders must stay independent of the searches they oversee or administer: a
# supervisor approves accounts, roles and password resets, so a supervisor who could also
# search could approve their own way to more searching; a privacy officer removes faces for
# opt-outs.
_NEVER_SEARCH = (Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR, Role.PRIVACY_OFFICER)


def parse_roles(names: list[str] | tuple[str, ...]) -> frozenset[Role]:
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            known = ", ".join(ALL_ROLES)
            raise InvalidInput(f"unknown role {name!r}; the roles are {known}") from None
    if not roles:
        raise InvalidInput("a user needs at least one role")
    if {Role.PRIVACY_OFFICER, Role.INVESTIGATOR} <= roles:
        # Who takes people out of the gallery must not also be searching it.
        raise InvalidInput("a privacy officer is never also an investigator")
    return frozenset(roles)


@dataclass(frozen=True)
class Principal:
    """The signed-in user a request acts for."""

    user_id: int
    name: str
    roles: frozenset[Role]
    training_expires: str | None = None  # ISO date

    def has(self, role: Role) -> bool:
        return role in self.roles

    def has_any(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    def training_valid(self, today: date | None = None) -> bool:
        if not self.training_expires:
            return False
        return date.fromisoformat(self.training_expires) >= (today or date.today())


def _require_role(principal: Principal, *roles: Role) -> None:
    if not principal.has_any(*roles):
        wanted = " or ".join(roles)
        raise Forbidden(f"this needs the {wanted} role")


def _require_training(principal: Principal, what: str) -> None:
    if not principal.training_valid():
        expired = principal.training_expires
        state = f"expired on {expired}" if expired else "not recorded"
        raise Forbidden(f"{what} needs a valid training attestation; yours is {state}")


def require_search(principal: Principal) -> None:
    """Open cases, upload and edit probes, run searches."""
    _require_role(principal, Role.INVESTIGATOR)
    for role in _NEVER_SEARCH:
        if principal.has(role):
            raise Forbidden(f"a user with the {role} role cannot search (separation of duties)")
    _require_training(principal, "searching")


def require_case_owner(principal: Principal, case_created_by: int) -> None:
    if case_created_by != principal.user_id:
        raise Forbidden("investigators search only within their own cases")


def require_review(principal: Principal, requested_by: int) -> None:
    _require_role(principal, Role.REVIEWER)
    _require_training(principal, "reviewing")
    if requested_by == principal.user_id:
        raise Forbidden("a reviewer never reviews their own search (separation of duties)")
    if principal.has(Role.AUDITOR):
        # The audit log shows each review as it is written: an auditor cannot review blind.
        raise Forbidden("a user with the auditor role cannot review (reviews must be blind)")


def can_view_case(principal: Principal, case_created_by: int) -> bool:
    """Oversight roles see every case; an investigator sees their own."""
    if principal.has_any(Role.AUDITOR, Role.SUPERVISOR):
        return True
    return principal.has(Role.INVESTIGATOR) and case_created_by == principal.user_id


def require_view_case(principal: Principal, case_created_by: int) -> None:
    if not can_view_case(principal, case_created_by):
        raise Forbidden("you may see only your own cases")


def can_view_search(principal: Principal, case_created_by: int) -> bool:
    """Case viewers, plus reviewers: they must see a candidate list to review it."""
    return can_view_case(principal, case_created_by) or principal.has(Role.REVIEWER)


def require_view_search(principal: Principal, case_created_by: int) -> None:
    if not can_view_search(principal, case_created_by):
        raise Forbidden("you may see only searches of your own cases, or those you review")


def require_privacy_officer(principal: Principal) -> None:
    """Decide opt-out requests: see the faces found, remove them or keep them."""
    _require_role(principal, Role.PRIVACY_OFFICER)


def require_manage_users(principal: Principal) -> None:
    _require_role(principal, Role.ADMIN)


def require_approve_user(principal: Principal, user_id: int, created_by: str) -> None:
    _require_role(principal, Role.SUPERVISOR)
    if user_id == principal.user_id:
        raise Forbidden("nobody approves their own account (separation of duties)")
    if created_by == principal.name:
        raise Forbidden("the person who created an account cannot also approve it")


def require_record_training(principal: Principal, user_id: int) -> None:
    _require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    if user_id == principal.user_id:
        raise Forbidden("nobody records their own training (separation of duties)")


def require_request_account_change(principal: Principal, user_id: int) -> None:
    """An admin asks for a change of roles or a password reset; a supervisor decides."""
    _require_role(principal, Role.ADMIN)
    if user_id == principal.user_id:
        raise Forbidden("nobody changes their own roles or resets their own password this way")


def require_decide_account_change(principal: Principal, user_id: int, requested_by: int) -> None:
    _require_role(principal, Role.SUPERVISOR)
    if user_id == principal.user_id:
        raise Forbidden("nobody decides a change to their own account (separation of duties)")
    if requested_by == principal.user_id:
        raise Forbidden("the person who asked for a change cannot also approve it")


def require_change_settings(principal: Principal) -> None:
    _require_role(principal, Role.ADMIN)


def require_read_settings(principal: Principal) -> None:
    _require_role(principal, Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR)


def require_read_audit(principal: Principal) -> None:
    _require_role(principal, Role.AUDITOR)


def require_evaluate(principal: Principal) -> None:
    """Running a labelled set through the system in a sandbox is the auditors' check."""
    _require_role(principal, Role.AUDITOR)


def require_team_activity(principal: Principal) -> None:
    _require_role(principal, Role.SUPERVISOR, Role.AUDITOR)


def require_browse_gallery(principal: Principal) -> None:
    """Browse the gallery's photo records: those who run or oversee the installation, never
    those who search it or review its searches (see services.gallery_browse)."""
    _require_role(principal, Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)


def require_rescan_gallery(principal: Principal) -> None:
    """Re-scan a gallery photo for faces (it changes the gallery)."""
    _require_role(principal, Role.ADMIN)
