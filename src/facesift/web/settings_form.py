"""The settings form as people fill it in (issue 13, section 5): the upload limit in MB, the
refused purposes as rows (a category, a reason, its terms one per line), the quality floors
as one number per measure, the promotion gate as a number (blank: off). The settings'
own checks (``services.settings``) still judge every value.

The form's older fields are still read when sent, for scripts that post them: the upload
limit in bytes (``max_upload_bytes``) and JSON in ``refused_purposes``,
``quality_warning_floor``, ``quality_refusal_floor`` and ``promotion_max_group_ratio``.
"""

from __future__ import annotations

import json

from starlette.datastructures import FormData

from facesift.errors import InvalidInput
from facesift.services.quality_gate import FLOOR_KEYS

MB = 1_000_000  # decimal megabytes, as file sizes are shown
FLOORS = {"quality_warning_floor": "warning", "quality_refusal_floor": "refusal"}
# How each floor measure is asked for: its key -> (label, unit).
FLOOR_LABELS = {
    "min_face_px": ("Smallest face", "px"),
    "min_sharpness": ("Least sharpness", ""),
    "min_detector_score": ("Least detector score", ""),
    "max_yaw": ("Most yaw", "°"),
    "max_pitch": ("Most pitch", "°"),
    "max_roll": ("Most roll", "°"),
}


def _text(form: FormData, key: str) -> str | None:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else None


def _json(form: FormData, key: str) -> object:
    try:
        return json.loads(_text(form, key) or "")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{key.replace('_', ' ')} is not valid JSON: {exc}") from None


def _number(text: str, what: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        raise InvalidInput(f"{what} is a number, like 12 or 0.5; “{text}” is not") from None


def _whole(form: FormData, key: str, what: str) -> int:
    text = _text(form, key)
    if not text:
        raise InvalidInput(f"{what} is required")
    value = _number(text, what)
    if value != int(value) or value < 1:
        raise InvalidInput(f"{what} is a whole number, 1 or more")
    return int(value)


def _refused_purposes(form: FormData) -> list[dict]:
    categories, reasons = form.getlist("refused_category"), form.getlist("refused_reason")
    terms = form.getlist("refused_terms")
    rows = []
    for number, (category, reason, words) in enumerate(
        zip(categories, reasons, terms, strict=False), start=1
    ):
        category, reason = str(category).strip(), str(reason).strip()
        listed = [t.strip() for t in str(words).replace(",", "\n").splitlines() if t.strip()]
        if not (category or reason or listed):
            continue  # an empty row, for adding one
        if not (category and reason and listed):
            raise InvalidInput(
                f"refused purpose {number} needs a category, a reason and at least one term"
            )
        rows.append({"category": category, "reason": reason, "terms": listed})
    return rows


def _floor(form: FormData, prefix: str) -> dict:
    floor = {}
    for key in FLOOR_KEYS:
        text = _text(form, f"{prefix}_{key}")
        if text:
            floor[key] = _number(text, f"the {prefix} floor's {FLOOR_LABELS[key][0].lower()}")
    return floor


def wanted_settings(form: FormData) -> dict:
    """The settings a submitted form asks for (InvalidInput, in the user's words, if not)."""
    wanted: dict[str, object] = {
        "offense_categories": [
            line.strip()
            for line in (_text(form, "offense_categories") or "").splitlines()
            if line.strip()
        ],
        "searches_per_minute": _whole(form, "searches_per_minute", "searches per minute"),
    }
    if _text(form, "max_upload_mb"):
        megabytes = _number(_text(form, "max_upload_mb") or "", "the largest upload")
        if megabytes <= 0:
            raise InvalidInput("the largest upload is more than 0 MB")
        wanted["max_upload_bytes"] = round(megabytes * MB)
    else:
        wanted["max_upload_bytes"] = _whole(form, "max_upload_bytes", "the largest upload")
    if "refused_purposes" in form:
        wanted["refused_purposes"] = _json(form, "refused_purposes")
    else:
        wanted["refused_purposes"] = _refused_purposes(form)
    fpir = _text(form, "target_fpir_percent")
    if fpir:  # the settings' own check says which rates are allowed
        wanted["target_fpir"] = round(_number(fpir, "the strangers' rate") / 100, 8)
    for key, prefix in FLOORS.items():
        if _text(form, key):
            wanted[key] = _json(form, key)
        elif f"{prefix}_shown" in form:  # the form showed the floor's fields
            wanted[key] = _floor(form, prefix)
    ratio = _text(form, "promotion_max_group_ratio")
    if ratio is not None and (ratio or "promotion_shown" in form):
        wanted["promotion_max_group_ratio"] = (
            None if ratio in ("", "null") else _number(ratio, "the largest ratio between groups")
        )
    return wanted
