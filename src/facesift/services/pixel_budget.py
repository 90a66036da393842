"""A server-wide budget of pixels being decoded and analysed at once; over it, 503.

Why: a probe's memory grows with its pixels, not its bytes. Issue 12 measured a 160 KB PNG
of 49 MP costing about 600 MB to decode (RGB, then the analysis's copies); two at once took
the server from 308 MB to 1,513 MB. The upload limit bounds bytes, the decoder's limit
(50 MP) bounds one image; this bounds them together: an upload takes its pixel count from
the budget before decoding (the header says how many) and gives it back when its analysis
is done. When the budget is spent, the upload is refused at once with 503 and Retry-After,
so the server never runs out of memory: the client tries again in a few seconds.

The default, 60 MP, lets the largest image the decoder accepts run alone, or a dozen phone
photos at once; at about 12 bytes a pixel at the peak, that is under 1 GB.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from facesift.errors import Busy

DEFAULT_PIXEL_BUDGET = 60_000_000
RETRY_AFTER_SECONDS = 5


class PixelBudget:
    def __init__(self, total: int = DEFAULT_PIXEL_BUDGET):
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def try_take(self, pixels: int) -> bool:
        with self._lock:
            # An image alone is always let through (the decoder bounds it by itself).
            if self._used and self._used + pixels > self.total:
                return False
            self._used += pixels
            return True

    def give_back(self, pixels: int) -> None:
        with self._lock:
            self._used = max(0, self._used - pixels)

    @contextmanager
    def holding(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget, or raise Busy (503, Retry-After) if it is spent."""
        if not self.try_take(pixels):
            raise Busy(
                "the server is analysing as many pixels as it can hold; try again in a few seconds",
                RETRY_AFTER_SECONDS,
            )
        try:
            yield
        finally:
            self.give_back(pixels)


def claimed_pixels(content: bytes) -> int:
    """What the image's header claims (0 if it has none; the decoder then says why)."""
    try:
        with warnings.catch_warnings():  # only the header is read; decoding says what is wrong
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(content)) as image:
                width, height = image.size
                return width * height
    except Exception:  # any unreadable header: the decoder says what is wrong with it
        return 0
