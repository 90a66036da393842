"""Mutated images, seeded so a failure can be repeated: 1,000 at ingest, 200 at probe upload
(issue 12). Each one is a real photo of the fixture, small, in one of six formats, then
damaged: bytes flipped, cut short, a run of bytes overwritten, inserted or repeated, or its
header's size fields changed. A crash is a process that dies, a 5xx, or a failure whose code
says the analysis raised something unforeseen (``analysis_failed``); a clear refusal
(``truncated``, ``corrupt``, ``decompression_bomb``...) is the right answer."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import photos
from tests.helpers import run_json
from tests.server_world import World

pytestmark = pytest.mark.slow

SEED = 20261127
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
INGEST_IMAGES = 1000
PROBE_UPLOADS = 200


def _bases() -> list[bytes]:
    out = []
    for photo in photos("gallery")[:3]:
        with Image.open(photo.path) as image:
            small = image.convert("RGB")
            small.thumbnail((160, 160))
        for fmt in FORMATS:
            buffer = io.BytesIO()
            small.save(buffer, format=fmt)
            out.append(buffer.getvalue())
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # flip a few bits anywhere
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short
        del data[rng.randrange(1, len(data)) :]
    elif kind == 2:  # overwrite a run with random bytes
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 64)] = rng.randbytes(rng.randint(1, 64))
    elif kind == 3:  # insert random bytes
        start = rng.randrange(len(data))
        data[start:start] = rng.randbytes(rng.randint(1, 256))
    elif kind == 4:  # repeat a chunk
        start = rng.randrange(len(data))
        chunk = data[start : start + rng.randint(1, 512)]
        data[start:start] = chunk * rng.randint(1, 8)
    else:  # the header's first bytes after the signature: sizes, depths, flags
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 64))] = rng.randrange(256)
    return bytes(data)


def _mutants(count: int, seed: int) -> list[bytes]:
    rng, bases = random.Random(seed), _bases()
    return [_mutate(rng.choice(bases), rng) for _ in range(count)]


def test_a_thousand_mutated_images_at_ingest_crash_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "mutants"
    folder.mkdir()
    suffix = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif"}
    for n, data in enumerate(_mutants(INGEST_IMAGES, SEED)):
        (folder / f"m{n:04d}.{suffix.get(FORMATS[n % 6], 'bmp')}").write_bytes(data)
    code, summary = run_json(
        "ingest", folder, "--workers", "1", data_dir=tmp_path / "data", timeout=1200
    )
    assert code in (0, 1), summary  # 1: some files failed, each with its reason
    assert summary["total"] == INGEST_IMAGES
    assert summary["ingested"] + summary["skipped"] + summary["failed"] == INGEST_IMAGES
    unforeseen = [f for f in summary["failures"] if f["code"] == "analysis_failed"]
    assert not unforeseen, unforeseen[:5]
    print(f"ingested {summary['ingested']}, failed {summary['failed']} with clear codes")


def test_two_hundred_mutated_probe_uploads_crash_nothing(fresh_world: World) -> None:
    w = fresh_world
    with TestClient(w.app(), raise_server_exceptions=False) as c:
        case = c.post(
            "/api/cases",
            json={
                "reference": "FUZZ-1",
                "offense_category": "robbery",
                "purpose": "identify the suspect in an armed robbery",
            },
            headers=w.auth("ivan"),
        ).json()
        statuses: dict[int, int] = {}
        for n, data in enumerate(_mutants(PROBE_UPLOADS, SEED + 1)):
            answer = c.post(
                f"/api/cases/{case['id']}/probes",
                files={"file": (f"m{n}.img", data)},
                headers=w.auth("ivan"),
            )
            assert answer.status_code < 500, (n, answer.status_code, answer.text)
            assert answer.json().get("error") != "analysis_failed", (n, answer.text)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert c.get("/api/me", headers=w.auth("ivan")).status_code == 200
    print(f"probe uploads by status: {statuses}")
