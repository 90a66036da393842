"""``facesift report accountability``, ``facesift report usage`` and ``facesift report
alerts``: the oversight reports for an operator at the machine (the server shows the same to
supervisors). Each is audited with the operator's OS user."""

from __future__ import annotations

from contextlib import closing
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    store_of,
)
from facesift.errors import FacesiftError
from facesift.store import AuditFilter

# The services are imported where they are used: the CLI starts without loading the vision
# pipeline or the index (see facesift.compose).
if TYPE_CHECKING:
    from facesift.services.usage import UsageReport

report_app = typer.Typer(
    rich_markup_mode=None, help="Oversight reports: accountability, usage, misuse alerts."
)
REPORTS_FOLDER = "reports"


@report_app.command("accountability")
def accountability_command(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write: PATH.md and PATH.html (default: "
            "DATA_DIR/reports/accountability-DATE)."
        ),
    ] = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
) -> None:
    """Write the accountability report (Markdown and HTML) from the live settings, the
    calibration and the newest evaluation."""
    from facesift.services.accountability_report import accountability_report
    from facesift.services.calibration import calibration_for
    from facesift.services.settings import Settings

    try:
        config = configured(data_dir, vectors)
        with gallery_of(config) as gallery:
            calibration = calibration_for(config.vision.for_probes(gallery.recorded_model()))
            report = accountability_report(gallery, Settings(gallery.store), calibration)
            base = out or config.data_dir / REPORTS_FOLDER / f"accountability-{date.today()}"
            if base.suffix in (".md", ".html"):
                base = base.with_suffix("")
            base.parent.mkdir(parents=True, exist_ok=True)
            markdown, page = base.with_suffix(".md"), base.with_suffix(".html")
            markdown.write_text(report.to_markdown(), encoding="utf-8")
            page.write_text(report.to_html(), encoding="utf-8")
            gallery.store.audit.append(
                "accountability_report_written", {"markdown": str(markdown), "html": str(page)}
            )
    except (FacesiftError, OSError) as exc:
        message = exc.message if isinstance(exc, FacesiftError) else str(exc)
        raise fail(message) from None
    console.print(f"Wrote {markdown} and {page}.", highlight=False, markup=False)


@report_app.command("usage")
def usage_command(
    first: Annotated[
        str | None, typer.Option("--from", help="First day (ISO date; default: 30 days ago).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day, included (ISO date; default: today).")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Searches by offense category and outcome, edited probes, refusals, reviewer
    agreement, releases and removals, per user and in total."""
    from facesift.services.usage import Period, usage_report

    try:
        period = Period.parse(first, last)
        with closing(store_of(configured(data_dir))) as store:
            store.audit.append(
                "usage_report_read", {"from": period.since, "to": period.last_day.isoformat()}
            )
            report = usage_report(store, period)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(report.as_dict())
        return
    console.print(usage_text(report), highlight=False, markup=False)


@report_app.command("alerts")
def alerts_command(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Judge the searches since the last scan against the misuse alert rules; list the
    newest alerts."""
    from facesift.services.alerts import Alerts
    from facesift.services.calibration import calibration_for
    from facesift.services.gallery import recorded_model
    from facesift.services.settings import Settings

    try:
        config = configured(data_dir)
        with closing(store_of(config)) as store:
            calibration = calibration_for(config.vision.for_probes(recorded_model(store)))
            alerts = Alerts(store, Settings(store), calibration)
            alerts.scan()
            entries = store.audit.filtered(AuditFilter(action="misuse_alert"), limit=100)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json([{"audit_id": e.id, "at": e.at, **e.details} for e in entries])
        return
    if not entries:
        console.print("No misuse alerts.")
    for entry in entries:
        console.print(
            f"{entry.at[:16]}  {entry.details.get('rule')}  {entry.details.get('user')}: "
            f"{entry.details.get('message')}",
            highlight=False,
            markup=False,
        )


def usage_text(report: UsageReport) -> str:
    total = report.total
    rate = report.agreement.rate
    lines = [
        f"Usage from {report.first_day} to {report.last_day} (UTC)",
        "",
        f"Searches: {total.searches} ({total.with_candidates} with candidates, "
        f"{total.no_candidate} with none; {total.edited_probes} of edited probes)",
        f"Released leads: {total.released}; no lead: {total.no_lead}; "
        f"inconclusive: {total.inconclusive}; awaiting review: {total.pending_review}",
        f"Refusals: {total.refusals}; removals: {total.removals}; misuse alerts: {report.alerts}",
        f"Reviewer agreement: {report.agreement.agreed} of {report.agreement.decided_pairs} "
        f"reviewed pairs" + (f" ({rate:.0%})" if rate is not None else ""),
        "",
        "By offense category:",
        *[f"  {name}: {n}" for name, n in report.by_offense_category.items()],
        "By outcome:",
        *[f"  {name}: {n}" for name, n in report.by_outcome.items()],
        "Refusals by category:",
        *[f"  {name}: {n}" for name, n in report.refusals_by_category.items()],
        "",
        "Per user: searches / released / refusals / reviews (in agreement) / removals",
        *[
            f"  {name}: {t.searches} / {t.released} / {t.refusals} / "
            f"{t.reviews} ({t.reviews_in_agreement}) / {t.removals}"
            for name, t in report.per_user.items()
        ],
    ]
    return "\n".join(lines)
