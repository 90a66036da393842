"""``facesift retention run`` and ``facesift retention policy``."""

from __future__ import annotations

from datetime import UTC, datetime
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

retention_app = typer.Typer(
    rich_markup_mode=None, help="Retention: destroy what has expired, with receipts."
)


@retention_app.command("run")
def run_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be destroyed; destroy nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Run as of this ISO time instead of now (e.g. to preview a date)."),
    ] = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Destroy what the retention policy says has expired; write a receipt to the audit log."""
    from facesift.services import retention
    from facesift.services.settings import Settings

    try:
        now = _parse_time(as_of)
        with gallery_of(configured(data_dir, vectors)) as gallery:
            policy = retention.Policy.from_setting(Settings(gallery.store).get("retention"))
            report = retention.run(gallery, policy, now, dry_run=dry_run)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(report.as_dict())
        return
    verb = "Would destroy" if dry_run else "Destroyed"
    for name, destroyed in report.classes.items():
        console.print(f"{verb} {destroyed.count} {name.replace('_', ' ')}.")
    if report.audit_id is not None:
        console.print(f"Receipt: audit entry {report.audit_id}.")


@retention_app.command("policy")
def policy_command(data_dir: DataDir = None) -> None:
    """Print the retention policy as text for the public, from the settings."""
    from facesift.services import retention
    from facesift.services.settings import Settings

    with gallery_of(configured(data_dir)) as gallery:
        policy = retention.Policy.from_setting(Settings(gallery.store).get("retention"))
    console.print(policy.as_text(), highlight=False, markup=False)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FacesiftError(f"--as-of must be an ISO date or time, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
