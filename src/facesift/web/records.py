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
    "lead_subject": "lead's subject",
    "subject": "subject confirmed",
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


_OUTCOMES = {
    "candidates": "a candidate list, sent for review",
    "no_candidate": "no candidate within the threshold",
    "no_lead": "no lead",
    "inconclusive": "inconclusive",
    "released": "a lead released",
    "confirm": "confirmed a candidate",
}
# One sentence per common action, from its details; an action not here, or an entry whose
# details lack a key, gets no sentence (the labelled values still say everything).
_SENTENCES = {
    "case_opened": "Opened case {reference}.",
    "case_closed": "Closed case {case}.",
    "probe_uploaded": "Uploaded probe {probe_id}; faces found: {faces}.",
    "probe_edited": "Made probe {probe_id} from probe {parent_probe_id}.",
    "probe_manual_face": "Drew face {face} by hand on probe {parent_probe_id}: probe {probe_id}.",
    "search_every_face": "Searched every face of probe {probe_id}.",
    "search": "Searched probe {probe_id}, face {face}: {outcome}.",
    "search_refused": "A search of probe {probe_id} was refused.",
    "review_assigned": "Took search {search_id} for review.",
    "review": "Reviewed search {search_id}: {decision}.",
    "review_outcome": "The reviews of search {search_id} ended: {outcome}.",
    "disclosure_exported": "Exported the disclosure packet of case {case}.",
}


def sentence(action: str, details: Any) -> str | None:
    """What an audit entry records, as one sentence; None where there is no sentence for it."""
    template = _SENTENCES.get(action)
    if template is None or not isinstance(details, dict):
        return None
    words = {k: _OUTCOMES.get(v, v) if isinstance(v, str) else v for k, v in details.items()}
    words = {k: v.replace("_", " ") if isinstance(v, str) else v for k, v in words.items()}
    try:
        return template.format(**words)
    except (KeyError, IndexError, ValueError):
        return None


def install(env: jinja2.Environment) -> None:
    env.filters["readable"] = readable
    env.globals["record_sentence"] = sentence
