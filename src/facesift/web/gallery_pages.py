"""The gallery pages for admins, supervisors and auditors (see services.gallery_browse):
collections, failed files with their reason, photos without a face or provenance; the
photos of one collection; re-scan one photo (admins)."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from facesift.errors import Conflict, InvalidInput
from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.security import Signed, Svc
from facesift.services.gallery_browse import PAGE, GalleryPages
from facesift.store.gallery_browse import Problem
from facesift.web.form_errors import in_words
from facesift.web.rendering import redirect, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)
PROBLEM_TITLES = {
    Problem.NO_FACE: "Photos without a face",
    Problem.NO_PROVENANCE: "Photos without provenance",
}


@router.get("/gallery", summary="The gallery: collections and what needs a look")
def gallery_page(request: Request, caller: Signed, svc: Svc):
    overview = GalleryPages(svc.casework).overview(caller.principal)
    return render(request, "gallery.html", caller, overview=overview)


@router.get("/gallery/photos", summary="The gallery's photos, by collection or problem")
def photos_page(
    request: Request,
    caller: Signed,
    svc: Svc,
    collection: Annotated[str, Query(max_length=200)] = "",
    problem: Problem | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    found = GalleryPages(svc.casework).photos(
        caller.principal, collection or None, problem, offset, PAGE
    )
    title = (
        f"Collection “{collection}”"
        if collection
        else PROBLEM_TITLES.get(problem, "Every photo")
        if problem
        else "Every photo"
    )
    query = urlencode({k: v for k, v in (("collection", collection), ("problem", problem)) if v})
    return render(
        request,
        "gallery_photos.html",
        caller,
        found=found,
        title=title,
        query=query,
        offset=offset,
        page=PAGE,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.post("/gallery/photos/{image_id}/rescan", summary="Re-scan one photo for faces (form)")
async def rescan(
    image_id: Id,
    request: Request,
    caller: Signed,
    svc: Svc,
    back: Annotated[str, Query(max_length=500)] = "/gallery",
):
    back = back if back.startswith("/gallery") else "/gallery"  # never off the site
    work = partial(GalleryPages(svc.casework).rescan, caller.principal, image_id)
    try:
        done = await in_analysis_lane(request, work)
    except Conflict as refused:
        return redirect(back, in_words(refused), "error")
    added = len(done.added)
    message = (
        f"Re-scanned {done.path}: {done.found} face{'s' if done.found != 1 else ''} found, "
        f"{added} added to the gallery"
    )
    if done.already_stored:
        message += f", {done.already_stored} already there"
    if done.suppressed:
        message += f", {done.suppressed} not stored (opted out)"
    return redirect(back, message + ".", "success" if added else "info")


@router.post("/gallery/failures/retry", summary="Ingest a failed file again (form)")
async def retry_failure(
    request: Request,
    caller: Signed,
    svc: Svc,
    path: Annotated[str, Form(max_length=4000)],
    collection: Annotated[str, Form(max_length=200)],
):
    work = partial(GalleryPages(svc.casework).retry_failure, caller.principal, path, collection)
    try:
        done = await in_analysis_lane(request, work)
    except (Conflict, InvalidInput) as refused:
        return redirect("/gallery", in_words(refused), "error")
    if not done.stored:
        return redirect("/gallery", f"{path} failed again: {done.message}", "error")
    faces = f"{done.faces} face{'s' if done.faces != 1 else ''}"
    return redirect("/gallery", f"Stored {path} in {collection}, with {faces}.")


@router.get("/stats", summary="Gallery statistics")
def stats_page(request: Request, caller: Signed, svc: Svc):
    return render(request, "stats.html", caller, stats=svc.oversight.stats(caller.principal))
