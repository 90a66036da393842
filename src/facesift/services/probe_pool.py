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

Each process has a pipe of its own, and the request thread that takes an idle process
sends it the work and waits for the answer on that pipe itself. ``ProcessPoolExecutor``
passed each analysis through two threads of its own (a manager and a queue feeder), which
woke four times an upload. A round trip with a 74 KB photo cost the server 360-480 us of
CPU through the executor and costs 150-230 us this way (2,000 calls, three times; wall time
500-600 us against 280-360).

A process that dies (killed, out of memory) is replaced, and its analysis tried once more
in the new one, so one dead process costs one upload a few seconds, never the server, and
the other processes' analyses go on.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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


class WorkerDied(RuntimeError):
    """A pool process died (killed, out of memory) before it answered."""


@dataclass
class _Worker:
    process: BaseProcess
    pipe: Connection


def _serve(pipe: Connection, config: VisionConfig, parent: int) -> None:
    """A pool process: ``(function, args)`` in, ``(True, result)`` or ``(False, error,
    traceback)`` out, until the server closes the pipe."""
    _init_process(config, parent)
    while True:
        try:
            function, args = pipe.recv()
        except EOFError:
            return
        try:
            answer: tuple = (True, function(*args))
        except Exception as error:  # the caller's to raise: a bad photo, for one
            answer = (False, error, traceback.format_exc())
        try:
            pipe.send(answer)  # pickled whole before a byte is written
        except Exception as unsent:  # an answer that cannot be pickled: its text can
            text = f"{answer[1]!r} could not be sent back: {unsent!r}"
            pipe.send((False, RuntimeError(text), traceback.format_exc()))


class ProbePool:
    """``analyze(pixels)``: an image's faces with their embeddings, computed in one of
    ``processes`` pool processes. Thread-safe; at most ``processes`` analyses run at once,
    the others wait their turn. The processes start on the first analysis."""

    def __init__(self, config: VisionConfig, processes: int):
        # One process per core: each uses one thread (HOG's scan, onnxruntime).
        self.config = replace(config, threads=1)
        self.processes = max(1, processes)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []  # started, whether busy or idle
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._closed = False

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
        worker = self._take()
        for attempt in (1, 2):
            try:
                worker.pipe.send((function, args))
                ok, answer, *remote_traceback = worker.pipe.recv()
            except (EOFError, OSError):  # the process died: its pipe closed
                # Tried once more in a new process, never in another old one: a process
                # killed with the rest is still "alive" until the system has ended it (on a
                # busy machine, a while for a low-priority process).
                worker = self._replace(worker)
                if attempt == 2:
                    self._idle.put(worker)
                    raise WorkerDied("a probe analysis process died twice in a row") from None
                continue
            except BaseException:  # its answer may be left unread: never reuse it
                self._idle.put(self._replace(worker))
                raise
            self._idle.put(worker)
            if not ok:
                answer.add_note(f"in the probe analysis process:\n{remote_traceback[0]}")
                raise answer
            return answer
        raise AssertionError("unreachable")

    def _take(self) -> _Worker:
        """An idle, live process (waiting while all are busy); started on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the probe analysis pool is closed")
            while len(self._workers) < self.processes:
                self._idle.put(self._start())
        worker = self._idle.get()
        if not worker.process.is_alive():  # killed while idle
            worker = self._replace(worker)
        return worker

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self.config, os.getpid()), daemon=True
        )
        process.start()
        theirs.close()  # the process's end: once it dies, reading ours gives EOF
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _replace(self, dead: _Worker) -> _Worker:
        """A new process in place of a dead (or no longer trusted) one, for the caller."""
        log.warning("a probe analysis process died; starting another")
        dead.pipe.close()
        if dead.process.is_alive():
            dead.process.kill()
        dead.process.join(timeout=5)
        with self._lock:
            if dead in self._workers:
                self._workers.remove(dead)
            if self._closed:
                raise RuntimeError("the probe analysis pool is closed")
            return self._start()

    def pids(self) -> list[int]:
        """The pool's live processes (for tests and operators); empty before the first use."""
        with self._lock:
            workers = list(self._workers)
        return [w.process.pid for w in workers if w.process.pid and w.process.is_alive()]

    def close(self) -> None:
        """Stop the processes: each idle one ends when its pipe closes; any still busy (the
        server stops after its requests are answered) is ended."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.pipe.close()
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
