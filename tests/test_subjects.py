"""People, not face ids (issue 13, item 1), without a server: manifest subject columns, the
grouping of a candidate list by subject, and the two-reviewer outcome over people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facesift.errors import InvalidInput
from facesift.schemas import Provenance
from facesift.services import review_outcome, subjects
from facesift.services.sources import (
    MANIFEST_COLUMNS,
    SourceFailure,
    SourceItem,
    read_manifest,
)
from facesift.store.values import SearchStatus
from tests.test_sources import write, write_csv

COLUMNS = (*MANIFEST_COLUMNS, "subject_id", "subject_label")
BLANK = dict.fromkeys(MANIFEST_COLUMNS[1:], "")


def test_manifest_subject_columns_are_read_and_optional(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.jpg"), write(tmp_path / "b.jpg")
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {"path": "a.jpg", **BLANK, "subject_id": " BK-1001 ", "subject_label": "Booking 1001"},
            {"path": "b.jpg", **BLANK, "subject_id": "", "subject_label": ""},
        ],
        COLUMNS,
    )
    assert list(read_manifest(manifest)) == [
        SourceItem(
            str(a.resolve()),
            a.resolve(),
            None,
            Provenance(subject_id="BK-1001", subject_label="Booking 1001"),
        ),
        SourceItem(str(b.resolve()), b.resolve(), None, Provenance()),
    ]
    # A manifest without the subject columns is as valid as before.
    old = write_csv(tmp_path / "old.csv", [{"path": "a.jpg", **BLANK}], MANIFEST_COLUMNS)
    [item] = list(read_manifest(old))
    assert isinstance(item, SourceItem) and item.provenance.subject_id is None


@pytest.mark.parametrize(
    ("subject_id", "label", "says"),
    [
        ("", "Booking 7", "subject_label is given without a subject_id"),
        ("BK\t7", "", "control character"),
        ("B" * 101, "", "subject_id is longer than 100 characters"),
        ("BK-7", "L" * 201, "subject_label is longer than 200 characters"),
    ],
)
def test_a_bad_subject_fails_its_row_alone(
    tmp_path: Path, subject_id: str, label: str, says: str
) -> None:
    write(tmp_path / "a.jpg")
    good = write(tmp_path / "b.jpg")
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {"path": "a.jpg", **BLANK, "subject_id": subject_id, "subject_label": label},
            {"path": "b.jpg", **BLANK, "subject_id": "BK-8", "subject_label": ""},
        ],
        COLUMNS,
    )
    bad, fine = list(read_manifest(manifest))
    assert isinstance(bad, SourceFailure) and bad.code == "bad_subject", bad
    assert bad.path == f"{manifest}:2" and says in bad.message, bad.message
    assert isinstance(fine, SourceItem) and fine.file == good.resolve()
    assert fine.provenance.subject_id == "BK-8"


def test_a_jsonl_subject_must_be_text_or_a_whole_number(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg")
    write(tmp_path / "b.jpg")
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"path": "a.jpg", **BLANK, "subject_id": {"id": 1}},
        {"path": "b.jpg", **BLANK, "subject_id": 1001},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    bad, fine = list(read_manifest(manifest))
    assert isinstance(bad, SourceFailure) and "text or a whole number" in bad.message
    assert isinstance(fine, SourceItem) and fine.provenance.subject_id == "1001"


# -- grouping and the outcome -------------------------------------------------------------------


def candidate(rank: int, face_id: int, subject: str | None = None, collection: str = "c") -> dict:
    image = {"collection": collection, "subject_id": subject, "subject_label": None}
    return {"rank": rank, "face_id": face_id, "image": image}


# Ranks 1 and 3 are photos of booking 1001; rank 2 and 4 have no subject; rank 5 is the same
# booking number in another collection: another person.
LIST = [
    candidate(1, 11, "BK-1001"),
    candidate(2, 12),
    candidate(3, 13, "BK-1001"),
    candidate(4, 14),
    candidate(5, 15, "BK-1001", collection="other"),
]


def test_candidates_are_grouped_by_subject_best_face_first() -> None:
    groups = subjects.group_candidates(LIST, {("c", "BK-1001"): 3}, {("c", "BK-1001"): [11, 16]})
    assert [g.face_ids for g in groups] == [[11, 13], [12], [14], [15]]
    assert [g.key for g in groups] == [
        "subject:c:BK-1001",
        "face:12",
        "face:14",
        "subject:other:BK-1001",
    ]
    assert groups[0].other_gallery_faces == 1  # three faces of the subject, two on the list
    assert groups[0].other_face_ids == [16]  # on the list: not "other"
    assert groups[1].subject_id is None and groups[1].other_gallery_faces == 0


def review(reviewer: int, decision: str, faces: list[int] | None = None) -> dict:
    return {"reviewer_id": reviewer, "decision": decision, "candidate_face_ids": faces}


@pytest.mark.parametrize(
    ("first", "second", "status", "lead"),
    [
        # Two photos of one subject: the same person (the nearest is the lead).
        ([11], [13], SearchStatus.RELEASED, 11),
        # Overlapping marked sets agree on what they share.
        ([12, 14], [14], SearchStatus.RELEASED, 14),
        # No shared photo, no shared subject: different people.
        ([12], [14], SearchStatus.INCONCLUSIVE, None),
        # One booking number in two collections is two people.
        ([11], [15], SearchStatus.INCONCLUSIVE, None),
    ],
)
def test_two_confirmations_agree_when_their_people_overlap(
    first: list[int], second: list[int], status: str, lead: int | None
) -> None:
    reviews = [review(1, "confirm", first), review(2, "confirm", second)]
    assert review_outcome.outcome(reviews, LIST) == (status, lead)


def test_none_of_these_and_mixed_decisions_say_why_and_what_next() -> None:
    both_none = [review(1, "no_lead"), review(2, "no_lead")]
    assert review_outcome.outcome(both_none, LIST) == (SearchStatus.NO_LEAD, None)
    mixed = [review(1, "confirm", [11]), review(2, "no_lead")]
    status, _ = review_outcome.outcome(mixed, LIST)
    assert status == SearchStatus.INCONCLUSIVE
    why = review_outcome.explain({"status": status}, mixed)
    assert why is not None and "none of these" in why.reason and why.next_steps
    pending = review_outcome.outcome([review(1, "confirm", [11])], LIST)
    assert pending == (SearchStatus.PENDING_REVIEW, None)


def test_a_confirmation_names_one_person() -> None:
    base = {"decision": "confirm", "similarities": "ears", "differences": "light"}
    cleaned = review_outcome.clean_review(base | {"subject": "subject:c:BK-1001"}, LIST)
    assert cleaned["candidate_face_ids"] == [11, 13] and cleaned["candidate_face_id"] == 11
    assert cleaned["subject"] == "subject:c:BK-1001"
    with pytest.raises(InvalidInput, match="names the person"):
        review_outcome.clean_review(base, LIST)
    with pytest.raises(InvalidInput, match="different subjects"):
        review_outcome.clean_review(base | {"candidate_face_ids": [11, 15]}, LIST)
    with pytest.raises(InvalidInput, match="not a candidate"):
        review_outcome.clean_review(base | {"candidate_face_ids": [99]}, LIST)
    with pytest.raises(InvalidInput, match="not a subject"):
        review_outcome.clean_review(base | {"subject": "subject:c:BK-9"}, LIST)
