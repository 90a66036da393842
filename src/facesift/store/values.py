"""The statuses the store keeps, as enums: one spelling for each, checked by the type checker
and by the tables' CHECK constraints. They are ``StrEnum``s, so they are stored, compared,
put in JSON and shown in templates as the plain words the tables have always held."""

from __future__ import annotations

from enum import StrEnum


class UserStatus(StrEnum):
    PENDING = "pending"  # made by an admin in the app, waiting for a supervisor's approval
    ACTIVE = "active"
    DISABLED = "disabled"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SearchStatus(StrEnum):
    """A search with candidates waits for two reviews, then is released, no lead or
    inconclusive; a search without candidates is closed at once."""

    PENDING_REVIEW = "pending_review"
    RELEASED = "released"
    NO_LEAD = "no_lead"
    INCONCLUSIVE = "inconclusive"
    NO_CANDIDATE = "no_candidate"
