"""The reviews: the queue of searches awaiting review, taking one, the review form and
recording a review, and the reviewer's own past reviews and how each ended.

The candidate list itself is in ``web.search_pages``; what the review form shows of people
(subjects) and the side-by-side workspace come from ``services.subjects`` and
``static/review.js``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from facesift.errors import InvalidInput
from facesift.governance.search_policy import MAX_CANDIDATES
from facesift.server.params import Id, PageAfter
from facesift.server.security import Signed, Svc
from facesift.services.casework.base import PAGE_SIZE
from facesift.web.form_errors import in_words, refill_status
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/reviews", summary="Searches awaiting your review")
def review_queue(request: Request, caller: Signed, svc: Svc, after: PageAfter = None):
    queue = svc.casework.review_queue(caller.principal, after=after or 0)
    more = queue[-1].id if len(queue) == PAGE_SIZE else None
    return render(request, "reviews.html", caller, queue=queue, more=more, first=after)


@router.post("/searches/{search_id}/take", summary="Take a search from the review queue (form)")
def take_review(search_id: Id, caller: Signed, svc: Svc):
    svc.casework.take_review(caller.principal, search_id)
    return redirect(f"/searches/{search_id}/review", f"Search {search_id} is assigned to you.")


@router.get("/searches/{search_id}/review", summary="The review form")
def review_page(search_id: Id, request: Request, caller: Signed, svc: Svc):
    search = svc.casework.search_to_review(caller.principal, search_id)
    return render(request, "review.html", caller, search=search)


@router.post("/searches/{search_id}/review", summary="Record your review (form)")
def review(
    search_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    decision: Annotated[str, Form(max_length=20)] = "",
    similarities: Annotated[str, Form(max_length=4000)] = "",
    differences: Annotated[str, Form(max_length=4000)] = "",
    candidate_face_id: Annotated[int | None, Form()] = None,
    candidate_face_ids: Annotated[list[int] | None, Form(max_length=MAX_CANDIDATES)] = None,
    subjects: Annotated[list[str] | None, Form(max_length=MAX_CANDIDATES)] = None,
):
    values = {
        "decision": decision,
        "candidate_face_id": candidate_face_id,
        "candidate_face_ids": candidate_face_ids or [],
        "subjects": subjects or [],
        "similarities": similarities,
        "differences": differences,
    }
    try:
        search = svc.casework.submit_review(caller.principal, search_id, values)
    except InvalidInput as refused:  # the form again, as the reviewer left it
        return render(
            request,
            "review.html",
            caller,
            status=refill_status(refused),
            search=svc.casework.search_to_review(caller.principal, search_id),
            form=values,
            messages=[("error", in_words(refused))],
        )
    outcome = search.status.replace("_", " ")
    return redirect(
        "/reviews",
        f"Your review of search {search_id} is recorded"
        + (
            f"; the outcome is now: {outcome}."
            if search.status != "pending_review"
            else "; it awaits another reviewer."
        ),
    )


@router.get("/reviews/past", summary="Your own past reviews")
def past_reviews(request: Request, caller: Signed, svc: Svc):
    reviews = svc.casework.my_reviews(caller.principal)
    return render(request, "reviews_past.html", caller, reviews=reviews)
