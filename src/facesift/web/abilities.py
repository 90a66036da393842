"""What a page may offer its viewer: an action is shown only to those whose roles allow it,
and only while the case allows it (issue 13, section 5). Supervisors and auditors were shown
"Search for this face" and got a 403; a closed case still offered a search.

The checks are the services' own rules (``governance.roles``), asked without raising, so a
page and the service that refuses the action can never disagree about who may act.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facesift.errors import Forbidden
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.services.casework.values import Case
from facesift.store.values import CaseStatus


def search_refusal(
    principal: Principal | None, case: Case | Mapping[str, Any] | None
) -> str | None:
    """Why ``principal`` may not upload, edit or search probes in ``case`` now, in a sentence
    for the page; None when they may: a trained investigator without a separated role, in
    their own case, while it is open."""
    if principal is None or case is None:
        return "Sign in as the investigator who opened the case to search."
    if isinstance(case, Case):
        status, owner = case.status, case.created_by
    else:
        status, owner = case["status"], case["created_by"]
    if status != CaseStatus.OPEN:
        return "The case is closed: no more probes or searches can be added."
    try:
        rules.require_search(principal)
        rules.require_case_owner(principal, owner)
    except Forbidden as refused:
        if principal.has_any(Role.SUPERVISOR, Role.AUDITOR) or not principal.has(Role.INVESTIGATOR):
            return "Only the investigator who opened the case uploads probes and searches."
        return f"You cannot search here: {refused.message}."
    return None


def may_search(principal: Principal | None, case: Case | Mapping[str, Any] | None) -> bool:
    return search_refusal(principal, case) is None
