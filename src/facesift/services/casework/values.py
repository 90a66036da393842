"""The typed values casework's use cases return, instead of the store's rows as dicts.

They are pydantic models, frozen, made from the store's rows with ``model_validate``: a
model remembers which fields its row had (``model_fields_set``), so the API, which answers
with ``response_model_exclude_unset``, builds its response models from exactly those fields
(``api.schemas.shown``) and its answers keep their shape: a case in a list has ``searches``,
a case on its own does not. Statuses are the store's enums (``store.values``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from facesift.services.blind import View
from facesift.store.values import CaseStatus, SearchStatus


class Value(BaseModel):
    """A use case's answer: read-only; fields not in the row stay unset (and ``None``)."""

    model_config = ConfigDict(frozen=True)

    def fields(self) -> dict[str, Any]:
        """The fields the row had, in their order: what the API answers and a disclosure
        packet holds."""
        return self.model_dump(exclude_unset=True)


class Case(Value):
    """A case: the grounds it was opened on, what it may search, and its status."""

    id: int
    reference: str
    offense_category: str
    purpose: str
    authorisation_id: str | None = None
    authorisation_expires: str | None = None
    status: CaseStatus
    created_by: int
    created_at: str
    closed_at: str | None = None
    collections: list[str] | None = None  # what it may search; None: every collection
    keep_probe_images: str | None = None  # why its probe images outlive its closure
    created_by_name: str | None = None
    searches: int | None = None  # in lists: how many searches it has


# A reviewer took a search from the queue. The API answers with it as it is (no docstring:
# that would change the OpenAPI schema's description).
class ReviewAssignment(Value):
    search_id: int
    assigned_to_you: bool
    reviewers_assigned: int = Field(description="reviewers assigned to the search (at most 2)")


class Probe(Value):
    """A probe photo of a case and the faces found in it (each face as the detector, or the
    hand that drew it, described it: box, quality, landmarks). ``content`` only when asked
    for; ``smallest_face_px`` and ``scan_capped`` on a probe on its own, not in lists."""

    id: int
    case_id: int
    parent_id: int | None = None
    edit: dict[str, Any] | None = None  # how it was made from its parent
    sha256: str
    content: bytes | None = None
    media_type: str
    width: int
    height: int
    faces: list[dict[str, Any]]
    created_by: int
    created_at: str
    pixels_destroyed_at: str | None = None
    template_destroyed_at: str | None = None
    created_by_name: str | None = None
    smallest_face_px: int | None = None  # the smallest face looked for in it
    scan_capped: bool | None = None  # too big to scan whole: smallest_face_px is larger


class CaseEvent(Value):
    """One thing done in a case, from its audit entry (views left out; to a requester,
    undecided reviews and unreleased candidates hidden: ``services.blind``)."""

    audit_id: int
    at: str
    actor: str
    action: str
    details: dict[str, Any]


class PastReview(Value):
    """One of a reviewer's own reviews, with its search's case and how the search ended."""

    id: int
    search_id: int
    reviewer_id: int
    decision: str  # confirm, no_lead or inconclusive (services.review_outcome.DECISIONS)
    candidate_face_id: int | None = None
    similarities: str
    differences: str
    created_at: str
    subject: str | None = None  # the key of the subject it confirmed
    candidate_face_ids: list[int] | None = None  # the candidates it confirmed as one person
    search_status: SearchStatus
    case_id: int
    case_reference: str


class Search(Value):
    """A search and, on its own, its candidate list as this viewer may see it (blind for its
    requester until a lead is released: ``services.blind``), its reviews and outcome; in the
    review queue, its assignment. Candidates, reviews, the lead and the groups stay the
    dicts ``services.blind`` and ``services.subjects`` shape them as."""

    id: int
    case_id: int
    probe_id: int
    face_index: int
    requested_by: int
    created_at: str
    collection: str | None = None
    top_k: int
    threshold: float
    gallery_size: int
    expected_false_candidates: float
    outcome: str  # candidates or no_candidate
    status: SearchStatus
    lead_face_id: int | None = None
    edited_probe: int | bool  # 0 or 1, as stored
    audit_id: int | None = None
    target_fpir: float | None = None
    quality_warning: dict[str, Any] | None = None
    candidates_destroyed_at: str | None = None
    requested_by_name: str | None = None
    case_reference: str | None = None
    case_created_by: int | None = None
    candidates: list[dict[str, Any]] | None = None
    reviews: list[dict[str, Any]] | None = None
    reviews_received: int | None = None
    reviews_needed: int | None = None
    lead: dict[str, Any] | None = None
    reviewers_assigned: int | None = None
    outcome_reason: str | None = None  # why no lead was released
    next_steps: list[str] | None = None
    manual_face: bool | None = None  # the face searched was drawn by hand
    view: View | None = None
    candidate_count: int | None = None
    candidates_withheld: int | None = None
    groups: list[dict[str, Any]] | None = None  # the candidates shown, grouped by person
    assigned_to_you: bool | None = None  # in the review queue


class DisclosurePacket(Value):
    """The disclosure packet of a case: the case, its probes, searches (with their reviews and
    the faces inline), its timeline and the audit chain's head when it was made. Its parts
    stay the rows and views it is written from, as they are exported (``api`` answers with
    them as JSON, in this order)."""

    format: str  # facesift-disclosure/1
    generated_at: str
    generated_by: str
    case: dict[str, Any]
    probes: list[dict[str, Any]]
    searches: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    lead_notice: str
    audit_chain_head: dict[str, Any]  # the export's own entry and the head it was chained to
