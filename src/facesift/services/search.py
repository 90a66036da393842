"""Search: one face from a probe photo against the gallery, returning candidate leads.

Results are candidates for a person to review, never identifications. A candidate is shown
only if it lies within the threshold; when none does, the outcome is ``no_candidate`` and the
nearest faces are deliberately withheld. Every search, refused ones included, is audited.

The threshold comes from a target false positive identification rate (FPIR, 1% unless an
admin sets another): the chance that a search for someone who is *not* in the gallery returns
any candidate. Because every gallery face is one more chance of a look-alike, the threshold
tightens as the searched gallery grows (``Calibration.threshold_for_fpir``). A fixed
per-comparison threshold, which facesift used before, gave 26 of 100 strangers candidates on
a 726-face gallery; an expert may still give one explicitly, up to the calibrated ceiling.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from facesift.errors import FacesiftError, SearchRefused
from facesift.governance.policy import check_purpose
from facesift.governance.search_policy import (
    DEFAULT_TARGET_FPIR,
    DEFAULT_TOP_K,
    require_candidate_count,
    require_grounds,
    require_no_accounts,
    require_offense_category,
    require_target_fpir,
    require_within_ceiling,
)
from facesift.schemas import Face
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.quality_gate import QualityVerdict, Verdict, refusal_message
from facesift.services.settings import Settings
from facesift.services.suppression import drop_suppressed
from facesift.vision import FaceAnalyzer
from facesift.vision.still import require_still

CANDIDATES = "candidates"
NO_CANDIDATE = "no_candidate"
NO_FACE = "no_face"


@dataclass(frozen=True)
class SearchRequest:
    case: str | None
    purpose: str | None
    collection: str | None = None
    top_k: int = DEFAULT_TOP_K
    threshold: float | None = None  # an expert's per-comparison threshold; None: from the FPIR
    face_index: int | None = None  # None: the largest face
    fpir: float | None = None  # the target FPIR; None: the gallery's setting
    offense_category: str | None = None  # from the allow-list; required, as on the server


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a search runs at, and what it means at the searched gallery's size."""

    threshold: float
    target_fpir: float | None  # None: an expert's explicit per-comparison threshold
    gallery_size: int
    expected_false_candidates: float  # different-person faces to expect within the threshold
    true_match_rate: float  # share of LFW's same-person pairs within the threshold

    def as_dict(self) -> dict:
        return {
            "threshold": round(self.threshold, 4),
            "threshold_rule": "per_comparison" if self.target_fpir is None else "fpir",
            "target_fpir": self.target_fpir,
            "gallery_size": self.gallery_size,
            "expected_false_candidates": self.expected_false_candidates,
            "true_match_rate": round(self.true_match_rate, 4),
        }


def operating_point(
    calibration: Calibration,
    gallery_size: int,
    target_fpir: float | None,
    threshold: float | None = None,
) -> OperatingPoint:
    """The threshold for a search of ``gallery_size`` faces: from ``target_fpir``, or an
    expert's explicit ``threshold`` (refused beyond the calibrated ceiling)."""
    if threshold is not None:
        if target_fpir is not None:
            raise SearchRefused("search refused: give a target FPIR or a threshold, not both")
        threshold = require_within_ceiling(threshold, calibration.ceiling)
    else:
        target_fpir = require_target_fpir(
            DEFAULT_TARGET_FPIR if target_fpir is None else target_fpir
        )
        threshold = calibration.threshold_for_fpir(target_fpir, gallery_size)
    return OperatingPoint(
        threshold=threshold,
        target_fpir=target_fpir,
        gallery_size=gallery_size,
        expected_false_candidates=calibration.expected_false_candidates(threshold, gallery_size),
        true_match_rate=calibration.true_match_rate(threshold),
    )


@dataclass(frozen=True)
class Candidate:
    rank: int
    face_id: int
    distance: float
    score: float  # false match rate at this distance, from the calibration
    expected_false_candidates: float  # at this distance, in a gallery of this size
    box: list[int]
    image: dict

    def as_dict(self) -> dict:
        return {
            "rank": self.rank,
            "face_id": self.face_id,
            "distance": round(self.distance, 4),
            "score": self.score,
            "expected_false_candidates": self.expected_false_candidates,
            "box": self.box,
            "image": self.image,
        }


@dataclass(frozen=True)
class ShadowHit:
    """A face a search found in a shadow collection, within its threshold: recorded for the
    operational test, never shown."""

    face_id: int
    distance: float  # rounded to 4 places, as stored
    collection: str

    def as_dict(self) -> dict:
        return {"face_id": self.face_id, "distance": self.distance, "collection": self.collection}


@dataclass
class SearchResult:
    outcome: str
    probe_sha256: str
    probe_faces: list[Face]
    searched_face: int | None
    operating: OperatingPoint
    candidates: list[Candidate] = field(default_factory=list)
    audit_id: int | None = None
    suppressed: int = 0  # candidates dropped as near an opt-out's suppression template
    quality: QualityVerdict | None = None  # the quality gate's verdict on the searched face

    @property
    def quality_warning(self) -> dict | None:
        if self.quality is None or self.quality.level != Verdict.WARNING:
            return None
        return self.quality.as_dict()

    def as_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "quality": self.quality.as_dict() if self.quality else None,
            "quality_warning": self.quality_warning,
            "probe": {
                "sha256": self.probe_sha256,
                "faces": [f.describe() for f in self.probe_faces],
            },
            "searched_face": self.searched_face,
            **self.operating.as_dict(),
            "candidates": [c.as_dict() for c in self.candidates],
            "audit_id": self.audit_id,
            "suppressed_candidates": self.suppressed,
        }


def search(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    calibration: Calibration,
    probe: bytes,
    request: SearchRequest,
    actor: str | None = None,
) -> SearchResult:
    probe_sha = hashlib.sha256(probe).hexdigest()
    audit = gallery.store.audit
    size = gallery.size(request.collection)
    try:
        require_no_accounts(gallery.store.account_count())
        case, purpose = require_grounds(request.case, request.purpose)
        require_candidate_count(request.top_k)
        settings = Settings(gallery.store)
        # The same contract as a case on the server: an offense from the allow-list, and a
        # purpose that no refused category (the floor included) names.
        check_purpose(
            purpose,
            require_offense_category(request.offense_category),
            settings.refused_purposes(),
            settings.get("offense_categories"),
        )
        fpir = request.fpir
        if fpir is None and request.threshold is None:
            fpir = settings.get("target_fpir")
        operating = operating_point(calibration, size, fpir, request.threshold)
    except SearchRefused as refusal:
        audit.append(
            "search_refused",
            {
                "case": request.case,
                "purpose": request.purpose,
                "offense_category": request.offense_category,
                "probe_sha256": probe_sha,
                "reason": refusal.message,
            },
            actor,
        )
        raise
    if calibration.model_id != analyzer.model_id:
        raise FacesiftError(
            f"the calibration is for {calibration.model_id}, the embedder is {analyzer.model_id}"
        )
    require_still(probe)  # one frame: never a clip searched frame by frame
    faces = analyzer.analyze_bytes(probe).faces
    result = SearchResult(
        outcome=NO_FACE,
        probe_sha256=probe_sha,
        probe_faces=faces,
        searched_face=None,
        operating=operating,
    )
    if faces:
        result.searched_face = _choose_face(faces, request.face_index)
        result.quality = _gate(gallery, faces[result.searched_face], request, probe_sha, actor)
        result.candidates = find_candidates(
            gallery,
            calibration,
            faces[result.searched_face].embedding,
            request.collection,
            request.top_k,
            operating,
        )
        result.candidates, result.suppressed = drop_suppressed(
            gallery.store, result.candidates, calibration.model_id
        )
        result.outcome = CANDIDATES if result.candidates else NO_CANDIDATE
        shadow = shadow_hits(
            gallery,
            faces[result.searched_face].embedding,
            request.collection,
            request.top_k,
            operating,
        )
    else:
        shadow = None
    entry = audit.append(
        "search",
        {
            "case": case,
            "purpose": purpose,
            "offense_category": request.offense_category,
            "probe_sha256": probe_sha,
            "parameters": {
                "collection": request.collection,
                "top_k": request.top_k,
                "threshold": operating.threshold,
                "target_fpir": operating.target_fpir,
                "face": result.searched_face,
            },
            "outcome": result.outcome,
            "faces_in_probe": len(faces),
            "gallery_size": size,
            "candidate_face_ids": [c.face_id for c in result.candidates],
            "suppressed_candidates": result.suppressed,
            "quality_warning": result.quality_warning,
            # Shadow collections' faces are recorded here, and never shown with the result.
            **({"shadow_candidate_face_ids": [h.face_id for h in shadow]} if shadow else {}),
        },
        actor,
    )
    result.audit_id = entry.id
    return result


def _gate(
    gallery: Gallery, face: Face, request: SearchRequest, probe_sha: str, actor: str | None
) -> QualityVerdict:
    """The quality gate on the searched face: a refusal is audited and raised."""
    verdict = Settings(gallery.store).judge_quality(face.describe())
    if verdict.level == Verdict.REFUSED:
        gallery.store.audit.append(
            "search_refused",
            {
                "case": request.case,
                "purpose": request.purpose,
                "probe_sha256": probe_sha,
                "reason": refusal_message(verdict),
                "quality": verdict.as_dict(),
            },
            actor,
        )
        raise SearchRefused(refusal_message(verdict))
    return verdict


def _choose_face(faces: list[Face], face_index: int | None) -> int:
    if face_index is None:
        return max(range(len(faces)), key=lambda i: faces[i].box.area)
    if not 0 <= face_index < len(faces):
        raise FacesiftError(
            f"the probe has {len(faces)} face(s), numbered 0 to {len(faces) - 1}; "
            f"there is no face {face_index}"
        )
    return face_index


def shadow_hits(
    gallery: Gallery,
    embedding: np.ndarray,
    collection: str | None,
    top_k: int,
    operating: OperatingPoint,
) -> list[ShadowHit] | None:
    """What the search finds in the shadow collections in its scope, within its own
    threshold: recorded for the operational test, never shown. None: no shadow collection
    was in scope."""
    if not gallery.store.shadow_collections():
        return None
    return [
        ShadowHit(n.face_id, round(n.distance, 4), name)
        for n, name in gallery.nearest_shadow(embedding, top_k, collection)
        if n.distance <= operating.threshold
    ]


def find_candidates(
    gallery: Gallery,
    calibration: Calibration,
    embedding: np.ndarray,
    collection: str | None,
    top_k: int,
    operating: OperatingPoint,
) -> list[Candidate]:
    """The gallery faces within the operating point's threshold of ``embedding``, nearest
    first, with their calibrated scores and provenance. The one search step shared by the CLI
    and the server; the gallery's size is the operating point's, not counted again."""
    gallery.require_embedder(calibration.model_id)  # the probe's vector is of that model
    gallery_size = operating.gallery_size
    neighbours = [
        n
        for n in gallery.nearest(embedding, top_k, collection)
        if n.distance <= operating.threshold
    ]
    details = gallery.store.face_details(n.face_id for n in neighbours)
    candidates: list[Candidate] = []
    for neighbour in neighbours:
        row = details.get(neighbour.face_id)
        if row is None:  # removed between the index lookup and now
            continue
        candidates.append(
            Candidate(
                rank=len(candidates) + 1,
                face_id=neighbour.face_id,
                distance=neighbour.distance,
                score=calibration.false_match_rate(neighbour.distance),
                expected_false_candidates=calibration.expected_false_candidates(
                    neighbour.distance, gallery_size
                ),
                box=[row["x1"], row["y1"], row["x2"], row["y2"]],
                image={
                    "id": row["image_id"],
                    "path": row["path"],
                    "sha256": row["sha256"],
                    "source_url": row["source_url"],
                    "page_url": row["page_url"],
                    "caption": row["caption"],
                    "captured_at": row["captured_at"],
                    "legal_basis": row["legal_basis"],
                    "collection": row["collection"],
                    "subject_id": row["subject_id"],
                    "subject_label": row["subject_label"],
                },
            )
        )
    return candidates
