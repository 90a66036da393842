"""Still photos only: a probe is one picture, never a sequence of them.

An animation (GIF, APNG, animated WebP), a multi-page TIFF or a multi-picture JPEG (MPO) holds
more than one frame. Decoding it gives only the first, so a search would run on a frame the
investigator may never have looked at, and a clip could be searched frame by frame, which is
live-video search by another name. Every probe, in the server and on the command line, is
checked here before any face is looked for. A camera's MPO with a preview beyond the primary
picture is refused too: save the primary picture as a JPEG first.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from facesift.errors import ImageError
from facesift.vision.decode import decode_image

MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}


def decode_still(content: bytes, max_bytes: int) -> tuple[np.ndarray, str]:
    """Pixels and media type of an uploaded probe, judged by its content; still images only.
    Raises ImageError with a specific code (``too_large``, ``corrupt``, ``not_still``...)."""
    pixels = decode_image(content, max_bytes=max_bytes)
    require_still(content)  # APNG, GIF, WebP, MPO or TIFF with more than one frame
    with Image.open(io.BytesIO(content)) as image:
        return pixels, MEDIA_TYPES.get(image.format or "", "application/octet-stream")


def frame_count(data: bytes) -> int:
    """How many frames the image file holds (1 for a still photo)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(getattr(image, "n_frames", 1) or 1)
    except (UnidentifiedImageError, OSError, ValueError):
        return 1  # not an image at all: decoding says so with its own error


def require_still(data: bytes) -> None:
    """Raise ImageError ``not_still`` if ``data`` holds more than one frame."""
    frames = frame_count(data)
    if frames > 1:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or "image"
        raise ImageError(
            "not_still",
            f"this {kind} file holds {frames} frames (an animation or a multi-picture file); "
            "a probe must be a still photo with one frame",
        )
