"""The HOG pyramid shared by two threads gives dlib's own result, box for box."""

from __future__ import annotations

import dlib
import numpy as np
import pytest
from PIL import Image

from facesift.vision.decode import decode_image
from facesift.vision.detect import HogDetector
from facesift.vision.dlib_format import DlibReader, pack_float, pack_int
from facesift.vision.hog_scan import FIRST_LEVELS, SerializedHogDetector, SplitHogScan
from tests.conftest import photos


@pytest.fixture(scope="module")
def dlib_hog() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


@pytest.fixture(scope="module")
def split(dlib_hog) -> SplitHogScan:
    return SplitHogScan(dlib_hog)


def _result(found) -> list[tuple]:
    rects, scores, indices = found
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    return sorted(zip(boxes, scores, indices, strict=True))


def _scaled(image: np.ndarray, pixels: int) -> np.ndarray:
    scale = (pixels / (image.shape[0] * image.shape[1])) ** 0.5
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def _test_images() -> list[tuple[str, np.ndarray]]:
    """Every fixture photo as it is, its probes at 1 megapixel (the probe benchmark's size),
    and crops at odd sizes, in colour and grey."""
    images = []
    for photo in photos("group") + photos("probe") + photos("negative"):
        image = decode_image(photo.path.read_bytes())
        images.append((photo.path.name, image))
        if photo.role == "probe":
            images.append((f"{photo.path.name} at 1 MP", _scaled(image, 1_000_000)))
        crop = np.ascontiguousarray(image[7:-11, 3:])
        images.append((f"{photo.path.name} cropped", crop))
        images.append((f"{photo.path.name} grey", np.ascontiguousarray(crop[..., 1])))
    return images


@pytest.mark.parametrize("upsample", [0, 1])
def test_split_scan_equals_dlibs_scan(dlib_hog, split, upsample) -> None:
    for name, image in _test_images():
        expected = _result(dlib_hog.run(image, upsample, 0.0))
        assert _result(split.run(image, upsample, 0.0)) == expected, name


def test_split_scan_equals_dlibs_scan_doubled_twice_and_at_a_lower_threshold(
    dlib_hog, split
) -> None:
    group = decode_image(photos("group")[0].path.read_bytes())
    small = np.ascontiguousarray(group[: group.shape[0] // 2, : group.shape[1] // 2])
    assert _result(split.run(small, 2, 0.0)) == _result(dlib_hog.run(small, 2, 0.0))
    assert _result(split.run(group, 1, -0.4)) == _result(dlib_hog.run(group, 1, -0.4))


def test_the_rewritten_detectors_change_only_levels_and_overlap(dlib_hog) -> None:
    """A 1 MP portrait's face is ~400 px: far past the first two levels (80-96 px windows),
    so the first scan finds nothing; without the overlap rule the full scan returns the
    face's neighbouring windows too, and dlib's rule keeps one of them."""
    saved = SerializedHogDetector.of(dlib_hog)
    portrait = _scaled(decode_image(photos("probe")[0].path.read_bytes()), 1_000_000)
    first, every_box = saved.variant(FIRST_LEVELS), saved.variant(1000)
    assert first.run(portrait, 0, 0.0)[0] == dlib.rectangles()
    kept = dlib_hog.run(portrait, 0, 0.0)[0]
    unsuppressed = every_box.run(portrait, 0, 0.0)[0]
    assert len(kept) == 1 and len(unsuppressed) > 1
    assert kept[0] in list(unsuppressed)


def test_the_detector_file_is_read_and_rewritten_as_dlib_writes_it(dlib_hog) -> None:
    saved = SerializedHogDetector.of(dlib_hog)
    start, end = saved.max_levels_at
    assert saved.data[start:end] == pack_int(1000)  # dlib's default: every level
    start, end = saved.overlap_at
    rewritten = pack_float(saved.match_thresh) + pack_float(saved.covered_thresh)
    assert saved.data[start:end] == rewritten
    assert 0 < saved.match_thresh < saved.covered_thresh < 1


@pytest.mark.parametrize("value", [0, 1, -1, 80, 1000, -54, 2**40, -(2**62)])
def test_integers_round_trip(value) -> None:
    assert DlibReader(pack_int(value)).int() == value


@pytest.mark.parametrize("value", [0.0, 1.0, 9.0, -2.5, 0.33008212188056446, 1e-300, 3e300])
def test_floats_round_trip(value) -> None:
    assert DlibReader(pack_float(value)).float() == value


def test_two_threads_find_what_one_finds() -> None:
    one, two = HogDetector(threads=1), HogDetector(threads=2)
    for name, image in _test_images():
        assert two.detect(image) == one.detect(image), name
