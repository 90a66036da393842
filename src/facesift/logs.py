"""Operational logging: what an operator needs to run facesift, never what it protects.

Each module logs to ``logging.getLogger(__name__)``. Logs name things by id, count, path of a
gallery file, or database (``describe_url``, no password); they never hold a password, a
token, a reset code, a probe's pixels or embedding, or a request body. The audit log, not
this, is the record of who did what.

Commands log warnings and errors by default (their output is the answer); ``facesift serve``
logs from INFO up. ``FACESIFT_LOG_LEVEL`` sets either.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(level: str) -> None:
    """Send facesift's records at ``level`` and above to standard error."""
    root = logging.getLogger("facesift")
    root.setLevel(level)
    if not any(getattr(h, "facesift", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.facesift = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
