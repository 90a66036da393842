"""Run a batch function over many batches: in this process, or in a pool of processes.

Results come back in submission order. Only a few batches are in flight at a time, so
memory stays flat however many images there are.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import TypeVar

from facesift.services.batch import init_worker
from facesift.vision import VisionConfig
from facesift.vision.analyzer import make_embedder

In = TypeVar("In")
Out = TypeVar("Out")


def map_batches(
    fn: Callable[[VisionConfig, list[In]], Out],
    config: VisionConfig,
    batches: Iterable[list[In]],
    workers: int,
) -> Iterator[Out]:
    if workers <= 1:
        for batch in batches:
            yield fn(config, batch)
        return
    # One onnxruntime thread a worker: the workers already fill the cores. Convert the ONNX
    # model here first (a no-op once cached), so the workers do not all convert it at once.
    config = replace(config, threads=1)
    make_embedder(config)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),  # never fork a process that holds SQLite and FAISS
        initializer=init_worker,
        initargs=(config, os.getpid()),
    )
    in_flight: deque[Future] = deque()
    window = workers * 3  # enough queued to keep every worker busy
    try:
        for batch in batches:
            in_flight.append(pool.submit(fn, config, batch))
            while len(in_flight) >= window:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:
        # On Ctrl-C or an error, drop what has not started; a restart redoes only that.
        pool.shutdown(wait=True, cancel_futures=True)
