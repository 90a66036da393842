"""The composition root: the one place that builds the store and the services on it.

Every command and the server get their store, gallery and services from here, once per
process, from a data folder and a database URL (``--database``, ``$FACESIFT_DATABASE_URL``,
or else SQLite in the data folder). Services receive what they need; none of them builds a
repository or opens a database of its own, so there is one answer to "which database is
this" for the whole process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from facesift.config import Config
from facesift.store import Store

# The services, the index and the vision pipeline are imported where they are built: a
# command that only reads the database (``stats``, ``audit``) then starts in a few hundred
# ms instead of loading onnxruntime, dlib and FAISS first.
if TYPE_CHECKING:
    from facesift.services.accounts import Accounts
    from facesift.services.alerts import Alerts, BackgroundScan
    from facesift.services.audit_signing import CheckpointSigner
    from facesift.services.calibration import Calibration
    from facesift.services.casework import Casework
    from facesift.services.evaluations import Evaluations
    from facesift.services.gallery import Gallery
    from facesift.services.optout import OptOut
    from facesift.services.oversight import Oversight
    from facesift.services.settings import Settings
    from facesift.services.transparency import PageRate
    from facesift.services.usage import Usage


def signer_for(config: Config) -> CheckpointSigner | None:
    """The signer of audit export checkpoints, when ``audit_signing_key`` is set. A key that
    cannot be used stops the process at start, not at the first export."""
    from facesift.services.audit_signing import CheckpointSigner

    if config.audit_signing_key is None:
        return None
    return CheckpointSigner.from_file(config.audit_signing_key.expanduser())


def open_store(
    data_dir: Path, database_url: str | None = None, anchor_copy: Path | None = None
) -> Store:
    """The database and its repositories, without the vector index (accounts, audit).
    ``anchor_copy``: the second place of the audit anchor (``Config.audit_anchor_copy``)."""
    return Store(data_dir, database_url, anchor_copy)


def open_gallery(
    data_dir: Path,
    database_url: str | None = None,
    vectors: str | None = None,
    anchor_copy: Path | None = None,
) -> Gallery:
    """The store with the vector index (in ``data_dir``, or the Milvus collection at
    ``vectors``), repaired against the records."""
    from facesift.services.gallery import Gallery

    return Gallery.open(data_dir, database_url, vectors, anchor_copy)


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
    optout: OptOut
    usage: Usage
    alerts: Alerts
    alert_scan: BackgroundScan
    transparency_rate: PageRate

    def close(self) -> None:
        self.alert_scan.close()
        self.casework.close()
        self.gallery.close()


def open_services(config: Config) -> Services:
    """Everything the server needs, from one configuration. Probe analyses run in a pool of
    ``config.server.probe_processes()`` low-priority processes (``ProbePool``),
    with the same probe preset as the command line (``VisionSettings.for_probes``)."""
    from facesift.services.accounts import Accounts
    from facesift.services.alerts import Alerts, BackgroundScan
    from facesift.services.calibration import calibration_for
    from facesift.services.casework import Casework
    from facesift.services.evaluations import Evaluations
    from facesift.services.optout import OptOut
    from facesift.services.oversight import Oversight
    from facesift.services.probe_pool import ProbePool
    from facesift.services.settings import Settings
    from facesift.services.transparency import PageRate
    from facesift.services.usage import Usage
    from facesift.vision import FaceAnalyzer

    gallery = open_gallery(
        config.data_dir, config.database_url, config.vectors, config.audit_anchor_copy
    )
    vision = config.vision.for_probes(recorded=gallery.recorded_model())
    analyzer = FaceAnalyzer.from_config(vision)  # for sizes and the model id; no analysis
    pool = ProbePool(vision, config.server.probe_processes())
    calibration = calibration_for(vision)
    settings = Settings(gallery.store)
    casework = Casework(gallery, analyzer, calibration, settings, pool)
    alerts = Alerts(gallery.store, settings, calibration)
    alert_scan = BackgroundScan(alerts)
    casework.after_search = alert_scan.poke  # misuse alerts, judged just after each search
    return Services(
        data_dir=config.data_dir,
        gallery=gallery,
        accounts=Accounts(gallery.store, settings),
        settings=settings,
        casework=casework,
        calibration=calibration,
        oversight=Oversight(gallery, calibration, settings, signer_for(config)),
        optout=OptOut(gallery, casework.analyze_pixels, calibration),
        evaluations=Evaluations(gallery.store, vision, calibration),
        usage=Usage(gallery.store),
        alerts=alerts,
        alert_scan=alert_scan,
        transparency_rate=PageRate(),
    )
