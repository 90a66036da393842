"""Auditors' evaluations through the server: upload a labelled zip, get the report (R23).

The zip holds ``labels.csv`` (see ``services.evaluation``) and the photos it names. It is
unpacked into a temporary folder, checked member by member (no absolute paths, no ``..``, no
links, at most ``MAX_MEMBERS`` files and ``MAX_UNPACKED_BYTES`` in all, so a zip bomb stops
early), and run through ingest and search in a sandbox of its own, with the server's own
detector, embedder and calibration: the gallery, its records and its index are never opened.
One evaluation runs at a time; each is audited with the zip's SHA-256 and its headline rates.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from facesift.errors import Conflict, InvalidInput
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.services.calibration import Calibration
from facesift.services.evaluation import DatasetReport, evaluate_dataset
from facesift.store import Store
from facesift.vision import VisionConfig

LABELS_FILE = "labels.csv"
MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 2_000_000_000


class Evaluations:
    def __init__(self, store: Store, vision: VisionConfig, calibration: Calibration):
        self._store = store
        self._vision = replace(vision, threads=1)  # one core: the server keeps the other
        self._calibration = calibration
        self._running = threading.Lock()

    def run(
        self,
        actor: Principal,
        content: bytes,
        target_fpir: float,
        groups: list[str] | None = None,
    ) -> DatasetReport:
        rules.require_evaluate(actor)
        if not self._running.acquire(blocking=False):
            raise Conflict("an evaluation is running; try again when it is done")
        try:
            with tempfile.TemporaryDirectory(prefix="facesift-upload-") as folder:
                root = Path(folder)
                _unpack(content, root)
                report = evaluate_dataset(
                    root,
                    root / LABELS_FILE,
                    self._vision,
                    self._calibration,
                    target_fpir,
                    groups,
                    workers=1,
                )
        finally:
            self._running.release()
        self._store.audit.append(
            "evaluation_run",
            {
                "zip_sha256": hashlib.sha256(content).hexdigest(),
                "model_id": report.model_id,
                "target_fpir": report.target_fpir,
                "photos": report.photos,
                "gallery_faces": report.gallery_faces,
                "probes": report.probes,
                "operating_fnir": report.operating_fnir,
                "operating_fpir": report.operating_fpir,
                "rank1": report.rank1,
                "largest_group_ratio": report.as_dict()["largest_group_ratio"],
                "differentials": report.as_dict()["differentials"],
            },
            actor.name,
        )
        return report


def _unpack(content: bytes, root: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise InvalidInput("the upload is not a zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise InvalidInput(f"the zip holds more than {MAX_MEMBERS:,} files")
        if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            raise InvalidInput(f"the zip unpacks to more than {MAX_UNPACKED_BYTES:,} bytes")
        for member in members:
            name = PurePosixPath(member.filename)
            if (
                name.is_absolute()
                or ".." in name.parts
                or (member.external_attr >> 16) & 0o170000 == 0o120000
            ):
                raise InvalidInput(f"the zip member {member.filename!r} is not a plain file path")
            target = root.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source:
                data = source.read(member.file_size + 1)
            if len(data) > member.file_size:  # the header lied about the size
                raise InvalidInput(f"the zip member {member.filename!r} is bigger than it says")
            target.write_bytes(data)
    if not (root / LABELS_FILE).is_file():
        raise InvalidInput(f"the zip has no {LABELS_FILE} at its top level")
