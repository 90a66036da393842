"""Landmarks and alignment: a face box becomes 5 points and a 150x150 chip.

The chip is what the embedder sees. Its geometry (150 px, 25% padding, rotated and scaled so
that the eyes and nose land at fixed places) is the one dlib's ResNet was trained on.

A face can also be cut out in several slightly different ways (``CHIP_VARIANTS``): mirrored,
shifted, turned. Averaging the embeddings of such variants makes a face's vector depend less
on the exact landmark positions, which is how dlib's ResNet reaches its published accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import dlib
import numpy as np

from facesift.schemas import Box
from facesift.vision import model_files
from facesift.vision.contract import DLIB_CHIP, ChipGeometry

CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class ChipVariant:
    """A small change to the chip's geometry: shift (in chip widths), scale, turn, mirror."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    degrees: float = 0.0
    mirror: bool = False


_PLAIN = ChipVariant()
_MIRRORED = ChipVariant(mirror=True)
_RIGHT = ChipVariant(0.03, 0.0, 1.0, 3.0)  # shifted by 3% of the chip, turned by 3 degrees
_LEFT = ChipVariant(-0.03, 0.0, 1.0, -3.0)
CHIP_VARIANTS: dict[str, tuple[ChipVariant, ...]] = {
    "none": (_PLAIN,),
    "flip": (_PLAIN, _MIRRORED),
    # The face and its mirror image, each also shifted and turned one way: the mirrored
    # right-hand cut sees the mirror image as the left-hand cut sees the face. Four of
    # "jitter"'s six chips, with its accuracy (LFW view2 99.25%, bench/chip_plans.py) at
    # two thirds of its embedding time.
    "four": (_PLAIN, _MIRRORED, replace(_RIGHT, mirror=True), _LEFT),
    "jitter": tuple(
        replace(variant, mirror=mirror)
        for variant in (_PLAIN, _RIGHT, _LEFT)
        for mirror in (False, True)
    ),
}


class FivePointAligner:
    def __init__(self) -> None:
        self._predictor = dlib.shape_predictor(str(model_files.landmarks_5_point()))

    def landmarks(self, image: np.ndarray, box: Box) -> dlib.full_object_detection:
        rect = dlib.rectangle(box.x1, box.y1, box.x2 - 1, box.y2 - 1)
        return self._predictor(image, rect)

    @staticmethod
    def shape_from(box: Box, points: list[tuple[float, float]]) -> dlib.full_object_detection:
        """The landmarks ``points`` gave for ``box`` back as dlib's shape, to cut chips again
        from stored landmarks (a re-embedding) without running the predictor."""
        rect = dlib.rectangle(box.x1, box.y1, box.x2 - 1, box.y2 - 1)
        return dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in points])

    @staticmethod
    def points(shape: dlib.full_object_detection) -> list[tuple[float, float]]:
        return [(float(p.x), float(p.y)) for p in shape.parts()]

    @staticmethod
    def chip(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    @staticmethod
    def chips(
        image: np.ndarray,
        shape: dlib.full_object_detection,
        variants: tuple[ChipVariant, ...],
        geometry: ChipGeometry = DLIB_CHIP,
    ) -> np.ndarray:
        """One chip per variant, cut from the image itself (so shifted chips have no
        empty borders). The plain variant equals ``chip``. A mirrored variant is its
        unmirrored twin flipped, so each geometry is cut from the image only once.
        ``geometry``: the chip size and padding the embedder wants (dlib's by default)."""
        details = dlib.get_face_chip_details(shape, geometry.size, geometry.padding)
        cut: dict[tuple[ChipVariant, bool], np.ndarray] = {}
        chips = []
        for variant in variants:
            # The plain chip is cut by dlib's own geometry and its mirror by the general one
            # (whose box is half a pixel wider), so those two are cut apart, as they always were.
            key = (replace(variant, mirror=False), variant == _PLAIN)
            if key not in cut:
                cut[key] = _cut(image, details, *key, size=geometry.size)
            chip = cut[key]
            chips.append(np.ascontiguousarray(chip[:, ::-1]) if variant.mirror else chip)
        return np.stack(chips)


def _cut(
    image: np.ndarray,
    details: dlib.chip_details,
    variant: ChipVariant,
    plain: bool,
    size: int = CHIP_SIZE,
) -> np.ndarray:
    """The unmirrored chip of ``variant``: by dlib's geometry when ``plain``."""
    if plain:
        chip = dlib.extract_image_chip(image, details)
    else:
        r = details.rect
        width, height = r.width() * variant.scale, r.height() * variant.scale
        cx = (r.left() + r.right()) / 2 + variant.dx * r.width()
        cy = (r.top() + r.bottom()) / 2 + variant.dy * r.height()
        moved = dlib.drectangle(cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
        angle = details.angle + math.radians(variant.degrees)
        chip = dlib.extract_image_chip(
            image, dlib.chip_details(moved, dlib.chip_dims(size, size), angle)
        )
    return np.asarray(chip)
