"""How results look in a terminal. JSON output bypasses this module entirely."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from facesift.schemas import Face
from facesift.services.ingest import IngestSummary
from facesift.services.search import NO_CANDIDATE, NO_FACE, OperatingPoint, SearchResult

LEAD_WARNING = (
    "Candidate leads only, not identifications: each needs review by trained people and "
    "independent corroboration."
)


def one_in(rate: float) -> str:
    """A false match rate as words: 2.5e-05 -> '1 in 40,000'."""
    return f"1 in {round(1 / rate):,}" if rate > 0 else "never seen"


def faces_table(faces: list[Face], searched: int | None = None) -> Table:
    title = "Faces in the photo, numbered left to right"
    if searched is not None:
        title += f"; face {searched} was searched (*)"
    table = Table(title=title)
    columns = ("#", "box x1,y1,x2,y2", "size px", "sharpness", "quality", "detector")
    for column in (*columns, "yaw/pitch/roll"):
        table.add_column(column, no_wrap=True)
    for number, face in enumerate(faces):
        mark = "*" if number == searched else ""
        pose = face.quality.pose
        table.add_row(
            f"{number}{mark}",
            ",".join(map(str, face.box.as_list())),
            str(face.quality.size_px),
            f"{face.quality.sharpness:.0f}",
            f"{face.quality.score:.2f}",
            f"{face.detector_score:.2f}",
            f"{pose.yaw:.0f}°/{pose.pitch:.0f}°/{pose.roll:.0f}°" if pose else "",
        )
    return table


def operating_text(point: OperatingPoint) -> str:
    """What the threshold means, in the words a search result uses."""
    size = f"Gallery: {point.gallery_size:,} faces. Threshold: distance <= {point.threshold:.3f}"
    if point.target_fpir is None:
        rule = (
            "an expert's fixed per-comparison threshold: the chance that a stranger gets a "
            "candidate is not bounded"
        )
    else:
        rule = (
            f"at most {point.target_fpir:.2%} of searches for someone not in the gallery "
            "return a candidate (the false positive identification rate)"
        )
    return (
        f"{size}, {rule}; about {point.expected_false_candidates:.2g} different-person faces "
        f"are expected within it by chance, and about {point.true_match_rate:.0%} of "
        "same-person photo pairs lie within it."
    )


def print_search(console: Console, result: SearchResult) -> None:
    console.print(f"Probe SHA-256: {result.probe_sha256}")
    if result.outcome == NO_FACE:
        console.print("[bold]Outcome: no face[/] - no face was found in the probe photo.")
        return
    console.print(faces_table(result.probe_faces, result.searched_face))
    if result.quality_warning:
        console.print(
            "[yellow]Quality warning: the searched face is below the warning floor ("
            + "; ".join(result.quality_warning["reasons"])
            + "). Distances of poor faces mean less than the calibration says.[/]"
        )
    console.print(operating_text(result.operating))
    if result.outcome == NO_CANDIDATE:
        console.print(
            "[bold]Outcome: no candidate[/] - no gallery face lies within the threshold. "
            "The nearest faces are not shown, because they are not leads."
        )
        return
    table = Table(title=f"Outcome: {len(result.candidates)} candidate lead(s)")
    for column in ("rank", "face", "distance", "false match rate", "collection"):
        table.add_column(column, no_wrap=True)
    table.add_column("source photo", overflow="fold")
    for c in result.candidates:
        source = c.image["path"] + (f"\n{c.image['source_url']}" if c.image["source_url"] else "")
        table.add_row(
            str(c.rank),
            str(c.face_id),
            f"{c.distance:.3f}",
            one_in(c.score),
            c.image["collection"],
            source,
        )
    console.print(table)
    console.print(f"[yellow]{LEAD_WARNING}[/]")


def print_ingest_summary(console: Console, summary: IngestSummary) -> None:
    rate = summary.ingested / summary.seconds if summary.seconds else 0.0
    state = "interrupted - run the same command again to resume" if summary.interrupted else "done"
    console.print(
        f"Ingest {state}: {summary.total} found, {summary.ingested} ingested "
        f"({summary.no_face} with no face), {summary.faces} faces, {summary.skipped} skipped "
        f"(already ingested), {summary.tombstoned} refused as removed before, "
        f"{summary.suppressed} faces suppressed (opted out), "
        f"{summary.failed} failed; {summary.seconds:.1f} s, "
        f"{rate:.1f} images/s."
    )
    if summary.subjects_recorded:
        console.print(
            f"{summary.subjects_recorded} photos already held had their subject recorded "
            "from the manifest."
        )
    if summary.scan_capped:
        console.print(
            f"{summary.scan_capped} photos were too big to scan whole for the smallest faces: "
            f"in them, faces under {summary.capped_smallest_face_px} px (at most) were not "
            "looked for (--max-scan-mp raises the cap)."
        )
    if summary.failures:
        table = Table(title="Failed files")
        for column in ("file", "error", "reason"):
            table.add_column(column, overflow="fold")
        for failure in summary.failures[:50]:
            table.add_row(failure["path"], failure["code"], failure["message"])
        console.print(table)
        if len(summary.failures) > 50:
            console.print(f"... and {len(summary.failures) - 50} more")
