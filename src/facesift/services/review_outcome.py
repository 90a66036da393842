"""What two reviewers decided together: a person confirmed, none of these, or inconclusive,
and, when no lead is released, why and what can be done next.

A reviewer confirms a *person*, not a face id: a subject (all its photos on the list), or
several candidates without a subject that they judge to be one person, or one candidate.
Each confirmation is widened to every candidate of a subject it touches
(``subjects.person_of``), and the lead is released when two reviewers' people overlap:

- reviewer A confirms photo 1 of booking 1001 and reviewer B photo 2 of it: the same person;
- A marks candidates 3 and 4 as one person and B marks 4 and 5: both confirmed candidate 4.

The released lead is the nearest face both confirmations hold. Before issue 13 the rule was
"the same face id": two reviewers confirming two photos of one man ended "inconclusive",
with no reason given. Confirming two different subjects in one review is refused: the
operator's records say they are two people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from facesift.errors import InvalidInput
from facesift.services import subjects
from facesift.store.values import SearchStatus

DECISIONS = ("confirm", "no_lead", "inconclusive")
REVIEWS_NEEDED = 2
MAX_REASONING_CHARS = 2000
CHOOSE_PERSON = "a confirmation names the person: a subject, or candidate face_ids from this list"


@dataclass(frozen=True)
class Explanation:
    """Why no lead was released, and what the people involved can do next."""

    reason: str
    next_steps: list[str]


def clean_review(review: dict, candidates: list[dict]) -> dict:
    """The review as stored: its decision, the person it confirms, and the reasoning."""
    decision = review.get("decision")
    if decision not in DECISIONS:
        raise InvalidInput(f"the decision is one of {', '.join(DECISIONS)}")
    faces: list[int] = []
    subject = None
    if decision == "confirm":
        faces, subject = _confirmed(review, candidates)
    return {
        "decision": decision,
        "candidate_face_id": faces[0] if faces else None,
        "candidate_face_ids": faces or None,
        "subject": subject,
        "similarities": _reasoning(review, "similarities"),
        "differences": _reasoning(review, "differences"),
    }


def _confirmed(review: dict, candidates: list[dict]) -> tuple[list[int], str | None]:
    """The candidate faces a confirmation names (nearest first) and their subject's key."""
    groups = {g.key: g for g in subjects.group_candidates(candidates)}
    on_list = {c["face_id"] for c in candidates}
    keys = list(review.get("subjects") or [])
    if review.get("subject"):
        keys.append(review["subject"])
    chosen: set[int] = set()
    for key in keys:
        if key not in groups:
            raise InvalidInput(f"{str(key)[:100]!r} is not a subject on this candidate list")
        chosen.update(groups[key].face_ids)
    marked = list(review.get("candidate_face_ids") or [])
    if review.get("candidate_face_id") is not None:
        marked.append(review["candidate_face_id"])
    for face_id in marked:
        if face_id not in on_list:
            raise InvalidInput(f"face {face_id} is not a candidate on this list")
        chosen.add(face_id)
    if not chosen:
        raise InvalidInput(CHOOSE_PERSON)
    keys_hit = {subjects.subject_key(c) for c in candidates if c["face_id"] in chosen} - {None}
    if len(keys_hit) > 1:
        raise InvalidInput(
            "the candidates you marked belong to different subjects, who are different "
            "people on record: confirm one subject"
        )
    ranked = [c["face_id"] for c in sorted(candidates, key=lambda c: c["rank"])]
    return [f for f in ranked if f in chosen], next(iter(keys_hit), None)


def _reasoning(review: dict, key: str) -> str:
    value = review.get(key)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise InvalidInput(f"{key} is required")
    if len(value) > MAX_REASONING_CHARS:
        raise InvalidInput(f"{key} is longer than {MAX_REASONING_CHARS} characters")
    return value


def stored_faces(review: dict) -> list[int]:
    """The faces a stored review confirmed (reviews before issue 13 hold only one)."""
    raw = review.get("candidate_face_ids")
    if raw:
        return list(json.loads(raw)) if isinstance(raw, str) else list(raw)
    face = review.get("candidate_face_id")
    return [face] if face is not None else []


def outcome(reviews: list[dict], candidates: list[dict]) -> tuple[str, int | None]:
    """(status, lead face id). Released when two reviewers confirmed overlapping people;
    otherwise decided once two reviews are in."""
    confirmed = [
        (r["reviewer_id"], subjects.person_of(stored_faces(r), candidates))
        for r in reviews
        if r["decision"] == "confirm"
    ]
    ranked = [c["face_id"] for c in sorted(candidates, key=lambda c: c["rank"])]
    for i, (first_reviewer, first) in enumerate(confirmed):
        for other_reviewer, other in confirmed[i + 1 :]:
            both = first & other
            if other_reviewer != first_reviewer and both:
                return SearchStatus.RELEASED, next(f for f in ranked if f in both)
    if len(reviews) < REVIEWS_NEEDED:
        return SearchStatus.PENDING_REVIEW, None
    if all(r["decision"] == "no_lead" for r in reviews):
        return SearchStatus.NO_LEAD, None
    return SearchStatus.INCONCLUSIVE, None


_NEXT_STEPS = [
    "The investigator may search again in the same case with a better probe: another "
    "photo of the person, or a crop or rotation of this one. A new search gets two new "
    "reviews.",
    "Seek other evidence: a lead from this system is never an identification on its own.",
]


def explain(search: dict, reviews: list[dict]) -> Explanation | None:
    """Why a decided search released no lead, in words that identify no one (the requester
    reads them too); None while pending or once released."""
    status = search["status"]
    if status == SearchStatus.NO_LEAD:
        return Explanation(
            "Both reviewers found that none of the candidates is the person in the probe.",
            [
                "Treat this search as a negative result: it is recorded in the case.",
                "If a better probe photo turns up, search again in the same case.",
            ],
        )
    if status != SearchStatus.INCONCLUSIVE:
        return None
    decisions = sorted(r["decision"] for r in reviews)
    if decisions == ["confirm", "confirm"]:
        reason = (
            "The two reviewers each confirmed a candidate, but not the same person: their "
            "choices share no photo and no subject."
        )
    elif "confirm" in decisions and "no_lead" in decisions:
        reason = (
            "One reviewer confirmed a candidate; the other found that none of these is the person."
        )
    else:
        reason = "A reviewer judged that the photos cannot settle it either way (inconclusive)."
    return Explanation(reason, _NEXT_STEPS)
