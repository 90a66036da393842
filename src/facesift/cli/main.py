"""facesift's command line.

Exit codes: 0 success (``no_candidate`` is a success: it is an answer), 1 an error explained on
stderr, 2 a usage error, 3 a search probe with no face, 4 a search refused by policy,
130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from facesift.cli import (
    audit_commands,
    database_commands,
    evaluate,
    optout_commands,
    report_commands,
    retention_commands,
    server,
)
from facesift.cli.common import (
    EXIT_ERROR,
    DataDir,
    Detector,
    DetectorModelFile,
    Embedder,
    EmbedderModelFile,
    JsonFlag,
    MaxScanMegapixels,
    MinFace,
    SecondPass,
    VectorsUrl,
    config_problem,
    configured,
    console,
    errors,
    fail,
    gallery_of,
    invocation,
    make_progress,
    print_json,
    store_of,
)
from facesift.config import Config
from facesift.errors import FacesiftError, SearchRefused
from facesift.governance.search_policy import DEFAULT_TOP_K, MAX_CANDIDATES
from facesift.logs import configure_logging
from facesift.machine import usable_cores
from facesift.services.ingest_options import DEFAULT_COLLECTION, WRITE_BATCH_IMAGES
from facesift.store import AuditFilter
from facesift.vision.settings import DEFAULT_MAX_BYTES

if TYPE_CHECKING:
    pass

# Each command imports the pipeline, the index and the services it uses when it runs:
# ``stats`` and ``audit`` must not wait for onnxruntime, dlib and FAISS to load (issue 13:
# 1.3 to 1.6 s before). ``tests/test_cli.py`` checks which modules a command loads.
if TYPE_CHECKING:
    from facesift.services import index_build
    from facesift.services.gallery import Gallery
    from facesift.services.ingest import IngestOptions, IngestSummary
    from facesift.vision import VisionConfig

EXIT_NO_FACE, EXIT_REFUSED, EXIT_INTERRUPTED = 3, 4, 130

app = typer.Typer(
    help="facesift: search lawfully held photos by face, with every search accountable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: rich markup would eat "[default: ...]" in help texts as a style tag and
    # show every flag as "<bool>".
    rich_markup_mode=None,
)
audit_app = typer.Typer(
    rich_markup_mode=None, help="Read and verify the hash-chained audit log.", no_args_is_help=True
)
index_app = typer.Typer(
    rich_markup_mode=None, help="Manage the vector index.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
audit_app.command("keygen")(audit_commands.keygen)
audit_app.command("export")(audit_commands.export)
audit_app.command("verify-export")(audit_commands.verify_export_command)
audit_app.command("resync-anchor-copy")(audit_commands.resync_anchor_copy)
collections_app = typer.Typer(help="Mark collections shadow or live.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(collections_app, name="collections")
app.add_typer(evaluate.eval_app, name="eval")
app.add_typer(server.users_app, name="users")
app.add_typer(server.tokens_app, name="tokens")
app.command("serve")(server.serve)
app.add_typer(database_commands.db_app, name="db")
app.add_typer(optout_commands.optout_app, name="optout")
app.add_typer(retention_commands.retention_app, name="retention")
app.add_typer(report_commands.report_app, name="report")


@app.callback()
def main(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Database URL: postgresql://USER@HOST/NAME for a team, or sqlite:///FILE "
            "[default: $FACESIFT_DATABASE_URL, else SQLite in the data folder].",
        ),
    ] = None,
) -> None:
    """facesift: search lawfully held photos by face, with every search accountable."""
    from facesift.store.database import dialect_of

    try:
        invocation.config = Config().with_flags(database_url=database_url)
    except ValidationError as exc:
        raise fail(f"bad configuration: {config_problem(exc)}", 2) from None
    configure_logging(invocation.config.log_level or "WARNING")
    if invocation.config.database_url:
        try:
            dialect_of(invocation.config.database_url)
        except FacesiftError as exc:
            raise fail(exc.message, 2) from None


@app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Folders, image files, .zip or .tar(.gz).", metavar="PATH..."),
    ],
    collection: Annotated[str, typer.Option(help="Collection to add to.")] = DEFAULT_COLLECTION,
    manifest: Annotated[
        Path | None, typer.Option(help="CSV or JSONL manifest with provenance per file.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes [default: one per core].", show_default=False)
    ] = 0,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Analyse on a Dask cluster: its scheduler's address, tcp://HOST:PORT "
            "[default: $FACESIFT_CLUSTER, else processes on this machine].",
        ),
    ] = None,
    write_batch: Annotated[int, typer.Option(help="Images per database transaction.", min=1)] = (
        WRITE_BATCH_IMAGES
    ),
    detector: Detector = None,
    min_face: MinFace = None,
    max_scan_mp: MaxScanMegapixels = None,
    embedder_model: EmbedderModelFile = None,
    detector_model: DetectorModelFile = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Find, embed and index every face in PATHS. Run again to resume; nothing is done twice.

    Exits with 1 when some files failed (each is listed with its reason), 130 on Ctrl-C."""
    from facesift.cli.render import print_ingest_summary
    from facesift.services import index_build
    from facesift.services.ingest import IngestOptions
    from facesift.vision.detect import make_detector

    config = configured(
        data_dir,
        vectors,
        detector=detector,
        min_face=min_face,
        max_scan_mp=max_scan_mp,
        cluster=cluster,
        embedder_model=embedder_model,
        detector_model=detector_model,
    )
    if config.vision.detector_model:  # a file that cannot be run fails here, not in workers
        try:
            make_detector(config.vision.detector, 40, 1, None, config.vision.detector_model)
        except FacesiftError as exc:
            raise fail(exc.message) from None
    options = IngestOptions(
        collection=collection,
        manifest=manifest,
        workers=workers or usable_cores(),
        cluster=config.cluster,
        write_batch=write_batch,
        vision=config.vision.for_ingest(),
    )
    try:
        with gallery_of(config) as gallery:
            # Settings left at "auto" follow the model the gallery was made with.
            vision = config.vision.for_ingest(recorded=gallery.recorded_model())
            options = dataclasses.replace(options, vision=vision)
            summary = _ingest_with_progress(gallery, paths, options, show=not as_json)
            if index_build.needs_upgrade(gallery) and not summary.interrupted:
                errors.print("The gallery has outgrown exact search: building a compressed index.")
                _rebuild_with_progress(gallery, "ivf", show=not as_json)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    except KeyboardInterrupt:  # after the ingest's loop (which stops cleanly by itself): still 130
        raise fail("interrupted; run the same command again to resume", EXIT_INTERRUPTED) from None
    if as_json:
        print_json(summary.as_dict())
    else:
        print_ingest_summary(console, summary)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed:
        raise typer.Exit(EXIT_ERROR)


def _ingest_with_progress(
    gallery: Gallery, paths: list[Path], options: IngestOptions, show: bool
) -> IngestSummary:
    from rich.progress import TextColumn

    from facesift.services.ingest import ingest

    progress = make_progress(
        "ingest",
        TextColumn("{task.fields[rate]:.1f} images/s, {task.fields[faces]} faces"),
        show=show,
    )
    task = progress.add_task("ingest", total=None, rate=0.0, faces=0)

    def update(summary: IngestSummary) -> None:
        rate = summary.done / summary.seconds if summary.seconds > 0 else 0.0
        progress.update(
            task, total=summary.total, completed=summary.done, rate=rate, faces=summary.faces
        )

    with progress:
        return ingest(gallery, paths, options, on_progress=update)


@app.command("search")
def search_command(
    photo: Annotated[Path, typer.Argument(help="The probe photo.", metavar="PHOTO")],
    case: Annotated[str | None, typer.Option(help="Case reference (required).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why this search is run (required).")] = None,
    offense_category: Annotated[
        str | None,
        typer.Option(help="The offense it is for, from the allow-list (required)."),
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Search only this collection.")] = None,
    top: Annotated[
        int, typer.Option(help="At most this many candidates.", min=1, max=MAX_CANDIDATES)
    ] = DEFAULT_TOP_K,
    fpir: Annotated[
        float | None,
        typer.Option(
            help="Target false positive identification rate: the share of searches for someone "
            "not in the gallery that may return a candidate [default: the gallery's setting, 0.01]."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Expert: a fixed per-comparison distance instead of --fpir (at most the "
            "calibrated ceiling, a false match rate of 1 in 100)."
        ),
    ] = None,
    face: Annotated[
        int | None, typer.Option(help="Face number in the probe (0 = leftmost) [default: largest].")
    ] = None,
    detector: Detector = None,
    embedder_model: EmbedderModelFile = None,
    detector_model: DetectorModelFile = None,
    second_pass: SecondPass = False,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Search the gallery for candidate leads for one face in PHOTO. Audited."""
    from facesift.cli.render import print_search
    from facesift.services.calibration import calibration_for
    from facesift.services.search import NO_FACE, SearchRequest, search
    from facesift.vision import FaceAnalyzer

    config = configured(
        data_dir,
        vectors,
        detector=detector,
        embedder_model=embedder_model,
        detector_model=detector_model,
        second_pass=second_pass,
    )
    request = SearchRequest(
        case, purpose, collection, top, threshold, face, fpir, offense_category=offense_category
    )
    try:
        probe = _read_probe(photo)
        with gallery_of(config) as gallery:
            vision = config.vision.for_probes(recorded=gallery.recorded_model())
            analyzer = FaceAnalyzer.from_config(vision)
            result = search(gallery, analyzer, calibration_for(vision), probe, request)
    except SearchRefused as exc:
        raise fail(exc.message, EXIT_REFUSED) from None
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(result.as_dict())
    else:
        print_search(console, result)
    if result.outcome == NO_FACE:
        raise typer.Exit(EXIT_NO_FACE)


def _read_probe(photo: Path) -> bytes:
    if not photo.is_file():
        raise FacesiftError(f"{photo} is not a file")
    if photo.stat().st_size > DEFAULT_MAX_BYTES:
        raise FacesiftError(f"{photo} is over the limit of {DEFAULT_MAX_BYTES:,} bytes")
    return photo.read_bytes()


@app.command("faces")
def faces_command(
    photo: Annotated[Path, typer.Argument(help="A photo.", metavar="PHOTO")],
    detector: Detector = None,
    min_face: MinFace = None,
    max_scan_mp: MaxScanMegapixels = None,
    detector_model: DetectorModelFile = None,
    second_pass: SecondPass = False,
    as_json: JsonFlag = False,
) -> None:
    """List the faces found in PHOTO, with boxes and quality, as a search would find them.
    Nothing is stored."""
    from facesift.cli.render import faces_table
    from facesift.vision import FaceAnalyzer

    config = configured(
        detector=detector,
        min_face=min_face,
        max_scan_mp=max_scan_mp,
        detector_model=detector_model,
        second_pass=second_pass,
    )
    try:
        analyzer = FaceAnalyzer.from_config(config.vision.for_probes())
        analysis = analyzer.analyze_bytes(_read_probe(photo))
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(
            {
                "width": analysis.width,
                "height": analysis.height,
                "smallest_face_px": analysis.smallest_face_px,
                "faces": [f.describe() for f in analysis.faces],
            }
        )
        return
    if analysis.faces:
        console.print(faces_table(analysis.faces))
    else:
        console.print("No face found.")
    if analysis.scan_capped:
        console.print(
            f"The photo is too big to scan whole for {config.vision.min_face_px} px faces: "
            f"faces smaller than {analysis.smallest_face_px} px were not looked for "
            "(--max-scan-mp raises the cap)."
        )


def _index_summary(config: Config) -> tuple[str, int]:
    """The kind of vector index and its vector count, read without loading it: ``stats``
    answers in well under a second however big the gallery (index/file_header.py)."""
    if config.vectors:  # Milvus: only the server knows
        with gallery_of(config) as gallery:
            return type(gallery.index).__name__, len(gallery.index)
    from facesift.index.file_header import INDEX_FILE, read_index_header

    path = config.data_dir / INDEX_FILE
    if not path.exists():
        return "FlatIndex", 0
    try:
        summary = read_index_header(path)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read the vector index: {exc}") from None
    return summary.kind, summary.count


@app.command("stats")
def stats_command(
    failed: Annotated[
        int, typer.Option(help="List at most this many of the files that failed to ingest.")
    ] = 20,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Collections, images, faces and index size, and which files failed to ingest, why."""
    config = configured(data_dir, vectors)
    store = store_of(config)
    try:
        stats = store.stats()
        failures = [
            {"path": f["path"], "error": f["code"], "message": f["message"]}
            for f in store.failures()[: max(0, failed)]
        ]
    finally:
        store.close()
    index_kind, indexed = _index_summary(config)
    report = {
        "data_dir": str(config.data_dir),
        "collections": stats.collections,
        "images": stats.images,
        "faces": stats.faces,
        "indexed_vectors": indexed,
        "index_kind": index_kind,
        "failed_files": stats.failures,
        "failures": failures,
    }
    if as_json:
        print_json(report)
        return
    console.print(f"Data folder: {report['data_dir']}")
    for c in stats.collections:
        console.print(f"  collection {c['name']}: {c['images']} images, {c['faces']} faces")
    console.print(
        f"Total: {stats.images} images, {stats.faces} faces, {indexed} vectors in the "
        f"{index_kind}, "
        f"{stats.failures} file(s) that failed to ingest."
    )
    for f in failures:
        console.print(f"  failed: {f['path']}: {f['message']} ({f['error']})", highlight=False)
    if stats.failures > len(failures):
        console.print(f"  ... and {stats.failures - len(failures)} more (--failed N lists more)")


@app.command("remove")
def remove_command(
    image: Annotated[str | None, typer.Option(help="Image path (as ingested) or SHA-256.")] = None,
    face: Annotated[int | None, typer.Option(help="Face id.")] = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
) -> None:
    """Remove an image (with all its faces) or one face: the record and the vector. Audited."""
    if (image is None) == (face is None):
        raise fail("give exactly one of --image or --face", 2)
    try:
        with gallery_of(configured(data_dir, vectors)) as gallery:
            if image is not None:
                # As recorded (absolute path, archive member or SHA-256), else as a local path.
                keys = [image, str(Path(image).expanduser().resolve())]
                removed = _remove_first_match(gallery, keys)
                console.print(f"Removed the image and {len(removed)} face(s).")
            else:
                assert face is not None  # one of the two was given
                gallery.remove_face(face)
                console.print(f"Removed face {face}.")
    except FacesiftError as exc:
        raise fail(exc.message) from None


def _remove_first_match(gallery: Gallery, keys: list[str]) -> list[int]:
    last_error: FacesiftError | None = None
    for key in dict.fromkeys(keys):
        try:
            return gallery.remove_image(key)
        except FacesiftError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


@index_app.command("rebuild")
def index_rebuild(
    kind: Annotated[
        str, typer.Option(help="auto (by gallery size), flat (exact) or ivf (compressed).")
    ] = "auto",
    reembed_faces: Annotated[
        bool,
        typer.Option(
            "--reembed",
            help="Embed every face again from its source photo with the embedder named "
            "(--embedder-model or --embedder, else the built-in), and record that model.",
        ),
    ] = False,
    embedder: Embedder = None,
    embedder_model: EmbedderModelFile = None,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            help="With --reembed: the JSON of `facesift eval dataset --json` for the new model, "
            "for the promotion gate (setting promotion_max_group_ratio). Not needed to cut the "
            "gallery's own model again.",
        ),
    ] = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
) -> None:
    """Rebuild the index from the stored embeddings. Interrupted? Run it again to resume."""

    if (embedder_model or embedder) and not reembed_faces:
        raise fail("--embedder needs --reembed: the stored vectors are another model's", 2)
    try:
        with gallery_of(configured(data_dir, vectors)) as gallery:
            if reembed_faces:
                chosen = configured(embedder_model=embedder_model, embedder=embedder)
                vision = chosen.vision.for_ingest()
                _reembed_with_progress(gallery, vision, _read_evaluation(evaluation))
                return
            report = _rebuild_with_progress(gallery, kind, show=True)
    except (FacesiftError, ValueError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run the same command again to resume", EXIT_INTERRUPTED) from None
    console.print(f"Rebuilt a {report.kind} index of {report.faces:,} faces.")


def _read_evaluation(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FacesiftError(f"cannot read the evaluation {path}: {exc}") from None
    if not isinstance(document, dict):
        raise FacesiftError(f"{path} is not the JSON of facesift eval dataset --json")
    return document


def _reembed_with_progress(gallery: Gallery, config: VisionConfig, evaluation: dict | None) -> None:
    from facesift.services.calibration import calibration_for
    from facesift.services.reembed import reembed
    from facesift.vision import FaceAnalyzer

    calibration_for(config)  # refuse a model that could not be searched, before any work
    analyzer = FaceAnalyzer.from_config(config)
    progress = make_progress("re-embed")
    task = progress.add_task("re-embed", total=None)
    with progress:
        report = reembed(
            gallery,
            analyzer,
            lambda done, total: progress.update(task, completed=done, total=total),
            evaluation=evaluation,
        )
    resumed = f" ({report.resumed:,} made by an earlier run)" if report.resumed else ""
    console.print(
        f"Re-embedded {report.faces:,} faces with {report.model_id}{resumed}, in a "
        f"{report.index_kind} index; the gallery's vectors were {report.previous_model_id}."
    )


def _rebuild_with_progress(gallery: Gallery, kind: str, show: bool) -> index_build.RebuildReport:
    from facesift.services import index_build

    progress = make_progress("index", show=show)
    task = progress.add_task("index", total=None)
    with progress:
        return index_build.rebuild(
            gallery, kind, lambda done, total: progress.update(task, completed=done, total=total)
        )


@collections_app.command("shadow")
def collections_shadow(
    name: Annotated[str, typer.Argument(help="The collection.")],
    live: Annotated[
        bool, typer.Option("--live", help="Make it live again: its faces can be candidates.")
    ] = False,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
) -> None:
    """Mark a collection shadow: every search runs against it and records what it finds
    there, but its faces are never shown as candidates (a test before it goes live). Audited."""
    try:
        with gallery_of(configured(data_dir, vectors)) as gallery:
            gallery.set_shadow(name, not live)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    state = "live: its faces can be candidates" if live else "shadow: searched, never shown"
    console.print(f"Collection {name} is {state}.")


@audit_app.command("show")
def audit_show(
    action: Annotated[
        str | None,
        typer.Option(help="Only entries of this action (`facesift audit actions` lists them)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest N entries.")] = 50,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """List audit entries, oldest first."""
    store = store_of(configured(data_dir))
    try:
        newest_first = store.audit.filtered(AuditFilter(action=action), limit=limit)
        entries = newest_first[::-1]
        known = store.audit.actions() if action and not entries else []
    finally:
        store.close()
    if action and not entries:
        # Likely a wrong name (the log's are e.g. image_removed, not remove): say which exist.
        message = f"no entry has the action {action!r}; this log's actions: {', '.join(known)}"
        errors.print(message, markup=False, highlight=False)
    if as_json:
        print_json([e.__dict__ for e in entries])
        return
    for e in entries:
        console.print(
            f"[bold]{e.id}[/] {e.at} {e.actor} [cyan]{e.action}[/] "
            f"{json.dumps(e.details, sort_keys=True)}",
            highlight=False,
        )


@audit_app.command("actions")
def audit_actions(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """The actions in the audit log, each with how many entries it has."""
    store = store_of(configured(data_dir))
    try:
        counts = store.audit.action_counts()
    finally:
        store.close()
    if as_json:
        print_json(counts)
        return
    for name, count in counts.items():
        console.print(f"{name:<32} {count:>8,}", highlight=False)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Check the whole hash chain; name the first entry that was edited, deleted or moved."""
    store = store_of(configured(data_dir))
    report = store.audit.verify()
    store.close()
    if as_json:
        print_json(report.__dict__)
    elif report.ok:
        console.print(f"Audit chain intact: {report.entries} entries verified.")
    else:
        where = f" at entry {report.first_bad_id}" if report.first_bad_id else ""
        errors.print(
            f"[red]Audit chain BROKEN[/]{where}: {report.problem} "
            f"({report.entries} entries verified before it)."
        )
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)
