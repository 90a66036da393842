"""Aligned face chips for review: the probe's face and a candidate's, cut at their five
landmarks the way the embedder cuts them (``vision.align``: 150 px, eyes and nose at fixed
places), so that laid over each other (the workspace's flicker and fade) the eyes fall on
the eyes. A plain box crop only puts the two faces' boxes on one frame: a turned head or a
loose box then moves the eyes by a tenth of the chip, which a flicker shows as motion that
is not a difference between the faces.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from facesift.schemas import Box
from facesift.vision.align import FivePointAligner


def aligned_jpeg(pixels: np.ndarray, box: list[int], landmarks: list) -> bytes | None:
    """The chip as a JPEG, or None where the landmarks cannot place one (not five points)."""
    points = [(float(x), float(y)) for x, y in landmarks or []]
    if len(points) != 5:
        return None
    try:
        shape = FivePointAligner.shape_from(Box(*box), points)
        chip = FivePointAligner.chip(np.ascontiguousarray(pixels[..., :3]), shape)
    except (RuntimeError, ValueError, TypeError):
        return None
    buffer = io.BytesIO()
    Image.fromarray(chip).convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()
