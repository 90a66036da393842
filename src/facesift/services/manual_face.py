"""Faces placed by hand, and a search for every face of a probe (issue 13, section 4).

**A manual face.** When the detector misses a face, the investigator draws a box around it on
the probe. The face is aligned *inside that box* exactly as a detected one is: dlib's
five-point landmark predictor runs in the box (``FaceAnalyzer.faces_at``), the chip is cut
from those landmarks and embedded by the same model, and the quality gate judges it as it
judges any face. A drawn box is rarely the tight box the predictor was trained on (a person
draws around the head, hair included), so the landmarks found in it place a detector-like box
(its size and centre measured against the eyes and nose of the fixture's detected faces:
side 3.2 times the eyes-to-nose distance, centre 0.62 of it below the eyes), and the
predictor runs again in that, twice (``_refined``). Measured on 19 fixture faces, each drawn
three ways 20-60% larger than the detector's box and off-centre: the drawn face's embedding
lay 0.114 on average from the detected face's with the drawn box as it was, and 0.061 after
the two refinements (worst case 0.48).

The result is a *derivative probe*, as a crop is: the same pixels (same SHA-256), the parent's
detected faces, and the drawn face after them, marked ``manual`` and without a detector score.
The original probe stays as it was. Its audit entry (``probe_manual_face``) names the box and
who drew it; a search of that face says ``manual_face`` in its own audit entry, and the
disclosure packet marks it.

**Every face.** ``search_every_face`` runs one ordinary search per face of a probe, in the
same case: each is checked, rate-limited, audited and reviewed like a search made by hand
(``Casework.run_search``). A face the quality gate refuses is reported and the others still
run; the rate limit stops the run, and the faces not searched are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facesift.errors import InvalidInput, RateLimited, SearchRefused
from facesift.governance.roles import Principal
from facesift.schemas import Box, Detection, Face
from facesift.services.casework import Casework, case_ref, pixels_edited
from facesift.services.casework.values import Probe, Search
from facesift.services.search import DEFAULT_TOP_K
from facesift.vision.decode import decode_image

REFINEMENTS = 2  # landmarks -> a detector-like box -> landmarks again, this many times
MIN_MANUAL_SIDE = 32  # px: below this a face is below the quality refusal floor anyway
# The detector's box about the five landmarks, as measured on the fixture's detected faces:
# its side is this many times the distance from the eyes' midpoint to the nose (sd 0.37),
# and its centre lies this share of that distance below the eyes' midpoint (sd 0.09).
_SIDE_PER_EYE_NOSE = 3.2
_CENTRE_BELOW_EYES = 0.62


@dataclass(frozen=True)
class FaceRefusal:
    """A face of a probe that was not searched, and why."""

    face_index: int
    reason: str


@dataclass
class EveryFaceResult:
    """The searches run for every face of one probe, and the faces not searched."""

    probe_id: int
    searches: list[Search] = field(default_factory=list)
    refused: list[FaceRefusal] = field(default_factory=list)


class ProbeFaces:
    def __init__(self, casework: Casework):
        self.casework = casework
        self.records = casework.records

    # -- a face drawn by hand --------------------------------------------------------------------

    def add_manual_face(self, actor: Principal, probe_id: int, box: list[int]) -> Probe:
        """A derivative probe with the face in ``box`` (x1, y1, x2, y2, pixels) added, marked
        manual. Refused (400) when no usable face can be aligned in the box."""
        work = self.casework
        parent = work.probe(actor, probe_id, with_content=True)
        case = work.case_for_search(actor, parent.case_id)
        drawn = _clean_box(box, parent.width, parent.height)
        if parent.pixels_destroyed_at or parent.content is None:
            raise InvalidInput(f"probe {probe_id}'s image was destroyed under the retention policy")
        with work.pixels.holding(parent.width * parent.height):
            pixels = decode_image(parent.content)
            face = self._face_in(pixels, drawn)
        described = face.describe() | {"detector_score": None, "manual": True}
        faces = [*parent.faces, described]
        embeddings = np.stack(
            [
                *(self.records.probe_embedding(probe_id, i) for i in range(len(parent.faces))),
                face.embedding,
            ]
        ).astype(np.float32)
        edit = {
            "operation": "manual_face",
            "box": drawn.as_list(),
            "aligned_box": described["box"],
            "before_sha256": parent.sha256,
            # A search from this probe is "from an edited probe" only if its pixels were edited.
            "pixels_edited": bool(parent.parent_id is not None and pixels_edited(parent)),
        }
        record = {
            "case_id": case.id,
            "parent_id": parent.id,
            "edit": edit,
            "sha256": parent.sha256,
            "content": parent.content,
            "media_type": parent.media_type,
            "width": parent.width,
            "height": parent.height,
            "faces": faces,
            "created_by": actor.user_id,
        }
        with work.gallery.store.transaction():
            work.case_for_search(actor, case.id)  # still open
            new_id = self.records.add_probe(record, embeddings)
            work.gallery.store.audit.append(
                "probe_manual_face",
                {
                    **case_ref(case),
                    "probe_id": new_id,
                    "parent_probe_id": parent.id,
                    "sha256": parent.sha256,
                    "box": drawn.as_list(),
                    "face": len(faces) - 1,
                    "manual_face": True,
                },
                actor.name,
            )
        return work.probe(actor, new_id)

    def _face_in(self, pixels: np.ndarray, drawn: Box) -> Face:
        height, width = pixels.shape[:2]
        face = self.casework.faces_at(pixels, [Detection(drawn, 0.0)])[0]
        for _ in range(REFINEMENTS):
            refined = _refined(face, width, height)
            if refined is None:
                break
            face = self.casework.faces_at(pixels, [Detection(refined, 0.0)])[0]
        return face

    # -- every face ---------------------------------------------------------------------------

    def search_every_face(
        self,
        actor: Principal,
        probe_id: int,
        collection: str | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> EveryFaceResult:
        """One ordinary search per face of the probe, in its case (see the module)."""
        work = self.casework
        probe = work.probe(actor, probe_id)
        case = work.case_for_search(actor, probe.case_id)
        if not probe.faces:
            raise InvalidInput("this probe has no face to search; draw a box around one first")
        result = EveryFaceResult(probe_id)
        for index in range(len(probe.faces)):
            try:
                result.searches.append(work.run_search(actor, probe_id, index, collection, top_k))
            except RateLimited as stop:
                result.refused += [
                    FaceRefusal(i, f"not searched: {stop.message}")
                    for i in range(index, len(probe.faces))
                ]
                break
            except (SearchRefused, InvalidInput) as refusal:
                result.refused.append(FaceRefusal(index, refusal.message))
        work.gallery.store.audit.append(
            "search_every_face",
            {
                **case_ref(case),
                "probe_id": probe_id,
                "faces": len(probe.faces),
                "search_ids": [s.id for s in result.searches],
                "not_searched": [r.face_index for r in result.refused],
            },
            actor.name,
        )
        return result


def _clean_box(box: object, width: int, height: int) -> Box:
    if not (
        isinstance(box, list | tuple)
        and len(box) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    ):
        raise InvalidInput("a face box is [left, top, right, bottom] in whole pixels")
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise InvalidInput(f"the face box must lie within the {width}×{height} photo")
    if x2 - x1 < MIN_MANUAL_SIDE or y2 - y1 < MIN_MANUAL_SIDE:
        raise InvalidInput(
            f"a face box is at least {MIN_MANUAL_SIDE}×{MIN_MANUAL_SIDE} pixels; "
            "zoom in on a small face by cropping first"
        )
    return Box(x1, y1, x2, y2)


def _inside(cx: float, cy: float, side: float, width: int, height: int) -> Box:
    half = side / 2
    x1, y1 = max(0, round(cx - half)), max(0, round(cy - half))
    x2, y2 = min(width, round(cx + half)), min(height, round(cy + half))
    return Box(x1, y1, x2, y2)


def _refined(face: Face, width: int, height: int) -> Box | None:
    """A detector-like box placed from the landmarks found in the drawn one (None: they are
    too close together to place one)."""
    points = face.landmarks
    if len(points) != 5:
        return None
    eyes = np.mean(np.asarray(points[:4], dtype=np.float64), axis=0)
    nose = np.asarray(points[4], dtype=np.float64)
    reach = float(np.linalg.norm(nose - eyes))
    if reach < 4:
        return None
    centre = eyes + (nose - eyes) * _CENTRE_BELOW_EYES
    box = _inside(centre[0], centre[1], reach * _SIDE_PER_EYE_NOSE, width, height)
    return box if box.width >= 16 and box.height >= 16 else None
