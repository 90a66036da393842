"""The reviewer's own pages beside the queue: the reviews they recorded, and how each ended.

The review form and the candidate list themselves stay in ``web.pages``; what they show of
people (subjects) and the side-by-side workspace come from ``services.subjects`` and
``static/review.js``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from facesift.server.security import Signed, Svc
from facesift.web.pages import render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)


@router.get("/reviews/past", summary="Your own past reviews")
def past_reviews(request: Request, caller: Signed, svc: Svc):
    reviews = svc.casework.my_reviews(caller.principal)
    return render(request, "reviews_past.html", caller, reviews=reviews)
