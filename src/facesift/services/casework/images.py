"""The gallery images shown with candidates: a face crop or the source photo, only to someone
who may see a search that listed it, each view audited.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from facesift.errors import (
    FacesiftError,
    Forbidden,
    NotFound,
)
from facesift.governance.roles import Principal
from facesift.services import blind, face_chips
from facesift.services.casework.base import (
    MAX_SHOWN_SIDE,
    RELEASED,
    crop_box,
    jpeg,
)
from facesift.services.casework.searches import SearchWork
from facesift.services.sources import SourceReader, item_for_recorded_path
from facesift.vision.decode import decode_image


class ImageWork(SearchWork):
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
        return chip or jpeg(Image.fromarray(pixels).crop(crop_box(details, pixels.shape)))

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
        return jpeg(image)

    def _read_gallery_image(self, path: str) -> np.ndarray:
        reader = SourceReader(max_bytes=200 * 1024 * 1024)
        try:
            return decode_image(reader.read(item_for_recorded_path(path)))
        except FacesiftError as exc:
            raise NotFound(f"the gallery image can no longer be read: {exc.message}") from exc
        finally:
            reader.close()
