"""A face quality measure from what a reviewer would look at: size, sharpness and pose.

It deliberately ignores who the person is and how they look; it only says whether the pixels
are good enough to compare.

**Pose** comes from dlib's five landmarks (two corners of each eye and the base of the nose),
with a weak-perspective head: the eyes ``D`` apart, the nose base ``H`` below their line and
``Z`` in front of it. Roll is the angle of the eye line. Turned by a yaw ``t``, the eyes
appear ``D cos t`` apart and the nose moves ``Z sin t`` sideways, so yaw is
``atan(offset / eye distance * D / Z)``; tilted by a pitch ``p``, the nose's drop below the
eye line shrinks by about ``Z tan p``, so pitch is ``atan((H - drop) / Z)`` (in eye
distances). ``H/D`` is the median frontal drop of the fixture's faces (0.81; 0.69 to 0.96
for the middle 80%, so pitch is the rougher of the three); ``Z/D`` = 0.35 is an
anthropometric average (the nose base about 22 mm in front of eyes 63 mm apart). Expect
errors of ten degrees or so; what the gate needs is to tell a frontal face from a strongly
turned one. Tested: a mirror image turns yaw and roll round (within 5 and 2 degrees: the
mirrored face is found afresh), and turning the photo by 15 degrees moves roll by 15 (±2).
"""

from __future__ import annotations

import math

import numpy as np

from facesift.schemas import Box, Pose, Quality

# Faces this big (shorter side, px) and this sharp count as fully usable.
GOOD_SIZE_PX = 100
GOOD_SHARPNESS = 100.0
NOSE_DROP = 0.81  # H / D: the nose base's drop below the eye line, in eye distances
NOSE_DEPTH = 0.35  # Z / D: how far the nose base stands in front of the eyes


def laplacian_variance(chip: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey chip: low for blurred faces."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return float(lap.var())


def pose(points: list[tuple[float, float]] | np.ndarray) -> Pose | None:
    """Yaw, pitch and roll in degrees from dlib's five points; None if they are degenerate."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (5, 2):
        return None
    eyes = sorted([(p[0] + p[1]) / 2, (p[2] + p[3]) / 2], key=lambda e: e[0])
    left, right = eyes  # as seen in the picture
    across = right - left
    distance = float(np.hypot(*across))
    if distance < 1e-6:
        return None
    u = across / distance  # along the eye line
    v = np.array([-u[1], u[0]])  # perpendicular, pointing down the face
    nose = p[4] - (left + right) / 2
    sideways, drop = float(nose @ u) / distance, float(nose @ v) / distance
    yaw = math.degrees(math.atan(sideways / NOSE_DEPTH))
    pitch = math.degrees(math.atan((NOSE_DROP - drop) / NOSE_DEPTH))
    roll = math.degrees(math.atan2(across[1], across[0]))
    return Pose(yaw=round(yaw, 1), pitch=round(pitch, 1), roll=round(roll, 1))


def assess(box: Box, chip: np.ndarray, points: list[tuple[float, float]] | None = None) -> Quality:
    size = min(box.width, box.height)
    sharpness = laplacian_variance(chip)
    score = min(1.0, size / GOOD_SIZE_PX) * min(1.0, sharpness / GOOD_SHARPNESS)
    return Quality(
        size_px=size,
        sharpness=round(sharpness, 1),
        score=round(score, 3),
        pose=pose(points) if points is not None else None,
    )
