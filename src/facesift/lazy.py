"""Names a package lends from its modules, imported on first use (PEP 562).

``facesift.vision`` and ``facesift.index`` name what they offer, but importing onnxruntime,
dlib or FAISS costs 0.1-0.3 s each: a command that only reads the database (``facesift
stats``, ``facesift audit``) must not pay for them because it imported the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``homes[name]`` (a module path) when ``name``
    is first asked of ``package``."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    return __getattr__
