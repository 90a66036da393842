"""A manifest's ``retain_until`` (issue 11 §3): read per row (a bad or passed date is that
row's failure and never stops the ingest), kept with the photo, and enforced by retention,
which destroys the photo once the date has passed and writes a receipt. On SQLite and
PostgreSQL; the clock is moved, never waited for."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facesift.services import retention
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.services.sources import retain_until
from tests.conftest import photos

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_retain_until_reads_dates_and_times_and_names_bad_ones() -> None:
    assert retain_until("2027-01-31", NOW) == "2027-01-31T23:59:59.999999+00:00"
    assert retain_until("2027-01-31T10:00:00+02:00", NOW) == "2027-01-31T08:00:00.000000+00:00"
    assert retain_until("2027-01-31T10:00", NOW) == "2027-01-31T10:00:00.000000+00:00"
    assert retain_until(None, NOW) is None
    for bad in ("31/01/2027", "2027-02-30", "soon", "2027-13-01T00:00"):
        with pytest.raises(ValueError, match="is not an ISO date"):
            retain_until(bad, NOW)
    with pytest.raises(ValueError, match="has passed"):
        retain_until("2026-11-26", NOW)
    assert retain_until("2026-11-27", NOW)  # today is kept to its end


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Four gallery photos (one per identity, so each has its own content) in a folder."""
    chosen, seen = [], set()
    for photo in photos("gallery"):
        if photo.identity not in seen:
            seen.add(photo.identity)
            chosen.append(photo.path)
    folder = tmp_path / "photos"
    folder.mkdir()
    copies = [Path(shutil.copy(path, folder / path.name)) for path in chosen[:4]]
    return folder, copies


def _manifest(folder: Path, rows: list[tuple[Path, str]]) -> Path:
    manifest = folder / "manifest.csv"
    lines = ["path,source_url,page_url,caption,captured_at,legal_basis,retain_until"]
    lines += [f"{path.name},,,,,consent,{until}" for path, until in rows]
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def test_bad_dates_are_per_row_failures_and_the_ingest_goes_on(
    tmp_path: Path, folder, database_url: str | None
) -> None:
    root, (kept, bad, passed, plain) = folder
    manifest = _manifest(
        root, [(kept, _days(30)), (bad, "31/12/2027"), (passed, "2001-01-01"), (plain, "")]
    )
    with Gallery.open(tmp_path / "data", database_url) as gallery:
        # The folder too: a refused row's photo is not taken in from there without its date.
        summary = ingest(gallery, [root], IngestOptions(manifest=manifest, workers=1))
        assert summary.ingested == 2 and summary.failed == 2, summary.failures
        failures = {f["path"].rsplit(":", 1)[1]: f for f in summary.failures}
        assert failures["3"]["code"] == "bad_retain_until"
        assert "'31/12/2027' is not an ISO date" in failures["3"]["message"]
        assert "has passed" in failures["4"]["message"]
        rows = gallery.store.db.execute("SELECT sha256, retain_until FROM images").fetchall()
        stored = {row["sha256"]: row["retain_until"] for row in rows}
        assert stored == {_sha(kept): f"{_days(30)}T23:59:59.999999+00:00", _sha(plain): None}


def test_retention_destroys_a_photo_past_its_retain_until_with_a_receipt(
    tmp_path: Path, folder, database_url: str | None
) -> None:
    root, (soon, later, _, plain) = folder
    manifest = _manifest(root, [(soon, _days(10)), (later, _days(100)), (plain, "")])
    with Gallery.open(tmp_path / "data", database_url) as gallery:
        ingest(gallery, [], IngestOptions(manifest=manifest, workers=1))
        faces_before = len(gallery.index)
        policy = retention.Policy.from_setting({})  # no collection period: only the dates
        assert "a date to keep them until" in policy.as_text()
        now = datetime.now(UTC)
        today = retention.run(gallery, policy, now)
        assert today.classes["gallery_images_past_retain_until"].count == 0
        on = now + timedelta(days=11)
        preview = retention.run(gallery, policy, on, dry_run=True)
        assert preview.classes["gallery_images_past_retain_until"].sha256s == [_sha(soon)]
        assert gallery.store.known_hashes([_sha(soon)]) == {_sha(soon)}  # a dry run keeps it

        report = retention.run(gallery, policy, on)
        assert report.classes["gallery_images_past_retain_until"].sha256s == [_sha(soon)]
        assert gallery.store.known_hashes([_sha(soon), _sha(later), _sha(plain)]) == {
            _sha(later),
            _sha(plain),
        }
        face_ids = {int(r[0]) for r in gallery.store.db.execute("SELECT id FROM faces")}
        assert set(gallery.index.ids().tolist()) == face_ids  # its vectors went with it
        assert len(gallery.index) < faces_before
        receipt = gallery.store.audit.entries(action="retention_destroyed")[-1]
        assert receipt.id == report.audit_id
        assert receipt.details["classes"]["gallery_images_past_retain_until"] == {
            "count": 1,
            "sha256s": [_sha(soon)],
        }
        assert gallery.store.audit.verify().ok
        # Run again: nothing more; the photo kept longer goes at its own date.
        again = retention.run(gallery, policy, on)
        assert again.classes["gallery_images_past_retain_until"].count == 0
        far = retention.run(gallery, policy, now + timedelta(days=101))
        assert far.classes["gallery_images_past_retain_until"].sha256s == [_sha(later)]
