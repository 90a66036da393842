"""Embedders: aligned 150x150 chips in, one unit-scale vector per face out.

Two faces of the same person lie close together (Euclidean distance); the calibration in
``facesift.services.calibration`` turns a distance into a false-candidate rate.
"""

from __future__ import annotations

from typing import Protocol

import dlib
import numpy as np

from facesift.vision import model_files


class FaceEmbedder(Protocol):
    model_id: str
    dim: int

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, dim) float32 vectors."""
        ...


class DlibResnetEmbedder:
    """dlib's 29-layer ResNet (99.38% on LFW), run by dlib itself on the CPU."""

    model_id = "dlib_resnet_v1"
    dim = 128

    def __init__(self) -> None:
        self._net = dlib.face_recognition_model_v1(str(model_files.resnet_embedder()))

    def embed(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)
