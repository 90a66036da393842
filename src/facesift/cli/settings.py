"""Where facesift keeps its data: ``--data-dir``, else ``$FACESIFT_HOME``, else the XDG
data folder (``~/.local/share/facesift``)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    if os.environ.get("FACESIFT_HOME"):
        return Path(os.environ["FACESIFT_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "facesift"
