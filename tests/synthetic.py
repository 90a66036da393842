"""Synthetic gallery records: real SQLite and FAISS, made-up faces (no model needed)."""

from __future__ import annotations

import hashlib

import numpy as np

from facesift.schemas import Box, Face, ImageAnalysis, Provenance, Quality
from facesift.services.gallery import Gallery
from facesift.store import StoredImage
from facesift.vision import VisionConfig

# A gallery refuses vectors of two embedders, and these share galleries with real faces
# (bench/probe.py) and are searched with the default calibration.
MODEL_ID = VisionConfig().model_id


def synthetic_images(count: int, seed: int = 0) -> list[StoredImage]:
    """``count`` images with one random face each: real records, no model needed."""
    rng = np.random.default_rng(seed)
    images = []
    for number in range(count):
        face = Face(
            box=Box(10, 10, 60, 60),
            landmarks=[(1.0, 2.0)] * 5,
            detector_score=1.0,
            quality=Quality(50, 100.0, 0.5),
            model_id=MODEL_ID,  # they stand for the default embedder's vectors
            embedding=rng.normal(0, 0.1, 128).astype(np.float32),
        )
        sha = hashlib.sha256(f"{seed}-{number}".encode()).hexdigest()
        analysis = ImageAnalysis(width=100, height=100, faces=[face])
        path = f"/synthetic/{seed}/{number}.jpg"
        images.append(StoredImage(sha, path, 1000, analysis, Provenance()))
    return images


def add_synthetic(gallery: Gallery, count: int, seed: int = 0, collection: str = "synth") -> None:
    images = synthetic_images(count, seed)
    for start in range(0, len(images), 500):
        gallery.add_images(collection, images[start : start + 500])
