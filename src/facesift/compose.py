"""The composition root: the one place that builds the store and the services on it.

Every command and the server get their store, gallery and services from here, once per
process, from a data folder and a database URL (``--database``, ``$FACESIFT_DATABASE_URL``,
or else SQLite in the data folder). Services receive what they need; none of them builds a
repository or opens a database of its own, so there is one answer to "which database is
this" for the whole process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from facesift.machine import usable_cores
from facesift.services.accounts import Accounts
from facesift.services.calibration import Calibration, calibration_for
from facesift.services.casework import Casework
from facesift.services.evaluations import Evaluations
from facesift.services.gallery import Gallery
from facesift.services.oversight import Oversight
from facesift.services.probe_pool import ProbePool
from facesift.services.settings import Settings
from facesift.store import Store
from facesift.vision import FaceAnalyzer, VisionConfig

# A user's own ONNX embedder (vision.onnx_embedder), for the server as for the commands.
EMBEDDER_MODEL_VARIABLE = "FACESIFT_EMBEDDER_MODEL"
DETECTOR_MODEL_VARIABLE = "FACESIFT_DETECTOR_MODEL"


def open_store(data_dir: Path, database_url: str | None = None) -> Store:
    """The database and its repositories, without the vector index (accounts, audit)."""
    return Store(data_dir, database_url)


def open_gallery(
    data_dir: Path, database_url: str | None = None, vectors: str | None = None
) -> Gallery:
    """The store with the vector index (in ``data_dir``, or the Milvus collection at
    ``vectors``), repaired against the records."""
    return Gallery.open(data_dir, database_url, vectors)


@dataclass
class Services:
    """What the server holds while it runs."""

    data_dir: Path
    gallery: Gallery
    accounts: Accounts
    settings: Settings
    casework: Casework
    calibration: Calibration
    oversight: Oversight
    evaluations: Evaluations

    def close(self) -> None:
        self.casework.close()
        self.gallery.close()


def open_services(
    data_dir: Path,
    database_url: str | None = None,
    vision: VisionConfig | None = None,
    outside_turn: Callable[[], AbstractContextManager] = nullcontext,
    probe_workers: int | None = None,
    vectors: str | None = None,
) -> Services:
    """``outside_turn``: see ``Casework``. ``probe_workers``: probe analyses that may run at
    once (default: one per core), each in a low-priority process of its own (``ProbePool``).
    ``vectors``: see ``Gallery.open``."""
    gallery = open_gallery(data_dir, database_url, vectors)
    config = vision or VisionConfig(
        embedder_model=os.environ.get(EMBEDDER_MODEL_VARIABLE) or None,
        detector_model=os.environ.get(DETECTOR_MODEL_VARIABLE) or None,
    )
    analyzer = FaceAnalyzer.from_config(config)  # for sizes and the model id; no analysis
    pool = ProbePool(config, probe_workers or usable_cores())
    calibration = calibration_for(config)
    settings = Settings(gallery.store)
    return Services(
        data_dir=data_dir,
        gallery=gallery,
        accounts=Accounts(gallery.store),
        settings=settings,
        casework=Casework(gallery, analyzer, calibration, settings, outside_turn, pool),
        calibration=calibration,
        oversight=Oversight(gallery, calibration, settings),
        evaluations=Evaluations(gallery.store, config, calibration),
    )
