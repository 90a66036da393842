"""The quality gate (R9): a probe face too poor to compare is searched with a warning, or not
at all.

A small, blurred or strongly turned face gives distances that mean less than the calibration
says: the calibration was measured on LFW's news photos, mostly frontal and sharp. Two floors,
both settings an admin may change (each change audited):

- ``quality_warning_floor``: below it the search runs, and the result, the stored search and
  so the disclosure packet carry a warning naming each measure that fell short;
- ``quality_refusal_floor``: below it the search is refused, with the reason, and the refusal
  is audited.

A floor is a JSON object of any of ``min_face_px`` (the face box's shorter side),
``min_sharpness`` (variance of the Laplacian of the aligned 150 px chip), ``min_detector_score``,
``max_yaw``, ``max_pitch`` and ``max_roll`` (degrees, either way). A key left out is not
checked. The defaults leave the detector score out: HOG's scores are SVM margins and
CenterFace's are probabilities, so one number cannot serve both.

The default floors, from the fixture's faces (``vision.quality``): its frontal LFW faces have
sharpness 11 to 90 and a blurred background face 2.8; yaw estimates run to about 50 degrees
on faces that still search well. A face of 40 px, the smallest looked for by default, is
searched with a warning; one below 32 px (found with a lower ``--min-face``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from facesift.errors import InvalidInput
from facesift.vision.quality import pose

WARNING_SETTING = "quality_warning_floor"
REFUSAL_SETTING = "quality_refusal_floor"
DEFAULT_WARNING_FLOOR = {"min_face_px": 64, "min_sharpness": 8.0, "max_yaw": 40, "max_pitch": 35}
DEFAULT_REFUSAL_FLOOR = {"min_face_px": 32, "min_sharpness": 3.0, "max_yaw": 75}

# measure name -> (floor key, True when the floor is a minimum)
_LIMITS = {
    "size_px": ("min_face_px", True),
    "sharpness": ("min_sharpness", True),
    "detector_score": ("min_detector_score", True),
    "yaw": ("max_yaw", False),
    "pitch": ("max_pitch", False),
    "roll": ("max_roll", False),
}
FLOOR_KEYS = tuple(key for key, _ in _LIMITS.values())


class Verdict(StrEnum):
    PASS = "pass"
    WARNING = "warning"
    REFUSED = "refused"


@dataclass(frozen=True)
class QualityVerdict:
    """What the gate says of one probe face, with the measures it judged."""

    level: Verdict
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"level": str(self.level), "reasons": self.reasons, "measures": self.measures}


def check_floor(key: str, value: object) -> None:
    """Raise InvalidInput unless ``value`` is a floor (see the module)."""
    if not isinstance(value, dict) or set(value) - set(FLOOR_KEYS):
        raise InvalidInput(f"{key} is an object of any of {', '.join(FLOOR_KEYS)}")
    for name, limit in value.items():
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0
        ):
            raise InvalidInput(f"{key}.{name} is a number, zero or more (or null: unchecked)")


def measures_of(face: dict) -> dict[str, float]:
    """The measures of a described face (``Face.describe``); the pose from its landmarks
    where it was stored before poses were."""
    quality = face.get("quality") or {}
    measures = {
        "size_px": quality.get("size_px"),
        "sharpness": quality.get("sharpness"),
        "detector_score": face.get("detector_score"),
    }
    if "yaw" in quality:
        measures |= {k: quality[k] for k in ("yaw", "pitch", "roll")}
    elif face.get("landmarks") and (estimate := pose(face["landmarks"])) is not None:
        measures |= estimate.as_dict()
    return {k: v for k, v in measures.items() if v is not None}


def _shortfalls(measures: dict[str, float], floor: dict) -> list[str]:
    reasons = []
    for measure, (key, is_minimum) in _LIMITS.items():
        limit, value = floor.get(key), measures.get(measure)
        if limit is None or value is None:
            continue
        if is_minimum and value < limit:
            reasons.append(f"{measure.replace('_', ' ')} {value:g} is below {limit:g}")
        elif not is_minimum and abs(value) > limit:
            reasons.append(f"{measure} {value:g}° is beyond ±{limit:g}°")
    return reasons


def judge(face: dict, warning_floor: dict, refusal_floor: dict) -> QualityVerdict:
    """The gate's verdict on a described probe face."""
    measures = measures_of(face)
    if refused := _shortfalls(measures, refusal_floor):
        return QualityVerdict(Verdict.REFUSED, refused, measures)
    if warned := _shortfalls(measures, warning_floor):
        return QualityVerdict(Verdict.WARNING, warned, measures)
    return QualityVerdict(Verdict.PASS, [], measures)


def refusal_message(verdict: QualityVerdict) -> str:
    return (
        "search refused: the probe face is below the quality refusal floor ("
        + "; ".join(verdict.reasons)
        + "). Use a larger, sharper or more frontal photo of the face"
    )
