"""What the app holds while it runs: the services over one data folder."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from facesift.services.accounts import Accounts
from facesift.services.calibration import Calibration, load_calibration
from facesift.services.casework import Casework
from facesift.services.gallery import Gallery
from facesift.services.oversight import Oversight
from facesift.services.settings import Settings
from facesift.vision import FaceAnalyzer, VisionConfig


@dataclass
class Services:
    data_dir: Path
    gallery: Gallery
    accounts: Accounts
    settings: Settings
    casework: Casework
    calibration: Calibration
    oversight: Oversight

    @classmethod
    def open(
        cls,
        data_dir: Path,
        vision: VisionConfig | None = None,
        outside_turn: Callable[[], AbstractContextManager] = nullcontext,
        vectors: str | None = None,
    ) -> Services:
        """``outside_turn``: see ``Casework``; ``vectors``: see ``Gallery.open``."""
        gallery = Gallery.open(data_dir, vectors)
        analyzer = FaceAnalyzer.from_config(vision or VisionConfig())
        calibration = load_calibration(analyzer.model_id)
        settings = Settings(gallery.store)
        return cls(
            data_dir=data_dir,
            gallery=gallery,
            accounts=Accounts(gallery.store),
            settings=settings,
            casework=Casework(gallery, analyzer, calibration, settings, outside_turn),
            calibration=calibration,
            oversight=Oversight(gallery, calibration, settings),
        )

    def close(self) -> None:
        self.gallery.close()
