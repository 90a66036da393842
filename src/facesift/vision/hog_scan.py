"""dlib's HOG face detector on two cores, with exactly the result it gives on one.

dlib scans its HOG detector over an image pyramid: the image (doubled first when faces
smaller than the 80 px window are wanted), then that image shrunk to 5/6, again and again
until it is smaller than the window. One ``run`` call does all of it on one core; on a
1-megapixel probe doubled for 40 px faces that is about 400 ms. The levels are independent
until the very end, where the boxes of every level are merged (non-maximum suppression), so
the work splits cleanly in two:

* another thread scans the first two levels (about 52% of the pixels; dlib releases the GIL);
* this thread shrinks the image twice exactly as dlib does (``dlib.pyramid_down(6)``) and
  scans every level from there on;
* the boxes of both are mapped to the full image the way dlib maps them, and merged once,
  by dlib's own rule, in dlib's order (highest score first).

Both scans are dlib's own detector with two settings changed in its serialized form
(``dlib/image_processing/object_detector.h`` and ``scan_fhog_pyramid.h``): how many pyramid
levels to scan (the first scan) and the overlap rule, switched off so that every box comes
back and the merge can be done over all of them together. ``SplitHogScan.run`` returns what
``detector.run(image, upsample, threshold)`` returns: the same boxes, scores and
sub-detector indices (tests compare them; bench/README.md did on 700 photos).
"""

from __future__ import annotations

import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np

from facesift.vision.dlib_format import DlibReader, pack_float, pack_int

# Levels scanned by the other thread: level l has (5/6)^(2l) of the first level's pixels,
# so the first two are 52% of the whole pyramid.
FIRST_LEVELS = 2
# Below this many pixels (after upsampling) the second thread costs more than it saves.
MIN_SPLIT_PIXELS = 160_000

Detections = tuple[list[dlib.rectangle], list[float], list[int]]

_SHRINK = dlib.pyramid_down(6)  # the HOG scanner's pyramid step: 5/6
_SHRINK_RATIO = 6 / 5
_DOUBLE = dlib.pyramid_down(2)  # what dlib's run(image, upsample) doubles and maps back with


@dataclass(frozen=True)
class SerializedHogDetector:
    """A saved ``object_detector<scan_fhog_pyramid<pyramid_down<6>>>`` and where in its
    bytes the two settings we change are."""

    data: bytes
    max_levels_at: tuple[int, int]
    overlap_at: tuple[int, int]
    match_thresh: float  # two boxes overlap when intersection / bounding box exceeds this
    covered_thresh: float  # ... or when the intersection covers this much of either box
    min_layer: tuple[int, int]  # the pyramid stops at levels narrower or lower than this

    @classmethod
    def of(cls, detector: dlib.fhog_object_detector) -> SerializedHogDetector:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "detector.svm"
            detector.save(str(path))
            data = path.read_bytes()
        r = DlibReader(data)
        r.expect(r.int(), 2, "object_detector version")
        r.expect(r.int(), 1, "scan_fhog_pyramid version")
        r.expect((r.int(), r.int()), (0, 0), "cached feature pyramid")
        r.int(), r.int(), r.int(), r.int()  # cell size, padding, window width and height
        start = r.position
        r.int()
        max_levels_at = (start, r.position)
        min_layer = (r.int(), r.int())
        r.float(), r.int()  # nuclear norm regularization strength, dimensions
        start = r.position
        match_thresh, covered_thresh = r.float(), r.float()
        return cls(
            data, max_levels_at, (start, r.position), match_thresh, covered_thresh, min_layer
        )

    def variant(self, max_levels: int) -> dlib.fhog_object_detector:
        """The same detector scanning at most ``max_levels`` levels and returning every box
        over the threshold, overlapping or not (an overlap threshold of 1 is never
        exceeded)."""
        (a, b), (c, d) = self.max_levels_at, self.overlap_at
        never = pack_float(1.0)
        data = self.data[:a] + pack_int(max_levels) + self.data[b:c] + never + never
        data += self.data[d:]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "detector.svm"
            path.write_bytes(data)
            return dlib.fhog_object_detector(str(path))

    def overlaps(self, a: dlib.rectangle, b: dlib.rectangle) -> bool:
        """dlib's ``test_box_overlap``."""
        inner = a.intersect(b).area()
        if inner == 0:
            return False
        return (
            inner / (a + b).area() > self.match_thresh
            or inner / a.area() > self.covered_thresh
            or inner / b.area() > self.covered_thresh
        )


def _upsampled(image: np.ndarray, times: int) -> np.ndarray:
    """``image`` doubled ``times`` times exactly as dlib's run(image, upsample) doubles it
    (``pyramid_up``: bilinear, to the size ``pyramid_down<2>`` maps the image up to)."""
    for _ in range(times):
        up = _DOUBLE.rect_up(_rect_of(image))
        image = dlib.resize_image(image, up.bottom() + 1, up.right() + 1)
    return image


def _rect_of(image: np.ndarray) -> dlib.rectangle:
    return dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)


class SplitHogScan:
    """``run`` as dlib's ``fhog_object_detector.run``, on this thread and one other.

    Not for concurrent use: each scanner keeps its pyramid while it runs. Images must be
    contiguous (``HogDetector`` makes them so)."""

    def __init__(self, detector: dlib.fhog_object_detector):
        self._whole = detector
        self._saved = SerializedHogDetector.of(detector)
        self._first = self._saved.variant(FIRST_LEVELS)
        self._rest = self._saved.variant(1000)  # dlib's default: every level
        self._window_px = self._window_box_px()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def run(self, image: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> Detections:
        work_rect = _rect_of(image)
        for _ in range(upsample):
            work_rect = _DOUBLE.rect_up(work_rect)
        if work_rect.area() < MIN_SPLIT_PIXELS or not self._splits(work_rect):
            return self._whole.run(image, upsample, threshold)
        work = _upsampled(image, upsample)
        first = self._executor().submit(self._first.run, work, 0, threshold)
        rest = work
        for _ in range(FIRST_LEVELS):
            rest = _SHRINK(rest)
        boxes, scores, indices = self._rest.run(rest, 0, threshold)
        mapped = [self._from_rest(box) for box in boxes]
        if None in mapped:  # a box of no level's size: never seen, but never guess
            first.result()
            return self._whole.run(image, upsample, threshold)
        found = list(zip(scores, indices, mapped, strict=True))
        boxes, scores, indices = first.result()
        found += list(zip(scores, indices, boxes, strict=True))
        kept = self._suppress(found)
        return (
            [_DOUBLE.rect_down(box, upsample) if upsample else box for _, _, box in kept],
            [score for score, _, _ in kept],
            [index for _, index, _ in kept],
        )

    def _splits(self, rect: dlib.rectangle) -> bool:
        """Whether the pyramid of an image this size has levels past the first scan's
        (dlib's count, from load())."""
        levels = 0
        min_width, min_height = self._saved.min_layer
        while True:
            rect = _SHRINK.rect_down(rect)
            levels += 1
            if rect.width() < min_width or rect.height() < min_height:
                return levels > FIRST_LEVELS
            if levels > FIRST_LEVELS:
                return True

    def _from_rest(self, box: dlib.rectangle) -> dlib.rectangle | None:
        """A box from the second scan, in the whole pyramid's first level, as dlib maps it:
        the window's corners at its own level taken up all levels at once, rounded once at
        the end. The level is told by the box's size (a window grows 6/5 a level); None if
        the corners found do not map back to the box."""
        side = min(box.width(), box.height())
        level = max(0, round(math.log(side / self._window_px) / math.log(_SHRINK_RATIO)))
        corners = _SHRINK.rect_down(box, level) if level else box
        if level and _SHRINK.rect_up(corners, level) != box:
            return None
        return _SHRINK.rect_up(corners, level + FIRST_LEVELS)

    def _suppress(
        self, found: list[tuple[float, int, dlib.rectangle]]
    ) -> list[tuple[float, int, dlib.rectangle]]:
        """dlib's non-maximum suppression: best first, a box kept unless it overlaps one
        already kept."""
        kept: list[tuple[float, int, dlib.rectangle]] = []
        for candidate in sorted(found, key=lambda f: -f[0]):
            if not any(self._saved.overlaps(box, candidate[2]) for _, _, box in kept):
                kept.append(candidate)
        return kept

    def _window_box_px(self) -> int:
        """The side of the box one detection window makes at a level it is found at: the
        smallest box a scan of a blank image returns when every window counts."""
        boxes, _, _ = self._rest.run(np.zeros((120, 120), np.uint8), 0, -1e9)
        return min(min(box.width(), box.height()) for box in boxes)

    def _executor(self) -> ThreadPoolExecutor:
        # A pool made before a fork has no thread in the child; make one per process.
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hog-scan")
            self._pool_pid = os.getpid()
        return self._pool
