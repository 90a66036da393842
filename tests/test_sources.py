"""discover / read_manifest / SourceReader over real folders, archives and manifests."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from facesift.errors import ImageError, ManifestError, SourceError
from facesift.schemas import Provenance
from facesift.services.sources import (
    MANIFEST_COLUMNS,
    SourceFailure,
    SourceItem,
    SourceReader,
    discover,
    read_manifest,
)


def write(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data or path.name.encode())
    return path


def items(found: list[SourceItem | SourceFailure]) -> list[SourceItem]:
    return [i for i in found if isinstance(i, SourceItem)]


def failures(found: list[SourceItem | SourceFailure]) -> list[SourceFailure]:
    return [i for i in found if isinstance(i, SourceFailure)]


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


PROVENANCE_A = {
    "source_url": "https://example.org/a.jpg",
    "page_url": "https://example.org/a",
    "caption": "Alice at the harbour",
    "captured_at": "2021-06-01",
    "legal_basis": "consent",
}
PROVENANCE_B = {
    "source_url": "https://example.org/b.png",
    "page_url": "",
    "caption": "Bob, 2019",
    "captured_at": "",
    "legal_basis": "public record",
}


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


# -- folders ----------------------------------------------------------------------------------


def test_folder_is_walked_recursively_sorted_and_only_images_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    expected = [
        write(root / "a.jpg"),
        write(root / "b" / "c.PNG"),
        write(root / "b" / "d" / "e.webp"),
        write(root / "b" / "d" / "f.tiff"),
        write(root / "g.jpeg"),
        write(root / "h.gif"),
    ]
    write(root / "notes.txt")
    write(root / "README")
    write(root / "b" / "photo.jpg.bak")
    write(root / "b" / "d" / "thumbs.db")
    found = list(discover([root]))
    assert failures(found) == []
    assert [i.file for i in items(found)] == [p.resolve() for p in expected]
    assert [i.path for i in items(found)] == [str(p.resolve()) for p in expected]
    assert all(i.member is None and i.provenance == Provenance() for i in items(found))


def test_file_named_explicitly_is_tried_whatever_its_name(tmp_path: Path) -> None:
    odd = write(tmp_path / "scan.dat")
    found = list(discover([odd]))
    assert found == [SourceItem(str(odd.resolve()), odd.resolve())]


def test_each_file_is_listed_once_even_when_named_twice(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    one = write(root / "one.jpg")
    write(root / "two.jpg")
    found = list(discover([root, one, root]))
    assert [Path(i.path).name for i in items(found)] == ["one.jpg", "two.jpg"]


def test_missing_path_is_not_found_and_the_rest_still_comes(tmp_path: Path) -> None:
    real = write(tmp_path / "real.jpg")
    missing = tmp_path / "nowhere"
    found = list(discover([missing, real]))
    assert found[0] == SourceFailure(str(missing), "not_found", "no such file or folder")
    assert [i.file for i in items(found)] == [real.resolve()]


# -- archives ---------------------------------------------------------------------------------

MEMBERS = {
    "holiday/1.jpg": b"\xff\xd8first photo",
    "2.png": b"\x89PNGsecond photo",
    "holiday/notes.txt": b"not a photo",
    "holiday/deep/3.webp": b"RIFFthird photo",
}
IMAGE_MEMBERS = ["2.png", "holiday/1.jpg", "holiday/deep/3.webp"]


def test_zip_members_are_listed_and_read_back(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "photos.zip", MEMBERS).resolve()
    found = list(discover([archive]))
    assert failures(found) == []
    assert [i.path for i in items(found)] == [f"{archive}!{name}" for name in IMAGE_MEMBERS]
    assert all(i.file == archive for i in items(found))
    reader = SourceReader(max_bytes=1_000)
    try:
        assert {i.member: reader.read(i) for i in items(found)} == {
            name: MEMBERS[name] for name in IMAGE_MEMBERS
        }
    finally:
        reader.close()


@pytest.mark.parametrize(("suffix", "mode"), [(".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar", "w")])
def test_tar_members_are_listed_and_read_back(tmp_path: Path, suffix: str, mode: str) -> None:
    archive = make_tar(tmp_path / f"photos{suffix}", MEMBERS, mode).resolve()
    found = list(discover([archive]))
    assert failures(found) == []
    assert sorted(i.path for i in items(found)) == [f"{archive}!{n}" for n in IMAGE_MEMBERS]
    reader = SourceReader(max_bytes=1_000)
    try:
        for item in items(found):
            assert item.path == f"{archive}!{item.member}"
            assert reader.read(item) == MEMBERS[item.member]
    finally:
        reader.close()


def test_archives_inside_a_folder_are_opened(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    loose = write(root / "loose.jpg")
    archive = make_zip(root / "more.zip", {"inside.jpg": b"inside"})
    found = list(discover([root]))
    assert [i.path for i in items(found)] == [
        str(loose.resolve()),
        f"{archive.resolve()}!inside.jpg",
    ]


def test_reading_alternates_between_two_archives(tmp_path: Path) -> None:
    first = make_zip(tmp_path / "a.zip", {"1.jpg": b"a1", "2.jpg": b"a2"})
    second = make_tar(tmp_path / "b.tar.gz", {"1.jpg": b"b1"})
    found = items(list(discover([first, second])))
    reader = SourceReader(max_bytes=100)
    try:
        order = [found[0], found[2], found[1], found[2]]
        assert [reader.read(i) for i in order] == [b"a1", b"b1", b"a2", b"b1"]
    finally:
        reader.close()


@pytest.mark.parametrize(
    "unsafe", ["../evil.jpg", "holiday/../../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg"]
)
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_member_leaving_the_archive_is_unsafe(tmp_path: Path, unsafe: str, kind: str) -> None:
    members = {"good.jpg": b"good", unsafe: b"evil"}
    path = tmp_path / f"photos.{kind}"
    archive = (make_zip(path, members) if kind == "zip" else make_tar(path, members)).resolve()
    found = list(discover([archive]))
    assert [i.member for i in items(found)] == ["good.jpg"]
    [failure] = failures(found)
    assert failure.code == "unsafe_path"
    assert failure.path == f"{archive}!{unsafe}"


def test_windows_backslash_traversal_is_unsafe(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "photos.zip", {"..\\evil.jpg": b"evil"})
    [failure] = list(discover([archive]))
    assert isinstance(failure, SourceFailure) and failure.code == "unsafe_path"


@pytest.mark.parametrize("name", ["broken.zip", "broken.tar.gz", "broken.tar"])
def test_garbage_archive_is_bad_archive(tmp_path: Path, name: str) -> None:
    archive = write(tmp_path / name, b"this is not an archive at all\n" * 50)
    found = list(discover([archive]))
    assert len(found) == 1
    assert isinstance(found[0], SourceFailure)
    assert found[0].code == "bad_archive"
    assert found[0].path == str(archive.resolve())


def incompressible(size: int, seed: int) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archive_cut_in_half_is_bad_archive_and_the_rest_still_comes(
    tmp_path: Path, kind: str
) -> None:
    members = {f"{n}.jpg": incompressible(20_000, n) for n in range(5)}
    path = tmp_path / f"cut.{kind}"
    whole = (make_zip(path, members) if kind == "zip" else make_tar(path, members)).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    loose = write(tmp_path / "loose.jpg")
    found = list(discover([path, loose]))
    assert [(f.path, f.code) for f in failures(found)] == [(str(path.resolve()), "bad_archive")]
    assert [i.file for i in items(found)] == [loose.resolve()]


def test_corrupt_zip_member_is_a_source_error_when_read(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "photos.zip", {"a.jpg": bytes(range(256)) * 400})
    data = bytearray(archive.read_bytes())
    start = 30 + len("a.jpg")  # the local header, then the deflated data
    for position in range(start + 5, start + 45):
        data[position] ^= 0xFF
    archive.write_bytes(bytes(data))
    [item] = list(discover([archive]))  # the central directory is intact
    assert isinstance(item, SourceItem)
    reader = SourceReader(max_bytes=10_000_000)
    try:
        with pytest.raises(SourceError) as caught:
            reader.read(item)
    finally:
        reader.close()
    assert item.path in caught.value.message


# -- reading limits ---------------------------------------------------------------------------


def test_reader_refuses_a_file_over_max_bytes_and_accepts_one_at_it(tmp_path: Path) -> None:
    at_limit = write(tmp_path / "ok.jpg", b"x" * 100)
    over = write(tmp_path / "big.jpg", b"x" * 101)
    reader = SourceReader(max_bytes=100)
    assert reader.read(SourceItem(str(at_limit), at_limit)) == b"x" * 100
    with pytest.raises(ImageError) as caught:
        reader.read(SourceItem(str(over), over))
    assert caught.value.code == "too_large"
    assert "100" in caught.value.message


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_reader_refuses_an_archive_member_over_max_bytes(tmp_path: Path, kind: str) -> None:
    members = {"big.jpg": b"\0" * 5_000_000, "small.jpg": b"small"}  # the big one zips small
    path = tmp_path / f"bomb.{kind}"
    archive = make_zip(path, members) if kind == "zip" else make_tar(path, members)
    assert archive.stat().st_size < 100_000
    by_member = {i.member: i for i in items(list(discover([archive])))}
    reader = SourceReader(max_bytes=1_000)
    try:
        with pytest.raises(ImageError) as caught:
            reader.read(by_member["big.jpg"])
        assert caught.value.code == "too_large"
        assert reader.read(by_member["small.jpg"]) == b"small"
    finally:
        reader.close()


def test_reader_reports_a_vanished_file_as_source_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone.jpg"
    with pytest.raises(SourceError) as caught:
        SourceReader(max_bytes=100).read(SourceItem(str(gone), gone))
    assert str(gone) in caught.value.message


# -- manifests --------------------------------------------------------------------------------


def test_csv_manifest_gives_items_with_provenance_relative_to_its_folder(tmp_path: Path) -> None:
    a = write(tmp_path / "data" / "img" / "a.jpg")
    b = write(tmp_path / "data" / "b.png")
    manifest = write_csv(
        tmp_path / "data" / "manifest.csv",
        [{"path": "img/a.jpg", **PROVENANCE_A}, {"path": "b.png", **PROVENANCE_B}],
        MANIFEST_COLUMNS,
    )
    found = list(read_manifest(manifest))
    assert found == [
        SourceItem(str(a.resolve()), a.resolve(), None, Provenance(**PROVENANCE_A)),
        SourceItem(
            str(b.resolve()),
            b.resolve(),
            None,
            Provenance(
                source_url="https://example.org/b.png",
                caption="Bob, 2019",
                legal_basis="public record",
            ),  # empty cells are None, not ""
        ),
    ]


def test_csv_manifest_columns_may_come_in_any_order_with_extras(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg")
    columns = ("notes", *reversed(MANIFEST_COLUMNS))
    manifest = write_csv(
        tmp_path / "m.csv", [{"path": "a.jpg", "notes": "x", **PROVENANCE_A}], columns
    )
    [item] = list(read_manifest(manifest))
    assert isinstance(item, SourceItem)
    assert item.provenance == Provenance(**PROVENANCE_A)


def test_jsonl_manifest_gives_items_with_provenance(tmp_path: Path) -> None:
    a = write(tmp_path / "data" / "img" / "a.jpg")
    manifest = tmp_path / "data" / "manifest.jsonl"
    manifest.write_text(
        json.dumps({"path": "img/a.jpg", **PROVENANCE_A}) + "\n\n", encoding="utf-8"
    )
    assert list(read_manifest(manifest)) == [
        SourceItem(str(a.resolve()), a.resolve(), None, Provenance(**PROVENANCE_A))
    ]


@pytest.mark.parametrize("missing", MANIFEST_COLUMNS)
def test_csv_header_without_a_column_is_a_manifest_error_naming_it(
    tmp_path: Path, missing: str
) -> None:
    columns = tuple(c for c in MANIFEST_COLUMNS if c != missing)
    row = {"path": "a.jpg", **PROVENANCE_A}
    manifest = write_csv(tmp_path / "m.csv", [{c: row[c] for c in columns}], columns)
    with pytest.raises(ManifestError) as caught:
        list(read_manifest(manifest))
    assert missing in caught.value.message
    assert caught.value.code == "bad_manifest"


def test_bad_manifest_header_is_one_failure_and_folders_still_come(tmp_path: Path) -> None:
    photo = write(tmp_path / "photos" / "a.jpg")
    manifest = write_csv(tmp_path / "m.csv", [], ("path", "caption"))
    found = list(discover([tmp_path / "photos"], manifest))
    assert [i.file for i in items(found)] == [photo.resolve()]
    [failure] = failures(found)
    assert failure.code == "bad_manifest" and failure.path == str(manifest)
    assert "legal_basis" in failure.message


def test_csv_row_with_a_missing_field_fails_alone(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg")
    write(tmp_path / "c.jpg")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        ",".join(MANIFEST_COLUMNS) + "\n"
        "a.jpg,https://x/a,https://x/pa,cap a,2020-01-01,consent\n"
        "b.jpg,https://x/b,https://x/pb,cap b,2020-01-02\n"
        "c.jpg,https://x/c,https://x/pc,cap c,2020-01-03,consent\n",
        encoding="utf-8",
    )
    found = list(read_manifest(manifest))
    assert [Path(i.path).name for i in items(found)] == ["a.jpg", "c.jpg"]
    [failure] = failures(found)
    assert failure.code == "bad_manifest_row"
    assert failure.path == f"{manifest}:3"
    assert "5 fields" in failure.message and "6" in failure.message


def test_jsonl_invalid_line_fails_alone(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg")
    write(tmp_path / "c.jpg")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"path": "a.jpg", **PROVENANCE_A}) + "\n"
        '{"path": "b.jpg", "caption": \n'
        + json.dumps({"path": "c.jpg", **PROVENANCE_B})
        + "\n"
        + json.dumps(["not", "an", "object"])
        + "\n"
        + json.dumps({"path": "d.jpg"})
        + "\n",
        encoding="utf-8",
    )
    found = list(read_manifest(manifest))
    assert [Path(i.path).name for i in items(found)] == ["a.jpg", "c.jpg"]
    assert [(f.path, f.code) for f in failures(found)] == [
        (f"{manifest}:2", "bad_manifest_row"),
        (f"{manifest}:4", "bad_manifest_row"),
        (f"{manifest}:5", "bad_manifest_row"),
    ]
    assert "not valid JSON" in failures(found)[0].message
    assert "legal_basis" in failures(found)[2].message  # names what the line lacks


@pytest.mark.parametrize("unsafe", ["../../etc/passwd", "../outside.jpg", "/etc/passwd"])
def test_manifest_path_outside_its_folder_is_unsafe(tmp_path: Path, unsafe: str) -> None:
    write(tmp_path / "outside.jpg")
    write(tmp_path / "data" / "ok.jpg")
    manifest = write_csv(
        tmp_path / "data" / "m.csv",
        [{"path": unsafe, **PROVENANCE_A}, {"path": "ok.jpg", **PROVENANCE_A}],
        MANIFEST_COLUMNS,
    )
    found = list(read_manifest(manifest))
    assert [Path(i.path).name for i in items(found)] == ["ok.jpg"]
    [failure] = failures(found)
    assert failure.code == "unsafe_path"
    assert failure.path == f"{manifest}:2"
    assert unsafe in failure.message


def test_manifest_row_with_an_empty_path_fails(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "m.csv", [{"path": " ", **PROVENANCE_A}], MANIFEST_COLUMNS)
    [failure] = list(read_manifest(manifest))
    assert isinstance(failure, SourceFailure) and failure.code == "bad_manifest_row"


@pytest.mark.parametrize("name", ["m.txt", "missing.csv"])
def test_manifest_of_the_wrong_kind_or_missing_is_a_manifest_error(
    tmp_path: Path, name: str
) -> None:
    if name.endswith(".txt"):
        write(tmp_path / name, b"path\n")
    with pytest.raises(ManifestError):
        list(read_manifest(tmp_path / name))


def test_folder_file_described_by_the_manifest_gets_its_provenance_once(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    a = write(root / "a.jpg")
    b = write(root / "b.jpg")
    c = write(tmp_path / "elsewhere" / "c.jpg")
    manifest = write_csv(
        tmp_path / "manifest.csv",
        [
            {"path": "photos/b.jpg", **PROVENANCE_A},
            {"path": "elsewhere/c.jpg", **PROVENANCE_A},
        ],
        MANIFEST_COLUMNS,
    )
    found = list(discover([root], manifest))
    assert failures(found) == []
    assert [i.file for i in items(found)] == [a.resolve(), b.resolve(), c.resolve()]
    provenance = {i.file: i.provenance for i in items(found)}
    assert provenance[a.resolve()] == Provenance()
    assert provenance[b.resolve()] == Provenance(**PROVENANCE_A)
    assert provenance[c.resolve()] == Provenance(**PROVENANCE_A)


def test_manifest_rows_read_back_through_the_reader(tmp_path: Path) -> None:
    write(tmp_path / "img" / "a.jpg", b"alpha bytes")
    manifest = write_csv(
        tmp_path / "m.csv", [{"path": "img/a.jpg", **PROVENANCE_A}], MANIFEST_COLUMNS
    )
    [item] = items(list(discover([], manifest)))
    assert SourceReader(max_bytes=100).read(item) == b"alpha bytes"
