"""Where the shipped model weights live. They come from the ``face-recognition-models``
package on PyPI; nothing is ever downloaded at run time."""

from __future__ import annotations

import os
from pathlib import Path

import face_recognition_models


def cache_dir() -> Path:
    """Where derived model files (the ONNX conversion) are kept: ``$FACESIFT_CACHE``, else
    ``$XDG_CACHE_HOME/facesift``, else ``~/.cache/facesift``."""
    if os.environ.get("FACESIFT_CACHE"):
        return Path(os.environ["FACESIFT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "facesift"


def _shipped(name: str) -> Path:
    path = Path(face_recognition_models.__file__).parent / "models" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"model file {name} is missing from the face-recognition-models package at {path}; "
            "reinstall it with: pip install --force-reinstall face-recognition-models"
        )
    return path


def landmarks_5_point() -> Path:
    return _shipped("shape_predictor_5_face_landmarks.dat")


def resnet_embedder() -> Path:
    return _shipped("dlib_face_recognition_resnet_model_v1.dat")


def mmod_detector() -> Path:
    return _shipped("mmod_human_face_detector.dat")
