"""Casework: cases, probes, searches within them, and the two-person review of their results.

The path of a search through the server:

1. An investigator opens a **case**: a reference, an offense category from the allow-list, a
   purpose (checked against the refused purposes) and optionally an authorisation.
2. They upload a **probe** photo. Its faces are found and kept, so the investigator can pick
   one. Cropping, rotating or mirroring a probe makes a *derivative* probe that records the
   before and after hashes, who made it and when.
3. A **search** compares the picked face with the gallery. Its candidate list is stored as
   shown. With no face within the threshold the outcome is ``no_candidate``, and that is
   recorded too. A list of candidates starts *pending review*.
4. Two **reviewers**, neither of them the requester, each record a decision with their
   reasoning, without seeing the other's. The lead is released only when both confirm the
   same person (a subject, or overlapping candidates: ``services.review_outcome``);
   otherwise the outcome is *no lead* or *inconclusive*, with the reason and what next.

Every step is written to the audit log, with the case it belongs to.

Each resource has its own module, and ``Casework`` is all of them: ``base`` (the constructor,
the stored look-ups and shared helpers), ``cases``, ``probes``, ``searches``, ``reviews``,
``images`` (the gallery photos shown with candidates) and ``disclosure`` (the case's timeline
and disclosure packet). Each builds on the one before it (probes need cases, searches need
probes); reviews and images each need searches, and disclosure needs images (it inlines the
faces).
"""

from __future__ import annotations

from facesift.services.casework.base import LEAD_NOTICE, case_ref, pixels_edited
from facesift.services.casework.disclosure import DisclosureWork
from facesift.services.casework.reviews import ReviewWork

__all__ = ["LEAD_NOTICE", "Casework", "case_ref", "pixels_edited"]


class Casework(ReviewWork, DisclosureWork):
    """Cases, probes, searches, their review, the gallery images shown with candidates, and
    the case record: one object over the gallery (see ``CaseworkBase`` for its parts)."""
