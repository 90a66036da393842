"""``facesift eval lfw``: accuracy on Labeled Faces in the Wild, and the score calibration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facesift.cli.common import (
    DataDir,
    Detector,
    Embedder,
    EmbedderModelFile,
    JsonFlag,
    configured,
    console,
    fail,
    make_progress,
    print_json,
)
from facesift.errors import FacesiftError
from facesift.governance.search_policy import DEFAULT_TARGET_FPIR, DEFAULT_TOP_K
from facesift.machine import usable_cores
from facesift.vision.settings import DEFAULT_CHIPS, DEFAULT_DETECTOR, DETECTORS

if TYPE_CHECKING:  # the studies load the pipeline when they run (see cli/main.py)
    import numpy as np

    from facesift.services import evaluation, lfw
    from facesift.services.open_set import OpenSetReport
    from facesift.vision import VisionConfig

eval_app = typer.Typer(
    rich_markup_mode=None, help="Measure accuracy on public benchmarks.", no_args_is_help=True
)


def calibration_edges() -> np.ndarray:
    """The calibration's distance grid: steps of 0.0025 from 0 to 1.6."""
    import numpy as np

    return np.round(np.arange(0.0, 1.6001, 0.0025), 4)


@eval_app.command("lfw")
def eval_lfw(
    lfw_dir: Annotated[Path, typer.Argument(help="The LFW folder (images/, pairs.txt, ...).")],
    protocol: Annotated[
        str, typer.Option(help="view2 (pairs.txt) or view1 (dev pairs).")
    ] = "view2",
    identification: Annotated[
        bool, typer.Option("--identification", help="Also 1:N rank-1/rank-5 over all images.")
    ] = False,
    open_set: Annotated[
        bool,
        typer.Option(
            "--open-set",
            help="Open-set identification: FNIR at FPIR 0.1/1/10%, rank-1/10, for the default "
            "threshold rule and each technique tried.",
        ),
    ] = False,
    target_fpir: Annotated[
        float, typer.Option(help="The FPIR the default rule is run at, with --open-set.")
    ] = DEFAULT_TARGET_FPIR,
    write_calibration: Annotated[
        Path | None,
        typer.Option(help="Write the score calibration (needs --identification's embeddings)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes [default: one per core].")] = 0,
    chip_variants: Annotated[
        str,
        typer.Option(
            help="Chips embedded a face: jitter (6), four (4, the default), flip (2), none."
        ),
    ] = DEFAULT_CHIPS,
    detector: Detector = DEFAULT_DETECTOR,
    embedder: Embedder = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Verification accuracy (and optionally identification) on LFW's own protocol files.
    Embeddings are cached in the data folder, so an interrupted run resumes."""
    from facesift.services import lfw
    from facesift.services.calibration import Calibration
    from facesift.vision import VisionConfig
    from facesift.vision.align import CHIP_VARIANTS

    if protocol not in ("view1", "view2"):
        raise fail("--protocol must be view1 or view2", 2)
    if chip_variants not in CHIP_VARIANTS:
        raise fail(f"--chip-variants must be one of {', '.join(CHIP_VARIANTS)}", 2)
    if detector not in DETECTORS:
        raise fail(f"--detector must be one of {', '.join(DETECTORS)}", 2)
    config = VisionConfig(
        detector=detector,
        fallback_detector="mmod",
        chip_variants=chip_variants,
        embedder=configured(data_dir, embedder=embedder).vision.model()[0],
    )
    model_id = config.model_id
    cache_name = f"lfw_{model_id}_{config.detector}_{config.fallback_detector}.npz"
    cache_path = configured(data_dir).data_dir / "cache" / cache_name
    cache = lfw.EmbeddingCache(cache_path)
    try:
        if protocol == "view2":
            test, train = lfw.read_pairs(lfw_dir / "pairs.txt"), None
        else:
            test = lfw.read_pairs(lfw_dir / "pairsDevTest.txt")
            train = lfw.read_pairs(lfw_dir / "pairsDevTrain.txt")
        needed = [p for pair in test + (train or []) for p in (pair.first, pair.second)]
        wants_all = identification or write_calibration or open_set
        labels = sorted(lfw.read_labels(lfw_dir)) if wants_all else []
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
        genuine, impostor = lfw.distance_histograms(labels, cache, calibration_edges())
        source = (
            f"LFW deep-funneled, all {len(labels)} images, {config.detector} detector "
            f"with {config.fallback_detector} fallback"
        )
        Calibration.from_histograms(model_id, source, calibration_edges(), genuine, impostor).save(
            write_calibration
        )
    if open_set:
        report.open_set = _open_set(labels, cache, model_id, target_fpir, write_calibration)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
        if report.open_set:
            _print_open_set(report.open_set)


def _open_set(
    labels: list[tuple[str, str]],
    cache: lfw.EmbeddingCache,
    model_id: str,
    target_fpir: float,
    calibration: Path | None = None,
) -> OpenSetReport:
    """The open-set study under the shipped calibration, or ``calibration`` (the one this
    run just wrote, for a model that has none shipped yet)."""
    import numpy as np

    from facesift.services import lfw
    from facesift.services import open_set as open_set_study
    from facesift.services.calibration import Calibration, load_calibration

    vectors = np.stack([cache.vectors[p] for p, _ in labels]).astype(np.float32)
    quality = np.array([cache.quality[p] for p, _ in labels])

    def calibrate_on(mask: np.ndarray) -> Calibration:
        subset = [label for label, keep in zip(labels, mask, strict=True) if keep]
        genuine, impostor = lfw.distance_histograms(subset, cache, calibration_edges())
        return Calibration.from_histograms(
            model_id, "LFW subset", calibration_edges(), genuine, impostor
        )

    return open_set_study.evaluate(
        vectors,
        [name for _, name in labels],
        quality,
        load_calibration(model_id, calibration),
        target_fpir,
        DEFAULT_TOP_K,
        held_out_calibration=calibrate_on,
    )


def _print_open_set(report: OpenSetReport) -> None:
    from facesift.services import open_set as open_set_study

    console.print(
        f"Open set on LFW: {report.gallery_faces:,} gallery faces, {report.mated_probes:,} "
        f"mated and {report.non_mated_probes:,} non-mated probes; candidates within the "
        f"threshold and the first {report.top} ranks."
    )
    rule = Table(title="The default rule: threshold from a target FPIR and the gallery size")
    rule.add_column("calibration")
    for column in ("target FPIR", "faces", "threshold", "FPIR measured", "FNIR"):
        rule.add_column(column, justify="right")
    for point in report.default:
        rule.add_row(
            point.calibration,
            f"{point.target_fpir:.2%}",
            f"{point.gallery_size:,}",
            f"{point.threshold:.4f}",
            f"{point.measured_fpir:.2%}",
            f"{point.measured_fnir:.2%}",
        )
    console.print(rule)
    table = Table(
        title="Techniques: FNIR at a fixed FPIR (threshold set on the non-mated searches)"
    )
    for column in ("technique", "gallery"):
        table.add_column(column)
    for fpir in open_set_study.FPIR_POINTS:
        table.add_column(f"FNIR @ FPIR {fpir:.1%}", justify="right")
    table.add_column("rank-1", justify="right")
    table.add_column("rank-10", justify="right")
    for t in report.techniques:
        table.add_row(
            t.technique,
            t.protocol,
            *(f"{v:.2%}" for v in t.fnir_at_fpir.values()),
            f"{t.rank1:.2%}",
            f"{t.rank10:.2%}",
        )
    console.print(table)
    for note in report.notes:
        console.print(note)


def _embed_with_progress(
    lfw_dir: Path,
    paths: list[str],
    cache: lfw.EmbeddingCache,
    config: VisionConfig,
    workers: int,
    as_json: bool,
) -> None:
    from facesift.services import lfw

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


@eval_app.command("dataset")
def eval_dataset(
    folder: Annotated[Path, typer.Argument(help="The folder the labels' paths are relative to.")],
    labels: Annotated[Path, typer.Option(help="CSV: path, identity[, role][, group columns...].")],
    report_file: Annotated[
        Path, typer.Option("--report", help="Where to write the HTML report.")
    ] = Path("facesift-eval.html"),
    group: Annotated[
        list[str] | None,
        typer.Option(
            help="A group column (repeat) [default: every column but path, identity, "
            "role and expected_faces].",
            metavar="COLUMN",
        ),
    ] = None,
    target_fpir: Annotated[
        float, typer.Option(help="The target FPIR of the operating point.")
    ] = DEFAULT_TARGET_FPIR,
    workers: Annotated[int, typer.Option(help="Ingest processes [default: one per core].")] = 0,
    detector: Detector = None,
    embedder_model: EmbedderModelFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a labelled photo set through ingest and search in a sandbox (never your gallery):
    FNIR at FPIR, TAR at FAR, rank-1/10, per-group FNMR/FMR; an HTML report with plots."""
    from facesift.services import evaluation
    from facesift.services.calibration import calibration_for

    vision = configured(detector=detector, embedder_model=embedder_model).vision
    config = vision.for_ingest(threads=1)
    progress = make_progress("evaluate", show=not as_json)
    task = progress.add_task("evaluate", total=None)
    try:
        with progress:
            report = evaluation.evaluate_dataset(
                folder,
                labels,
                config,
                calibration_for(config),
                target_fpir,
                group or None,
                workers or usable_cores(),
                lambda stage, done, total: progress.update(
                    task, description=stage, completed=done, total=total
                ),
            )
        # matplotlib takes a fifth of a second to import: only when a report is written.
        from facesift.services.evaluation_report import render_html

        report_file.write_text(render_html(report), encoding="utf-8")
    except (FacesiftError, OSError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report.as_dict() | {"report": str(report_file)})
        return
    _print_dataset(report)
    console.print(f"The report with its plots: {report_file}")


def _print_dataset(report: evaluation.DatasetReport) -> None:
    table = Table(title=f"Evaluation in a sandbox ({report.model_id}, {report.detector})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("gallery faces / probes", f"{report.gallery_faces} / {report.probes}")
    table.add_row(
        "searches mated / non-mated", f"{report.mated_searches} / {report.non_mated_searches}"
    )
    table.add_row(
        f"operating point (target FPIR {report.target_fpir:g})",
        f"FPIR {report.operating_fpir:.2%}, FNIR {report.operating_fnir:.2%}",
    )
    for point, value in report.fnir_at_fpir.items():
        table.add_row(f"FNIR at FPIR {float(point):.1%}", f"{value:.2%}")
    for point, value in report.tar_at_far.items():
        table.add_row(f"TAR at FAR {float(point):.1%}", f"{value:.2%}")
    table.add_row("rank-1 / rank-10", f"{report.rank1:.2%} / {report.rank10:.2%}")
    for g in report.groups:
        table.add_row(f"{g.column}={g.value}: FNMR / FMR", f"{g.fnmr:.2%} / {g.fmr:.2%}")
    if report.largest_group_ratio is not None:
        ratio = report.largest_group_ratio
        shown = f"{ratio:.2f}" if math.isfinite(ratio) else "unbounded (a group at 0)"
        table.add_row("largest ratio between groups", shown)
    console.print(table)
    for note in report.notes:
        console.print(note)
