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


class OptOutRequestStatus(StrEnum):
    """An opt-out request is received, in review while faces found await the privacy
    officer's decision, then done (its selfies deleted)."""

    RECEIVED = "received"
    IN_REVIEW = "in_review"
    DONE = "done"


class OptOutFaceDecision(StrEnum):
    """What the privacy officer decided of a gallery face an opt-out request found."""

    REMOVED = "removed"  # it is the person: removed and kept out
    NOT_THEM = "not_them"  # it is not: kept
