"""The server's probe analysis pool (``services.probe_pool``), on its own: real processes,
the real model. (The server's use of it, and a process killed during an upload, are tested
through the API in ``test_api.py``.)"""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import pytest
from PIL import Image

from facesift.config import VisionSettings
from facesift.errors import ImageError
from facesift.services.probe_pool import ProbePool
from tests.server_world import PROBE

MAX_BYTES = 20_000_000


@pytest.fixture(scope="module")
def pool():
    """Two processes, started: each test may run first on its xdist worker."""
    pool = ProbePool(VisionSettings().for_probes(), processes=2)
    assert _faces(pool) == 1
    yield pool
    pool.close()


def _faces(pool: ProbePool) -> int:
    analysis, media_type = pool.analyze_upload(PROBE.read_bytes(), MAX_BYTES)
    assert media_type == "image/jpeg"
    return len(analysis.faces)


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_error_in_a_process_reaches_the_caller_as_itself_and_the_process_stays(pool) -> None:
    before = pool.pids()
    with pytest.raises(ImageError) as raised:
        pool.analyze_upload(b"not a photo at all", MAX_BYTES)
    assert raised.value.code == "not_an_image"
    assert any("probe analysis process" in note for note in raised.value.__notes__)
    assert pool.pids() == before  # a refused photo costs no process


def _an_answer_that_cannot_be_pickled() -> threading.Lock:
    return threading.Lock()


def test_an_answer_that_cannot_cross_comes_back_as_an_error_and_the_process_stays(pool) -> None:
    before = pool.pids()
    with pytest.raises(RuntimeError, match="could not be sent back"):
        pool._run(_an_answer_that_cannot_be_pickled)
    assert pool.pids() == before
    assert _faces(pool) == 1


def test_analyses_at_once_share_the_processes(pool) -> None:
    found: list[int] = []
    threads = [threading.Thread(target=lambda: found.append(_faces(pool))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert found == [1] * 5
    pids = pool.pids()
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_process_killed_while_idle_is_replaced_and_the_next_analysis_succeeds(pool) -> None:
    killed = pool.pids()[0]
    os.kill(killed, signal.SIGKILL)
    _wait_for(lambda: killed not in pool.pids(), 10)
    for _ in range(3):  # whichever process each takes
        assert _faces(pool) == 1
    pids = pool.pids()
    assert len(pids) == 2 and killed not in pids


def test_an_analysis_whose_process_is_killed_with_the_others_is_done_in_a_new_one(pool) -> None:
    """Every process killed while one analyses a 6 MP photo (about a second): the retry goes
    to a process started after the kill, never to another of the killed ones, which may not
    have ended yet on a busy machine."""
    big = io.BytesIO()
    Image.open(PROBE).convert("RGB").resize((2500, 2500)).save(big, format="JPEG", quality=90)
    found: list[int] = []
    analysis = threading.Thread(
        target=lambda: found.append(len(pool.analyze_upload(big.getvalue(), MAX_BYTES)[0].faces))
    )
    killed = pool.pids()
    analysis.start()
    time.sleep(0.3)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    analysis.join(timeout=120)
    assert found == [1]
    assert not set(killed) & set(pool.pids())
    assert _faces(pool) == 1


def test_a_pool_starts_its_process_on_first_use_and_closing_it_ends_the_process() -> None:
    pool = ProbePool(VisionSettings().for_probes(), processes=1)
    assert pool.pids() == []
    assert _faces(pool) == 1
    (pid,) = pool.pids()
    assert pid != os.getpid()
    pool.close()
    assert pool.pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="closed"):
        _faces(pool)
