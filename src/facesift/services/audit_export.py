"""The audit log exported for a third party, and the check of such a copy with nothing else.

An export is JSON lines: one ``{"entry": ...}`` per audit entry, oldest first, and a
``{"checkpoint": ..., "signature": ...}`` every 1,000 entries and at the end. A checkpoint
holds the last id and hash reached, the number of entries, the time, whether it is the
final one, and the signing key's id; the signature is Ed25519 over its canonical form
(``services.audit_signing``). Without a signing key set, checkpoints carry no signature and
``verify_export`` refuses the copy for that reason.

``verify_export`` walks the exported entries with the same ``ChainWalk`` the database's
``verify`` uses, checks each checkpoint against the entries before it and its signature
against the public key, and requires the file to end with the final checkpoint: a copy cut
at a line boundary (even at an intermediate checkpoint) is reported as truncated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from facesift.services.audit_signing import CheckpointSigner, key_id, signature_holds
from facesift.store.audit import AuditEntry, AuditLog, ChainWalk, canonical_json, utc_now

CHECKPOINT_EVERY = 1000
ENTRY_FIELDS = {"id": int, "at": str, "actor": str, "action": str, "prev_hash": str, "hash": str}


def export_lines(
    audit: AuditLog, signer: CheckpointSigner | None, actor: str | None
) -> Iterator[str]:
    """The whole log as JSON lines (no newlines), with signed checkpoints. The export is
    itself audited first, so the copy shows who took it."""
    audit.append("audit_exported", {"signed_by": signer.key_id if signer else None}, actor)
    entries = audit.entries()
    for count, entry in enumerate(entries, start=1):
        yield json.dumps({"entry": entry.as_dict()}, sort_keys=True)
        final = count == len(entries)
        if final or count % CHECKPOINT_EVERY == 0:
            yield _checkpoint_line(entry, count, final, signer)


def _checkpoint_line(
    entry: AuditEntry, count: int, final: bool, signer: CheckpointSigner | None
) -> str:
    checkpoint = {
        "id": entry.id,
        "hash": entry.hash,
        "entries": count,
        "exported_at": utc_now(),
        "final": final,
        "key_id": signer.key_id if signer else None,
    }
    line: dict = {"checkpoint": checkpoint}
    if signer is not None:
        line["signature"] = signer.sign(checkpoint)
    return json.dumps(line, sort_keys=True)


@dataclass(frozen=True)
class ExportReport:
    ok: bool
    entries: int  # entries checked before the first problem (all of them when ok)
    checkpoints: int
    last_id: int | None = None
    line: int | None = None  # the line of the first problem
    problem: str | None = None


class _Bad(Exception):
    def __init__(self, line: int, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def verify_export(lines: Iterable[str], public_key: Ed25519PublicKey) -> ExportReport:
    """Check an exported copy with the public key alone: the chain of its entries, every
    checkpoint against them and its signature, and that the file is whole."""
    walk, checkpoints, final_seen, number = ChainWalk(), 0, False, 0
    try:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            if final_seen:
                raise _Bad(number, f"line {number} follows the final checkpoint (added later)")
            record = _parse(number, text)
            if "entry" in record:
                _check_entry(number, record["entry"], walk)
            else:
                final_seen = _check_checkpoint(number, record, walk, public_key)
                checkpoints += 1
        if number == 0:
            raise _Bad(1, "the file is empty")
        if not final_seen:
            raise _Bad(
                number + 1,
                f"the file ends after entry {walk.last_id} without its final checkpoint: it "
                "was truncated",
            )
    except _Bad as bad:
        return ExportReport(
            False, walk.count, checkpoints, walk.last_id or None, bad.line, bad.problem
        )
    return ExportReport(True, walk.count, checkpoints, walk.last_id)


def _parse(number: int, text: str) -> dict:
    try:
        record = json.loads(text)
    except ValueError:
        raise _Bad(
            number, f"line {number} is not JSON: the file was cut short or edited there"
        ) from None
    if not isinstance(record, dict) or ("entry" in record) == ("checkpoint" in record):
        raise _Bad(number, f"line {number} is neither an entry nor a checkpoint")
    return record


def _check_entry(number: int, entry: object, walk: ChainWalk) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("details"), dict):
        raise _Bad(number, f"line {number}: the entry is malformed")
    for name, kind in ENTRY_FIELDS.items():
        if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
            raise _Bad(number, f"line {number}: the entry's {name!r} is missing or malformed")
    problem = walk.step(
        entry["id"],
        entry["at"],
        entry["actor"],
        entry["action"],
        canonical_json(entry["details"]),  # as stored: the hash covers this text
        entry["prev_hash"],
        entry["hash"],
    )
    if problem:
        raise _Bad(number, f"line {number}: {problem}")


def _check_checkpoint(
    number: int, record: dict, walk: ChainWalk, public_key: Ed25519PublicKey
) -> bool:
    """Checks one checkpoint line; True when it is the final one."""
    checkpoint, signature = record["checkpoint"], record.get("signature")
    if not isinstance(checkpoint, dict):
        raise _Bad(number, f"line {number}: the checkpoint is malformed")
    reached = (checkpoint.get("id"), checkpoint.get("hash"), checkpoint.get("entries"))
    if reached != (walk.last_id, walk.last_hash, walk.count):
        raise _Bad(
            number,
            f"line {number}: the checkpoint names entry {reached[0]} ({reached[2]} entries), "
            f"but the entries before it reach entry {walk.last_id} ({walk.count} entries) "
            "with another hash",
        )
    if not signature:
        raise _Bad(
            number,
            f"line {number}: the checkpoint has no signature (exported without a signing "
            "key, or the signature was removed)",
        )
    expected = key_id(public_key)
    if checkpoint.get("key_id") != expected:
        raise _Bad(
            number,
            f"line {number}: the checkpoint was signed with another key (key id "
            f"{checkpoint.get('key_id')}); the public key given has key id {expected}",
        )
    if not isinstance(signature, str) or not signature_holds(public_key, checkpoint, signature):
        raise _Bad(
            number,
            f"line {number}: the checkpoint's signature does not verify with this key: the "
            "checkpoint or its signature was altered",
        )
    return checkpoint.get("final") is True
