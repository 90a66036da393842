"""Probe analysis gets a lane of its own among the server's worker threads.

Sync routes run in anyio's worker threads, at most 40 at once by default. An upload's thread
waits while its probe is analysed in the probe pool (``services.probe_pool``), seconds when
many investigators upload at once, and while it waits it holds one of the 40. With 30
investigators uploading in ``bench/load.py`` at 50 users, uploads held most of them and page
views queued behind uploads they had nothing to do with (read p99 about 1 s at 1.3 searches
a second). Uploads and edits now run under a limiter of their own, sized to keep the pool's
processes busy (two analyses a process: one running, one ready), and wait for it without a
thread; reads keep the default 40.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import FastAPI, Request

T = TypeVar("T")
ANALYSES_PER_PROCESS = 2


def open_analysis_lane(app: FastAPI, processes: int) -> None:
    """Called as the app starts (a limiter belongs to the running event loop)."""
    app.state.analysis_lane = anyio.CapacityLimiter(ANALYSES_PER_PROCESS * max(1, processes))


async def in_analysis_lane(request: Request, work: Callable[[], T]) -> T:
    """Run ``work`` (which analyses a probe) in a worker thread of the analysis lane."""
    return await anyio.to_thread.run_sync(work, limiter=request.app.state.analysis_lane)
