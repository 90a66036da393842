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

from facesift.errors import ImageError
from facesift.schemas import ImageAnalysis
from facesift.vision import FaceAnalyzer, VisionConfig

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
    analyzer = analyzer_for(config)
    results = []
    for item in items:
        try:
            results.append(BatchResult(item.key, analysis=analyzer.analyze_bytes(item.data)))
        except ImageError as exc:
            results.append(BatchResult(item.key, error_code=exc.code, error=exc.message))
        except Exception as exc:
            results.append(BatchResult(item.key, error_code="analysis_failed", error=repr(exc)))
    return results
