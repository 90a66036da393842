"""Review: the queue, taking a search (at most two reviewers), the search as its reviewer
sees it, and recording a review, which decides the outcome once both are in.
"""

from __future__ import annotations

from facesift.errors import (
    Conflict,
    Forbidden,
    NotFound,
)
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.services import review_outcome, subjects
from facesift.services.casework.base import (
    PAGE_SIZE,
    PENDING,
    REVIEWS_NEEDED,
    unshadowed,
)
from facesift.services.casework.searches import SearchWork
from facesift.services.casework.values import PastReview, ReviewAssignment, Search


class ReviewWork(SearchWork):
    def review_queue(
        self, actor: Principal, *, after: int = 0, limit: int = PAGE_SIZE
    ) -> list[Search]:
        """Searches awaiting review that this reviewer may take (fewer than two reviewers
        assigned) or has taken and not yet reviewed, oldest first, a page at a time (those
        after the search ``after``). No candidates: those come with the assignment. Each
        search comes counted (candidates, reviews, reviewers) from the store's one query."""
        if not actor.has(Role.REVIEWER):
            raise Forbidden("this needs the reviewer role")
        pending = self.records.pending_reviews_for(actor.user_id, after_id=after, limit=limit)
        return [
            Search.model_validate(unshadowed(search) | {"reviews_needed": REVIEWS_NEEDED})
            for search in pending
        ]

    def my_reviews(self, actor: Principal) -> list[PastReview]:
        """The reviews this reviewer recorded, newest first, with how each search ended."""
        if not actor.has(Role.REVIEWER):
            raise Forbidden("this needs the reviewer role")
        return [PastReview.model_validate(r) for r in self.records.reviews_by(actor.user_id)]

    def _awaiting_review(self, actor: Principal, search_id: int) -> dict:
        """The stored search, if it awaits review and ``actor`` may review it."""
        search = self.records.search(search_id)
        if search is None:
            raise NotFound(f"there is no search {search_id}")
        rules.require_review(actor, search["requested_by"])
        if search["status"] != PENDING:
            raise Conflict(f"search {search_id} is not awaiting review ({search['status']})")
        return search

    def take_review(self, actor: Principal, search_id: int) -> ReviewAssignment:
        """Take a search from the queue: the reviewer is assigned to it (at most two are)."""
        search = self._awaiting_review(actor, search_id)
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
        return ReviewAssignment(
            search_id=search_id, assigned_to_you=True, reviewers_assigned=len(reviewers)
        )

    def _require_assigned(self, actor: Principal, search_id: int) -> None:
        if not self._assignments.is_assigned(search_id, actor.user_id):
            raise Forbidden(
                "a reviewer reviews only searches assigned to them: take it from the queue first"
            )

    def search_to_review(self, actor: Principal, search_id: int) -> Search:
        """A search, for a reviewer who may review it now."""
        found = self.records.search(search_id)
        if found is None:
            raise NotFound(f"there is no search {search_id}")
        rules.require_review(actor, found["requested_by"])
        self._require_assigned(actor, search_id)
        return self.search(actor, search_id)

    def submit_review(self, actor: Principal, search_id: int, review: dict) -> Search:
        search = self._awaiting_review(actor, search_id)
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
        return Search.model_validate(self._search_view(actor, search_id))
