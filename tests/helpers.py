"""Helpers shared by the end-to-end tests: running the real CLI and reading the gallery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from facesift.services.gallery import INDEX_FILE
from facesift.store.database import Database, resolve_url


def run_cli(
    *args: str | Path,
    data_dir: Path | None,
    check: bool = False,
    timeout: float = 300,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``facesift [--database URL] ARGS [--data-dir DATA_DIR]`` as a user would, in a
    fresh process, with ``env`` added to the environment."""
    database = ["--database", database_url] if database_url else []
    command = [sys.executable, "-m", "facesift", *database, *map(str, args)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stderr}")
    return result


def run_json(
    *args: str | Path, data_dir: Path | None, timeout: float = 300, database_url: str | None = None
) -> tuple[int, dict]:
    result = run_cli(*args, "--json", data_dir=data_dir, timeout=timeout, database_url=database_url)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def ingest_fixture_gallery(data_dir: Path, *extra: str) -> None:
    """The fixture's 20 gallery photos (10 people), ingested as the collection "fixture"."""
    from tests.conftest import photos

    gallery = [p.path for p in photos("gallery")]
    code, summary = run_json(
        "ingest", *gallery, "--collection", "fixture", *extra, data_dir=data_dir
    )
    assert code == 0 and summary["ingested"] == 20, summary


def gallery_state(data_dir: Path, database_url: str | None = None) -> dict:
    """Everything that defines the gallery, independent of row ids and timestamps."""
    import faiss

    conn = Database(resolve_url(data_dir, database_url))
    images = sorted(
        tuple(r.values())
        for r in conn.execute("SELECT sha256, path, byte_size, width, height FROM images")
    )
    faces = sorted(
        tuple(r.values())
        for r in conn.execute(
            "SELECT i.sha256, f.x1, f.y1, f.x2, f.y2, f.embedding FROM faces f"
            " JOIN images i ON i.id = f.image_id"
        )
    )
    face_ids = sorted(r[0] for r in conn.execute("SELECT id FROM faces"))
    conn.close()
    state = {"images": images, "faces": faces, "face_ids": face_ids}
    if (data_dir / INDEX_FILE).exists():  # vectors in FAISS files, not in a Milvus server
        index = faiss.read_index(str(data_dir / INDEX_FILE))
        state["indexed"] = sorted(faiss.vector_to_array(index.id_map).tolist())
    return state
