"""Scoped authorisations: a case is opened for named collections, and its searches reach
only those.

An authorisation to search is for a purpose and for data: a warrant for a robbery covers the
booking photos, not the driving-licence photos. A case may name the collections it is
authorised for (none named: all of them, where the settings allow it). A search of the case
then runs over those collections only; asking for another is refused, and the refusal is
audited with the rule. Searching several collections at once runs at the threshold for their
combined size, so the false positive identification rate holds for the union searched.

The setting ``authorisation_required`` lists the offense categories whose cases must carry
an authorisation id and its expiry date.
"""

from __future__ import annotations

import json

from facesift.errors import InvalidInput, SearchRefused
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.search import Candidate, OperatingPoint, find_candidates, operating_point

MAX_COLLECTIONS = 50


def clean_scope(value: object, gallery: Gallery) -> str | None:
    """The case's collections as stored (a JSON list), or None for all; each must exist."""
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not (isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)):
        raise InvalidInput("collections is a list of collection names")
    names = sorted({v.strip() for v in value})
    if len(names) > MAX_COLLECTIONS:
        raise InvalidInput(f"a case names at most {MAX_COLLECTIONS} collections")
    unknown = [n for n in names if gallery.store.find_collection(n) is None]
    if unknown:
        raise InvalidInput(f"there is no collection named {', '.join(map(repr, unknown))}")
    return json.dumps(names)


def scope_of(case: dict) -> list[str] | None:
    value = case.get("collections")
    if not value:
        return None
    return json.loads(value) if isinstance(value, str) else list(value)


def require_authorisation(case: dict, required: list[str]) -> None:
    """Raise SearchRefused if the case's offense needs an authorisation it lacks."""
    if case["offense_category"] in required and not (
        case.get("authorisation_id") and case.get("authorisation_expires")
    ):
        raise SearchRefused(
            f"the offense category {case['offense_category']!r} requires an authorisation id "
            "and its expiry date"
        )


def searched_collections(case: dict, collection: str | None) -> list[str] | None:
    """The collections a search may reach: the one asked for, if in scope; else the scope
    (None: the whole gallery). SearchRefused for a collection outside the scope."""
    scope = scope_of(case)
    if scope is None:
        return None if collection is None else [collection]
    if collection is None:
        return scope
    if collection not in scope:
        raise SearchRefused(
            f"search refused: case {case['reference']} is authorised for the collections "
            f"{', '.join(scope)}, not {collection!r}"
        )
    return [collection]


def scoped_search(
    gallery: Gallery,
    calibration: Calibration,
    embedding,
    collections: list[str] | None,
    top_k: int,
    target_fpir: float,
) -> tuple[list[Candidate], OperatingPoint]:
    """Candidates over ``collections`` (None: all), at the threshold for their total size."""
    if collections is None or len(collections) == 1:
        one = None if collections is None else collections[0]
        operating = operating_point(calibration, gallery.size(one), target_fpir)
        return find_candidates(gallery, calibration, embedding, one, top_k, operating), operating
    size = sum(gallery.size(name) for name in collections)
    operating = operating_point(calibration, size, target_fpir)
    found = [
        candidate
        for name in collections
        for candidate in find_candidates(gallery, calibration, embedding, name, top_k, operating)
    ]
    found.sort(key=lambda c: c.distance)
    return [
        Candidate(
            rank=rank,
            face_id=c.face_id,
            distance=c.distance,
            score=c.score,
            expected_false_candidates=c.expected_false_candidates,
            box=c.box,
            image=c.image,
        )
        for rank, c in enumerate(found[:top_k], start=1)
    ], operating
