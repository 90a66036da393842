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
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
from PIL import Image

from facesift.errors import (
    Conflict,
    FacesiftError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SearchRefused,
)
from facesift.governance import policy
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.governance.search_policy import MAX_CANDIDATES, MIN_PURPOSE_CHARS
from facesift.schemas import Detection, Face, ImageAnalysis
from facesift.services import blind, face_chips, review_outcome, scope, subjects
from facesift.services.calibration import Calibration
from facesift.services.disclosure_images import add_face_images
from facesift.services.gallery import Gallery
from facesift.services.pixel_budget import PixelBudget, claimed_pixels
from facesift.services.probe_pool import ProbePool
from facesift.services.quality_gate import Verdict, refusal_message
from facesift.services.search import DEFAULT_TOP_K, shadow_hits
from facesift.services.settings import Settings
from facesift.services.sources import SourceReader, item_for_recorded_path
from facesift.services.suppression import drop_suppressed
from facesift.store.audit import AuditEntry, utc_now
from facesift.store.values import CaseStatus, SearchStatus
from facesift.vision import FaceAnalyzer
from facesift.vision.decode import decode_image
from facesift.vision.still import decode_still

LEAD_NOTICE = "investigative lead only, not an identification; requires independent corroboration"
PENDING, RELEASED = SearchStatus.PENDING_REVIEW, SearchStatus.RELEASED
NO_LEAD, INCONCLUSIVE = SearchStatus.NO_LEAD, SearchStatus.INCONCLUSIVE
NO_CANDIDATE = SearchStatus.NO_CANDIDATE
DECISIONS, REVIEWS_NEEDED = review_outcome.DECISIONS, review_outcome.REVIEWS_NEEDED
REVIEWERS_PER_SEARCH = 2  # a search is assigned to at most this many reviewers
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


class Casework:
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

    # -- cases ---------------------------------------------------------------------------------

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

    def open_case(self, actor: Principal, values: dict) -> dict:
        rules.require_search(actor)
        case = _clean_case(values)
        case["collections"] = scope.clean_scope(values.get("collections"), self.gallery)
        try:
            self._check_grounds(case)
        except SearchRefused as refusal:
            self._audit.append("case_refused", {**case, "reason": refusal.message}, actor.name)
            raise
        with self._transaction():
            if self.records.case_by_reference(case["reference"]):
                raise Conflict(f"there is already a case {case['reference']!r}")
            case_id = self.records.add_case(case, actor.user_id)
            self._audit.append("case_opened", {"case_id": case_id, **case}, actor.name)
        return self._stored_case(case_id)

    def offense_categories(self, actor: Principal) -> list[str]:
        """The allow-list, for someone about to open a case."""
        rules.require_search(actor)
        return self.settings.get("offense_categories")

    def _check_grounds(self, case: dict) -> None:
        policy.check_purpose(
            case["purpose"],
            case["offense_category"],
            self.settings.refused_purposes(),
            self.settings.get("offense_categories"),
        )
        scope.require_authorisation(case, self.settings.get("authorisation_required"))
        expires = case.get("authorisation_expires")
        if expires and date.fromisoformat(expires) < date.today():
            raise SearchRefused(f"the case's authorisation expired on {expires}")

    def cases(self, actor: Principal) -> list[dict]:
        if actor.has_any(Role.AUDITOR, Role.SUPERVISOR):
            return self.records.cases()
        if actor.has(Role.INVESTIGATOR):
            return self.records.cases(created_by=actor.user_id)
        raise Forbidden("this needs the investigator, supervisor or auditor role")

    def case(self, actor: Principal, case_id: int) -> dict:
        case = self.records.case(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        rules.require_view_case(actor, case["created_by"])
        return case

    def view_case(self, actor: Principal, case_id: int) -> dict:
        """A case, opened by someone: audited (the internal look-ups are not)."""
        case = self.case(actor, case_id)
        self._audit.append("case_viewed", _case_ref(case), actor.name)
        return case

    def keep_probe_images(self, actor: Principal, case_id: int, reason: str) -> dict:
        """Record why this case's probe images must outlive its closure (audited): retention
        then keeps them as long as the probe templates, not ``probe_images_days``."""
        case = self.case(actor, case_id)
        rules.require_case_owner(actor, case["created_by"])
        reason = (reason or "").strip()
        if len(reason) < 10:
            raise InvalidInput(
                "give the reason the probe images must be kept (10 characters or more)"
            )
        with self._transaction():
            self.records.set_keep_probe_images(case_id, reason)
            self._audit.append(
                "probe_images_kept", {**_case_ref(case), "reason": reason}, actor.name
            )
        return self.records.case(case_id) or case

    def close_case(self, actor: Principal, case_id: int) -> dict:
        case = self.case(actor, case_id)
        rules.require_case_owner(actor, case["created_by"])
        with self._transaction():
            self.records.set_case_status(case_id, CaseStatus.CLOSED)
            self._audit.append("case_closed", _case_ref(case), actor.name)
        return self._stored_case(case_id)

    def _case_for_search(self, actor: Principal, case_id: int) -> dict:
        rules.require_search(actor)
        case = self.case(actor, case_id)
        rules.require_case_owner(actor, case["created_by"])
        if case["status"] != CaseStatus.OPEN:
            refusal = Conflict(f"case {case['reference']} is closed")
            self._audit.append(
                "access_refused", {**_case_ref(case), "rule": refusal.message}, actor.name
            )
            raise refusal
        return case

    def case_for_search(self, actor: Principal, case_id: int) -> dict:
        """The case, if ``actor`` may search in it now (its owner, trained, the case open)."""
        return self._case_for_search(actor, case_id)

    # -- probes --------------------------------------------------------------------------------

    def add_probe(self, actor: Principal, case_id: int, content: bytes) -> dict:
        """Store an uploaded still photo and find its faces. Checked by content, not name."""
        self._case_for_search(actor, case_id)
        limit = self.settings.get("max_upload_bytes")
        with self.pixels.holding(claimed_pixels(content)):
            analysis, media_type = self._analyze_upload(content, limit)
        return self._store_probe(actor, case_id, content, media_type, analysis, parent=None)

    def edit_probe(self, actor: Principal, probe_id: int, edit: dict) -> dict:
        """Crop, rotate or mirror a probe: a new derivative probe; the original stays."""
        parent = self.probe(actor, probe_id, with_content=True)
        self._case_for_search(actor, parent["case_id"])
        edit = _clean_edit(edit, parent["width"], parent["height"])
        with self.pixels.holding(parent["width"] * parent["height"]):
            image = _edited(Image.fromarray(decode_image(parent["content"])), edit)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")  # lossless: the edit is the only change
            analysis = self._analyze(np.asarray(image))
        edit["before_sha256"] = parent["sha256"]
        return self._store_probe(
            actor, parent["case_id"], buffer.getvalue(), "image/png", analysis, parent, edit
        )

    def _analyze(self, pixels: np.ndarray) -> ImageAnalysis:
        if self._pool is not None:
            return self._pool.analyze(pixels)  # waits while every pool process is busy
        with self._in_turn:
            return self._analyzer.analyze(pixels)

    def _analyze_upload(self, content: bytes, limit: int) -> tuple[ImageAnalysis, str]:
        """An upload's faces and media type. In the pool the upload is decoded there too: a
        1 MP JPEG's pixels are 3 MB to pass between processes, and decoding them in the
        server took its request threads' time (see bench/load.py)."""
        if self._pool is not None:
            return self._pool.analyze_upload(content, limit)
        pixels, media_type = decode_still(content, limit)
        return self._analyze(pixels), media_type

    def analyze_pixels(self, pixels: np.ndarray) -> ImageAnalysis:
        """Faces of a photo, through the probe pool (opt-out selfies use it too)."""
        return self._analyze(pixels)

    def faces_at(self, pixels: np.ndarray, boxes: list[Detection]) -> list[Face]:
        """Faces aligned and embedded at known places (a box drawn by hand), through the pool."""
        if self._pool is not None:
            return self._pool.faces_at(pixels, boxes)
        with self._in_turn:
            return self._analyzer.faces_at(pixels, boxes)

    def analysis_processes(self) -> list[int]:
        """The process ids of the probe analysis pool (empty before its first analysis)."""
        return self._pool.pids() if self._pool is not None else []

    def close(self) -> None:
        """Stop the probe analysis pool's processes."""
        if self._pool is not None:
            self._pool.close()

    def _store_probe(
        self,
        actor: Principal,
        case_id: int,
        content: bytes,
        media_type: str,
        analysis: ImageAnalysis,
        parent: dict | None,
        edit: dict | None = None,
    ) -> dict:
        # Checked again: while the photo was analysed, the case may have been closed.
        case = self._case_for_search(actor, case_id)
        faces = [face.describe() for face in analysis.faces]
        embeddings = (
            np.stack([f.embedding for f in analysis.faces])
            if faces
            else np.zeros((0, self._analyzer.embedder.dim), np.float32)
        )
        sha = hashlib.sha256(content).hexdigest()
        record = {
            "case_id": case["id"],
            "parent_id": parent["id"] if parent else None,
            "edit": edit,
            "sha256": sha,
            "content": content,
            "media_type": media_type,
            "width": analysis.width,
            "height": analysis.height,
            "faces": faces,
            "created_by": actor.user_id,
        }
        with self._transaction():
            probe_id = self.records.add_probe(record, embeddings)
            details = {**_case_ref(case), "probe_id": probe_id, "sha256": sha, "faces": len(faces)}
            if edit and parent is not None:
                details |= {"parent_probe_id": parent["id"], "edit": edit, "after_sha256": sha}
            self._audit.append("probe_edited" if edit else "probe_uploaded", details, actor.name)
        return self._described(self._stored_probe(probe_id))

    def _described(self, probe: dict) -> dict:
        """A probe with the smallest face looked for in it: more than the configured minimum
        where the photo was too big to scan whole (see vision.detect.plan_scale)."""
        width, height = probe["width"], probe["height"]
        return probe | {
            "smallest_face_px": self._analyzer.smallest_face_px(width, height),
            "scan_capped": self._analyzer.scan_capped(width, height),
        }

    def probe(self, actor: Principal, probe_id: int, with_content: bool = False) -> dict:
        probe = self.records.probe(probe_id, with_content=with_content)
        if probe is None:
            raise NotFound(f"there is no probe {probe_id}")
        case = self._stored_case(probe["case_id"])
        if not (
            rules.can_view_case(actor, case["created_by"])
            or (
                actor.has(Role.REVIEWER)
                and self._assignments.reviews_probe(actor.user_id, probe_id)
            )
        ):
            raise Forbidden(
                "you may see only probes of your own cases, or of searches assigned to you "
                "for review"
            )
        return self._described(probe)

    def open_probe(self, actor: Principal, probe_id: int) -> dict:
        """A probe, opened by someone: audited."""
        probe = self.probe(actor, probe_id)
        self._audit.append(
            "probe_opened", {"case_id": probe["case_id"], "probe_id": probe_id}, actor.name
        )
        return probe

    def probes(self, actor: Principal, case_id: int) -> list[dict]:
        self.case(actor, case_id)
        return self.records.probes(case_id)

    def probe_image(self, actor: Principal, probe_id: int) -> tuple[bytes, str]:
        probe = self.probe(actor, probe_id, with_content=True)
        if probe.get("pixels_destroyed_at"):
            raise NotFound(
                f"probe {probe_id}'s image was destroyed under the retention policy on "
                f"{probe['pixels_destroyed_at'][:10]}"
            )
        self._audit.append(
            "probe_viewed", {"case_id": probe["case_id"], "probe_id": probe_id}, actor.name
        )
        return probe["content"], probe["media_type"]

    def probe_face_crop(
        self, actor: Principal, probe_id: int, face_index: int, aligned: bool = False
    ) -> bytes:
        """One face of a probe, framed as a candidate's crop is (``CROP_MARGIN``), or
        ``aligned`` at its landmarks as candidates' aligned chips are, so the two can be laid
        over each other in review. Audited as a view of the probe."""
        content, _ = self.probe_image(actor, probe_id)
        probe = self.records.probe(probe_id) or {}
        faces = probe.get("faces") or []
        if not 0 <= face_index < len(faces):
            raise NotFound(f"probe {probe_id} has no face {face_index}")
        x1, y1, x2, y2 = faces[face_index]["box"]
        pixels = decode_image(content)
        chip = None
        if aligned:
            landmarks = faces[face_index].get("landmarks")
            chip = face_chips.aligned_jpeg(pixels, [x1, y1, x2, y2], landmarks)
        box = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
        return chip or _jpeg(Image.fromarray(pixels).crop(_crop_box(box, pixels.shape)))

    # -- searches ------------------------------------------------------------------------------

    def run_search(
        self,
        actor: Principal,
        probe_id: int,
        face_index: int,
        collection: str | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> dict:
        try:
            return self._run_search(actor, probe_id, face_index, collection, top_k)
        finally:
            if self.after_search is not None:
                self.after_search()

    def _run_search(
        self,
        actor: Principal,
        probe_id: int,
        face_index: int,
        collection: str | None,
        top_k: int,
    ) -> dict:
        probe = self.probe(actor, probe_id)
        case = self._case_for_search(actor, probe["case_id"])
        if not 1 <= top_k <= MAX_CANDIDATES:
            raise InvalidInput(f"top_k is between 1 and {MAX_CANDIDATES}")
        if not 0 <= face_index < len(probe["faces"]):
            raise InvalidInput(
                f"the probe has {len(probe['faces'])} face(s); there is no face {face_index}"
            )
        try:
            self._check_grounds(case)  # settings or the authorisation may have changed
            collections = scope.searched_collections(case, collection)  # the case's scope
        except SearchRefused as refusal:
            self._audit.append(
                "search_refused",
                {**_case_ref(case), "probe_id": probe_id, "reason": refusal.message},
                actor.name,
            )
            raise
        verdict = self.settings.judge_quality(probe["faces"][face_index])
        if verdict.level == Verdict.REFUSED:
            self._audit.append(
                "search_refused",
                {
                    **_case_ref(case),
                    "probe_id": probe_id,
                    "face": face_index,
                    "reason": refusal_message(verdict),
                    "quality": verdict.as_dict(),
                },
                actor.name,
            )
            raise SearchRefused(refusal_message(verdict))
        warning = verdict.as_dict() if verdict.level == Verdict.WARNING else None
        self._check_rate(actor, case)
        self.gallery.refresh()  # an ingest may have run beside the server
        embedding = self.records.probe_embedding(probe_id, face_index)
        candidates, operating = scope.scoped_search(
            self.gallery,
            self._calibration,
            embedding,
            collections,
            top_k,
            self.settings.get("target_fpir"),
        )
        size = operating.gallery_size
        collection = None if collections is None else ", ".join(collections)
        # People who opted out: their faces are never candidates (counted, on the log).
        candidates, suppressed = drop_suppressed(
            self.gallery.store, candidates, self._calibration.model_id
        )
        shadow = _shadow_in_scope(self.gallery, embedding, collections, top_k, operating)
        outcome = "candidates" if candidates else NO_CANDIDATE
        search = {
            "case_id": case["id"],
            "probe_id": probe_id,
            "face_index": face_index,
            "requested_by": actor.user_id,
            "collection": collection,
            "top_k": top_k,
            "threshold": operating.threshold,
            "target_fpir": operating.target_fpir,
            "gallery_size": size,
            "expected_false_candidates": operating.expected_false_candidates,
            "outcome": outcome,
            "status": PENDING if candidates else NO_CANDIDATE,
            "edited_probe": int(pixels_edited(probe)),
            "quality_warning": json.dumps(warning) if warning else None,
            "shadow_candidates": json.dumps(shadow) if shadow is not None else None,
        }
        shown = [c.as_dict() for c in candidates]
        with self._transaction():
            search_id = self.records.add_search(search, shown)
            entry = self._audit.append(
                "search",
                {
                    **_case_ref(case),
                    "purpose": case["purpose"],
                    "search_id": search_id,
                    "probe_id": probe_id,
                    "probe_sha256": probe["sha256"],
                    "face": face_index,
                    "edited_probe": bool(search["edited_probe"]),
                    "manual_face": bool(probe["faces"][face_index].get("manual")),
                    "collection": collection,
                    "threshold": operating.threshold,
                    "target_fpir": operating.target_fpir,
                    "gallery_size": size,
                    "outcome": outcome,
                    "candidate_face_ids": [c["face_id"] for c in shown],
                    "quality_warning": warning,
                    **({"shadow_candidates": len(shadow)} if shadow is not None else {}),
                    "suppressed_candidates": suppressed,
                },
                actor.name,
            )
            self.records.set_search(search_id, audit_id=entry.id)
        return self._search_view(actor, search_id)

    def _check_rate(self, actor: Principal, case: dict) -> None:
        per_minute = self.settings.get("searches_per_minute")
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="microseconds")
        if self.records.searches_since(actor.user_id, since) >= per_minute:
            self._audit.append(
                "search_rate_limited",
                {**_case_ref(case), "limit_per_minute": per_minute},
                actor.name,
            )
            raise RateLimited(f"at most {per_minute} searches a minute; wait and try again")

    def search(self, actor: Principal, search_id: int) -> dict:
        """A candidate list, opened by someone: audited, with the view they were given."""
        search = self._search_view(actor, search_id)
        self._audit.append(
            "search_viewed",
            {
                "case_id": search["case_id"],
                "case": search["case_reference"],
                "search_id": search_id,
                "view": search["view"],
            },
            actor.name,
        )
        return search

    def _search_access(self, actor: Principal, search: dict) -> blind.View:
        """Full for its assigned reviewers and for oversight; blind for its requester."""
        if actor.has_any(Role.SUPERVISOR, Role.AUDITOR):
            return blind.View.FULL
        if actor.has(Role.REVIEWER) and self._assignments.is_assigned(search["id"], actor.user_id):
            return blind.View.FULL
        if rules.can_view_case(actor, search["case_created_by"]):
            return blind.View.REQUESTER
        raise Forbidden(
            "you may see only searches of your own cases, or those assigned to you for review"
        )

    def _search_view(self, actor: Principal, search_id: int) -> dict:
        """A search with its candidate list (blind for its requester until released) and,
        once decided, its reviews and lead."""
        search = self.records.search(search_id)
        if search is None:
            raise NotFound(f"there is no search {search_id}")
        access = self._search_access(actor, search)
        search = _unshadowed(search)
        search["candidates"] = self.records.candidates(search_id)
        search["quality_warning"] = search.get("quality_warning") or None  # decoded above
        reviews = self.records.reviews([search_id])
        decided = search["status"] != PENDING
        # A reviewer must not see another's decision before the outcome: show only their own.
        search["reviews"] = (
            reviews if decided else [r for r in reviews if r["reviewer_id"] == actor.user_id]
        )
        search["reviews_received"] = len(reviews)
        search["reviews_needed"] = REVIEWS_NEEDED
        search["lead"] = self._lead(search) if search["status"] == RELEASED else None
        search["reviewers_assigned"] = len(self._assignments.reviewers(search_id))
        explained = review_outcome.explain(search, reviews)
        search["outcome_reason"] = explained.reason if explained else None
        search["next_steps"] = explained.next_steps if explained else []
        search["manual_face"] = self._manual_face(search)
        if access is blind.View.REQUESTER:
            search = blind.for_requester(search)
        else:
            search = blind.full(search)
        return self._grouped(search)

    def _grouped(self, search: dict) -> dict:
        """The candidates the viewer may see, grouped by person (``services.subjects``)."""
        shown = search["candidates"]
        pairs = subjects.subjects_of(shown)
        counts = self.gallery.store.subject_faces(pairs)
        others = {}  # the subjects' other gallery photos: for those who see the whole list
        if search["view"] == blind.View.FULL:
            limit = len(shown) + subjects.OTHER_FACES_SHOWN
            others = {p: self.gallery.store.subject_face_ids(*p, limit) for p in set(pairs)}
        groups = subjects.group_candidates(shown, counts, others)
        search["groups"] = [g.as_dict() for g in groups]
        return search

    def _manual_face(self, search: dict) -> bool:
        """Whether the searched face was drawn by hand (services.manual_face)."""
        probe = self.records.probe(search["probe_id"])
        faces = probe["faces"] if probe else []
        index = search["face_index"]
        return bool(0 <= index < len(faces) and faces[index].get("manual"))

    def _lead(self, search: dict) -> dict:
        lead = next(c for c in search["candidates"] if c["face_id"] == search["lead_face_id"])
        return {"candidate": lead, "notice": LEAD_NOTICE}

    def searches(self, actor: Principal, case_id: int | None = None) -> list[dict]:
        """A case's searches, or the whole team's activity for supervisors and auditors."""
        if case_id is not None:
            self.case(actor, case_id)
            return [_unshadowed(s) for s in self.records.searches(case_id=case_id)]
        rules.require_team_activity(actor)
        return [_unshadowed(s) for s in self.records.searches()]

    # -- review --------------------------------------------------------------------------------

    def review_queue(self, actor: Principal) -> list[dict]:
        """Searches awaiting review that this reviewer may take (fewer than two reviewers
        assigned) or has taken and not yet reviewed. No candidates: those come with the
        assignment."""
        if not actor.has(Role.REVIEWER):
            raise Forbidden("this needs the reviewer role")
        pending = self.records.pending_reviews_for(actor.user_id)
        counts = self._assignments.counts(s["id"] for s in pending)
        mine = self._assignments.searches_of(actor.user_id)
        queue = []
        for search in pending:
            assigned = counts.get(search["id"], 0)
            if search["id"] in mine or assigned < REVIEWERS_PER_SEARCH:
                queue.append(
                    _unshadowed(search)
                    | {
                        "assigned_to_you": search["id"] in mine,
                        "reviewers_assigned": assigned,
                        "candidate_count": len(self.records.candidates(search["id"])),
                        "reviews_received": len(self.records.reviews([search["id"]])),
                        "reviews_needed": REVIEWS_NEEDED,
                    }
                )
        return queue

    def my_reviews(self, actor: Principal) -> list[dict]:
        """The reviews this reviewer recorded, newest first, with how each search ended."""
        if not actor.has(Role.REVIEWER):
            raise Forbidden("this needs the reviewer role")
        return self.records.reviews_by(actor.user_id)

    def take_review(self, actor: Principal, search_id: int) -> dict:
        """Take a search from the queue: the reviewer is assigned to it (at most two are)."""
        search = self.records.search(search_id)
        if search is None:
            raise NotFound(f"there is no search {search_id}")
        rules.require_review(actor, search["requested_by"])
        if search["status"] != PENDING:
            raise Conflict(f"search {search_id} is not awaiting review ({search['status']})")
        with self._transaction():
            if not self._assignments.is_assigned(search_id, actor.user_id):
                if not self._assignments.assign(search_id, actor.user_id):
                    raise Conflict(f"search {search_id} already has its two reviewers")
                self._audit.append(
                    "review_assigned",
                    {
                        "case_id": search["case_id"],
                        "case": search["case_reference"],
                        "search_id": search_id,
                    },
                    actor.name,
                )
            reviewers = self._assignments.reviewers(search_id)
        return {
            "search_id": search_id,
            "assigned_to_you": True,
            "reviewers_assigned": len(reviewers),
        }

    def _require_assigned(self, actor: Principal, search_id: int) -> None:
        if not self._assignments.is_assigned(search_id, actor.user_id):
            raise Forbidden(
                "a reviewer reviews only searches assigned to them: take it from the queue first"
            )

    def search_to_review(self, actor: Principal, search_id: int) -> dict:
        """A search, for a reviewer who may review it now."""
        found = self.records.search(search_id)
        if found is None:
            raise NotFound(f"there is no search {search_id}")
        rules.require_review(actor, found["requested_by"])
        self._require_assigned(actor, search_id)
        return self.search(actor, search_id)

    def submit_review(self, actor: Principal, search_id: int, review: dict) -> dict:
        search = self.records.search(search_id)
        if search is None:
            raise NotFound(f"there is no search {search_id}")
        rules.require_review(actor, search["requested_by"])
        if search["status"] != PENDING:
            raise Conflict(f"search {search_id} is not awaiting review ({search['status']})")
        self._require_assigned(actor, search_id)
        candidates = self.records.candidates(search_id)
        review = review_outcome.clean_review(review, candidates)
        with self._transaction():
            if any(r["reviewer_id"] == actor.user_id for r in self.records.reviews([search_id])):
                raise Conflict("you have already reviewed this search")
            review_id = self.records.add_review(
                {"search_id": search_id, "reviewer_id": actor.user_id, **review}
            )
            ref = {"case_id": search["case_id"], "case": search["case_reference"]}
            self._audit.append(
                "review",
                {**ref, "search_id": search_id, "review_id": review_id, **review},
                actor.name,
            )
            status, lead = review_outcome.outcome(self.records.reviews([search_id]), candidates)
            if status != PENDING:
                self.records.set_search(search_id, status=status, lead_face_id=lead)
                lead_subject = next(
                    (subjects.subject_key(c) for c in candidates if c["face_id"] == lead), None
                )
                self._audit.append(
                    "review_outcome",
                    {
                        **ref,
                        "search_id": search_id,
                        "outcome": status,
                        "lead_face_id": lead,
                        **({"lead_subject": lead_subject} if lead_subject else {}),
                    },
                    actor.name,
                )
        return self._search_view(actor, search_id)

    # -- gallery images shown with candidates ----------------------------------------------------

    def _require_image_access(
        self, actor: Principal, face_id: int | None = None, image_id: int | None = None
    ) -> dict:
        """A gallery image is shown only to someone who may see a search that listed it.
        The view is audited against the newest such search."""
        shown_in = self.records.searches_showing(face_id=face_id, image_id=image_id)
        for search in shown_in:
            try:
                access = self._search_access(actor, search)
            except Forbidden:
                continue
            if access is blind.View.FULL or self._is_lead(search, face_id, image_id):
                return search
        if face_id is not None:  # another photo of a subject on a list the viewer sees whole
            for search in self.records.searches_showing_subject_of(face_id):
                try:
                    if self._search_access(actor, search) is blind.View.FULL:
                        return search
                except Forbidden:
                    continue
        raise Forbidden(
            "gallery images are shown only to the reviewers assigned to a search that listed "
            "them, to oversight, and to the requester once the reviewers released it as the lead"
        )

    def _is_lead(self, search: dict, face_id: int | None, image_id: int | None) -> bool:
        if search["status"] != RELEASED:
            return False
        if face_id is not None:
            return search["lead_face_id"] == face_id
        lead = next(
            (
                c
                for c in self.records.candidates(search["id"])
                if c["face_id"] == search["lead_face_id"]
            ),
            None,
        )
        return lead is not None and lead["image_id"] == image_id

    def face_crop(self, actor: Principal, face_id: int, aligned: bool = False) -> bytes:
        """A candidate's face: a crop around its box, or ``aligned`` at its landmarks
        (``services.face_chips``; the crop where the landmarks cannot place a chip)."""
        search = self._require_image_access(actor, face_id=face_id)
        details = self.gallery.store.face_details([face_id]).get(face_id)
        if details is None:
            raise NotFound(f"face {face_id} has been removed from the gallery")
        pixels = self._read_gallery_image(details["path"])
        box = [details["x1"], details["y1"], details["x2"], details["y2"]]
        chip = (
            face_chips.aligned_jpeg(pixels, box, json.loads(details["landmarks"]))
            if aligned
            else None
        )
        self._audit.append(
            "candidate_viewed",
            {
                "case_id": search["case_id"],
                "search_id": search["id"],
                "face_id": face_id,
                "view": "aligned_face" if chip else "face",
            },
            actor.name,
        )
        return chip or _jpeg(Image.fromarray(pixels).crop(_crop_box(details, pixels.shape)))

    def gallery_image(self, actor: Principal, image_id: int) -> bytes:
        search = self._require_image_access(actor, image_id=image_id)
        path = self.gallery.store.image_path(image_id)
        if path is None:
            raise NotFound(f"image {image_id} has been removed from the gallery")
        image = Image.fromarray(self._read_gallery_image(path))
        image.thumbnail((MAX_SHOWN_SIDE, MAX_SHOWN_SIDE))
        self._audit.append(
            "candidate_viewed",
            {
                "case_id": search["case_id"],
                "search_id": search["id"],
                "image_id": image_id,
                "view": "source_image",
            },
            actor.name,
        )
        return _jpeg(image)

    def _read_gallery_image(self, path: str) -> np.ndarray:
        reader = SourceReader(max_bytes=200 * 1024 * 1024)
        try:
            return decode_image(reader.read(item_for_recorded_path(path)))
        except FacesiftError as exc:
            raise NotFound(f"the gallery image can no longer be read: {exc.message}") from exc
        finally:
            reader.close()

    # -- the case record -----------------------------------------------------------------------

    def timeline(self, actor: Principal, case_id: int) -> list[dict]:
        """Everything done in the case, negative results and refusals included, in order."""
        self.case(actor, case_id)
        entries = self._audit.case_entries(case_id, skip=VIEW_ACTIONS)
        searches = self.records.searches(case_id=case_id)
        pending = {s["id"] for s in searches if s["status"] == PENDING}
        requester = not actor.has_any(Role.SUPERVISOR, Role.AUDITOR)
        leads = {s["id"]: s["lead_face_id"] for s in searches if s["status"] == RELEASED}
        events = []
        for entry in entries:
            event = _event(entry)
            if event["action"] == "review" and event["details"]["search_id"] in pending:
                # Undecided: say that a review came in, not what it said.
                event["details"] = {
                    "search_id": event["details"]["search_id"],
                    "decision": "(hidden until both reviews are in)",
                }
            events.append(blind.timeline_event(event, leads) if requester else event)
        return events

    def disclosure(self, actor: Principal, case_id: int) -> dict:
        """The disclosure packet: the case, its probes, searches, reviews and audit trail."""
        case = self.case(actor, case_id)
        searches = [
            self._search_view(actor, s["id"])
            for s in reversed(self.records.searches(case_id=case_id))
        ]
        packet = {
            "format": "facesift-disclosure/1",
            "generated_at": utc_now(),
            "generated_by": actor.name,
            "case": case,
            "probes": self.records.probes(case_id),
            "searches": searches,
            "timeline": self.timeline(actor, case_id),
            "lead_notice": LEAD_NOTICE,
        }
        add_face_images(self, actor, packet)  # the probe and candidate faces, inline
        entry = self._audit.append("disclosure_exported", _case_ref(case), actor.name)
        # The export's own entry, and the head it was chained to: the log as it stood.
        packet["audit_chain_head"] = {
            "id": entry.id,
            "hash": entry.hash,
            "previous_head": {"id": entry.id - 1, "hash": entry.prev_hash}
            if entry.id > 1
            else None,
        }
        return packet


# -- helpers ------------------------------------------------------------------------------------


def _shadow_in_scope(
    gallery: Gallery, embedding: np.ndarray, collections: list[str] | None, top_k: int, operating
) -> list[dict] | None:
    """What the search finds in the shadow collections within its scope (None: none is)."""
    if collections is None:
        return shadow_hits(gallery, embedding, None, top_k, operating)
    if not gallery.store.shadow_collections():
        return None
    found = [
        hit
        for name in collections
        for hit in shadow_hits(gallery, embedding, name, top_k, operating) or []
    ]
    return sorted(found, key=lambda hit: hit["distance"])[:top_k]


def _unshadowed(search: dict) -> dict:
    """A search as anyone may see it: what it found in shadow collections is never shown.
    Its quality warning is stored as JSON text and given as the object it is (a list of a
    case's searches with a warning once failed the API's answer check: a 500)."""
    shown = {k: v for k, v in search.items() if k != "shadow_candidates"}
    if isinstance(shown.get("quality_warning"), str):
        shown["quality_warning"] = json.loads(shown["quality_warning"])
    return shown


def _case_ref(case: dict) -> dict:
    return {"case_id": case["id"], "case": case["reference"]}


case_ref = _case_ref


def pixels_edited(probe: dict) -> bool:
    """A crop, turn or mirror up the probe's line; a face drawn by hand changes no pixel."""
    edit = probe.get("edit") or {}
    if probe.get("parent_id") is None:
        return False
    return bool(edit.get("pixels_edited")) if edit.get("operation") == "manual_face" else True


def _event(entry: AuditEntry) -> dict:
    return {
        "audit_id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "details": entry.details,
    }


def _text(values: dict, key: str, *, required: bool = True, max_chars: int = 2000) -> str | None:
    value = values.get(key)
    value = value.strip() if isinstance(value, str) else None
    if not value:
        if required:
            raise InvalidInput(f"{key.replace('_', ' ')} is required")
        return None
    if len(value) > max_chars:
        raise InvalidInput(f"{key.replace('_', ' ')} is longer than {max_chars} characters")
    return value


def _clean_case(values: dict) -> dict:
    case = {
        "reference": _text(values, "reference", max_chars=100),
        "offense_category": _text(values, "offense_category", max_chars=100),
        "purpose": _text(values, "purpose"),
        "authorisation_id": _text(values, "authorisation_id", required=False, max_chars=100),
        "authorisation_expires": _text(values, "authorisation_expires", required=False),
    }
    if len(case["purpose"] or "") < MIN_PURPOSE_CHARS:
        raise InvalidInput(
            f"the purpose must explain the search ({MIN_PURPOSE_CHARS} characters or more)"
        )
    if case["authorisation_expires"]:
        try:
            case["authorisation_expires"] = date.fromisoformat(
                case["authorisation_expires"]
            ).isoformat()
        except ValueError:
            raise InvalidInput("authorisation expires is a date like 2027-06-30") from None
    return case


def _edited(image: Image.Image, edit: dict) -> Image.Image:
    if edit["operation"] == "crop":
        return image.crop(tuple(edit["box"]))
    if edit["operation"] == "rotate":
        return image.transpose(ROTATIONS[edit["degrees"]])
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def _clean_edit(edit: dict, width: int, height: int) -> dict:
    operation = edit.get("operation")
    if operation == "crop":
        box = edit.get("box")
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        ):
            raise InvalidInput("a crop needs box: [x1, y1, x2, y2] in whole pixels")
        x1, y1, x2, y2 = box
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise InvalidInput(f"the crop box must lie within the {width}x{height} probe")
        if x2 - x1 < 32 or y2 - y1 < 32:
            raise InvalidInput("a crop is at least 32x32 pixels")
        return {"operation": "crop", "box": box}
    if operation == "rotate":
        if edit.get("degrees") not in ROTATIONS:
            raise InvalidInput("a rotation is 90, 180 or 270 degrees")
        return {"operation": "rotate", "degrees": edit["degrees"]}
    if operation == "mirror":
        return {"operation": "mirror"}
    raise InvalidInput("the edit operation is crop, rotate or mirror")


def _crop_box(details, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x1, y1, x2, y2 = details["x1"], details["y1"], details["x2"], details["y2"]
    mx, my = int((x2 - x1) * CROP_MARGIN), int((y2 - y1) * CROP_MARGIN)
    return max(0, x1 - mx), max(0, y1 - my), min(width, x2 + mx), min(height, y2 + my)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
