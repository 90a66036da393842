"""The server's probe analysis: a small pool of processes, one per core, at a low priority.

An analysis (HOG detection, then the ONNX embedding) is mostly C++, but it holds Python's
lock for part of its time, and it keeps a core busy for a few hundred ms. Run in the
server's own threads, it starved the request threads of the lock and of the cores: page
views and API reads waited behind uploads. Each pool process is a separate interpreter
(spawned, so nothing of the server's threads or connections is inherited), builds its
analyzer once (``batch.analyzer_for``, as the CLI's batch workers do), and lowers its own
CPU priority, so the operating system runs the request threads first and gives the
analyses what is left. The analysis itself is ``FaceAnalyzer.analyze``: the same code, and
the same typed ``ImageAnalysis``, as the CLI's.

A pool process that dies (killed, out of memory) breaks the pool; the pool is then started
again and the analysis tried once more, so one dead process costs one upload a few seconds,
never the server.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TypeVar

import numpy as np

from facesift.schemas import Detection, Face, ImageAnalysis
from facesift.services import batch
from facesift.vision import VisionConfig
from facesift.vision.still import decode_still

log = logging.getLogger(__name__)

T = TypeVar("T")

NICENESS = 10  # added to the pool processes' CPU niceness: requests are scheduled first


def _init_process(config: VisionConfig, parent: int) -> None:
    with contextlib.suppress(OSError):  # not allowed here: run at the server's priority
        os.nice(NICENESS)
    batch.init_worker(config, parent)


def _analyze(config: VisionConfig, pixels: np.ndarray) -> ImageAnalysis:
    return batch.analyzer_for(config).analyze(pixels)


def _analyze_upload(
    config: VisionConfig, content: bytes, max_bytes: int
) -> tuple[ImageAnalysis, str]:
    pixels, media_type = decode_still(content, max_bytes)
    return batch.analyzer_for(config).analyze(pixels), media_type


def _faces_at(config: VisionConfig, pixels: np.ndarray, boxes: list[Detection]) -> list[Face]:
    return batch.analyzer_for(config).faces_at(pixels, boxes)


class ProbePool:
    """``analyze(pixels)``: an image's faces with their embeddings, computed in one of
    ``processes`` pool processes. Thread-safe; at most ``processes`` analyses run at once,
    the others wait their turn. The processes start on the first analysis."""

    def __init__(self, config: VisionConfig, processes: int):
        # One process per core: each uses one thread (HOG's scan, onnxruntime).
        self.config = replace(config, threads=1)
        self.processes = max(1, processes)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the probe analysis pool is closed")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_process,
                    initargs=(self.config, os.getpid()),
                )
            return self._executor

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:  # not already restarted by another request
                log.warning("a probe analysis process died; starting the pool again")
                self._executor = None
                broken.shutdown(wait=False, cancel_futures=True)

    def analyze(self, pixels: np.ndarray) -> ImageAnalysis:
        return self._run(_analyze, self.config, pixels)

    def faces_at(self, pixels: np.ndarray, boxes: list[Detection]) -> list[Face]:
        """Align and embed faces at places given (a box the investigator drew)."""
        return self._run(_faces_at, self.config, pixels, boxes)

    def analyze_upload(self, content: bytes, max_bytes: int) -> tuple[ImageAnalysis, str]:
        """An uploaded photo's faces and media type, decoded in the pool process: the server
        sends the file's bytes, not 3 MB of pixels, and does not decode it itself. Raises
        the decoder's ImageError (corrupt, too large, not a still photo) as it would here."""
        return self._run(_analyze_upload, self.config, content, max_bytes)

    def _run(self, function: Callable[..., T], *args: object) -> T:
        for attempt in (1, 2):
            executor = self._current()
            try:
                return executor.submit(function, *args).result()
            except BrokenProcessPool:
                self._restart(executor)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def pids(self) -> list[int]:
        """The pool's live processes (for tests and operators); empty before the first use."""
        with self._lock:
            executor = self._executor
        if executor is None:
            return []
        return [p.pid for p in list(executor._processes.values()) if p.pid and p.is_alive()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
