"""What each API route answers: the response models ``/openapi.json`` documents.

Every route declares one (``response_model``), so FastAPI checks the answer against it and a
field a service adds by mistake (a hash, a password field) is not sent. Cases, probes and
searches are sent with ``response_model_exclude_unset``: a field the service did not give
(``candidates`` in a list of searches, or withheld from a requester) is left out, not sent
as null. Times are ISO 8601 strings in UTC, as stored. Statuses are the enums of
``store.values``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field

from facesift.services.casework.values import Value
from facesift.store.values import CaseStatus, SearchStatus

Shown = TypeVar("Shown", bound=BaseModel)


def shown(schema: type[Shown], value: Value) -> Shown:
    """A service's typed value as the response model ``schema``, with only the fields the
    value has set (``Value``): ``response_model_exclude_unset`` then answers as it did when
    the services returned rows."""
    return schema.model_validate(value.fields())


class Health(BaseModel):
    status: str = Field(examples=["ok"])


# -- accounts ------------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: int
    name: str
    status: str = Field(examples=["active", "pending", "disabled"])
    roles: list[str]
    training_expires: str | None = None
    created_at: str
    created_by: str | None = None
    approved_by: str | None = None
    awaiting_password: bool = Field(False, description="set with a one-time code, not yet")
    two_factor: bool = False


class SignedIn(BaseModel):
    user: UserOut
    csrf_token: str | None = Field(None, description="for forms; none with an API token")


class Me(SignedIn):
    training_valid: bool


class SignedOut(BaseModel):
    signed_out: bool


class PasswordChanged(BaseModel):
    changed: bool


class NewUserOut(BaseModel):
    user: UserOut


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    created_at: str
    expires_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None


class NewTokenOut(TokenOut):
    token: str = Field(description="the API token itself, shown once")


class RefusedPurpose(BaseModel):
    category: str
    reason: str
    terms: list[str]


class SettingsOut(BaseModel):
    """Every setting (``services.settings``); each is described in the README."""

    offense_categories: list[str]
    refused_purposes: list[RefusedPurpose]
    searches_per_minute: int
    max_upload_bytes: int
    target_fpir: float
    retention: dict[str, Any]
    authorisation_required: list[str]
    trusted_hosts: list[str]
    totp_required_roles: list[str]
    quality_warning_floor: dict[str, float | None]
    quality_refusal_floor: dict[str, float | None]
    promotion_max_group_ratio: float | None = None
    # The misuse alert rules (governance.alert_rules): {enabled, and the rule's limits}.
    alert_search_hours: dict[str, Any]
    alert_same_face: dict[str, Any]
    alert_case_searches: dict[str, Any]
    alert_reworded_purpose: dict[str, Any]


# -- audit and the gallery -----------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryOut]


class ChainOut(BaseModel):
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


class CollectionStats(BaseModel):
    name: str
    images: int
    faces: int


class GalleryStats(BaseModel):
    collections: list[CollectionStats]
    images: int
    faces: int
    ingest_failures: int
    indexed_faces: int
    model_id: str
    threshold: float = Field(description="the distance a search's candidates must be within")
    target_fpir: float
    expected_false_candidates_per_search: float
    true_match_rate: float


# -- cases, probes, searches, reviews ------------------------------------------------------------


class CaseOut(BaseModel):
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
    collections: list[str] | None = Field(None, description="what it may search; None: all")
    keep_probe_images: str | None = Field(None, description="why probe images outlive closure")
    created_by_name: str | None = None
    searches: int | None = Field(None, description="in lists: how many searches it has")


class FaceQuality(BaseModel):
    score: float
    size_px: int
    sharpness: float
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None


class ProbeFace(BaseModel):
    box: list[int] = Field(description="[x1, y1, x2, y2] in the probe's pixels")
    detector_score: float | None = None
    quality: FaceQuality
    landmarks: list[list[float]]
    manual: bool = Field(False, description="drawn by hand: the detector did not find it")


class ProbeOut(BaseModel):
    id: int
    case_id: int
    parent_id: int | None = None
    edit: dict[str, Any] | None = Field(None, description="how it was made from its parent")
    sha256: str
    media_type: str
    width: int
    height: int
    faces: list[ProbeFace]
    created_by: int
    created_at: str
    pixels_destroyed_at: str | None = None
    template_destroyed_at: str | None = None
    created_by_name: str | None = None
    smallest_face_px: int | None = None
    scan_capped: bool | None = None


class GalleryImageOut(BaseModel):
    """The source photo; after an opt-out removed it, only a redaction marker (``path``)."""

    id: int | None = None
    path: str
    sha256: str | None = None
    source_url: str | None = None
    page_url: str | None = None
    caption: str | None = None
    captured_at: str | None = None
    legal_basis: str | None = None
    collection: str | None = None
    subject_id: str | None = Field(None, description="the operator's record of the person")
    subject_label: str | None = None
    redacted: bool | None = None


class CandidateOut(BaseModel):
    search_id: int
    rank: int
    face_id: int
    image_id: int | None = None
    distance: float
    score: float = Field(description="the false match rate at this distance")
    expected_false_candidates: float
    details: dict[str, Any] | None = None
    box: list[int] | None = None
    image: GalleryImageOut
    redacted: str | None = Field(None, description="why the face is no longer shown")
    face_image: str | None = Field(
        None, description="disclosure packet only: the face as a JPEG data URI"
    )


class LeadOut(BaseModel):
    candidate: CandidateOut
    notice: str = Field(description="a lead is not an identification")


class ReviewOut(BaseModel):
    id: int
    search_id: int
    reviewer_id: int
    decision: str = Field(examples=["confirm", "no_lead", "inconclusive"])
    candidate_face_id: int | None = None
    similarities: str
    differences: str
    created_at: str
    reviewer: str | None = None
    candidate: str | None = Field(None, description="to the requester: hidden, but the lead")
    subject: str | None = Field(None, description="the key of the subject it confirmed")
    candidate_face_ids: list[int] | None = Field(
        None, description="the candidates it confirmed as one person, nearest first"
    )


class PastReviewOut(ReviewOut):
    """One of a reviewer's own reviews, with how its search ended."""

    search_status: SearchStatus
    case_id: int
    case_reference: str


class SubjectGroupOut(BaseModel):
    """One person on a candidate list (``services.subjects``): a subject's candidates, best
    first, or one face without a subject."""

    key: str = Field(examples=["subject:bookings:BK-1001", "face:17"])
    subject_id: str | None = None
    subject_label: str | None = None
    collection: str | None = None
    face_ids: list[int]
    ranks: list[int]
    best_rank: int
    gallery_faces: int | None = Field(None, description="the subject's faces in the gallery")
    other_gallery_faces: int = Field(0, description="its gallery faces not on this list")
    other_face_ids: list[int] = Field(
        default_factory=list, description="some of those faces, to those who see the whole list"
    )


class SearchOut(BaseModel):
    """A search. ``candidates``, ``reviews`` and the review counts come with one search, not
    in lists. While a list is pending review its requester's ``view`` is ``pending``: the
    candidates are withheld (``candidate_count`` says how many), never sent."""

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
    outcome: str = Field(examples=["candidates", "no_candidate"])
    status: SearchStatus
    lead_face_id: int | None = None
    edited_probe: bool
    manual_face: bool | None = Field(None, description="the face searched was drawn by hand")
    probe_face_image: str | None = Field(
        None, description="disclosure packet only: the probe face searched, a JPEG data URI"
    )
    audit_id: int | None = None
    target_fpir: float | None = None
    quality_warning: dict[str, Any] | None = None
    candidates_destroyed_at: str | None = None
    requested_by_name: str | None = None
    case_reference: str | None = None
    case_created_by: int | None = None
    candidates: list[CandidateOut] | None = None
    reviews: list[ReviewOut] | None = None
    reviews_received: int | None = None
    reviews_needed: int | None = None
    lead: LeadOut | None = None
    reviewers_assigned: int | None = None
    assigned_to_you: bool | None = Field(None, description="in the review queue")
    view: str | None = Field(None, examples=["full", "pending", "released"])
    candidate_count: int | None = None
    candidates_withheld: int | None = None
    groups: list[SubjectGroupOut] | None = Field(
        None, description="the candidates shown, grouped by person, nearest first"
    )
    outcome_reason: str | None = Field(None, description="why no lead was released")
    next_steps: list[str] | None = None


class TimelineEvent(BaseModel):
    audit_id: int
    at: str
    actor: str
    action: str
    details: dict[str, Any]


class CaseFile(BaseModel):
    case: CaseOut
    probes: list[ProbeOut]
    searches: list[SearchOut]
    timeline: list[TimelineEvent]


class Disclosure(CaseFile):
    format: str = Field(examples=["facesift-disclosure/1"])
    generated_at: str
    generated_by: str
    lead_notice: str
    audit_chain_head: dict[str, Any]


class SettingChanged(BaseModel):
    """The setting's new value, under its own name."""

    model_config = {"extra": "allow"}


# -- evaluations ---------------------------------------------------------------------------------


class GroupRatesOut(BaseModel):
    column: str
    value: str
    genuine_pairs: int
    impostor_pairs: int
    fnmr: float
    fmr: float


class GroupDifferentialOut(BaseModel):
    column: str
    fnmr_ratio: float | None = Field(None, description="null: unbounded (one group at 0)")
    fmr_ratio: float | None = None


class EvaluationOut(BaseModel):
    """A labelled set run through ingest and search in a sandbox (``services.evaluation``)."""

    photos: int
    gallery_photos: int
    gallery_faces: int
    probes: int
    mated_searches: int
    non_mated_searches: int
    probes_without_face: int
    model_id: str
    detector: str
    target_fpir: float
    operating_threshold: float
    operating_fpir: float | None = None
    operating_fnir: float | None = None
    fnir_at_fpir: dict[str, float | None]
    tar_at_far: dict[str, float | None]
    rank1: float | None = None
    rank10: float | None = None
    groups: list[GroupRatesOut]
    differentials: list[GroupDifferentialOut]
    notes: list[str]
    largest_group_ratio: float | None = None
    html: str = Field(description="the report, plots included, as one HTML page")


# -- oversight: usage, misuse alerts, transparency --------------------------------------------


class TallyOut(BaseModel):
    searches: int
    with_candidates: int
    no_candidate: int
    edited_probes: int
    released: int
    no_lead: int
    inconclusive: int
    pending_review: int
    refusals: int
    reviews: int
    reviews_in_agreement: int
    removals: int


class AgreementOut(BaseModel):
    decided_pairs: int = Field(description="searches of the period with two reviews")
    agreed: int
    rate: float | None


class UsageOut(BaseModel):
    first_day: str
    last_day: str = Field(description="included")
    total: TallyOut
    per_user: dict[str, TallyOut]
    by_offense_category: dict[str, int]
    by_outcome: dict[str, int]
    refusals_by_category: dict[str, int]
    agreement: AgreementOut
    alerts: int


class AlertOut(BaseModel):
    audit_id: int
    at: str
    rule: str = Field(
        examples=[
            "alert_search_hours",
            "alert_same_face",
            "alert_case_searches",
            "alert_reworded_purpose",
        ]
    )
    user: str
    case_id: int | None
    message: str
    details: dict[str, Any]


class HoldingOut(BaseModel):
    collection: str
    legal_basis: str | None
    images: int
    faces: int


class TransparencyOut(BaseModel):
    holdings: list[HoldingOut]
    images: int
    faces: int
    retention_policy: str
    summary: list[str]
    generated_at: str
    optout_page: str
    optout_status_page: str


class AccountabilityOut(BaseModel):
    generated_at: str
    summary: list[str]
    markdown: str
    html: str = Field(description="a standalone page (no script)")
