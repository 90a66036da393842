"""What this process may use of the machine it runs on."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on: a container or ``taskset`` can give fewer than the
    machine has, and a worker per core beyond them only makes the workers take turns."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
