"""Probes: uploading a photo and finding its faces (through the probe analysis pool), edited
copies (crop, rotate, mirror), and a probe's image and face crops, each view audited.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from facesift.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
)
from facesift.governance import roles as rules
from facesift.governance.roles import Principal, Role
from facesift.schemas import Detection, Face, ImageAnalysis
from facesift.services import face_chips
from facesift.services.casework.base import (
    ROTATIONS,
    case_ref,
    crop_box,
    jpeg,
)
from facesift.services.casework.cases import CaseWork
from facesift.services.casework.values import Probe
from facesift.services.pixel_budget import claimed_pixels
from facesift.vision.decode import decode_image
from facesift.vision.still import decode_still


class ProbeWork(CaseWork):
    def add_probe(self, actor: Principal, case_id: int, content: bytes) -> Probe:
        """Store an uploaded still photo and find its faces. Checked by content, not name."""
        self._case_for_search(actor, case_id)
        limit = self.settings.get("max_upload_bytes")
        with self.pixels.holding(claimed_pixels(content)):
            analysis, media_type = self._analyze_upload(content, limit)
        stored = self._store_probe(actor, case_id, content, media_type, analysis, parent=None)
        return Probe.model_validate(stored)

    def edit_probe(self, actor: Principal, probe_id: int, edit: dict) -> Probe:
        """Crop, rotate or mirror a probe: a new derivative probe; the original stays."""
        parent = self._probe(actor, probe_id, with_content=True)
        self._case_for_search(actor, parent["case_id"])
        edit = _clean_edit(edit, parent["width"], parent["height"])
        with self.pixels.holding(parent["width"] * parent["height"]):
            image = _edited(Image.fromarray(decode_image(parent["content"])), edit)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")  # lossless: the edit is the only change
            analysis = self._analyze(np.asarray(image))
        edit["before_sha256"] = parent["sha256"]
        stored = self._store_probe(
            actor, parent["case_id"], buffer.getvalue(), "image/png", analysis, parent, edit
        )
        return Probe.model_validate(stored)

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
            details = {**case_ref(case), "probe_id": probe_id, "sha256": sha, "faces": len(faces)}
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

    def probe(self, actor: Principal, probe_id: int, with_content: bool = False) -> Probe:
        return Probe.model_validate(self._probe(actor, probe_id, with_content))

    def _probe(self, actor: Principal, probe_id: int, with_content: bool = False) -> dict:
        """The probe's row, if ``actor`` may see it."""
        return self._probe_and_case(actor, probe_id, with_content)[0]

    def _probe_and_case(
        self, actor: Principal, probe_id: int, with_content: bool = False
    ) -> tuple[dict, dict]:
        """The probe's row and its case's, if ``actor`` may see the probe."""
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
        return self._described(probe), case

    def open_probe(self, actor: Principal, probe_id: int) -> Probe:
        """A probe, opened by someone: audited."""
        probe = self._probe(actor, probe_id)
        self._audit.append(
            "probe_opened", {"case_id": probe["case_id"], "probe_id": probe_id}, actor.name
        )
        return Probe.model_validate(probe)

    def probes(self, actor: Principal, case_id: int) -> list[Probe]:
        self._case(actor, case_id)
        return [Probe.model_validate(p) for p in self.records.probes(case_id)]

    def probe_image(self, actor: Principal, probe_id: int) -> tuple[bytes, str]:
        probe = self._probe(actor, probe_id, with_content=True)
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
        return chip or jpeg(Image.fromarray(pixels).crop(crop_box(box, pixels.shape)))


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
