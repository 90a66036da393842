"""Bad input files, made on the fly: each is one way a real collection goes wrong."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def truncated_jpeg(source: Path) -> bytes:
    data = source.read_bytes()
    return data[: len(data) // 2]


def decompression_bomb_png() -> bytes:
    """A few kilobytes that claim 144 million pixels."""
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_bad_files(folder: Path, real_jpeg: Path) -> dict[str, str]:
    """Write the bad files into ``folder``; returns {file name: expected error code}."""
    files = {
        "truncated.jpg": (truncated_jpeg(real_jpeg), "truncated"),
        "empty.jpg": (b"", "empty_file"),
        "notes.jpg": (b"this is a text file, not a photo\n", "not_an_image"),
        "bomb.png": (decompression_bomb_png(), "decompression_bomb"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: code for name, (_, code) in files.items()}
