"""Opt-out by selfie: a person asks to be taken out of the gallery, and kept out.

1. **Request.** One to five selfies (each with exactly one face) and a way to reach the
   person, through the public page (no account; rate-limited per address), the API or
   ``facesift optout request``. The answer is a reference number.
2. **Find.** Each selfie's face is searched against the whole gallery at the calibration's
   ceiling (a false match rate of 1 in 100, looser than any search runs): better to show the
   privacy officer a look-alike than to miss the person.
3. **Remove.** A privacy officer (a role of its own, never an investigator) decides each face
   found, one by one. A confirmed face is deleted from the store and the vector index through
   the gallery's removal path (so FAISS and Milvus alike), with its image when the image holds
   no other face (the image's hash is then tombstoned). Candidate lists that named it keep a
   redaction marker instead. Each removal leaves a receipt in the audit log.
4. **Suppress.** The request keeps its embeddings as sealed suppression templates
   (``services.suppression``); the selfies, sealed too while the officer needs them, are
   deleted once every face found is decided (at once when none was found).
5. **Tell.** The reference shows the status: received, in review, done, with counts, never
   photos.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from facesift.errors import Conflict, FacesiftError, InvalidInput, NotFound, RateLimited
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.governance.sealing import Sealer
from facesift.schemas import ImageAnalysis
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.sources import SourceReader, item_for_recorded_path
from facesift.services.suppression import threshold_for
from facesift.store.values import OptOutFaceDecision, OptOutRequestStatus
from facesift.vision.decode import decode_image
from facesift.vision.still import require_still

MAX_SELFIES = 5
MAX_SELFIE_BYTES = 10 * 1024 * 1024
FIND_TOP_K = 50  # faces looked at per selfie; all within the threshold are listed
REQUESTS_PER_HOUR = 5  # per client address, on the public page and API
DECISIONS = ("remove", "not_them")
REDACTED = "removed at the person's request (opt-out {reference})"
CROP_MARGIN = 0.3


@dataclass(frozen=True)
class Receipt:
    reference: str
    status: str
    faces_found: int


@dataclass(frozen=True)
class RequestProgress:
    """What the person may know of their request: its state and counts, never photos."""

    reference: str
    status: OptOutRequestStatus
    received_at: str
    selfies: int
    faces_found: int
    faces_removed: int
    faces_kept: int  # found, but judged by the privacy officer not to be them
    done_at: str | None


@dataclass(frozen=True)
class RequestSummary(RequestProgress):
    """A request as the privacy officer lists it."""

    id: int
    contact: str


@dataclass(frozen=True)
class FaceFound:
    """A gallery face a request found, and the officer's decision on it (None: awaited)."""

    face_id: int
    image_id: int
    distance: float
    decision: OptOutFaceDecision | None
    decided_by: str | None
    path: str | None  # None once the face is removed
    collection: str | None


@dataclass(frozen=True)
class RequestDetail(RequestSummary):
    """A request with the faces it found, for the officer to decide."""

    faces: tuple[FaceFound, ...]
    selfies_kept: int


class RateWindow:
    """At most ``limit`` events per key in an hour, in this process."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic):
        self._limit, self._clock = limit, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and now - events[0] > 3600:
                events.popleft()
            if len(events) >= self._limit:
                raise RateLimited(
                    f"at most {self._limit} opt-out requests an hour from one address; "
                    "try again later"
                )
            events.append(now)


class OptOut:
    """``analyze``: pixels to faces (the server's probe pool, or the CLI's analyzer)."""

    def __init__(
        self,
        gallery: Gallery,
        analyze: Callable[[np.ndarray], ImageAnalysis] | None,
        calibration: Calibration | None,
    ):
        """``analyze`` and ``calibration`` None: this service only answers statuses."""
        self.gallery = gallery
        self._analyze = analyze
        self._calibration = calibration
        self.rate = RateWindow(REQUESTS_PER_HOUR)

    @property
    def _store(self):
        return self.gallery.store

    @property
    def _records(self):
        return self.gallery.store.optout

    def _sealer(self) -> Sealer:
        return Sealer.for_data_dir(self._store.data_dir)

    # -- the person ------------------------------------------------------------------------------

    def request(self, selfies: list[bytes], contact: str, via: str) -> Receipt:
        """Take a request: find the person's faces, keep sealed templates; a reference."""
        contact = (contact or "").strip()
        if not 3 <= len(contact) <= 200:
            raise InvalidInput("give a way to reach you (an e-mail or postal address, 3-200 chars)")
        if not 1 <= len(selfies) <= MAX_SELFIES:
            raise InvalidInput(f"send one to {MAX_SELFIES} selfies")
        embeddings = [self._one_face(n, content) for n, content in enumerate(selfies, start=1)]
        found = self._find(embeddings)
        sealer = self._sealer()
        reference = "OPT-" + secrets.token_hex(2).upper() + "-" + secrets.token_hex(2).upper()
        with self._store.transaction():
            request_id = self._records.add_request(
                reference, contact, [sealer.seal(s) for s in selfies]
            )
            self._records.add_found(request_id, found)
            for embedding in embeddings:
                self._records.add_template(
                    request_id, sealer.seal(embedding.astype("<f4").tobytes())
                )
            self._store.audit.append(
                "optout_received",
                {
                    "reference": reference,
                    "selfies": len(selfies),
                    "faces_found": len(found),
                    "templates": len(embeddings),
                    "via": via,
                },
                None,
            )
            if not found:
                self._finish(request_id, reference)
        status = self._records.request(request_id)["status"]
        return Receipt(reference, status, len(found))

    def _one_face(self, n: int, content: bytes) -> np.ndarray:
        try:
            pixels = decode_image(content, max_bytes=MAX_SELFIE_BYTES)
            require_still(content)
        except FacesiftError as exc:
            raise InvalidInput(f"selfie {n}: {exc.message}") from None
        assert self._analyze is not None, "an OptOut that takes requests needs an analyzer"
        faces = self._analyze(pixels).faces
        if len(faces) != 1:
            raise InvalidInput(
                f"selfie {n} shows {len(faces)} faces; each selfie must show exactly one face, "
                "yours"
            )
        return np.asarray(faces[0].embedding, dtype=np.float32)

    def _find(self, embeddings: list[np.ndarray]) -> list[tuple[int, int, float]]:
        """(face id, image id, distance) of every gallery face within the threshold."""
        self.gallery.refresh()
        assert self._calibration is not None, "an OptOut that takes requests needs a calibration"
        threshold = threshold_for(self._calibration.model_id)
        best: dict[int, float] = {}
        for embedding in embeddings:
            for neighbour in self.gallery.nearest(embedding, FIND_TOP_K):
                if neighbour.distance <= threshold:
                    best[neighbour.face_id] = min(
                        neighbour.distance, best.get(neighbour.face_id, np.inf)
                    )
        details = self._store.face_details(best)
        return [
            (face_id, int(details[face_id]["image_id"]), float(distance))
            for face_id, distance in sorted(best.items(), key=lambda kv: kv[1])
            if face_id in details
        ]

    def status(self, reference: str) -> RequestProgress:
        """What the person may know: the state and the counts, never photos."""
        request = self._records.by_reference((reference or "").strip().upper())
        if request is None:
            raise NotFound("there is no opt-out request with this reference")
        return RequestProgress(**_public(request))

    # -- the privacy officer ----------------------------------------------------------------------

    def requests(self, actor: Principal) -> list[RequestSummary]:
        rules.require_privacy_officer(actor)
        return [
            RequestSummary(**_public(r), id=r["id"], contact=r["contact"])
            for r in self._records.requests()
        ]

    def detail(self, actor: Principal, request_id: int) -> RequestDetail:
        rules.require_privacy_officer(actor)
        request = self._request(request_id)
        found = self._records.found(request_id)
        details = self._store.face_details(f["face_id"] for f in found if f["decision"] is None)
        faces = []
        for face in found:
            row = details.get(face["face_id"])
            decision = face["decision"]
            faces.append(
                FaceFound(
                    face_id=face["face_id"],
                    image_id=face["image_id"],
                    distance=round(face["distance"], 4),
                    decision=OptOutFaceDecision(decision) if decision else None,
                    decided_by=face["decided_by"],
                    path=row["path"] if row else None,
                    collection=row["collection"] if row else None,
                )
            )
        self._store.audit.append("optout_opened", {"reference": request["reference"]}, actor.name)
        return RequestDetail(
            **_public(request),
            id=request["id"],
            contact=request["contact"],
            faces=tuple(faces),
            selfies_kept=len(self._records.selfies(request_id)),
        )

    def decide(
        self, actor: Principal, request_id: int, face_id: int, decision: str
    ) -> RequestDetail:
        """Remove a face found (it is the person) or keep it (it is not); a receipt either way."""
        rules.require_privacy_officer(actor)
        if decision not in DECISIONS:
            raise InvalidInput(f"the decision is one of {', '.join(DECISIONS)}")
        request = self._request(request_id)
        pending = {f["face_id"] for f in self._records.found(request_id) if f["decision"] is None}
        if face_id not in pending:
            raise Conflict(f"face {face_id} is not awaiting a decision in {request['reference']}")
        receipt: dict = {"reference": request["reference"], "face_id": face_id}
        if decision == "remove":
            receipt |= self._remove(request["reference"], face_id, actor.name)
        with self._store.transaction():
            self._records.decide(
                request_id, face_id, "removed" if decision == "remove" else "not_them", actor.name
            )
            action = "optout_face_removed" if decision == "remove" else "optout_face_kept"
            self._store.audit.append(action, receipt, actor.name)
            if len(pending) == 1:
                self._finish(request_id, request["reference"])
        return self.detail(actor, request_id)

    def _remove(self, reference: str, face_id: int, actor: str) -> dict:
        row = self._store.face_details([face_id]).get(face_id)
        if row is None:  # removed meanwhile by other means
            return {"image_id": None, "image_deleted": False, "candidate_lists_redacted": 0}
        others = [f for f in self._records.faces_of_image(row["image_id"]) if f != face_id]
        with self._store.transaction():
            redacted = self._records.redact_candidates(
                face_id, REDACTED.format(reference=reference)
            )
        if others:
            self.gallery.remove_face(face_id, actor)
        else:
            self.gallery.remove_image(row["sha256"], actor)  # leaves a tombstone
        return {
            "image_id": row["image_id"],
            "image_sha256": row["sha256"],
            "image_deleted": not others,
            "candidate_lists_redacted": redacted,
        }

    def _finish(self, request_id: int, reference: str) -> None:
        """Inside a transaction: the selfies go; the request is done."""
        deleted = self._records.finish(request_id)
        request = self._records.request(request_id)
        self._store.audit.append(
            "optout_done",
            {
                "reference": reference,
                "selfies_deleted": deleted,
                "faces_removed": request["faces_removed"],
                "faces_kept": request["faces_kept"],
            },
            None,
        )

    def selfie(self, actor: Principal, request_id: int, n: int) -> bytes:
        """A selfie, for the officer to compare, while the request is in review."""
        rules.require_privacy_officer(actor)
        request = self._request(request_id)
        selfies = self._records.selfies(request_id)
        if not 0 <= n < len(selfies):
            raise NotFound(f"{request['reference']} holds no selfie {n} (deleted when done)")
        self._store.audit.append(
            "optout_selfie_viewed", {"reference": request["reference"], "n": n}, actor.name
        )
        return _jpeg(Image.fromarray(decode_image(self._sealer().unseal(selfies[n]))))

    def face_crop(self, actor: Principal, face_id: int) -> bytes:
        """A gallery face awaiting the officer's decision, cropped."""
        rules.require_privacy_officer(actor)
        if not self._records.undecided_face(face_id):
            raise NotFound(f"face {face_id} is not awaiting an opt-out decision")
        row = self._store.face_details([face_id]).get(face_id)
        if row is None:
            raise NotFound(f"face {face_id} has been removed from the gallery")
        reader = SourceReader(max_bytes=200 * 1024 * 1024)
        try:
            pixels = decode_image(reader.read(item_for_recorded_path(row["path"])))
        finally:
            reader.close()
        height, width = pixels.shape[:2]
        x1, y1, x2, y2 = row["x1"], row["y1"], row["x2"], row["y2"]
        mx, my = int((x2 - x1) * CROP_MARGIN), int((y2 - y1) * CROP_MARGIN)
        box = (max(0, x1 - mx), max(0, y1 - my), min(width, x2 + mx), min(height, y2 + my))
        return _jpeg(Image.fromarray(pixels).crop(box))

    def _request(self, request_id: int) -> dict:
        request = self._records.request(request_id)
        if request is None:
            raise NotFound(f"there is no opt-out request {request_id}")
        return request


def _public(request: dict) -> dict:
    """A request's row as ``RequestProgress``'s fields."""
    return {
        "reference": request["reference"],
        "status": OptOutRequestStatus(request["status"]),
        "received_at": request["created_at"],
        "selfies": request["selfies"],
        "faces_found": request["faces_found"],
        "faces_removed": request["faces_removed"],
        "faces_kept": request["faces_kept"],
        "done_at": request["done_at"],
    }


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
