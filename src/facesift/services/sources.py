"""What ingest reads: folders (recursively), .zip and .tar(.gz) archives, and manifests.

facesift reads only files the operator already holds. There is no fetching of URLs and no
crawling: a manifest's ``source_url`` and ``page_url`` are provenance to record, not
addresses to visit.

``discover`` lists every image to read without reading it (so progress can show an ETA);
``SourceReader.read`` then fetches the bytes of one item.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath
from typing import IO

from facesift.errors import ImageError, ManifestError, SourceError
from facesift.schemas import Provenance
from facesift.vision import IMAGE_EXTENSIONS

MANIFEST_COLUMNS = ("path", "source_url", "page_url", "caption", "captured_at", "legal_basis")
# Optional: when retention must destroy the photo (an ISO date, through the end of that day
# in UTC, or an ISO date and time; without a zone, UTC).
RETAIN_UNTIL = "retain_until"
ARCHIVE_SEPARATOR = "!"  # "photos.zip!holiday/1.jpg" names a member of an archive
# EOFError: a .gz that ends early; zlib.error: damaged compressed data. Neither is an OSError.
_ARCHIVE_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError)


@dataclass(frozen=True)
class SourceItem:
    """One image to read: where it is, and what we know of where it came from."""

    path: str  # recorded path: an absolute file path, or "archive!member"
    file: Path
    member: str | None = None  # set for archive members
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class SourceFailure:
    """Something found while listing sources that cannot be ingested."""

    path: str
    code: str
    message: str
    # The file a refused manifest row names: not ingested from a folder either, where it
    # would lose what the row said of it (its retention date, say).
    file: Path | None = None


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def discover(
    paths: list[Path], manifest: Path | None = None
) -> Iterator[SourceItem | SourceFailure]:
    """Every image under ``paths`` plus every row of ``manifest``, each once, in order.
    A manifest that cannot be read at all becomes one SourceFailure."""
    described: dict[Path, Provenance] = {}
    manifest_items: list[SourceItem | SourceFailure] = []
    if manifest is not None:
        try:
            manifest_items = list(read_manifest(manifest))
        except ManifestError as exc:
            # The manifest is one bad input among others: report it, ingest the rest.
            manifest_items = [SourceFailure(str(manifest), exc.code, exc.message)]
        described = {i.file: i.provenance for i in manifest_items if isinstance(i, SourceItem)}
    refused = {i.file for i in manifest_items if isinstance(i, SourceFailure) and i.file}
    seen: set[str] = set()
    for root in paths:
        for item in _walk(root):
            if isinstance(item, SourceItem) and item.member is None and item.file in refused:
                continue  # its manifest row is the failure reported
            if isinstance(item, SourceItem) and item.member is None and item.file in described:
                item = SourceItem(item.path, item.file, None, described[item.file])
            if item.path not in seen:
                seen.add(item.path)
                yield item
    for item in manifest_items:
        if item.path not in seen:
            seen.add(item.path)
            yield item


def _walk(root: Path) -> Iterator[SourceItem | SourceFailure]:
    if not root.exists():
        yield SourceFailure(str(root), "not_found", "no such file or folder")
    elif root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if is_archive(path):
                yield from _archive_members(path.resolve())
            elif is_image_name(path.name):
                yield SourceItem(str(path.resolve()), path.resolve())
    elif is_archive(root):
        yield from _archive_members(root.resolve())
    else:
        # A file named explicitly is always tried, whatever its name: the content decides.
        yield SourceItem(str(root.resolve()), root.resolve())


def _archive_members(archive: Path) -> Iterator[SourceItem | SourceFailure]:
    try:
        names = _list_archive(archive)
    except _ARCHIVE_ERRORS as exc:
        yield SourceFailure(str(archive), "bad_archive", f"the archive cannot be read: {exc}")
        return
    for name in names:
        if not is_image_name(name):
            continue
        label = f"{archive}{ARCHIVE_SEPARATOR}{name}"
        if _is_unsafe_member(name):
            yield SourceFailure(label, "unsafe_path", "the member's path leaves the archive")
        else:
            yield SourceItem(label, archive, name)


def _list_archive(archive: Path) -> list[str]:
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return sorted(i.filename for i in zf.infolist() if not i.is_dir())
    with tarfile.open(archive) as tf:
        return [m.name for m in tf.getmembers() if m.isfile()]


def _is_unsafe_member(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (bool(parts) and ":" in parts[0])


# -- manifests --------------------------------------------------------------------------------

MAX_MANIFEST_BYTES = 256 * 1024 * 1024  # a CSV manifest is read whole; this bounds it


def read_manifest(manifest: Path) -> Iterator[SourceItem | SourceFailure]:
    """Rows of a CSV or JSONL manifest. A bad header raises ManifestError (nothing in it can
    be trusted); a bad row becomes a SourceFailure and the other rows still count."""
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest} does not exist")
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(manifest)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(manifest)
    else:
        raise ManifestError(f"manifest {manifest}: use a .csv or .jsonl file, not {suffix!r}")
    base = manifest.resolve().parent
    for line, row in rows:
        if isinstance(row, str):
            yield SourceFailure(f"{manifest}:{line}", "bad_manifest_row", row)
        else:
            yield _manifest_item(manifest, base, line, row)


def _csv_rows(manifest: Path) -> Iterator[tuple[int, dict | str]]:
    """A CSV manifest must be UTF-8 as a whole (a wrong encoding makes every row's paths
    suspect): otherwise the file is one ``bad_manifest``. A row the CSV reader refuses (a
    field over its 131,072-character limit, a stray quote) is one ``bad_manifest_row``."""
    text = _utf8_text(manifest)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ManifestError(f"manifest {manifest}: the header cannot be read: {exc}") from None
    if header is None:
        raise ManifestError(f"manifest {manifest} is empty")
    header = [h.strip() for h in header]
    _check_columns(manifest, header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"line {reader.line_num} cannot be read as CSV: {exc}"
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield (
                reader.line_num,
                (f"line {reader.line_num} has {len(row)} fields; the header has {len(header)}"),
            )
        else:
            yield reader.line_num, dict(zip(header, row, strict=True))


def _utf8_text(manifest: Path) -> str:
    size = manifest.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"manifest {manifest} is {size:,} bytes; split it (the limit is {MAX_MANIFEST_BYTES:,})"
        )
    try:
        return manifest.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"manifest {manifest} is not UTF-8 (byte {exc.start}); save it as UTF-8"
        ) from None


def _jsonl_rows(manifest: Path) -> Iterator[tuple[int, dict | str]]:
    """Each line is decoded on its own: a line that is not UTF-8 is one bad row."""
    with manifest.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, f"line {number} is not UTF-8 (byte {exc.start})"
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                yield number, f"line {number} is not valid JSON: {message}"
                continue
            if not isinstance(row, dict):
                yield number, f"line {number} is not a JSON object"
                continue
            missing = [c for c in MANIFEST_COLUMNS if c not in row]
            if missing:
                yield number, f"line {number} lacks the field(s): {', '.join(missing)}"
            else:
                yield number, row


def _check_columns(manifest: Path, header: list[str]) -> None:
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"manifest {manifest}: missing column(s) {', '.join(missing)}; "
            f"the header must name all of: {', '.join(MANIFEST_COLUMNS)}"
        )


def _manifest_item(manifest: Path, base: Path, line: int, row: dict) -> SourceItem | SourceFailure:
    raw = str(row.get("path") or "").strip()
    if not raw:
        return SourceFailure(f"{manifest}:{line}", "bad_manifest_row", f"line {line}: empty path")
    file = (base / raw).resolve()
    if not file.is_relative_to(base):
        return SourceFailure(
            f"{manifest}:{line}",
            "unsafe_path",
            f"line {line}: {raw!r} is outside the manifest's folder {base}",
        )
    values = {f.name: _clean(row.get(f.name)) for f in fields(Provenance)}
    try:
        values[RETAIN_UNTIL] = retain_until(values[RETAIN_UNTIL])
    except ValueError as exc:
        return SourceFailure(f"{manifest}:{line}", "bad_retain_until", f"line {line}: {exc}", file)
    return SourceItem(str(file), file, None, Provenance(**values))


def retain_until(value: str | None, now: datetime | None = None) -> str | None:
    """A manifest's ``retain_until`` as the UTC time retention destroys the photo after.
    A date is kept through the end of that day (UTC). Raises ValueError, in words, for a
    value that is not an ISO date or time, or one already passed: a photo whose retention
    has ended may not be taken in."""
    if value is None:
        return None
    try:
        if len(value) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(value)
            until = datetime.combine(day, time.max, tzinfo=UTC)
        else:
            until = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"retain_until {value!r} is not an ISO date (YYYY-MM-DD) or date and time"
        ) from None
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    if until < (now or datetime.now(UTC)):
        raise ValueError(
            f"retain_until {value} has passed: the photo may no longer be held, so it is not "
            "ingested"
        )
    return until.isoformat(timespec="microseconds")


def _clean(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


# -- reading ----------------------------------------------------------------------------------


class SourceReader:
    """Reads items' bytes, keeping archives open while their members are read in order."""

    def __init__(self, max_bytes: int):
        self._max_bytes = max_bytes
        self._open: dict[Path, zipfile.ZipFile | tarfile.TarFile] = {}

    def read(self, item: SourceItem) -> bytes:
        """The item's bytes. Raises ImageError("too_large") or SourceError."""
        try:
            if item.member is None:
                return self._read_limited(item.file.open("rb"))
            archive = self._archive(item.file)
            if isinstance(archive, zipfile.ZipFile):
                return self._read_limited(archive.open(item.member))
            member = archive.extractfile(item.member)
            if member is None:
                raise SourceError(f"{item.member} is not a regular file")
            return self._read_limited(member)
        except (KeyError, *_ARCHIVE_ERRORS) as exc:
            raise SourceError(f"cannot read {item.path}: {exc}") from exc

    def _read_limited(self, handle: IO[bytes]) -> bytes:
        # Read one byte past the limit: enough to know it is too big, never the whole bomb.
        with handle:
            data = handle.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise ImageError(
                "too_large", f"the file is over the limit of {self._max_bytes:,} bytes"
            )
        return data

    def _archive(self, path: Path) -> zipfile.ZipFile | tarfile.TarFile:
        if path not in self._open:
            self.close()  # items come grouped by archive: keep one open at a time
            if path.name.lower().endswith(".zip"):
                self._open[path] = zipfile.ZipFile(path)
            else:
                self._open[path] = tarfile.open(path)  # noqa: SIM115 - closed in close()
        return self._open[path]

    def close(self) -> None:
        for archive in self._open.values():
            archive.close()
        self._open.clear()


def item_for_recorded_path(path: str) -> SourceItem:
    """The item an ingest recorded as ``path``: a file, or "archive!member"."""
    file = Path(path)
    if ARCHIVE_SEPARATOR in path and not file.is_file():
        archive, member = path.rsplit(ARCHIVE_SEPARATOR, 1)
        if is_archive(Path(archive)):
            return SourceItem(path, Path(archive), member)
    return SourceItem(path, file)
