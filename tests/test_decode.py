"""decode_image: every accepted format and colour mode becomes upright uint8 RGB, and every
bad input is refused with its documented code. Images are made on the fly with Pillow."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from facesift.errors import ImageError
from facesift.vision.decode import DEFAULT_MAX_PIXELS, decode_image

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def quadrants(width: int = 36, height: int = 24) -> np.ndarray:
    """A non-square image: red top-left, green top-right, blue bottom-left, yellow
    bottom-right. Flat blocks survive lossy codecs; non-square catches transposition."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    pixels[:h, :w], pixels[:h, w:] = RED, GREEN
    pixels[h:, :w], pixels[h:, w:] = BLUE, YELLOW
    return pixels


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def block_colours(rgb: np.ndarray) -> list[tuple[int, ...]]:
    """The mean colour at the centre of each quadrant: TL, TR, BL, BR."""
    height, width = rgb.shape[:2]
    centres = [
        (height // 4, width // 4),
        (height // 4, 3 * width // 4),
        (3 * height // 4, width // 4),
        (3 * height // 4, 3 * width // 4),
    ]
    return [
        tuple(round(float(c)) for c in rgb[y - 2 : y + 3, x - 2 : x + 3].mean(axis=(0, 1)))
        for y, x in centres
    ]


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> None:
    assert max(abs(a - e) for a, e in zip(actual, expected, strict=True)) <= tolerance, (
        f"{actual} is not within {tolerance} of {expected}"
    )


def refusal(data: bytes, **limits: int) -> ImageError:
    with pytest.raises(ImageError) as caught:
        decode_image(data, **limits)
    return caught.value


# -- formats ----------------------------------------------------------------------------------

LOSSLESS = [
    ("PNG", {}),
    ("WEBP", {"lossless": True}),
    ("BMP", {}),
    ("TIFF", {}),
    ("GIF", {}),  # four colours fit a palette exactly
]


@pytest.mark.parametrize(("fmt", "options"), LOSSLESS, ids=[f for f, _ in LOSSLESS])
def test_lossless_formats_decode_to_the_exact_pixels(fmt: str, options: dict) -> None:
    pixels = quadrants()
    decoded = decode_image(encode(Image.fromarray(pixels), fmt, **options))
    assert decoded.dtype == np.uint8
    assert decoded.shape == (24, 36, 3)
    assert np.array_equal(decoded, pixels)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_lossy_formats_decode_to_nearly_the_same_pixels(fmt: str) -> None:
    decoded = decode_image(encode(Image.fromarray(quadrants(72, 48)), fmt, quality=95))
    assert decoded.dtype == np.uint8
    assert decoded.shape == (48, 72, 3)
    for actual, expected in zip(block_colours(decoded), [RED, GREEN, BLUE, YELLOW], strict=True):
        assert_close(actual, expected, tolerance=12)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_uses_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(
        frames[0],
        fmt,
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
        **({"lossless": True} if fmt == "WEBP" else {}),
    )
    assert Image.open(io.BytesIO(data)).n_frames == 3  # really animated
    decoded = decode_image(data)
    assert decoded.shape == (20, 30, 3)
    assert np.all(decoded == RED)


def test_multipage_tiff_uses_its_first_page() -> None:
    pages = [Image.new("RGB", (30, 20), colour) for colour in (GREEN, BLUE)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert np.all(decode_image(data) == GREEN)


def test_mpo_camera_jpeg_is_accepted() -> None:
    frames = [Image.fromarray(quadrants(72, 48)), Image.new("RGB", (72, 48), BLACK)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    decoded = decode_image(data)
    assert decoded.shape == (48, 72, 3)
    assert_close(block_colours(decoded)[0], RED, tolerance=12)


# -- EXIF orientation -------------------------------------------------------------------------


def jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "expected_tl_tr_bl_br"),
    [
        # 6: the camera was turned clockwise; showing it upright turns it 90° clockwise.
        (6, [BLUE, RED, YELLOW, GREEN]),
        # 8: the other way; showing it upright turns it 90° anticlockwise.
        (8, [GREEN, YELLOW, RED, BLUE]),
    ],
)
def test_exif_orientation_is_applied(
    orientation: int, expected_tl_tr_bl_br: list[tuple[int, int, int]]
) -> None:
    data = jpeg_with_orientation(quadrants(72, 48), orientation)
    decoded = decode_image(data)
    assert decoded.shape == (72, 48, 3)  # rotated: taller than wide
    for actual, expected in zip(block_colours(decoded), expected_tl_tr_bl_br, strict=True):
        assert_close(actual, expected, tolerance=12)
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert np.array_equal(decoded, np.asarray(reference))


def test_orientation_1_leaves_the_image_as_stored() -> None:
    decoded = decode_image(jpeg_with_orientation(quadrants(72, 48), 1))
    assert decoded.shape == (48, 72, 3)
    assert_close(block_colours(decoded)[0], RED, tolerance=12)


# -- colour modes -----------------------------------------------------------------------------


def test_grayscale_becomes_three_equal_channels() -> None:
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (10, 1))  # 10 x 64 ramp
    decoded = decode_image(encode(Image.fromarray(grey, mode="L"), "PNG"))
    assert decoded.shape == (10, 64, 3)
    for channel in range(3):
        assert np.array_equal(decoded[:, :, channel], grey)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grayscale_is_stretched_not_clipped_to_white(fmt: str) -> None:
    deep = np.tile(np.arange(0, 64, dtype=np.uint16) * 1000, (8, 1))  # 0 .. 63000
    image = Image.fromarray(deep)
    assert image.mode == "I;16"
    decoded = decode_image(encode(image, fmt))
    assert decoded.shape == (8, 64, 3)
    expected = (deep.astype(np.float64) * 255 / 63000).astype(np.uint8)
    assert np.abs(decoded[:, :, 0].astype(int) - expected).max() <= 1
    assert decoded[0, 0, 0] == 0 and decoded[0, -1, 0] == 255
    assert 120 <= decoded[0, 32, 0] <= 135  # mid-grey stays mid-grey
    assert (decoded[:, :, 0] == 255).mean() < 0.05  # clipping would make ~98% white
    assert np.array_equal(decoded[:, :, 0], decoded[:, :, 2])


@pytest.mark.parametrize(("fmt", "tolerance"), [("TIFF", 0), ("JPEG", 12)])
def test_cmyk_becomes_rgb(fmt: str, tolerance: int) -> None:
    cmyk = np.zeros((24, 36, 4), dtype=np.uint8)
    cmyk[:12, :18] = (0, 255, 255, 0)  # red
    cmyk[:12, 18:] = (255, 0, 255, 0)  # green
    cmyk[12:, :18] = (0, 0, 0, 255)  # black
    cmyk[12:, 18:] = (0, 0, 0, 0)  # white (no ink)
    decoded = decode_image(encode(Image.fromarray(cmyk, mode="CMYK"), fmt))
    assert decoded.shape == (24, 36, 3)
    for actual, expected in zip(block_colours(decoded), [RED, GREEN, BLACK, WHITE], strict=True):
        assert_close(actual, expected, tolerance)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt: str) -> None:
    indices = np.zeros((10, 20), dtype=np.uint8)
    indices[:, 10:] = 1
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))  # 0: black but transparent
    decoded = decode_image(encode(image, fmt, transparency=0))
    assert decoded.shape == (10, 20, 3)
    assert np.all(decoded[:, :10] == WHITE)
    assert np.all(decoded[:, 10:] == RED)


def test_rgba_transparent_pixels_become_white_and_opaque_ones_keep_colour() -> None:
    rgba = np.zeros((10, 30, 4), dtype=np.uint8)  # black, fully transparent
    rgba[:, 10:20] = (255, 0, 0, 255)  # opaque red
    rgba[:, 20:] = (0, 0, 255, 128)  # half-transparent blue
    decoded = decode_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert decoded.shape == (10, 30, 3)
    assert np.all(decoded[:, :10] == WHITE)
    assert np.all(decoded[:, 10:20] == RED)
    blended = decoded[0, 25].astype(int)
    assert abs(blended[0] - 127) <= 2 and abs(blended[1] - 127) <= 2 and blended[2] == 255


def test_grayscale_with_alpha_becomes_white_where_transparent() -> None:
    la = np.zeros((6, 12, 2), dtype=np.uint8)
    la[:, 6:] = (40, 255)
    decoded = decode_image(encode(Image.fromarray(la, mode="LA"), "PNG"))
    assert np.all(decoded[:, :6] == WHITE)
    assert np.all(decoded[:, 6:] == 40)


# -- refusals ---------------------------------------------------------------------------------


def noisy_jpeg() -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=90)


def test_empty_bytes_are_refused_as_empty_file() -> None:
    error = refusal(b"")
    assert error.code == "empty_file"
    assert "empty" in error.message and "0 bytes" in error.message


def test_text_is_refused_as_not_an_image() -> None:
    error = refusal(b"this is a text file, not a photo\n" * 20)
    assert error.code == "not_an_image"


def test_jpeg_cut_in_half_is_refused_as_truncated() -> None:
    data = noisy_jpeg()
    error = refusal(data[: len(data) // 2])
    assert error.code == "truncated"
    assert "truncated" in error.message


def test_png_cut_in_half_is_refused_as_truncated() -> None:
    pixels = np.random.default_rng(8).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels), "PNG")
    assert refusal(data[: len(data) // 2]).code == "truncated"


@pytest.mark.parametrize(("fmt", "cut"), [("JPEG", 150), ("PNG", 20), ("BMP", 20)])
def test_file_cut_inside_its_header_is_refused_as_truncated(fmt: str, cut: int) -> None:
    pixels = np.random.default_rng(9).integers(0, 256, (50, 50, 3), dtype=np.uint8)
    error = refusal(encode(Image.fromarray(pixels), fmt)[:cut])
    assert error.code == "truncated"
    assert "truncated" in error.message


def test_decompression_bomb_is_refused_from_its_header_fast() -> None:
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) < 100_000  # a small file...
    start = time.perf_counter()
    error = refusal(data)
    elapsed = time.perf_counter() - start
    assert error.code == "decompression_bomb"
    assert "12000x12000" in error.message  # ...that claims 144 million pixels
    assert f"{DEFAULT_MAX_PIXELS:,}" in error.message
    assert elapsed < 1.0, f"took {elapsed:.2f} s: the pixels were decoded"


def test_pixel_limit_is_inclusive() -> None:
    data = encode(Image.new("RGB", (100, 50), RED), "PNG")
    assert decode_image(data, max_pixels=5_000).shape == (50, 100, 3)
    error = refusal(data, max_pixels=4_999)
    assert error.code == "decompression_bomb"
    assert "4,999" in error.message and "100x50" in error.message


def test_over_max_bytes_is_refused_as_too_large_and_the_limit_is_inclusive() -> None:
    data = encode(Image.new("RGB", (20, 20), RED), "PNG")
    assert decode_image(data, max_bytes=len(data)).shape == (20, 20, 3)
    error = refusal(data, max_bytes=len(data) - 1)
    assert error.code == "too_large"
    assert f"{len(data) - 1:,}" in error.message and f"{len(data):,}" in error.message


def test_size_limit_is_checked_before_anything_else() -> None:
    error = refusal(b"not an image at all", max_bytes=5)
    assert error.code == "too_large"


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA", "PCX"])
def test_real_image_in_an_unaccepted_format_is_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (32, 32), RED), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow could read it
    error = refusal(data)
    assert error.code == "unsupported_format"
    assert fmt in error.message and "JPEG" in error.message


def test_png_with_a_garbled_data_stream_is_refused_as_corrupt() -> None:
    pixels = np.random.default_rng(10).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    data = bytearray(encode(Image.fromarray(pixels), "PNG"))
    chunk = data.index(b"IDAT")
    length = struct.unpack_from(">I", data, chunk - 4)[0]
    for position in range(chunk + 14, chunk + 44):
        data[position] ^= 0x55
    # A correct CRC, so only the compressed pixels themselves are wrong.
    struct.pack_into(">I", data, chunk + 4 + length, zlib.crc32(data[chunk : chunk + 4 + length]))
    error = refusal(bytes(data))
    assert error.code == "corrupt"
    assert "corrupt" in error.message


def tiff_with_broken_second_page() -> bytes:
    """A two-page TIFF whose second page lost its ImageWidth tag."""
    pages = [Image.new("RGB", (16, 8), RED), Image.new("RGB", (16, 8), BLUE)]
    data = bytearray(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert data[:2] == b"II"
    first = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, first)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * count)[0]
    count = struct.unpack_from("<H", data, second)[0]
    for entry in range(second + 2, second + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 256:  # ImageWidth
            struct.pack_into("<H", data, entry, 0xFDE8)  # an unknown private tag
            return bytes(data)
    raise AssertionError("no ImageWidth tag in the second page")


def test_broken_second_tiff_page_is_an_image_error_not_a_crash() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = refusal(tiff_with_broken_second_page())
    assert error.code == "corrupt"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_damaged_files_decode_or_raise_image_error_only(fmt: str) -> None:
    """Random byte damage: each result is an RGB array or an ImageError, never a crash."""
    rng = np.random.default_rng(2024)
    pixels = rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels), fmt)
    outcomes: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(150):
            damaged = bytearray(data)
            for position in rng.integers(0, len(data), size=3):
                damaged[position] = rng.integers(0, 256)
            try:
                decoded = decode_image(bytes(damaged), max_pixels=1_000_000)
            except ImageError as error:
                outcomes.add(error.code)
            else:
                assert decoded.dtype == np.uint8 and decoded.ndim == 3
                assert decoded.shape[2] == 3
                outcomes.add("decoded")
    assert outcomes <= {
        "decoded",
        "corrupt",
        "truncated",
        "not_an_image",
        "decompression_bomb",
        "unsupported_format",
    }
