"""``facesift eval lfw``: accuracy on Labeled Faces in the Wild, and the score calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from facesift.cli.common import (
    DataDir,
    Detector,
    JsonFlag,
    console,
    fail,
    make_progress,
    print_json,
    resolve_data_dir,
)
from facesift.errors import FacesiftError
from facesift.machine import usable_cores
from facesift.services import lfw
from facesift.services.calibration import Calibration
from facesift.vision import VisionConfig
from facesift.vision.align import CHIP_VARIANTS
from facesift.vision.detect import DEFAULT_DETECTOR, DETECTORS

eval_app = typer.Typer(help="Measure accuracy on public benchmarks.", no_args_is_help=True)

CALIBRATION_EDGES = np.round(np.arange(0.0, 1.6001, 0.0025), 4)


@eval_app.command("lfw")
def eval_lfw(
    lfw_dir: Annotated[Path, typer.Argument(help="The LFW folder (images/, pairs.txt, ...).")],
    protocol: Annotated[
        str, typer.Option(help="view2 (pairs.txt) or view1 (dev pairs).")
    ] = "view2",
    identification: Annotated[
        bool, typer.Option("--identification", help="Also 1:N rank-1/rank-5 over all images.")
    ] = False,
    write_calibration: Annotated[
        Path | None,
        typer.Option(help="Write the score calibration (needs --identification's embeddings)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes [default: one per core].")] = 0,
    chip_variants: Annotated[
        str, typer.Option(help="Chips embedded a face: jitter (6, the default), flip (2), none.")
    ] = "jitter",
    detector: Detector = DEFAULT_DETECTOR,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Verification accuracy (and optionally identification) on LFW's own protocol files.
    Embeddings are cached in the data folder, so an interrupted run resumes."""
    if protocol not in ("view1", "view2"):
        raise fail("--protocol must be view1 or view2", 2)
    if chip_variants not in CHIP_VARIANTS:
        raise fail(f"--chip-variants must be one of {', '.join(CHIP_VARIANTS)}", 2)
    if detector not in DETECTORS:
        raise fail(f"--detector must be one of {', '.join(DETECTORS)}", 2)
    config = VisionConfig(detector=detector, fallback_detector="mmod", chip_variants=chip_variants)
    model_id = config.model_id
    cache_name = f"lfw_{model_id}_{config.detector}_{config.fallback_detector}.npz"
    cache_path = resolve_data_dir(data_dir) / "cache" / cache_name
    cache = lfw.EmbeddingCache(cache_path)
    try:
        if protocol == "view2":
            test, train = lfw.read_pairs(lfw_dir / "pairs.txt"), None
        else:
            test = lfw.read_pairs(lfw_dir / "pairsDevTest.txt")
            train = lfw.read_pairs(lfw_dir / "pairsDevTrain.txt")
        needed = [p for pair in test + (train or []) for p in (pair.first, pair.second)]
        labels = lfw.read_labels(lfw_dir) if identification or write_calibration else []
        needed += [path for path, _ in labels]
    except (FacesiftError, OSError) as exc:
        raise fail(str(exc)) from None
    _embed_with_progress(lfw_dir, needed, cache, config, workers or usable_cores(), as_json)

    report = lfw.LfwReport(model_id=model_id, detector=config.detector)
    report.verification = lfw.verify(protocol, test, train, cache)
    if labels:
        report.identification = lfw.identify(labels, cache)
    report.notes.append(
        f"Images where the {config.detector} detector finds no face go to the CNN (MMOD) "
        "detector, then to LFW's fixed central box; none is dropped. strict_accuracy counts "
        f"every pair with an image the {config.detector} detector missed as an error."
    )
    if write_calibration:
        genuine, impostor = lfw.distance_histograms(labels, cache, CALIBRATION_EDGES)
        source = (
            f"LFW deep-funneled, all {len(labels)} images, {config.detector} detector "
            f"with {config.fallback_detector} fallback"
        )
        Calibration.from_histograms(model_id, source, CALIBRATION_EDGES, genuine, impostor).save(
            write_calibration
        )
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)


def _embed_with_progress(
    lfw_dir: Path,
    paths: list[str],
    cache: lfw.EmbeddingCache,
    config: VisionConfig,
    workers: int,
    as_json: bool,
) -> None:
    progress = make_progress("embed LFW", show=not as_json)
    task = progress.add_task("embed", total=None)
    with progress:
        lfw.embed_images(
            lfw_dir,
            paths,
            cache,
            config,
            workers,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )


def _print_report(report: lfw.LfwReport) -> None:
    v = report.verification
    assert v is not None
    table = Table(title=f"LFW {v.protocol} verification ({report.model_id}, {report.detector})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("pairs", f"{v.pairs}"),
        ("accuracy (mean ± std over folds)", f"{v.accuracy:.2%} ± {v.accuracy_std:.2%}"),
        ("strict accuracy (fallback pairs = errors)", f"{v.strict_accuracy:.2%}"),
        ("threshold (mean of folds)", f"{v.threshold:.4f}"),
        ("TAR at FAR = 0.001", f"{v.tar_at_far_1e3:.2%} (distance ≤ {v.far_1e3_threshold:.4f})"),
        ("EER", f"{v.eer:.2%} (distance {v.eer_threshold:.4f})"),
        (
            f"images / {report.detector} found no face",
            f"{v.images} / {v.images_without_detected_face}",
        ),
        ("... found by the CNN detector instead", f"{v.images_found_by_fallback_detector}"),
        ("... embedded from the central box", f"{v.images_using_central_box}"),
        (f"pairs with a face {report.detector} missed", f"{v.pairs_with_fallback_face}"),
    ]
    if report.identification:
        i = report.identification
        rows += [
            ("identification probes / gallery", f"{i.probes} / {i.gallery}"),
            ("rank-1 / rank-5", f"{i.rank1:.2%} / {i.rank5:.2%}"),
        ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in report.notes:
        console.print(note)
