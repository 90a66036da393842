"""People, not face ids: a candidate list grouped by subject.

A gallery photo may belong to a *subject*: the operator's own record of a person (a booking
or record number, from the manifest's ``subject_id``, with an optional ``subject_label``).
Seven candidates that are one man photographed seven times are one person to review, not
seven. So a candidate list is shown as groups: each subject's best (nearest) face first,
then that subject's other faces in the list; a photo without a subject is a group of its own.
Groups are ordered by their best face, so the nearest candidate's group still comes first.

A subject is named within its collection: the same booking number in two collections is not
taken to be the same person. The subject travels with the candidate as it was at search
time (``search_candidates.details``), so a later manifest cannot regroup a decided list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

SUBJECT_PREFIX = "subject:"
FACE_PREFIX = "face:"
OTHER_FACES_SHOWN = 8  # a subject's other gallery photos shown beside its candidates


@dataclass(frozen=True)
class SubjectGroup:
    """One person on a candidate list: a subject's candidates, or one unassigned face."""

    key: str  # "subject:COLLECTION:ID", or "face:FACE_ID" for a photo without a subject
    subject_id: str | None
    subject_label: str | None
    collection: str | None
    face_ids: list[int]  # best (nearest) first
    ranks: list[int]
    best_rank: int
    # The subject's faces in the gallery now (None for a face without a subject): more than
    # len(face_ids) when some of its photos were not close enough to be candidates.
    gallery_faces: int | None = None
    # Some of the subject's gallery faces that are not on the list (to those who see the
    # whole list), at most OTHER_FACES_SHOWN: more photos of the person to compare with.
    other_face_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self) | {"other_gallery_faces": self.other_gallery_faces}

    @property
    def other_gallery_faces(self) -> int:
        """The subject's gallery faces that are not on this list."""
        if self.gallery_faces is None:
            return 0
        return max(0, self.gallery_faces - len(self.face_ids))


def subject_key(candidate: dict) -> str | None:
    """The key of the subject a candidate's photo belongs to, or None."""
    image = candidate.get("image") or {}
    subject = image.get("subject_id")
    if not subject:
        return None
    return f"{SUBJECT_PREFIX}{image.get('collection') or ''}:{subject}"


def group_key(candidate: dict) -> str:
    return subject_key(candidate) or f"{FACE_PREFIX}{candidate['face_id']}"


def group_candidates(
    candidates: list[dict],
    gallery_faces: dict[tuple[str, str], int] | None = None,
    other_faces: dict[tuple[str, str], list[int]] | None = None,
) -> list[SubjectGroup]:
    """The candidates as people, the group with the nearest face first."""
    by_key: dict[str, list[dict]] = {}
    for candidate in sorted(candidates, key=lambda c: c["rank"]):
        by_key.setdefault(group_key(candidate), []).append(candidate)
    groups = []
    for key, members in by_key.items():
        image = members[0].get("image") or {}
        subject = image.get("subject_id") if key.startswith(SUBJECT_PREFIX) else None
        collection = image.get("collection")
        groups.append(
            SubjectGroup(
                key=key,
                subject_id=subject,
                subject_label=image.get("subject_label") if subject else None,
                collection=collection,
                face_ids=[c["face_id"] for c in members],
                ranks=[c["rank"] for c in members],
                best_rank=members[0]["rank"],
                gallery_faces=(gallery_faces or {}).get((collection or "", subject or ""))
                if subject
                else None,
                other_face_ids=[
                    face
                    for face in (other_faces or {}).get((collection or "", subject or ""), [])
                    if face not in {c["face_id"] for c in candidates}
                ][:OTHER_FACES_SHOWN]
                if subject
                else [],
            )
        )
    return sorted(groups, key=lambda g: g.best_rank)


def subjects_of(candidates: Iterable[dict]) -> list[tuple[str, str]]:
    """(collection, subject id) of each candidate that has a subject, for counting faces."""
    found = []
    for candidate in candidates:
        image = candidate.get("image") or {}
        if image.get("subject_id"):
            found.append((image.get("collection") or "", image["subject_id"]))
    return found


def person_of(face_ids: Iterable[int], candidates: list[dict]) -> frozenset[int]:
    """The candidate faces that are one person with ``face_ids``: those faces, and every
    other candidate of a subject any of them belongs to. Two reviewers who confirmed two
    photos of one subject have confirmed the same person."""
    chosen = set(face_ids)
    keys = {subject_key(c) for c in candidates if c["face_id"] in chosen} - {None}
    return frozenset(chosen | {c["face_id"] for c in candidates if subject_key(c) in keys})
