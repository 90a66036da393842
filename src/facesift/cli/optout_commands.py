"""``facesift optout request`` and ``facesift optout status``: opt-out by selfie for an
operator taking a request in person or by post (the server has the public page)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from facesift.cli.common import (
    DataDir,
    JsonFlag,
    VectorsUrl,
    configured,
    console,
    fail,
    gallery_of,
    print_json,
)
from facesift.errors import FacesiftError

optout_app = typer.Typer(
    rich_markup_mode=None, help="Opt-out by selfie: take a request, see its status."
)


@optout_app.command("request")
def request_command(
    selfies: Annotated[
        list[Path], typer.Argument(help="One to five selfies, one face each.", metavar="SELFIE...")
    ],
    contact: Annotated[str, typer.Option(help="How to reach the person (required).")],
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Take an opt-out request: find the person's faces for a privacy officer to confirm,
    keep their faces out from now on. Prints the reference number. Audited."""
    from facesift.services.calibration import load_calibration
    from facesift.services.optout import OptOut
    from facesift.vision import FaceAnalyzer

    try:
        contents = [_read(path) for path in selfies]
        config = configured(data_dir, vectors)
        with gallery_of(config) as gallery:
            # The same analysis as a probe's (the configured detector, the gallery's model).
            vision = config.vision.for_probes(recorded=gallery.recorded_model())
            analyzer = FaceAnalyzer.from_config(vision)
            service = OptOut(gallery, analyzer.analyze, load_calibration(analyzer.model_id))
            receipt = service.request(contents, contact, "cli")
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(receipt.__dict__)
        return
    console.print(
        f"Request {receipt.reference} is {receipt.status.replace('_', ' ')}: "
        f"{receipt.faces_found} face(s) found for a privacy officer to confirm."
    )


@optout_app.command("status")
def status_command(
    reference: Annotated[str, typer.Argument(help="The request's reference, OPT-XXXX-XXXX.")],
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """The status of an opt-out request: counts, never photos."""
    from facesift.services.optout import OptOut

    try:
        with gallery_of(configured(data_dir, vectors)) as gallery:
            status = OptOut(gallery, None, None).status(reference)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(asdict(status))
        return
    console.print(
        f"{status.reference}: {status.status.replace('_', ' ')}; "
        f"{status.faces_found} found, {status.faces_removed} removed, "
        f"{status.faces_kept} not this person."
    )


def _read(path: Path) -> bytes:
    from facesift.services.optout import MAX_SELFIE_BYTES

    if not path.is_file():
        raise FacesiftError(f"{path} is not a file")
    if path.stat().st_size > MAX_SELFIE_BYTES:
        raise FacesiftError(f"{path} is over the limit of {MAX_SELFIE_BYTES:,} bytes")
    return path.read_bytes()
