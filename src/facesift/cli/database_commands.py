"""``facesift db migrate`` and ``facesift db copy``: the database itself, for an operator."""

from __future__ import annotations

from typing import Annotated

import typer

from facesift.cli.common import DataDir, JsonFlag, configured, console, fail, print_json
from facesift.errors import FacesiftError
from facesift.store import Store
from facesift.store.database import (
    Database,
    current_version,
    describe_url,
    grant_app_role,
    resolve_url,
)
from facesift.store.records import AUDIT_ANCHOR_FILE

db_app = typer.Typer(
    rich_markup_mode=None, help="Migrate or copy the database.", no_args_is_help=True
)


@db_app.command("migrate")
def migrate(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Upgrade the database to this version's schema, in place (opening it does the same)."""
    config = configured(data_dir)
    url = resolve_url(config.data_dir, config.database_url)
    db = Database(url)  # opening migrates
    version = current_version(db)
    db.close()
    if as_json:
        print_json({"database": describe_url(url), "schema_version": version})
    else:
        console.print(f"{describe_url(url)}: schema version {version}.")


@db_app.command("grant")
def grant(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role facesift logs in as.")],
    data_dir: DataDir = None,
) -> None:
    """PostgreSQL: let ROLE use every table, but only read and append to the audit log (run
    as the owner of the tables; facesift then connects as ROLE)."""
    config = configured(data_dir)
    db = Database(resolve_url(config.data_dir, config.database_url))
    try:
        grant_app_role(db, role)
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        db.close()
    console.print(f"{role} may read and write the gallery and only append to the audit log.")


@db_app.command("copy")
def copy(
    source: Annotated[str, typer.Option("--from", help="Database URL to copy from.")],
    target: Annotated[str, typer.Option("--to", help="Empty database URL to copy into.")],
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Copy a whole gallery (records, accounts, cases and the audit chain) into an empty
    database, then verify the copied audit chain against the data folder's anchor."""
    from facesift.store.transfer import copy_database

    folder = configured(data_dir).data_dir
    try:
        with_anchor = Store(folder, source)
        source_report = with_anchor.audit.verify()
        source_db = with_anchor.db
        target_store = Store(folder, target)
        try:
            report = copy_database(source_db, target_store.db)
            chain = target_store.audit.verify()
        finally:
            target_store.close()
            with_anchor.close()
    except FacesiftError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(
            {
                "rows": report.rows,
                "audit_verified": chain.ok,
                "audit_entries": chain.entries,
                "problem": chain.problem,
            }
        )
    else:
        for table, count in report.rows.items():
            console.print(f"{table:>18}: {count} rows")
        state = "intact" if chain.ok else f"BROKEN at entry {chain.first_bad_id}: {chain.problem}"
        console.print(
            f"Audit chain in {describe_url(target)}: {state} ({chain.entries} entries, "
            f"checked against {folder / AUDIT_ANCHOR_FILE})."
        )
    if not source_report.ok:
        console.print(f"[yellow]The source's own chain did not verify: {source_report.problem}")
    if not chain.ok:
        raise typer.Exit(1)
