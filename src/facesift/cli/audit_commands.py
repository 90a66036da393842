"""``facesift audit keygen``, ``export``, ``verify-export`` and ``resync-anchor-copy``: the
audit trail a third party can check (signed export checkpoints, a second anchor)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facesift.cli.common import (
    EXIT_ERROR,
    DataDir,
    JsonFlag,
    configured,
    console,
    errors,
    fail,
    print_json,
    store_of,
)
from facesift.errors import FacesiftError
from facesift.store.audit import current_os_user

if TYPE_CHECKING:
    pass


def keygen(
    out: Annotated[
        Path, typer.Option("--out", help="The folder for the key pair (made if missing).")
    ],
) -> None:
    """Make the Ed25519 key pair that signs audit export checkpoints: audit-signing.key
    (private, mode 0600; name it in FACESIFT_AUDIT_SIGNING_KEY) and audit-signing.pub (give
    it to whoever checks exports). Never replaces an existing key."""
    from facesift.services import audit_signing

    try:
        pair = audit_signing.generate(out)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    console.print(f"Private key: {pair.private} (owner only; keep it out of backups of the data)")
    console.print(f"Public key:  {pair.public} (key id {pair.key_id})")
    console.print(f"Sign exports with it: FACESIFT_AUDIT_SIGNING_KEY={pair.private}")


def export(
    out: Annotated[Path, typer.Option("--out", help="The JSON lines file to write.")],
    data_dir: DataDir = None,
) -> None:
    """Write the whole audit log as JSON lines with checkpoints, signed with the key named by
    FACESIFT_AUDIT_SIGNING_KEY (unsigned without one). The export is itself audited."""
    from facesift.compose import signer_for
    from facesift.services.audit_export import export_lines

    config = configured(data_dir)
    try:
        signer = signer_for(config)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    store = store_of(config)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for line in export_lines(store.audit, signer, current_os_user()):
                handle.write(line + "\n")
                count += line.startswith('{"entry"')
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    finally:
        store.close()
    signed = f"signed (key id {signer.key_id})" if signer else "UNSIGNED (no signing key set)"
    console.print(f"Exported {count} entries to {out}, {signed}.")


def verify_export_command(
    file: Annotated[Path, typer.Argument(help="An export (facesift audit export).")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The signer's public key (audit-signing.pub).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check an exported copy with the public key alone (no database): the chain of its
    entries, each checkpoint's hash and signature, and that the file is whole."""
    from facesift.services import audit_signing
    from facesift.services.audit_export import verify_export

    try:
        key = audit_signing.load_public_key(public_key)
        with file.open(encoding="utf-8", errors="replace", newline="\n") as handle:
            report = verify_export(handle, key)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    if as_json:
        print_json(report.__dict__)
    elif report.ok:
        console.print(
            f"Export verified: {report.entries} entries up to entry {report.last_id}, "
            f"{report.checkpoints} signed checkpoint(s), signed by key id "
            f"{audit_signing.key_id(key)}."
        )
    else:
        errors.print(f"[red]Export NOT verified[/]: {report.problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def resync_anchor_copy(data_dir: DataDir = None) -> None:
    """After the anchor copy (FACESIFT_AUDIT_ANCHOR_COPY) was unwritable, or to start a copy
    newly set: write the newest anchor to it and clear the recorded failures, with an audit
    entry that lists them."""
    config = configured(data_dir)
    if config.audit_anchor_copy is None:
        raise fail("no anchor copy is set (FACESIFT_AUDIT_ANCHOR_COPY)")
    store = store_of(config)
    try:
        entry = store.audit.resync_anchor_copy(current_os_user())
    except OSError as exc:
        raise fail(
            f"the anchor copy {config.audit_anchor_copy} is still unwritable: {exc}"
        ) from None
    finally:
        store.close()
    if entry is None:
        console.print("The anchor copy is up to date; nothing to do.")
    else:
        cleared = len(entry.details["failures_cleared"])
        console.print(
            f"Anchor copy written; {cleared} failed write(s) cleared (audit entry {entry.id})."
        )
