"""Cases: opening one (its grounds checked), listing and viewing them, keeping their probe
images past closure, closing them, and the check that someone may search in one now.
"""

from __future__ import annotations

from datetime import date

from facesift.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SearchRefused,
)
from facesift.governance import policy
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.governance.search_policy import MIN_PURPOSE_CHARS
from facesift.services import scope
from facesift.services.casework.base import (
    PAGE_SIZE,
    CaseworkBase,
    case_ref,
)
from facesift.services.casework.values import Case
from facesift.store.values import CaseStatus


class CaseWork(CaseworkBase):
    def open_case(self, actor: Principal, values: dict) -> Case:
        rules.require_search(actor)
        case = _clean_case(values)
        case["collections"] = scope.clean_scope(values.get("collections"), self.gallery)
        try:
            self._check_grounds(case)
        except SearchRefused as refusal:
            self._audit.append("case_refused", {**case, "reason": refusal.message}, actor.name)
            raise
        with self._transaction():
            if self.records.case_by_reference(case["reference"]):
                raise Conflict(f"there is already a case {case['reference']!r}")
            case_id = self.records.add_case(case, actor.user_id)
            self._audit.append("case_opened", {"case_id": case_id, **case}, actor.name)
        return Case.model_validate(self._stored_case(case_id))

    def offense_categories(self, actor: Principal) -> list[str]:
        """The allow-list, for someone about to open a case."""
        rules.require_search(actor)
        return self.settings.get("offense_categories")

    def _check_grounds(self, case: dict) -> None:
        policy.check_purpose(
            case["purpose"],
            case["offense_category"],
            self.settings.refused_purposes(),
            self.settings.get("offense_categories"),
        )
        scope.require_authorisation(case, self.settings.get("authorisation_required"))
        expires = case.get("authorisation_expires")
        if expires and date.fromisoformat(expires) < date.today():
            raise SearchRefused(f"the case's authorisation expired on {expires}")

    def cases(
        self, actor: Principal, *, before: int | None = None, limit: int = PAGE_SIZE
    ) -> list[Case]:
        """The cases ``actor`` may see (every case for supervisors and auditors, their own
        for investigators), newest first, a page at a time (those older than ``before``)."""
        if actor.has_any(Role.AUDITOR, Role.SUPERVISOR):
            opened_by = None
        elif actor.has(Role.INVESTIGATOR):
            opened_by = actor.user_id
        else:
            raise Forbidden("this needs the investigator, supervisor or auditor role")
        found = self.records.cases(created_by=opened_by, before_id=before, limit=limit)
        return [Case.model_validate(c) for c in found]

    def case(self, actor: Principal, case_id: int) -> Case:
        return Case.model_validate(self._case(actor, case_id))

    def _case(self, actor: Principal, case_id: int) -> dict:
        """The case's row, if ``actor`` may see it."""
        case = self.records.case(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        rules.require_view_case(actor, case["created_by"])
        return case

    def view_case(self, actor: Principal, case_id: int) -> Case:
        """A case, opened by someone: audited (the internal look-ups are not)."""
        case = self._case(actor, case_id)
        self._audit.append("case_viewed", case_ref(case), actor.name)
        return Case.model_validate(case)

    def keep_probe_images(self, actor: Principal, case_id: int, reason: str) -> Case:
        """Record why this case's probe images must outlive its closure (audited): retention
        then keeps them as long as the probe templates, not ``probe_images_days``."""
        case = self._case(actor, case_id)
        rules.require_case_owner(actor, case["created_by"])
        reason = (reason or "").strip()
        if len(reason) < 10:
            raise InvalidInput(
                "give the reason the probe images must be kept (10 characters or more)"
            )
        with self._transaction():
            self.records.set_keep_probe_images(case_id, reason)
            self._audit.append(
                "probe_images_kept", {**case_ref(case), "reason": reason}, actor.name
            )
        return Case.model_validate(self.records.case(case_id) or case)

    def close_case(self, actor: Principal, case_id: int) -> Case:
        case = self._case(actor, case_id)
        rules.require_case_owner(actor, case["created_by"])
        with self._transaction():
            self.records.set_case_status(case_id, CaseStatus.CLOSED)
            self._audit.append("case_closed", case_ref(case), actor.name)
        return Case.model_validate(self._stored_case(case_id))

    def _case_for_search(self, actor: Principal, case_id: int) -> dict:
        rules.require_search(actor)  # first: without the role, not even whether it exists
        return self._searchable(actor, self._case(actor, case_id))

    def _searchable(self, actor: Principal, case: dict) -> dict:
        """``case`` (a row just read), if ``actor`` may search in it now; refused (and the
        refusal audited) otherwise."""
        rules.require_search(actor)
        rules.require_view_case(actor, case["created_by"])
        rules.require_case_owner(actor, case["created_by"])
        if case["status"] != CaseStatus.OPEN:
            refusal = Conflict(f"case {case['reference']} is closed")
            self._audit.append(
                "access_refused", {**case_ref(case), "rule": refusal.message}, actor.name
            )
            raise refusal
        return case

    def case_for_search(self, actor: Principal, case_id: int) -> Case:
        """The case, if ``actor`` may search in it now (its owner, trained, the case open)."""
        return Case.model_validate(self._case_for_search(actor, case_id))


def _text(values: dict, key: str, *, required: bool = True, max_chars: int = 2000) -> str | None:
    value = values.get(key)
    value = value.strip() if isinstance(value, str) else None
    if not value:
        if required:
            raise InvalidInput(f"{key.replace('_', ' ')} is required")
        return None
    if len(value) > max_chars:
        raise InvalidInput(f"{key.replace('_', ' ')} is longer than {max_chars} characters")
    return value


def _clean_case(values: dict) -> dict:
    case = {
        "reference": _text(values, "reference", max_chars=100),
        "offense_category": _text(values, "offense_category", max_chars=100),
        "purpose": _text(values, "purpose"),
        "authorisation_id": _text(values, "authorisation_id", required=False, max_chars=100),
        "authorisation_expires": _text(values, "authorisation_expires", required=False),
    }
    if len(case["purpose"] or "") < MIN_PURPOSE_CHARS:
        raise InvalidInput(
            f"the purpose must explain the search ({MIN_PURPOSE_CHARS} characters or more)"
        )
    if case["authorisation_expires"]:
        try:
            case["authorisation_expires"] = date.fromisoformat(
                case["authorisation_expires"]
            ).isoformat()
        except ValueError:
            raise InvalidInput("authorisation expires is a date like 2027-06-30") from None
    return case
