"""Records people can read (issue 13, section 7): an audit entry's details as a short list of
labelled values instead of raw JSON, on the case timeline, the audit log and the disclosure
packet. The JSON stays exact where machines read it: the API, the audit export and the JSON
packet. Only the display changes; nothing is left out (every key is shown, nested values are
spelled out), so an auditor reads the same facts as before.
"""

from __future__ import annotations

from typing import Any

import jinja2

from facesift.web.scores import plain

# Keys whose plain spelling would mislead or puzzle: the API's name -> the words shown.
_LABELS = {
    "case_id": "case number",
    "case": "case",
    "search_id": "search",
    "probe_id": "probe",
    "face": "face in the probe",
    "candidate_face_ids": "candidate faces",
    "candidate_face_id": "candidate face",
    "lead_face_id": "lead face",
    "target_fpir": "strangers given candidates (target rate)",
    "probe_sha256": "probe SHA-256",
    "sha256": "SHA-256",
    "before_sha256": "SHA-256 before",
    "after_sha256": "SHA-256 after",
}


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return plain(value, 4)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "; ".join(f"{_label(str(k))}: {_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "none"
    return str(value).replace("_", " ") if str(value).isidentifier() else str(value)


def readable(details: Any) -> list[tuple[str, str]]:
    """An audit entry's ``details`` as (label, value) pairs, in the entry's own order."""
    if isinstance(details, dict):
        return [(_label(str(k)), _value(v)) for k, v in details.items()]
    if details in (None, "", [], {}):
        return []
    return [("details", _value(details))]


def install(env: jinja2.Environment) -> None:
    env.filters["readable"] = readable
