"""The command line end to end, in fresh processes, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from facesift.store.records import DATABASE_FILE
from tests.bad_files import truncated_jpeg
from tests.conftest import GALLERY_FACES, LFW, photos
from tests.helpers import gallery_state, ingest_fixture_gallery, run_cli, run_json

GROUNDS = (
    "--case",
    "CLI-1",
    "--purpose",
    "end-to-end test of the command line",
    "--offense-category",
    "robbery",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli")
    ingest_fixture_gallery(data_dir)
    return data_dir


def test_search_json_document(data_dir) -> None:
    probe = photos("probe")[3]
    code, doc = run_json("search", probe.path, *GROUNDS, "--top", "5", data_dir=data_dir)
    assert code == 0
    assert doc["outcome"] == "candidates"
    assert len(doc["probe"]["sha256"]) == 64
    face = doc["probe"]["faces"][doc["searched_face"]]
    assert len(face["box"]) == 4 and "score" in face["quality"]
    first = doc["candidates"][0]
    assert first["rank"] == 1
    assert Path(first["image"]["path"]).parent.name == probe.identity
    assert first["image"]["collection"] == "fixture"
    assert set(first) >= {"face_id", "distance", "score", "box", "image"}
    assert first["distance"] <= doc["threshold"]
    assert "source_url" in first["image"]


def test_human_output_speaks_of_candidates_never_matches(data_dir) -> None:
    result = run_cli("search", photos("probe")[0].path, *GROUNDS, data_dir=data_dir)
    assert result.returncode == 0
    text = result.stdout.lower()
    assert "candidate" in text and "not identifications" in text
    assert "match " not in text.replace("false match", "")


def test_search_without_case_is_refused(data_dir) -> None:
    result = run_cli("search", photos("probe")[0].path, "--purpose", "x" * 10, data_dir=data_dir)
    assert result.returncode == 4
    assert "--case" in result.stderr


def test_probe_without_face_exits_3(data_dir) -> None:
    code, doc = run_json("search", photos("negative")[0].path, *GROUNDS, data_dir=data_dir)
    assert code == 3 and doc["outcome"] == "no_face" and doc["candidates"] == []


def test_stats_faces_and_audit(data_dir) -> None:
    code, stats = run_json("stats", data_dir=data_dir)
    assert code == 0
    faces = GALLERY_FACES
    assert (stats["images"], stats["faces"], stats["indexed_vectors"]) == (20, faces, faces)
    assert stats["collections"] == [{"name": "fixture", "images": 20, "faces": faces}]
    group = next(p for p in photos("group") if p.expected_faces == 6)
    code, faces = run_json("faces", group.path, data_dir=None)
    assert code == 0 and len(faces["faces"]) == 6
    code, entries = run_json("audit", "show", "--action", "search", data_dir=data_dir)
    assert code == 0 and all(e["details"]["case"] == "CLI-1" for e in entries)
    _, two = run_json("audit", "show", "--limit", "2", data_dir=data_dir)
    _, three = run_json("audit", "show", "--limit", "3", data_dir=data_dir)
    assert [e["id"] for e in two] == [e["id"] for e in three][1:]  # the newest, oldest first
    assert two[0]["id"] < two[1]["id"]
    verify = run_cli("audit", "verify", data_dir=data_dir)
    assert verify.returncode == 0 and "intact" in verify.stdout


PIPELINE_MODULES = {"onnxruntime", "dlib", "faiss", "fastapi", "facesift.vision.analyzer"}


@pytest.mark.parametrize("command", [["stats"], ["audit", "verify"], ["audit", "show"]])
def test_reading_commands_never_load_the_vision_pipeline(data_dir, command) -> None:
    """``stats`` and ``audit`` read the database; loading onnxruntime, dlib and the models
    first made them take 1.3 to 1.6 s, and reading the whole FAISS index for its count 0.2 s
    more. Which modules a command imported is what can be checked on a loaded machine; the
    time is in the closing note."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "facesift", *command, "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "facesift.cli.main" in imported  # the trace is there at all
    assert not PIPELINE_MODULES & imported


def test_audit_show_names_the_actions_when_asked_for_one_not_in_the_log(data_dir) -> None:
    code, counts = run_json("audit", "actions", data_dir=data_dir)
    assert code == 0 and counts["ingest_started"] >= 1 and all(n > 0 for n in counts.values())
    wrong = run_cli("audit", "show", "--action", "remove", data_dir=data_dir)
    assert wrong.returncode == 0 and not wrong.stdout
    assert "no entry has the action 'remove'" in wrong.stderr and "ingest_started" in wrong.stderr


def test_audit_verify_names_an_edited_entry(tmp_path, data_dir) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    source = sqlite3.connect(data_dir / DATABASE_FILE)
    target = sqlite3.connect(copy / DATABASE_FILE)
    source.backup(target)
    source.close()
    (copy / "audit.anchor").write_bytes((data_dir / "audit.anchor").read_bytes())
    target.execute("DROP TRIGGER audit_log_no_update")
    target.execute('UPDATE audit_log SET details = \'{"case":"forged"}\' WHERE id = 1')
    target.commit()
    target.close()
    result = run_cli("audit", "verify", data_dir=copy)
    assert result.returncode == 1
    assert "entry 1" in result.stderr and "edited" in result.stderr


def test_big_photos_are_scanned_capped_and_the_output_says_so(tmp_path) -> None:
    """With HOG a 6.25 MP photo is searched for faces of 50 px and up (its doubled scan is
    capped at 16 MP); --max-scan-mp 0 scans it whole for 40 px faces. Ingest counts the
    photos it could not scan whole. The default detector scans it whole at 40 px."""
    big = tmp_path / "big.jpg"
    Image.open(photos("probe")[0].path).convert("RGB").resize((2500, 2500)).save(big)
    code, capped = run_json("faces", big, "--detector", "hog", data_dir=None)
    assert code == 0 and capped["smallest_face_px"] == 50 and len(capped["faces"]) == 1
    code, whole = run_json("faces", big, "--detector", "hog", "--max-scan-mp", "0", data_dir=None)
    assert code == 0 and whole["smallest_face_px"] == 40 and len(whole["faces"]) == 1
    human = run_cli("faces", big, "--detector", "hog", data_dir=None)
    assert "faces smaller than 50 px were not looked for" in human.stdout
    small = photos("gallery")[0].path
    code, summary = run_json("ingest", big, small, "--detector", "hog", data_dir=tmp_path / "data")
    assert code == 0 and summary["ingested"] == 2
    assert (summary["scan_capped"], summary["capped_smallest_face_px"]) == (1, 50)
    code, default = run_json("faces", big, data_dir=None)
    assert code == 0 and default["smallest_face_px"] == 40 and len(default["faces"]) == 1


def test_ingest_reads_zip_archives_and_reports_bad_members(tmp_path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for photo in photos("gallery")[:2]:
            zf.write(photo.path, f"people/{photo.path.name}")
        zf.writestr("../escape.jpg", b"not really")
        zf.writestr("broken.jpg", truncated_jpeg(photos("probe")[0].path))
    code, summary = run_json("ingest", archive, data_dir=tmp_path / "data")
    assert code == 1  # some files failed, and the summary says which
    assert summary["ingested"] == 2
    assert {f["code"] for f in summary["failures"]} == {"unsafe_path", "truncated"}
    # Later, stats still says which files failed and why, not just how many.
    code, stats = run_json("stats", data_dir=tmp_path / "data")
    assert stats["failed_files"] == 2
    assert {(f["path"].rsplit("!", 1)[-1], f["error"]) for f in stats["failures"]} == {
        ("../escape.jpg", "unsafe_path"),
        ("broken.jpg", "truncated"),
    }
    listed = run_cli("stats", "--failed", "1", data_dir=tmp_path / "data").stdout
    assert "failed:" in listed and "1 more" in listed


def test_ingest_killed_midway_then_resumed_matches_an_uninterrupted_run(
    tmp_path, database_url
) -> None:
    """SIGKILL mid-ingest, on SQLite and on PostgreSQL: nothing committed is lost, nothing is
    stored twice, and running the command again completes the gallery."""
    everything = [p.path for p in photos("gallery") + photos("probe")]
    reference = tmp_path / "reference"
    run_cli("ingest", *everything, "--workers", "1", data_dir=reference, check=True)

    killed = tmp_path / "killed"
    database = ["--database", database_url] if database_url else []
    command = [
        sys.executable,
        "-m",
        "facesift",
        *database,
        "ingest",
        *map(str, everything),
        "--workers",
        "1",
        "--write-batch",
        "3",
        "--data-dir",
        str(killed),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_images(database_url or killed / DATABASE_FILE, at_least=6, process=process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    stored = _count_images(database_url or killed / DATABASE_FILE)
    assert 0 < stored < len(everything), "the kill must land mid-ingest"

    run_cli(
        "ingest",
        *everything,
        "--workers",
        "1",
        data_dir=killed,
        check=True,
        database_url=database_url,
    )
    assert gallery_state(killed, database_url) == gallery_state(reference)
    verified = run_cli("audit", "verify", data_dir=killed, database_url=database_url)
    assert verified.returncode == 0


def test_ctrl_c_stops_cleanly_and_a_second_run_resumes(tmp_path) -> None:
    # Enough photos that the ingest is still running when Ctrl-C arrives, even when a busy
    # machine delays this test's polling (the fixture's 30 alone were once all done first,
    # and at 100 photos a second, so were 120): about 4 s of work.
    lfw = sorted((LFW / "images").glob("A*/*.jpg"))[:400]
    everything = [p.path for p in photos("gallery") + photos("probe")] + lfw
    command = [
        sys.executable,
        "-m",
        "facesift",
        "ingest",
        *map(str, everything),
        "--workers",
        "2",
        "--write-batch",
        "2",
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_images(tmp_path / DATABASE_FILE, at_least=4, process=process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    said = stdout + stderr  # the summary on stdout; a late Ctrl-C's one line on stderr
    assert process.returncode == 130, said[-2000:]
    assert "interrupted" in said and "resume" in said
    code, summary = run_json("ingest", *everything, data_dir=tmp_path)
    assert code == 0 and summary["skipped"] >= 4
    assert summary["ingested"] + summary["skipped"] == len(everything)
    state = gallery_state(tmp_path)
    assert len(state["images"]) == len(everything) and state["face_ids"] == state["indexed"]


def _count_images(database: Path | str) -> int:
    """Images stored so far, read without migrating anything (the schema may not exist yet:
    raises sqlite3.OperationalError or psycopg.errors.UndefinedTable then)."""
    if isinstance(database, str):  # a PostgreSQL URL
        with psycopg.connect(database) as conn:
            return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    conn = sqlite3.connect(database, timeout=1)
    try:
        return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    finally:
        conn.close()


def _wait_for_images(database: Path | str, at_least: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "ingest finished before it could be killed"
        if isinstance(database, str) or database.exists():
            try:
                if _count_images(database) >= at_least:
                    return
            except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
                pass  # the schema is still being created
        time.sleep(0.05)
    raise AssertionError("ingest made no progress")


def test_remove_by_path_through_the_cli(tmp_path) -> None:
    photo = photos("gallery")[0].path
    run_cli("ingest", photo, data_dir=tmp_path, check=True)
    result = run_cli("remove", "--image", photo, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    code, stats = run_json("stats", data_dir=tmp_path)
    assert code == 0
    assert (stats["images"], stats["faces"], stats["indexed_vectors"]) == (0, 0, 0)
    missing = run_cli("remove", "--face", "999", data_dir=tmp_path)
    assert missing.returncode == 1 and "999" in missing.stderr


def test_a_removed_photo_stays_removed_when_its_folder_is_ingested_again(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    kept, removed = photos("gallery")[0].path, photos("gallery")[1].path
    for photo in (kept, removed):
        (folder / photo.name).write_bytes(photo.read_bytes())
    run_cli("ingest", folder, data_dir=tmp_path / "data", check=True)
    result = run_cli("remove", "--image", folder / removed.name, data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    # A copy under another name is the same content: it stays out too.
    (folder / "copy-of-removed.jpg").write_bytes(removed.read_bytes())
    code, summary = run_json("ingest", folder, data_dir=tmp_path / "data")
    assert code == 0, summary
    assert (summary["ingested"], summary["skipped"], summary["tombstoned"]) == (0, 1, 2)
    code, stats = run_json("stats", data_dir=tmp_path / "data")
    assert stats["images"] == 1
    text = run_cli("ingest", folder, data_dir=tmp_path / "data").stdout
    assert "2 refused as removed before" in text


def test_search_refuses_purposes_the_floor_refuses_and_needs_an_offense(data_dir) -> None:
    probe = photos("probe")[0].path
    refused = run_cli(
        "search",
        probe,
        *("--case", "CLI-IMM", "--offense-category", "robbery"),
        *("--purpose", "locate undocumented immigrant for deportation"),
        data_dir=data_dir,
    )
    assert refused.returncode == 4 and "immigration enforcement" in refused.stderr
    assert "candidate" not in refused.stdout.lower()
    missing = run_cli("search", probe, *GROUNDS[:4], data_dir=data_dir)
    assert missing.returncode == 4 and "--offense-category" in missing.stderr
    unknown = run_cli(
        "search", probe, *GROUNDS[:4], "--offense-category", "jaywalking", data_dir=data_dir
    )
    assert unknown.returncode == 4 and "allow-list" in unknown.stderr
    _, entries = run_json("audit", "show", "--action", "search_refused", data_dir=data_dir)
    reasons = [e["details"]["reason"] for e in entries]
    assert any("immigration enforcement" in r for r in reasons)


@pytest.mark.parametrize("kind", ["apng", "gif", "webp", "mpo"])
def test_search_refuses_a_probe_with_more_than_one_frame(data_dir, tmp_path, kind) -> None:
    still = Image.open(photos("probe")[0].path).convert("RGB")
    frames = [still, still.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    fmt = {"apng": "PNG", "gif": "GIF", "webp": "WEBP", "mpo": "MPO"}[kind]
    path = tmp_path / f"clip.{kind}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:])
    result = run_cli("search", path, *GROUNDS, data_dir=data_dir)
    assert result.returncode == 1 and "2 frames" in result.stderr, result.stderr


def test_env_var_sets_the_data_folder(tmp_path) -> None:
    env = {**os.environ, "FACESIFT_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-m", "facesift", "stats", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0 and str(tmp_path / "home") in result.stdout


def test_an_opt_out_request_on_the_command_line_suppresses_the_person(tmp_path) -> None:
    person = "Ariel_Sharon"
    gallery = [p.path for p in photos("gallery")][:6]
    run_cli("ingest", *gallery, "--workers", "1", data_dir=tmp_path, check=True)
    probe = next(p.path for p in photos("probe") if p.identity == person)
    code, before = run_json("search", probe, *GROUNDS, data_dir=tmp_path)
    assert code == 0 and any(person in c["image"]["path"] for c in before["candidates"])
    code, receipt = run_json(
        "optout", "request", probe, "--contact", "ariel@example.org", data_dir=tmp_path
    )
    assert code == 0 and receipt["status"] == "in_review" and receipt["faces_found"] >= 1
    code, status = run_json("optout", "status", receipt["reference"], data_dir=tmp_path)
    assert code == 0 and status["status"] == "in_review" and "path" not in json.dumps(status)
    # Not yet removed (that is the privacy officer's call), but never a candidate again.
    code, after = run_json("search", probe, *GROUNDS, data_dir=tmp_path)
    assert code == 0 and not any(person in c["image"]["path"] for c in after["candidates"])
    assert after["suppressed_candidates"] >= 1
    assert (tmp_path / "optout.key").stat().st_mode & 0o077 == 0  # the key: owner only
    refused = run_cli("optout", "request", probe, data_dir=tmp_path)
    assert refused.returncode == 2 and "--contact" in refused.stderr
