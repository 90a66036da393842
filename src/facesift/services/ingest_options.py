"""What an ingest is asked to do: the collection, the manifest, the workers and the vision
settings. Apart from the ingest's code so that the command line can show these defaults in
its help without loading the pipeline (see vision/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facesift.machine import usable_cores
from facesift.vision.settings import DEFAULT_MAX_BYTES, VisionConfig

DEFAULT_COLLECTION = "default"
WRITE_BATCH_IMAGES = 64
WRITE_BATCH_SECONDS = 2.0


@dataclass
class IngestOptions:
    collection: str = DEFAULT_COLLECTION
    manifest: Path | None = None
    workers: int = field(default_factory=usable_cores)
    cluster: str | None = None  # a Dask scheduler's address: analyse there instead
    # Per pool task: analysed stage by stage together (batch.analyze_batch), 8 keep each
    # model in the core's cache for the batch (17.4 ms an LFW image against 18.8 one by one).
    images_per_task: int = 8
    write_batch: int = WRITE_BATCH_IMAGES  # images per database transaction
    max_bytes: int = DEFAULT_MAX_BYTES
    vision: VisionConfig = field(default_factory=VisionConfig)
