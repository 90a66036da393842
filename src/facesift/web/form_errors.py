"""A refused form comes back filled in, with the reason in the user's words (issue 13,
section 5): a refused purpose, a review mistake or a non-image upload used to end on an error
page with "Go to the start page", losing what was typed, and one message said "face_id".

The services' messages are written for the API and the audit log, where field names are the
right words; on a page the field is a thing the user sees, so a few are said again here.
"""

from __future__ import annotations

from facesift.errors import FacesiftError

# Whole messages a page says otherwise: the service's words -> the page's.
_SAID_OTHERWISE = {
    "a confirmation names a face_id from this candidate list": (
        "To confirm a lead, choose which candidate is the person (the circle beside "
        "“Candidate 1”, “Candidate 2”…), or choose “No lead” or “Inconclusive”."
    ),
    "a confirmation names the person: a subject, or candidate face_ids from this list": (
        "To confirm a lead, choose who the person is: tick the subject, or the candidates "
        "you judge to be the person; or choose “None of these” or “Inconclusive”."
    ),
    "the decision is one of confirm, no_lead, inconclusive": (
        "Choose your decision: confirm the chosen candidate, no lead, or inconclusive."
    ),
}
# Field names inside other messages: the API's name -> the label on the form.
_FIELD_WORDS = {
    "candidate_face_id": "candidate",
    "face_id": "candidate",
    "offense_category": "offense category",
    "authorisation_id": "authorisation id",
    "authorisation_expires": "authorisation expiry date",
}
# The HTTP status a re-shown form answers with, by the error's code.
_STATUS = {"invalid": 400, "search_refused": 403, "conflict": 409}


def in_words(error: FacesiftError) -> str:
    """The error's message as a page says it: a sentence, with no API field names."""
    message = _SAID_OTHERWISE.get(error.message)
    if message is None:
        message = error.message
        for name, words in _FIELD_WORDS.items():
            message = message.replace(name, words)
        message = message[:1].upper() + message[1:]
        if not message.endswith((".", "!", "?")):
            message += "."
    return message


def refill_status(error: FacesiftError) -> int:
    return _STATUS.get(error.code, 400)
