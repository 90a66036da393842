"""Landmarks and alignment: a face box becomes 5 points and a 150x150 chip.

The chip is what the embedder sees. Its geometry (150 px, 25% padding, rotated and scaled so
that the eyes and nose land at fixed places) is the one dlib's ResNet was trained on.
"""

from __future__ import annotations

import dlib
import numpy as np

from facesift.schemas import Box
from facesift.vision import model_files

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class FivePointAligner:
    def __init__(self) -> None:
        self._predictor = dlib.shape_predictor(str(model_files.landmarks_5_point()))

    def landmarks(self, image: np.ndarray, box: Box) -> dlib.full_object_detection:
        rect = dlib.rectangle(box.x1, box.y1, box.x2 - 1, box.y2 - 1)
        return self._predictor(image, rect)

    @staticmethod
    def points(shape: dlib.full_object_detection) -> list[tuple[float, float]]:
        return [(float(p.x), float(p.y)) for p in shape.parts()]

    @staticmethod
    def chip(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
