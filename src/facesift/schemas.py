"""Typed values that flow between the stages: vision -> index/store -> services -> surfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Box:
    """A face rectangle in image pixels; x2 and y2 are exclusive."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1

    @property
    def area(self) -> int:
        return self.width * self.height

    def as_list(self) -> list[int]:
        return [self.x1, self.y1, self.x2, self.y2]


@dataclass(frozen=True)
class Detection:
    """What a detector returns: where a face is and how sure it is, and where a detector
    gives them, its own five landmarks (eyes, nose, mouth corners) in image pixels."""

    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class Quality:
    """How usable a face is for comparison. ``score`` is in [0, 1]; higher is better."""

    size_px: int  # the shorter side of the face box
    sharpness: float  # variance of the Laplacian of the aligned grey chip
    score: float
    pose: Pose | None = None  # estimated from the five landmarks (vision.quality.pose)

    def as_dict(self) -> dict[str, float]:
        values = {"score": self.score, "size_px": self.size_px, "sharpness": self.sharpness}
        if self.pose is not None:
            values |= self.pose.as_dict()
        return values


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: yaw (turned left or right), pitch (chin up is positive) and
    roll (tilted in the picture plane). A coarse estimate from five landmarks."""

    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}


@dataclass(frozen=True)
class Face:
    """One face found in one image, with its embedding."""

    box: Box
    landmarks: list[tuple[float, float]]  # dlib's 5 points: eye corners and the nose
    detector_score: float
    quality: Quality
    model_id: str
    embedding: np.ndarray = field(repr=False)  # float32, shape (dim,)

    def describe(self) -> dict:
        """The JSON shape used wherever a face is shown (without its embedding)."""
        return {
            "box": self.box.as_list(),
            "detector_score": round(self.detector_score, 4),
            "quality": self.quality.as_dict(),
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
        }


@dataclass(frozen=True)
class ImageAnalysis:
    """Everything vision learns from one image file."""

    width: int
    height: int
    faces: list[Face]  # ordered left to right, so "face N" is stable
    smallest_face_px: int = 0  # faces smaller than this were not looked for (0: unknown)
    scan_capped: bool = False  # too big to scan whole for the configured smallest face
    detector: str = ""  # the detector that found the faces ("": placed by hand, or unknown)


@dataclass(frozen=True)
class Provenance:
    """Where a photo came from and why we may hold it (from a manifest, or empty)."""

    source_url: str | None = None
    page_url: str | None = None
    caption: str | None = None
    captured_at: str | None = None
    legal_basis: str | None = None
    # When retention must destroy the photo (UTC ISO time; from a manifest's date, the end of
    # that day), whatever its collection's period; None: the collection's period decides.
    retain_until: str | None = None
    # Who the photo shows, by the operator's own record (a booking or record number), and a
    # label for people to read: a manifest's optional columns. Photos of one subject are
    # reviewed as one person (services.subjects).
    subject_id: str | None = None
    subject_label: str | None = None
