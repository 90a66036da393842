"""Searches: running one for a probe's face (scope, quality, rate, opted-out faces and shadow
collections), and the candidate list as each viewer may see it (blind for its requester).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np

from facesift.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SearchRefused,
)
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.services import blind, review_outcome, scope, subjects
from facesift.services.casework.base import (
    LEAD_NOTICE,
    NO_CANDIDATE,
    PAGE_SIZE,
    PENDING,
    RELEASED,
    REVIEWS_NEEDED,
    case_ref,
    pixels_edited,
    unshadowed,
)
from facesift.services.casework.probes import ProbeWork
from facesift.services.casework.values import Search
from facesift.services.gallery import Gallery
from facesift.services.quality_gate import Verdict, refusal_message
from facesift.services.search import DEFAULT_TOP_K, ShadowHit, shadow_hits
from facesift.services.suppression import drop_suppressed


class SearchWork(ProbeWork):
    def run_search(
        self,
        actor: Principal,
        probe_id: int,
        face_index: int,
        collection: str | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> Search:
        try:
            found = self._run_search(actor, probe_id, face_index, collection, top_k)
            return Search.model_validate(found)
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
        probe, case = self._probe_and_case(actor, probe_id)
        case = self._searchable(actor, case)  # read once: the probe's access needed it too
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
                {**case_ref(case), "probe_id": probe_id, "reason": refusal.message},
                actor.name,
            )
            raise
        verdict = self.settings.judge_quality(probe["faces"][face_index])
        if verdict.level == Verdict.REFUSED:
            self._audit.append(
                "search_refused",
                {
                    **case_ref(case),
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
            "shadow_candidates": (
                json.dumps([h.as_dict() for h in shadow]) if shadow is not None else None
            ),
        }
        shown = [c.as_dict() for c in candidates]
        with self._transaction():
            search_id = self.records.add_search(search, shown)
            entry = self._audit.append(
                "search",
                {
                    **case_ref(case),
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
        return self._search_view(actor, search_id, probe)

    def _check_rate(self, actor: Principal, case: dict) -> None:
        per_minute = self.settings.get("searches_per_minute")
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="microseconds")
        if self.records.searches_since(actor.user_id, since) >= per_minute:
            self._audit.append(
                "search_rate_limited",
                {**case_ref(case), "limit_per_minute": per_minute},
                actor.name,
            )
            raise RateLimited(f"at most {per_minute} searches a minute; wait and try again")

    def search(self, actor: Principal, search_id: int) -> Search:
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
        return Search.model_validate(search)

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

    def _search_view(self, actor: Principal, search_id: int, probe: dict | None = None) -> dict:
        """A search with its candidate list (blind for its requester until released) and,
        once decided, its reviews and lead. ``probe``: its probe's row, when already read."""
        search = self.records.search(search_id)
        if search is None:
            raise NotFound(f"there is no search {search_id}")
        access = self._search_access(actor, search)
        search = unshadowed(search)
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
        search["manual_face"] = self._manual_face(search, probe)
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

    def _manual_face(self, search: dict, probe: dict | None = None) -> bool:
        """Whether the searched face was drawn by hand (services.manual_face)."""
        if probe is None or probe["id"] != search["probe_id"]:
            probe = self.records.probe(search["probe_id"])
        faces = probe["faces"] if probe else []
        index = search["face_index"]
        return bool(0 <= index < len(faces) and faces[index].get("manual"))

    def _lead(self, search: dict) -> dict:
        lead = next(c for c in search["candidates"] if c["face_id"] == search["lead_face_id"])
        return {"candidate": lead, "notice": LEAD_NOTICE}

    def searches(self, actor: Principal, case_id: int) -> list[Search]:
        """A case's searches, newest first."""
        self._case(actor, case_id)
        found = self.records.searches(case_id=case_id)
        return [Search.model_validate(unshadowed(s)) for s in found]

    def team_searches(
        self, actor: Principal, *, before: int | None = None, limit: int = PAGE_SIZE
    ) -> list[Search]:
        """The whole team's searches for supervisors and auditors, newest first, a page at
        a time (those older than the search ``before``)."""
        rules.require_team_activity(actor)
        found = self.records.searches(before_id=before, limit=limit)
        return [Search.model_validate(unshadowed(s)) for s in found]


def _shadow_in_scope(
    gallery: Gallery, embedding: np.ndarray, collections: list[str] | None, top_k: int, operating
) -> list[ShadowHit] | None:
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
    return sorted(found, key=lambda hit: hit.distance)[:top_k]
