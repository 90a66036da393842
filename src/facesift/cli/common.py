"""What every command shares: consoles, common options, exit codes and error reporting."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from facesift.cli.settings import default_data_dir
from facesift.vision.detect import DEFAULT_MAX_SCAN_PIXELS

EXIT_ERROR = 1

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data folder [default: $FACESIFT_HOME or ~/.local/share/facesift]"
    ),
]
VectorsUrl = Annotated[
    str | None,
    typer.Option(
        "--vectors",
        envvar="FACESIFT_VECTORS",
        help="Keep the face vectors in Milvus: milvus://HOST:PORT/NAME [default: FAISS files "
        "in the data folder].",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Detector = Annotated[
    str,
    typer.Option(
        help="Face detector: hog (dlib's HOG), centerface (ONNX, faster, finds turned faces) "
        "or mmod (dlib's CNN, slow)."
    ),
]
EmbedderModelFile = Annotated[
    Path | None,
    typer.Option(
        "--embedder-model",
        envvar="FACESIFT_EMBEDDER_MODEL",
        help="Embed with your own ONNX embedder file (its geometry declared in FILE.json); "
        "a gallery takes one embedder's vectors only [default: dlib's ResNet].",
    ),
]
DetectorModelFile = Annotated[
    Path | None,
    typer.Option(
        "--detector-model",
        envvar="FACESIFT_DETECTOR_MODEL",
        help="With --detector centerface: your own CenterFace-format ONNX file instead of the "
        "shipped one (recorded by its SHA-256).",
    ),
]
MinFace = Annotated[int, typer.Option("--min-face", help="Smallest face to find, in pixels.")]
MaxScanMegapixels = Annotated[
    float,
    typer.Option(
        "--max-scan-mp",
        min=0,
        help="Scan at most this many megapixels a photo (after upsampling for small faces); "
        "bigger photos are searched for bigger faces only. 0: no cap.",
    ),
]
DEFAULT_MAX_SCAN_MP = DEFAULT_MAX_SCAN_PIXELS / 1_000_000


def max_scan_pixels(megapixels: float) -> int | None:
    return round(megapixels * 1_000_000) or None


def resolve_data_dir(value: Path | None) -> Path:
    return (value or default_data_dir()).expanduser()


class _Database:
    """The database URL given to ``facesift --database`` (None: the environment's
    ``$FACESIFT_DATABASE_URL``, else SQLite in the data folder)."""

    url: str | None = None


database = _Database()


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    errors.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def make_progress(label: str, *extra: ProgressColumn, show: bool = True) -> Progress:
    """A progress bar on stderr: count, rate and anything in ``extra``, elapsed time, ETA."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=errors,
        disable=not show,
    )
