"""The gallery's photo records for those who run or oversee it (see services.gallery_browse):
browse by collection, the photos that need a look, the files that failed, re-scan one photo."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from facesift.server.lanes import in_analysis_lane
from facesift.server.params import Id
from facesift.server.routing import OneHopRoute
from facesift.server.security import Signed, Svc
from facesift.services.gallery_browse import PAGE, GalleryPages
from facesift.store.gallery_browse import Problem

router = APIRouter(route_class=OneHopRoute, prefix="/api/gallery", tags=["gallery"])


class GalleryPhotoOut(BaseModel):
    id: int
    collection: str
    path: str
    sha256: str
    byte_size: int
    width: int
    height: int
    faces: int
    source_url: str | None = None
    page_url: str | None = None
    caption: str | None = None
    captured_at: str | None = None
    legal_basis: str | None = None
    ingested_at: str


class PhotoListOut(BaseModel):
    total: int = Field(description="photos matching, of which one page is listed")
    photos: list[GalleryPhotoOut]


class IngestFailureOut(BaseModel):
    path: str
    sha256: str | None = None
    code: str = Field(description="why, as a code: unreadable, not_an_image, too_large, ...")
    message: str
    failed_at: str


class CollectionOut(BaseModel):
    name: str
    images: int
    faces: int


class GalleryOverviewOut(BaseModel):
    collections: list[CollectionOut]
    images: int
    faces: int
    failures_total: int
    failures: list[IngestFailureOut]
    no_face: PhotoListOut
    no_provenance: PhotoListOut


class RescanOut(BaseModel):
    image_id: int
    path: str
    found: int = Field(description="faces the analysis found")
    added: list[int] = Field(description="the ids of the faces added to the gallery")
    already_stored: int
    suppressed: int = Field(description="faces of people who opted out: not stored")


@router.get(
    "",
    response_model=GalleryOverviewOut,
    summary="Collections, failed files with their reason, photos without a face or provenance",
)
def overview(caller: Signed, svc: Svc) -> GalleryOverviewOut:
    found = GalleryPages(svc.casework).overview(caller.principal)
    return GalleryOverviewOut.model_validate(dataclasses.asdict(found))


@router.get(
    "/photos",
    response_model=PhotoListOut,
    summary="The gallery's photo records, by collection or by problem; audited",
)
def photos(
    caller: Signed,
    svc: Svc,
    collection: Annotated[str | None, Query(max_length=200)] = None,
    problem: Problem | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
) -> PhotoListOut:
    found = GalleryPages(svc.casework).photos(caller.principal, collection, problem, offset, limit)
    return PhotoListOut.model_validate(dataclasses.asdict(found))


@router.post(
    "/photos/{image_id}/rescan",
    response_model=RescanOut,
    summary="Look for faces in one gallery photo again (admins); new faces are added, audited",
)
async def rescan(image_id: Id, request: Request, caller: Signed, svc: Svc) -> RescanOut:
    work = partial(GalleryPages(svc.casework).rescan, caller.principal, image_id)
    done = await in_analysis_lane(request, work)
    return RescanOut.model_validate(dataclasses.asdict(done))


class FailureRetry(BaseModel):
    path: str = Field(max_length=4000, description="the failed file's path, as listed")
    collection: str = Field(max_length=200, description="the collection it goes to")


class RetryOut(BaseModel):
    path: str
    stored: bool = Field(description="read, decoded and stored this time")
    code: str | None = Field(None, description="why it failed again")
    message: str | None = None
    faces: int = 0


@router.post(
    "/failures/retry",
    response_model=RetryOut,
    summary="Ingest a file that failed, again (admins; after it was fixed); audited",
)
async def retry_failure(body: FailureRetry, request: Request, caller: Signed, svc: Svc) -> RetryOut:
    pages = GalleryPages(svc.casework)
    work = partial(pages.retry_failure, caller.principal, body.path, body.collection)
    return RetryOut.model_validate(dataclasses.asdict(await in_analysis_lane(request, work)))
