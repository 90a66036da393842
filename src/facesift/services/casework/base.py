"""What every part of casework shares: the constants, the constructor (the gallery, the
probe analysis, the settings), the audit log and the look-ups of stored cases and probes, and
small helpers used by more than one resource."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable

from PIL import Image

from facesift.errors import (
    NotFound,
)
from facesift.services import review_outcome
from facesift.services.calibration import Calibration
from facesift.services.casework.values import Case, Probe
from facesift.services.gallery import Gallery
from facesift.services.pixel_budget import PixelBudget
from facesift.services.probe_pool import ProbePool
from facesift.services.settings import Settings
from facesift.store.values import SearchStatus
from facesift.vision import FaceAnalyzer

LEAD_NOTICE = "investigative lead only, not an identification; requires independent corroboration"
PENDING, RELEASED = SearchStatus.PENDING_REVIEW, SearchStatus.RELEASED
NO_LEAD, INCONCLUSIVE = SearchStatus.NO_LEAD, SearchStatus.INCONCLUSIVE
NO_CANDIDATE = SearchStatus.NO_CANDIDATE
DECISIONS, REVIEWS_NEEDED = review_outcome.DECISIONS, review_outcome.REVIEWS_NEEDED
# The team's searches and the review queue come a page at a time: both grow with every
# search, and whole, they were most of a read's time under bench/load.py.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Views are audited, but a case's timeline is what was done in it, not who looked at it.
VIEW_ACTIONS = (
    "probe_viewed",
    "candidate_viewed",
    "search_viewed",
    "case_viewed",
    "probe_opened",
)
ROTATIONS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}
CROP_MARGIN = 0.3  # a face crop shows this share of the box around it
MAX_SHOWN_SIDE = 1600  # source images are re-encoded no larger than this


class CaseworkBase:
    """``pool``: the probe analysis pool (``ProbePool``: one low-priority process per core, so
    analyses neither hold Python's lock in the server process nor take the cores from the
    request threads). Without it, the one ``analyzer`` analyses every upload in turn, here.
    ``analyzer`` also answers how small a face is looked for in a photo of a given size."""

    def __init__(
        self,
        gallery: Gallery,
        analyzer: FaceAnalyzer,
        calibration: Calibration,
        settings: Settings,
        pool: ProbePool | None = None,
    ):
        self.gallery = gallery
        self.records = gallery.store.cases
        self.settings = settings
        self._analyzer = analyzer
        self._calibration = calibration
        self._pool = pool
        self._in_turn = threading.Lock()  # the one analyzer is not thread-safe
        self.pixels = PixelBudget()  # pixels decoded and analysed at once, server-wide
        # Called after every search, run or refused (the misuse alerts; services.alerts).
        self.after_search: Callable[[], None] | None = None

    @property
    def _audit(self):
        return self.gallery.store.audit

    @property
    def _assignments(self):
        return self.gallery.store.review_assignments

    def _transaction(self):
        return self.gallery.store.transaction()

    def _stored_case(self, case_id: int) -> dict:
        case = self.records.case(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        return case

    def _stored_probe(self, probe_id: int) -> dict:
        probe = self.records.probe(probe_id)
        if probe is None:
            raise NotFound(f"there is no probe {probe_id}")
        return probe


def unshadowed(search: dict) -> dict:
    """A search as anyone may see it: what it found in shadow collections is never shown.
    Its quality warning is stored as JSON text and given as the object it is (a list of a
    case's searches with a warning once failed the API's answer check: a 500)."""
    shown = {k: v for k, v in search.items() if k != "shadow_candidates"}
    if isinstance(shown.get("quality_warning"), str):
        shown["quality_warning"] = json.loads(shown["quality_warning"])
    return shown


def case_ref(case: Case | dict) -> dict:
    """The case as audit entries name it: its number and reference."""
    if isinstance(case, Case):
        return {"case_id": case.id, "case": case.reference}
    return {"case_id": case["id"], "case": case["reference"]}


def pixels_edited(probe: Probe | dict) -> bool:
    """A crop, turn or mirror up the probe's line; a face drawn by hand changes no pixel."""
    if isinstance(probe, Probe):
        probe = {"edit": probe.edit, "parent_id": probe.parent_id}
    edit = probe.get("edit") or {}
    if probe.get("parent_id") is None:
        return False
    return bool(edit.get("pixels_edited")) if edit.get("operation") == "manual_face" else True


def crop_box(details, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x1, y1, x2, y2 = details["x1"], details["y1"], details["x2"], details["y2"]
    mx, my = int((x2 - x1) * CROP_MARGIN), int((y2 - y1) * CROP_MARGIN)
    return max(0, x1 - mx), max(0, y1 - my), min(width, x2 + mx), min(height, y2 + my)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
