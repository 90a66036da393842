"""A face quality measure from two things a reviewer would look at: size and sharpness.

It deliberately ignores who the person is and how they look; it only says whether the pixels
are good enough to compare.
"""

from __future__ import annotations

import numpy as np

from facesift.schemas import Box, Quality

# Faces this big (shorter side, px) and this sharp count as fully usable.
GOOD_SIZE_PX = 100
GOOD_SHARPNESS = 100.0


def laplacian_variance(chip: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey chip: low for blurred faces."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return float(lap.var())


def assess(box: Box, chip: np.ndarray) -> Quality:
    size = min(box.width, box.height)
    sharpness = laplacian_variance(chip)
    score = min(1.0, size / GOOD_SIZE_PX) * min(1.0, sharpness / GOOD_SHARPNESS)
    return Quality(size_px=size, sharpness=round(sharpness, 1), score=round(score, 3))
