"""An audit trail a third party can check (issue 11 §6): export checkpoints signed with
Ed25519 and checked from the file and the public key alone, and the anchor's second place
(``audit_anchor_copy``), checked by ``verify``, whose write failures are surfaced and never
lose an entry. Store-level tests run on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facesift.config import Config
from facesift.errors import FacesiftError
from facesift.server.app import create_app
from facesift.services import audit_signing
from facesift.services.audit_export import CHECKPOINT_EVERY, export_lines, verify_export
from facesift.services.audit_signing import CheckpointSigner, load_public_key
from facesift.store import Store
from facesift.store.audit import ANCHOR_COPY_FAILURES_FILE
from facesift.store.records import AUDIT_ANCHOR_FILE
from tests.helpers import run_cli
from tests.test_audit import drop_triggers, fill


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> audit_signing.KeyPair:
    return audit_signing.generate(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> audit_signing.KeyPair:
    return audit_signing.generate(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture
def store(tmp_path: Path, database_url: str | None) -> Iterator[Store]:
    (tmp_path / "worm").mkdir()
    store = Store(tmp_path / "data", database_url, anchor_copy=tmp_path / "worm" / "anchor")
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "data")
    yield store
    store.close()


def exported(store: Store, keys: audit_signing.KeyPair | None) -> list[str]:
    signer = CheckpointSigner.from_file(keys.private) if keys else None
    return list(export_lines(store.audit, signer, "auditor"))


def check(lines: list[str], keys: audit_signing.KeyPair):
    return verify_export(lines, load_public_key(keys.public))


# -- keys ---------------------------------------------------------------------------------------


def test_keygen_makes_an_owner_only_private_key_and_never_replaces_one(tmp_path: Path) -> None:
    pair = audit_signing.generate(tmp_path / "keys")
    assert stat.S_IMODE(pair.private.stat().st_mode) == 0o600
    assert pair.public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = pair.private.read_bytes()
    result = run_cli("audit", "keygen", "--out", tmp_path / "keys", data_dir=None)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert pair.private.read_bytes() == before


def test_a_signing_key_that_is_not_one_is_a_clear_error(tmp_path: Path, keys) -> None:
    with pytest.raises(FacesiftError, match="not an unencrypted PEM private key"):
        CheckpointSigner.from_file(keys.public)
    with pytest.raises(FacesiftError, match="cannot be read"):
        CheckpointSigner.from_file(tmp_path / "nowhere.key")


# -- signed exports, checked with the public key alone ------------------------------------------


def test_a_signed_export_verifies_with_the_public_key(sqlite_store: Store, keys) -> None:
    fill(sqlite_store, 5)
    lines = exported(sqlite_store, keys)
    final = json.loads(lines[-1])
    assert final["checkpoint"]["final"] is True and final["signature"]
    report = check(lines, keys)
    assert report.ok, report.problem
    assert (report.entries, report.last_id, report.checkpoints) == (6, 6, 1)  # + the export


def test_a_byte_changed_in_an_entry_is_named(sqlite_store: Store, keys) -> None:
    fill(sqlite_store, 5)
    lines = exported(sqlite_store, keys)
    lines[2] = lines[2].replace("officer3", "officer9")
    report = check(lines, keys)
    assert not report.ok and report.line == 3
    assert "entry 3 was edited after it was written" in report.problem


def test_a_rehashed_chain_fails_the_signed_checkpoint(sqlite_store: Store, keys) -> None:
    """Who rewrites an entry and rehashes everything after it still cannot sign."""
    fill(sqlite_store, 3)
    lines = exported(sqlite_store, keys)
    other_store = Store(sqlite_store.data_dir.parent / "forged")
    fill(other_store, 3)
    other_store.audit.append("search", {"case": "forged"}, actor="officer3")
    forged = exported(other_store, None)
    other_store.close()
    # The forged chain's entries with the real checkpoint and signature: the hash differs.
    report = check([*forged[:-1], lines[-1]], keys)
    assert not report.ok and "the checkpoint names entry" in report.problem
    # ... and with the checkpoint edited to match, the signature no longer holds.
    checkpoint = json.loads(lines[-1])
    forged_checkpoint = json.loads(forged[-1])["checkpoint"]
    checkpoint["checkpoint"] |= {k: forged_checkpoint[k] for k in ("id", "hash", "entries")}
    report = check([*forged[:-1], json.dumps(checkpoint)], keys)
    assert not report.ok and "signature does not verify" in report.problem


def test_a_truncated_export_is_reported(sqlite_store: Store, keys) -> None:
    fill(sqlite_store, 4)
    lines = exported(sqlite_store, keys)
    cut_mid_line = check([*lines[:-1], lines[-1][:40]], keys)
    assert not cut_mid_line.ok and "cut short" in cut_mid_line.problem
    cut_at_a_line = check(lines[:3], keys)
    assert not cut_at_a_line.ok and "truncated" in cut_at_a_line.problem
    assert "entry 3" in cut_at_a_line.problem
    assert not check([], keys).ok and "empty" in check([], keys).problem


def test_an_export_cut_at_an_intermediate_checkpoint_is_truncated(
    sqlite_store: Store, keys
) -> None:
    with sqlite_store.transaction():
        for n in range(CHECKPOINT_EVERY + 5):
            sqlite_store.audit.append("search", {"n": n}, actor="officer")
    lines = exported(sqlite_store, keys)
    assert sum('"checkpoint"' in line for line in lines) == 2
    whole = check(lines, keys)
    assert whole.ok and whole.checkpoints == 2, whole.problem
    first_checkpoint = CHECKPOINT_EVERY + 1  # 1,000 entries, then their checkpoint
    report = check(lines[:first_checkpoint], keys)
    assert not report.ok and "truncated" in report.problem


def test_lines_added_after_the_final_checkpoint_are_reported(sqlite_store: Store, keys) -> None:
    fill(sqlite_store, 2)
    lines = exported(sqlite_store, keys)
    report = check([*lines, lines[0]], keys)
    assert not report.ok and "follows the final checkpoint" in report.problem


def test_the_wrong_public_key_is_named(sqlite_store: Store, keys, other_keys) -> None:
    fill(sqlite_store, 2)
    lines = exported(sqlite_store, keys)
    report = check(lines, other_keys)
    assert not report.ok and "signed with another key" in report.problem
    # A key id rewritten to the other key's: the signature says no.
    record = json.loads(lines[-1])
    record["checkpoint"]["key_id"] = audit_signing.key_id(load_public_key(other_keys.public))
    report = check([*lines[:-1], json.dumps(record)], other_keys)
    assert not report.ok and "signature does not verify" in report.problem


def test_a_missing_signature_is_named(sqlite_store: Store, keys) -> None:
    fill(sqlite_store, 2)
    unsigned = exported(sqlite_store, None)
    report = check(unsigned, keys)
    assert not report.ok and "no signature" in report.problem
    signed = exported(sqlite_store, keys)
    record = json.loads(signed[-1])
    del record["signature"]
    stripped = [*signed[:-1], json.dumps(record)]
    assert "no signature" in check(stripped, keys).problem


def test_the_commands_export_and_verify_a_copy(
    tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    store = Store(data)
    fill(store, 3)
    store.close()
    monkeypatch.setenv("FACESIFT_AUDIT_SIGNING_KEY", str(keys.private))
    copy = tmp_path / "export.jsonl"
    run_cli("audit", "export", "--out", copy, data_dir=data, check=True)
    monkeypatch.delenv("FACESIFT_AUDIT_SIGNING_KEY")
    good = run_cli("audit", "verify-export", copy, "--public-key", keys.public, data_dir=None)
    assert good.returncode == 0 and "Export verified: 4 entries" in good.stdout, good.stderr
    raw = copy.read_bytes()
    at = raw.index(b"officer2")
    copy.write_bytes(raw[:at] + b"X" + raw[at + 1 :])  # one byte
    bad = run_cli("audit", "verify-export", copy, "--public-key", keys.public, data_dir=None)
    assert bad.returncode == 1 and "entry 2 was edited" in bad.stderr
    copy.write_bytes(raw[: len(raw) - 30])
    cut = run_cli("audit", "verify-export", copy, "--public-key", keys.public, data_dir=None)
    assert cut.returncode == 1 and "cut short" in cut.stderr


def test_the_server_export_is_signed_with_the_configured_key(fresh_world, keys) -> None:
    config = fresh_world.config().model_copy(update={"audit_signing_key": keys.private})
    with TestClient(create_app(config)) as client:
        response = client.get("/audit/export", headers=fresh_world.auth("audrey"))
    assert response.status_code == 200
    report = check(response.text.splitlines(), keys)
    assert report.ok and report.entries > 10, report.problem


# -- the anchor's second place ------------------------------------------------------------------


def test_every_anchor_is_appended_to_the_copy(store: Store, tmp_path: Path) -> None:
    fill(store, 3)
    lines = (tmp_path / "worm" / "anchor").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert lines[-1].split()[1] == store.audit.entries()[-1].hash
    assert store.audit.verify().ok


def test_a_transaction_without_a_new_entry_adds_no_line_to_the_copy(
    store: Store, tmp_path: Path
) -> None:
    fill(store, 2)
    for _ in range(3):
        with store.transaction():
            store.collection_id("holiday")  # store work, no audit entry
    assert len((tmp_path / "worm" / "anchor").read_text().splitlines()) == 2


def test_entries_cut_from_the_end_are_caught_by_the_copy(store: Store, tmp_path: Path) -> None:
    """Who can rewrite the database and the data folder's anchor still misses the copy."""
    fill(store, 5)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log WHERE id > 3")
    third = store.audit.entries()[-1]
    (tmp_path / "data" / AUDIT_ANCHOR_FILE).write_text(f"3 {third.hash}\n")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 4
    assert "entries 4..5 were deleted" in report.problem and "anchor copy" in report.problem
    assert "anchor file" not in report.problem  # the rewritten anchor agrees: not named


def test_a_copy_that_disagrees_is_named(store: Store, tmp_path: Path) -> None:
    fill(store, 3)
    with (tmp_path / "worm" / "anchor").open("a") as copy:
        copy.write(f"3 {'a' * 64}\n")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 3
    assert f"the anchor copy {tmp_path / 'worm' / 'anchor'}" in report.problem
    (tmp_path / "worm" / "anchor").unlink()
    missing = store.audit.verify()
    assert not missing.ok and "anchor copy" in missing.problem and "missing" in missing.problem


def test_a_failed_copy_write_keeps_the_entry_and_is_surfaced(
    tmp_path: Path, database_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "unmounted" / "anchor"  # its folder is not there: every write fails
    store = Store(tmp_path / "data", database_url, anchor_copy=copy)
    try:
        with caplog.at_level(logging.ERROR, logger="facesift.store.audit"):
            entry = store.audit.append("search", {"case": "c"}, actor="officer")
        assert [e.id for e in store.audit.entries()] == [entry.id]  # committed all the same
        assert "could not be written to the anchor copy" in caplog.text
        assert (tmp_path / "data" / ANCHOR_COPY_FAILURES_FILE).exists()
        report = store.audit.verify()
        assert not report.ok and "could not be written to the anchor copy" in report.problem
        assert "resync-anchor-copy" in report.problem
        copy.parent.mkdir()  # the disk is back
        store.audit.append("search", {"case": "d"}, actor="officer")
        assert not store.audit.verify().ok  # still reported: the gap is not forgotten
        resync = store.audit.resync_anchor_copy("operator")
        assert resync is not None and resync.action == "audit_anchor_copy_resynced"
        assert [f["entry_id"] for f in resync.details["failures_cleared"]] == [1]
        report = store.audit.verify()
        assert report.ok, report.problem
    finally:
        store.close()


def test_audit_verify_command_reports_a_failed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, copy = tmp_path / "data", tmp_path / "gone" / "anchor"
    store = Store(data, anchor_copy=copy)
    fill(store, 2)
    store.close()
    monkeypatch.setenv("FACESIFT_AUDIT_ANCHOR_COPY", str(copy))
    result = run_cli("audit", "verify", data_dir=data)
    assert result.returncode == 1 and "could not be written to the anchor copy" in result.stderr
    copy.parent.mkdir()
    run_cli("audit", "resync-anchor-copy", data_dir=data, check=True)
    result = run_cli("audit", "verify", data_dir=data)
    assert result.returncode == 0, result.stderr


def test_a_server_with_an_unusable_signing_key_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACESIFT_AUDIT_SIGNING_KEY", str(tmp_path / "none.key"))
    result = run_cli("serve", "--port", "8791", data_dir=tmp_path / "data", timeout=60)
    assert result.returncode == 2 and "audit signing key" in result.stderr


def test_server_workers_get_the_audit_settings(tmp_path: Path) -> None:
    config = Config(
        home=tmp_path, audit_signing_key=tmp_path / "k.key", audit_anchor_copy=tmp_path / "copy"
    )
    env = config.environment()
    assert env["FACESIFT_AUDIT_SIGNING_KEY"] == str(tmp_path / "k.key")
    assert env["FACESIFT_AUDIT_ANCHOR_COPY"] == str(tmp_path / "copy")
