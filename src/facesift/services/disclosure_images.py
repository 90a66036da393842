"""The face images the disclosure packet carries (issue 13, section 7): the probe face each
search compared, and each candidate face its reader may see, as JPEG data URIs.

Inline, so the packet is one self-contained document: it prints to PDF, travels as one JSON
file and still shows the faces after the gallery photo or the probe image is gone (a face
removed for an opt-out, probe pixels destroyed under retention: then the packet says so
instead). The candidates are those of the reader's own view of each search (``blind``): an
investigator whose list is still under review gets no candidate image, as on the pages, and
each candidate image is read through ``Casework.face_crop``, which checks and audits it as a
view. Crops are small (the face with a margin, at most ``SIDE`` px): about 8 KB each.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from facesift.errors import FacesiftError
from facesift.governance.roles import Principal
from facesift.vision.decode import decode_image

if TYPE_CHECKING:
    from facesift.services.casework.images import ImageWork

SIDE = 240
MARGIN = 0.3


def add_face_images(work: ImageWork, actor: Principal, packet: dict) -> None:
    """Put ``probe_face_image`` on each search and ``face_image`` on each candidate shown;
    ``manual_face`` on each search whose face was drawn by hand."""
    probes = {p["id"]: p for p in packet["probes"]}
    pixels: dict[int, np.ndarray | None] = {}
    for search in packet["searches"]:
        probe = probes.get(search["probe_id"])
        face = _face(probe, search["face_index"])
        search["manual_face"] = bool(face and face.get("manual"))
        search["probe_face_image"] = _probe_face(work, probe, face, pixels)
        for candidate in search.get("candidates") or []:
            try:
                crop = work.face_crop(actor, candidate["face_id"])
                candidate["face_image"] = _data_uri(_small(crop))
            except FacesiftError:  # removed from the gallery, or not for this reader
                candidate["face_image"] = None


def _face(probe: dict | None, index: int) -> dict | None:
    if probe is None or not 0 <= index < len(probe["faces"]):
        return None
    return probe["faces"][index]


def _probe_face(
    work: ImageWork, probe: dict | None, face: dict | None, cache: dict[int, np.ndarray | None]
) -> str | None:
    if probe is None or face is None or probe.get("pixels_destroyed_at"):
        return None
    if probe["id"] not in cache:
        stored = work.records.probe(probe["id"], with_content=True)
        cache[probe["id"]] = decode_image(stored["content"]) if stored else None
    image = cache[probe["id"]]
    if image is None:
        return None
    x1, y1, x2, y2 = face["box"]
    mx, my = int((x2 - x1) * MARGIN), int((y2 - y1) * MARGIN)
    height, width = image.shape[:2]
    crop = Image.fromarray(image).crop(
        (max(0, x1 - mx), max(0, y1 - my), min(width, x2 + mx), min(height, y2 + my))
    )
    crop.thumbnail((SIDE, SIDE))
    buffer = io.BytesIO()
    crop.convert("RGB").save(buffer, format="JPEG", quality=85)
    return _data_uri(buffer.getvalue())


def _small(jpeg: bytes) -> bytes:
    with Image.open(io.BytesIO(jpeg)) as image:
        image.thumbnail((SIDE, SIDE))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
