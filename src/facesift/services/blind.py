"""Blind until released: what the requester of a search may see of its candidate list.

Two-person review is worth something only if the requester cannot act on the candidates
before the reviewers have decided. So while a list is pending, its requester sees that it is
pending and how many candidates it holds: no face ids, crops, source photos or provenance.
Once released, they see the released lead and only it; after *no lead* or *inconclusive*,
nothing that identifies anyone. The reviewers assigned to the search, and the supervisors and
auditors who oversee the work, see the whole list; the disclosure packet they export holds
everything. The same rules hide identifying details in the case timeline the requester reads.
"""

from __future__ import annotations

from enum import StrEnum

from facesift.services import subjects
from facesift.store.values import SearchStatus

HIDDEN = "(withheld until the reviewers release a lead)"
SAME_SUBJECT = "(another photo of the released lead's subject)"


class View(StrEnum):
    FULL = "full"  # assigned reviewers, supervisors, auditors
    REQUESTER = "requester"  # the case's investigator: blind until released


def full(search: dict) -> dict:
    search["view"] = View.FULL
    search["candidate_count"] = len(search["candidates"])
    search["candidates_withheld"] = 0
    return search


def for_requester(search: dict) -> dict:
    """The search as its requester may see it: counts, and the released lead only."""
    count = len(search["candidates"])
    lead = search.get("lead")
    shown = [lead["candidate"]] if lead else []
    search["view"] = View.REQUESTER
    search["candidates"] = shown
    search["candidate_count"] = count
    search["candidates_withheld"] = count - len(shown)
    lead_subject = subjects.subject_key(lead["candidate"]) if lead else None
    search["reviews"] = [
        _review(r, search.get("lead_face_id"), lead_subject) for r in search["reviews"]
    ]
    return search


def _review(review: dict, lead_face_id: int | None, lead_subject: str | None = None) -> dict:
    face = review.get("candidate_face_id")
    if face is not None and face != lead_face_id:
        hidden = {"candidate_face_id": None, "candidate_face_ids": None, "subject": None}
        if lead_subject is not None and review.get("subject") == lead_subject:
            # Another photo of the released lead's subject: say so, withhold which photo.
            return review | hidden | {"subject": lead_subject, "candidate": SAME_SUBJECT}
        return review | hidden | {"candidate": HIDDEN}
    if face is not None:  # the lead; any other face the reviewer marked stays withheld
        return review | {"candidate_face_ids": [face]}
    return review


def timeline_event(event: dict, released_leads: dict[int, int]) -> dict:
    """A case timeline event as the requester may read it: candidate ids only for a released
    lead. ``released_leads``: search id -> lead face id, for the released searches."""
    details = dict(event["details"])
    if event["action"] == "search" and "candidate_face_ids" in details:
        ids = details.pop("candidate_face_ids")
        details["candidates"] = len(ids)
    lead = released_leads.get(details.get("search_id"))  # type: ignore[arg-type]
    confirmed_lead = lead is not None and details.get("candidate_face_id") == lead
    for key in ("candidate_face_id", "lead_face_id"):
        if details.get(key) is not None and details[key] != lead:
            details[key] = HIDDEN
    # A review names the person it confirmed: the subject and the faces marked as one.
    if details.get("candidate_face_ids") is not None:
        details["candidate_face_ids"] = [lead] if confirmed_lead else HIDDEN
    if details.get("subject") is not None and not confirmed_lead:
        details["subject"] = HIDDEN
    return event | {"details": details}


def is_released(search: dict) -> bool:
    return search["status"] == SearchStatus.RELEASED
