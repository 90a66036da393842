"""What every command shares: consoles, common options, exit codes and error reporting."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from facesift.config import Config

if TYPE_CHECKING:
    from rich.progress import (
        Progress,
        ProgressColumn,
    )

if TYPE_CHECKING:  # loaded by the commands that open them: see vision/settings.py
    from facesift.services.gallery import Gallery
    from facesift.store import Store

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
        help="Keep the face vectors in Milvus: milvus://HOST:PORT/NAME [default: "
        "$FACESIFT_VECTORS, else FAISS files in the data folder].",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Detector = Annotated[
    str | None,
    typer.Option(
        help="Face detector: centerface (ONNX, the default), yunet (ONNX, fastest), hog "
        "(dlib's HOG) or mmod (dlib's CNN, slow) [default: $FACESIFT_VISION__DETECTOR, else "
        "centerface].",
        show_default=False,
    ),
]
Embedder = Annotated[
    str | None,
    typer.Option(
        metavar="onnx|onnx-int8|dlib",
        help="How dlib's ResNet runs: onnx (float32, dlib's own vectors), onnx-int8 (8-bit "
        "integers, about 2.9x faster, its own vectors and calibration) or dlib "
        "[default: $FACESIFT_VISION__EMBEDDER, else onnx].",
        show_default=False,
    ),
]
EmbedderModelFile = Annotated[
    Path | None,
    typer.Option(
        "--embedder-model",
        help="Embed with your own ONNX embedder file (its geometry declared in FILE.json); "
        "a gallery takes one embedder's vectors only [default: "
        "$FACESIFT_VISION__EMBEDDER_MODEL, else dlib's ResNet].",
    ),
]
DetectorModelFile = Annotated[
    Path | None,
    typer.Option(
        "--detector-model",
        help="With --detector centerface: your own CenterFace-format ONNX file instead of the "
        "shipped one (recorded by its SHA-256) [default: $FACESIFT_VISION__DETECTOR_MODEL].",
    ),
]
SecondPass = Annotated[
    bool,
    typer.Option(
        "--second-pass",
        help="With --detector hog: when the photo shows no face, look again with dlib's CNN "
        "(seconds a photo) [default: $FACESIFT_VISION__SECOND_PASS, else off].",
    ),
]
MinFace = Annotated[
    int | None,
    typer.Option("--min-face", help="Smallest face to find, in pixels [default: 40].", min=8),
]
MaxScanMegapixels = Annotated[
    float | None,
    typer.Option(
        "--max-scan-mp",
        min=0,
        help="HOG: scan at most this many megapixels a photo (after upsampling for small "
        "faces); bigger photos are searched for bigger faces only. 0: no cap [default: 16].",
    ),
]


class _Invocation:
    """The environment's configuration with the flags given to ``facesift`` itself
    (``--database``) laid over it; set once by the root command."""

    config: Config | None = None


invocation = _Invocation()


def configured(
    data_dir: Path | None = None,
    vectors: str | None = None,
    *,
    detector: str | None = None,
    min_face: int | None = None,
    max_scan_mp: float | None = None,
    embedder_model: Path | None = None,
    detector_model: Path | None = None,
    second_pass: bool = False,
    embedder: str | None = None,
    **flags: object,
) -> Config:
    """This command's configuration: the flags it was given over the environment's."""
    vision = {
        "detector": detector,
        "embedder": embedder,
        "min_face_px": min_face,
        "max_scan_mp": max_scan_mp,
        "embedder_model": str(embedder_model) if embedder_model else None,
        "detector_model": str(detector_model) if detector_model else None,
        "second_pass": True if second_pass else None,
    }
    try:
        base = invocation.config or Config()
        return base.with_flags(data_dir=data_dir, vectors=vectors, vision=vision, **flags)
    except ValidationError as exc:
        raise fail(config_problem(exc), 2) from None


def config_problem(error: ValidationError) -> str:
    """One line a person can act on, for each bad setting."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


def gallery_of(config: Config) -> Gallery:
    from facesift.compose import open_gallery

    return open_gallery(
        config.data_dir, config.database_url, config.vectors, config.audit_anchor_copy
    )


def store_of(config: Config) -> Store:
    from facesift.compose import open_store

    return open_store(config.data_dir, config.database_url, config.audit_anchor_copy)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    errors.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def make_progress(label: str, *extra: ProgressColumn, show: bool = True) -> Progress:
    """A progress bar on stderr: count, rate and anything in ``extra``, elapsed time, ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
