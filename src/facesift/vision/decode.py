"""Bytes to RGB pixels, refusing anything we cannot decode safely.

Every refusal raises :class:`ImageError` with one of these codes:

- ``empty_file``: zero bytes.
- ``too_large``: more bytes than ``max_bytes``.
- ``not_an_image``: the content is no image format we know (the file name is never trusted).
- ``unsupported_format``: an image, but not one of JPEG, PNG, WebP, BMP, TIFF, GIF.
- ``decompression_bomb``: the header claims more pixels than ``max_pixels``.
- ``truncated``: the data ends before the image does.
- ``corrupt``: the decoder failed for another reason.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facesift.errors import ImageError
from facesift.vision.settings import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

# MPO is how cameras store JPEGs with an embedded preview; it decodes as a JPEG.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def decode_image(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode ``data`` into an upright (EXIF-rotated) uint8 RGB array of shape (H, W, 3)."""
    if not data:
        raise ImageError("empty_file", "the file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(
            "too_large", f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes"
        )
    image = _open_checked(data, max_pixels)
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame only
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except ImageError:
        raise
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise ImageError(
                "truncated", "the image data is truncated (the file ends early)"
            ) from None
        raise ImageError("corrupt", f"the image data is corrupt: {exc}") from exc
    except (ValueError, SyntaxError, TypeError, Image.DecompressionBombError) as exc:
        # TypeError: Pillow's TIFF reader raises it for a page without dimensions.
        raise ImageError("corrupt", f"the image data is corrupt: {exc}") from exc


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Read only the header, and check format and size before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not_an_image", "the content is not an image") from None
    except Image.DecompressionBombError as exc:
        raise ImageError("decompression_bomb", f"refused: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        if "truncated" in str(exc).lower():  # the file ends inside its header
            raise ImageError(
                "truncated", "the image data is truncated (the file ends inside its header)"
            ) from None
        raise ImageError("corrupt", f"the image header is corrupt: {exc}") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(
            "unsupported_format",
            f"{image.format} images are not accepted; use JPEG, PNG, WebP, BMP, TIFF or GIF",
        )
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            "decompression_bomb",
            f"the image claims {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,} (possible decompression bomb)",
        )
    if width == 0 or height == 0:
        raise ImageError("corrupt", "the image has no pixels")
    return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Grayscale, 16-bit, CMYK, palette and alpha images all become 8-bit RGB."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # Deep grayscale: stretch to 8 bits instead of letting Pillow clip it to white.
        grey = np.asarray(image, dtype=np.float32)
        top = float(grey.max()) or 1.0
        grey8 = np.clip(grey * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels would otherwise turn black; faces read better on white.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
