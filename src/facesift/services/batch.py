"""The one batch function of the pipeline: image bytes in, analyses or errors out.

It runs unchanged in the calling process, in each worker of a local process pool, or (later)
on a cluster worker: each process builds its own analyzer once, on first use.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from facesift.errors import ImageError
from facesift.schemas import ImageAnalysis
from facesift.vision import FaceAnalyzer, VisionConfig, decode_image

# Decoded bytes analysed stage by stage together: a task's 8 LFW photos (1.5 MB) at once,
# photos of 8 MP (24 MB) and more one by one.
BYTES_ANALYSED_TOGETHER = 24_000_000

_analyzer: FaceAnalyzer | None = None
_config: VisionConfig | None = None


@dataclass(frozen=True)
class BatchItem:
    key: str
    data: bytes


@dataclass(frozen=True)
class BatchResult:
    key: str
    analysis: ImageAnalysis | None = None
    error_code: str | None = None
    error: str | None = None


def analyzer_for(config: VisionConfig) -> FaceAnalyzer:
    """This process's analyzer for ``config``, built on first use (model loading is slow)."""
    global _analyzer, _config
    if _analyzer is None or _config != config:
        _analyzer, _config = FaceAnalyzer.from_config(config), config
    return _analyzer


def init_worker(config: VisionConfig, parent: int) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle; workers just finish or die.
    ``parent`` is passed in, not read here: the parent may already be dead by now."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    # dlib and BLAS each use one core per worker; more threads only fight over the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    analyzer_for(config)


def _exit_with_parent(parent: int) -> None:
    """A pool worker whose parent was killed (SIGKILL) would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def analyze_batch(config: VisionConfig, items: list[BatchItem]) -> list[BatchResult]:
    """Each item's analysis, or its error: one bad image never costs the others theirs.
    Decoded images are analysed together (``FaceAnalyzer.analyze_many``), a few megapixels
    at a time so that a batch of big photos never holds all their pixels at once."""
    analyzer = analyzer_for(config)
    results: dict[str, BatchResult] = {}
    group: list[tuple[str, np.ndarray]] = []
    for item in items:
        try:
            group.append((item.key, decode_image(item.data)))
        except ImageError as exc:
            results[item.key] = BatchResult(item.key, error_code=exc.code, error=exc.message)
        if sum(pixels.size for _, pixels in group) >= BYTES_ANALYSED_TOGETHER:
            results.update(_analyze_group(analyzer, group))
            group = []
    results.update(_analyze_group(analyzer, group))
    return [results[item.key] for item in items]


def _analyze_group(
    analyzer: FaceAnalyzer, group: list[tuple[str, np.ndarray]]
) -> dict[str, BatchResult]:
    try:
        analyses = analyzer.analyze_many([pixels for _, pixels in group])
    except Exception:  # find the image that failed: analyse them one by one
        return {key: _analyze_one(analyzer, key, pixels) for key, pixels in group}
    return {
        key: BatchResult(key, analysis=analysis)
        for (key, _), analysis in zip(group, analyses, strict=True)
    }


def _analyze_one(analyzer: FaceAnalyzer, key: str, pixels: np.ndarray) -> BatchResult:
    try:
        return BatchResult(key, analysis=analyzer.analyze(pixels))
    except ImageError as exc:
        return BatchResult(key, error_code=exc.code, error=exc.message)
    except Exception as exc:
        return BatchResult(key, error_code="analysis_failed", error=repr(exc))
