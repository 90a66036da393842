"""One configuration object for every command and the server: where the data lives, which
database and vector engine hold it, how faces are found, and how the server runs.

A value comes from, first found: a command-line flag, the environment, the default here. The
environment variables are ``FACESIFT_`` and the field's name in capitals, with ``__``
between a section and its field:

| setting | environment | flag |
|---|---|---|
| ``home`` (the data folder) | ``FACESIFT_HOME`` | ``--data-dir`` |
| ``database_url`` | ``FACESIFT_DATABASE_URL`` | ``--database`` |
| ``vectors`` | ``FACESIFT_VECTORS`` | ``--vectors`` |
| ``cluster`` | ``FACESIFT_CLUSTER`` | ``ingest --cluster`` |
| ``vision.detector`` | ``FACESIFT_VISION__DETECTOR`` | ``--detector`` |
| ``vision.min_face_px`` | ``FACESIFT_VISION__MIN_FACE_PX`` | ``--min-face`` |
| ``vision.max_scan_mp`` | ``FACESIFT_VISION__MAX_SCAN_MP`` | ``--max-scan-mp`` |
| ``vision.embedder`` (auto, onnx, onnx-int8, dlib) | ``FACESIFT_VISION__EMBEDDER`` | |
| ``vision.chips`` (auto, jitter, four, flip, none) | ``FACESIFT_VISION__CHIPS`` | |
| ``vision.embedder_model`` | ``FACESIFT_VISION__EMBEDDER_MODEL`` | ``--embedder-model`` |
| ``vision.detector_model`` | ``FACESIFT_VISION__DETECTOR_MODEL`` | ``--detector-model`` |
| ``server.port`` (``host``, ...) | ``FACESIFT_SERVER__PORT`` | ``serve --port`` |
| ``log_level`` | ``FACESIFT_LOG_LEVEL`` | |
| ``audit_signing_key`` | ``FACESIFT_AUDIT_SIGNING_KEY`` | |
| ``audit_anchor_copy`` | ``FACESIFT_AUDIT_ANCHOR_COPY`` | |

This is the deployment's configuration, fixed when a process starts. What an admin changes
while the server runs (the refused purposes, the target FPIR, ...) is the gallery's
``Settings``, kept in the database and audited.

The same object builds the probe analysis for the command line and the server
(``VisionSettings.for_probes``), so a photo that finds a face in one finds it in the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from facesift.logs import LEVELS
from facesift.machine import usable_cores
from facesift.vision.settings import (
    AUTO,
    CHIP_PLANS,
    DEFAULT_CHIPS,
    DEFAULT_DETECTOR,
    DEFAULT_EMBEDDER,
    DEFAULT_MAX_SCAN_PIXELS,
    DEFAULT_MIN_FACE_PX,
    DETECTORS,
    EMBEDDERS,
    VisionConfig,
    model_of,
)

# HOG misses turned faces that dlib's CNN finds, but the CNN took 12 s on a photo with no
# face: a probe with no face must answer as fast as a search (issue 13), so the CNN looks
# again only when asked (``second_pass``). The ONNX detectors found a face in all 7,701 LFW
# view2 images where HOG missed 40 (bench/README.md): behind them no second pass is offered.
SECOND_PASS = {"hog": "mmod"}


class VisionSettings(BaseModel):
    """How faces are found, at ingest and in probes."""

    detector: str = DEFAULT_DETECTOR
    min_face_px: int = Field(DEFAULT_MIN_FACE_PX, ge=8, le=2000)
    # HOG scans at most this many megapixels a photo (after upsampling); 0: no cap.
    max_scan_mp: float = Field(DEFAULT_MAX_SCAN_PIXELS / 1_000_000, ge=0, le=1000)
    # HOG only: when a probe shows no face, look again with dlib's CNN (seconds a photo).
    second_pass: bool = False
    # dlib's ResNet run as: onnx (float32, the vectors dlib computes), onnx-int8 (8-bit
    # integers: ~3x faster, LFW view2 unchanged, its own vectors), dlib (dlib itself); and
    # the chips embedded a face: jitter (6), four (4), flip (2), none (1). "auto": the
    # gallery's own (a gallery keeps the model it was made with), else onnx-int8 on four.
    embedder: str = AUTO
    chips: str = AUTO
    # A user's own ONNX embedder file (vision.onnx_embedder); None: dlib's ResNet.
    embedder_model: str | None = None
    # A user's own CenterFace-format detector file; None: the shipped one.
    detector_model: str | None = None

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, name: str) -> str:
        if name not in (AUTO, *EMBEDDERS):
            raise ValueError(
                f"the embedder is one of {', '.join((AUTO, *EMBEDDERS))}, not {name!r}"
            )
        return name

    @field_validator("chips")
    @classmethod
    def _known_chips(cls, name: str) -> str:
        if name not in (AUTO, *CHIP_PLANS):
            raise ValueError(f"the chips are one of {', '.join((AUTO, *CHIP_PLANS))}, not {name!r}")
        return name

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in DETECTORS:
            raise ValueError(f"the detector is one of {', '.join(DETECTORS)}, not {name!r}")
        return name

    def model(self, recorded: str | None = None) -> tuple[str, str]:
        """(embedder, chips): as set, where "auto" takes the gallery's own (``recorded``, the
        model id its vectors were made with: ``base+chips``), else the default."""
        built_in = model_of(recorded)
        suffix = (recorded or "").partition("+")[2] or ("none" if recorded else DEFAULT_CHIPS)
        embedder = built_in[0] if built_in else DEFAULT_EMBEDDER
        chips = suffix if suffix in CHIP_PLANS else DEFAULT_CHIPS
        return (
            embedder if self.embedder == AUTO else self.embedder,
            chips if self.chips == AUTO else self.chips,
        )

    @property
    def max_scan_pixels(self) -> int | None:
        return round(self.max_scan_mp * 1_000_000) or None

    def for_ingest(self, threads: int | None = None, recorded: str | None = None) -> VisionConfig:
        """The analysis of gallery photos: no second detector (costly in bulk). ``recorded``:
        the gallery's model id, which "auto" settings follow."""
        embedder, chips = self.model(recorded)
        return VisionConfig(
            chip_variants=chips,
            detector=self.detector,
            min_face_px=self.min_face_px,
            max_scan_pixels=self.max_scan_pixels,
            threads=threads,
            embedder=embedder,
            embedder_model=self.embedder_model,
            detector_model=self.detector_model,
        )

    def for_probes(self, recorded: str | None = None) -> VisionConfig:
        """The analysis of a probe photo, the same for the command line and the server.
        ``recorded``: the gallery's model id, which "auto" settings follow."""
        embedder, chips = self.model(recorded)
        return VisionConfig(
            chip_variants=chips,
            detector=self.detector,
            min_face_px=self.min_face_px,
            max_scan_pixels=self.max_scan_pixels,
            fallback_detector=SECOND_PASS.get(self.detector) if self.second_pass else None,
            embedder=embedder,
            embedder_model=self.embedder_model,
            detector_model=self.detector_model,
        )


class ServerSettings(BaseModel):
    """``facesift serve``."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Server processes; more than one needs PostgreSQL (they share the database).
    workers: int = Field(1, ge=1, le=64)
    # Probe analyses at once in each server process; 0: the cores shared among the server
    # processes (``probe_processes``).
    probe_workers: int = Field(0, ge=0, le=256)
    # Retention runs in the server every this many hours; 0: off (cron the command instead).
    retention_hours: float = Field(0, ge=0, le=24 * 365)
    # HTTPS: a PEM certificate and its private key (both or neither).
    certfile: str | None = None
    keyfile: str | None = None
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto headers are trusted.
    forwarded_allow_ips: str = "127.0.0.1"

    def probe_processes(self) -> int:
        """Probe analysis processes in each server process: ``probe_workers``, or one per
        core for the whole server, shared among its processes (at least one each). A pool
        of every core in each of ``--workers 2`` made four analyses take turns on two
        cores: 109 ms of CPU an analysis against 105, 1.40x the one-analysis server's
        searches against 1.45x, read p99 48-70 ms against 34-36 (``bench/load.py``, 50
        users, 2026-11-29), and each pool process holds its own models."""
        return self.probe_workers or max(1, usable_cores() // self.workers)


class Config(BaseSettings):
    """The configuration of one facesift process. ``Config()`` reads the environment;
    ``with_flags`` lays command-line flags over it."""

    model_config = SettingsConfigDict(
        env_prefix="FACESIFT_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_assignment=True,
    )

    # The data folder (``data_dir``); None: the XDG data folder (~/.local/share/facesift).
    home: Path | None = None
    # None: SQLite in the data folder (facesift.db).
    database_url: str | None = None
    # A Milvus collection for the face vectors (milvus://HOST:PORT/NAME); None: FAISS files
    # in the data folder.
    vectors: str | None = None
    # A Dask scheduler (tcp://HOST:PORT) to run ingest on; None: processes on this machine.
    cluster: str | None = None
    vision: VisionSettings = VisionSettings()
    server: ServerSettings = ServerSettings()
    # None: WARNING for commands, INFO for the server (see facesift.logs).
    log_level: str | None = None
    # The Ed25519 private key (PEM, from ``facesift audit keygen``) that signs the
    # checkpoints of audit exports; None: exports carry unsigned checkpoints.
    audit_signing_key: Path | None = None
    # A second place for the audit anchor (a file on another disk, a WORM mount), appended
    # to at every audit entry; None: the anchor in the data folder only.
    audit_anchor_copy: Path | None = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str | None) -> str | None:
        if level is not None and level.upper() not in LEVELS:
            raise ValueError(f"the log level is one of {', '.join(LEVELS)}, not {level!r}")
        return level.upper() if level else None

    @field_validator(
        "database_url",
        "vectors",
        "cluster",
        "audit_signing_key",
        "audit_anchor_copy",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return value or None

    @property
    def data_dir(self) -> Path:
        if self.home is not None:
            return self.home.expanduser()
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "facesift"

    def with_flags(self, **flags: Any) -> Self:
        """A copy with the flags that were given (not None). ``vision`` and ``server``
        take a dict of their own fields."""
        values = self.model_dump()
        for name, value in flags.items():
            if value is None:
                continue
            if name in ("vision", "server"):
                values[name] |= {key: v for key, v in value.items() if v is not None}
            else:
                values["home" if name == "data_dir" else name] = value
        return type(self).model_validate(values)

    def environment(self) -> dict[str, str]:
        """The variables that give another process (a ``serve --workers`` worker) this
        configuration through ``Config()``."""
        env = {"FACESIFT_HOME": str(self.data_dir)}
        for name in (
            "database_url",
            "vectors",
            "cluster",
            "log_level",
            "audit_signing_key",
            "audit_anchor_copy",
        ):
            if getattr(self, name):
                env[f"FACESIFT_{name.upper()}"] = str(getattr(self, name))
        for section in ("vision", "server"):
            for key, value in getattr(self, section).model_dump().items():
                if value is not None:  # unset stays unset (a model file, say)
                    env[f"FACESIFT_{section.upper()}__{key.upper()}"] = str(value)
        return env
