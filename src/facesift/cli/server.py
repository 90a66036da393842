"""``facesift serve``, and the accounts commands an operator runs on the server itself:
``facesift users ...`` and ``facesift tokens ...``. Changes made here are audited with the
actor "cli:operator", which no account name can be."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesift.cli.common import (
    DataDir,
    Detector,
    JsonFlag,
    VectorsUrl,
    configured,
    console,
    errors,
    fail,
    print_json,
    store_of,
)
from facesift.compose import signer_for
from facesift.errors import FacesiftError
from facesift.governance.policy import DEFAULT_TOKEN_DAYS
from facesift.logs import configure_logging
from facesift.store.database import (
    POSTGRESQL,
    dialect_of,
    resolve_url,
)

if TYPE_CHECKING:
    import uvicorn

    from facesift.services.accounts import Accounts

users_app = typer.Typer(
    rich_markup_mode=None, help="Manage user accounts (run on the server).", no_args_is_help=True
)
tokens_app = typer.Typer(
    rich_markup_mode=None, help="Manage API tokens (run on the server).", no_args_is_help=True
)
RoleOption = Annotated[
    list[str],
    typer.Option("--role", help="investigator, reviewer, supervisor, auditor or admin; repeat."),
]


@contextmanager
def _accounts(data_dir: Path | None) -> Iterator[Accounts]:
    from facesift.services.accounts import Accounts

    store = store_of(configured(data_dir))
    try:
        yield Accounts(store)
    except FacesiftError as exc:
        raise fail(exc.message) from None
    finally:
        store.close()


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8000].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Server processes (more than one: PostgreSQL only) [default: 1]."),
    ] = None,
    probe_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Probe analysis processes per server process [default: the cores, shared "
            "among the server processes].",
        ),
    ] = None,
    detector: Detector = None,
    data_dir: DataDir = None,
    vectors: VectorsUrl = None,
    retention_hours: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Run retention every H hours in the server (0: off; one server process only; "
            "with --workers, cron 'facesift retention run') [default: 0].",
        ),
    ] = None,
    certfile: Annotated[
        str | None, typer.Option(help="Serve HTTPS with this PEM certificate (and --keyfile).")
    ] = None,
    keyfile: Annotated[str | None, typer.Option(help="The certificate's PEM private key.")] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
            "headers are trusted (comma-separated) [default: 127.0.0.1]."
        ),
    ] = None,
) -> None:
    """Run the web app and the JSON API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from facesift.server import create_app

    server = {
        "host": host,
        "port": port,
        "workers": workers,
        "probe_workers": probe_workers,
        "retention_hours": retention_hours,
        "certfile": certfile,
        "keyfile": keyfile,
        "forwarded_allow_ips": forwarded_allow_ips,
    }
    config = configured(data_dir, vectors, detector=detector, server=server)
    configure_logging(config.log_level or "INFO")
    folder, workers = config.data_dir, config.server.workers
    if bool(config.server.certfile) != bool(config.server.keyfile):
        raise fail("--certfile and --keyfile go together", 2)
    try:
        signer_for(config)  # a signing key that cannot be used stops the server here, clearly
    except FacesiftError as exc:
        raise fail(exc.message, 2) from None
    # HTTPS (then every answer carries HSTS), the proxies trusted, and no "Server" banner.
    transport: dict[str, Any] = {
        "ssl_certfile": config.server.certfile,
        "ssl_keyfile": config.server.keyfile,
        "proxy_headers": True,
        "forwarded_allow_ips": config.server.forwarded_allow_ips,
        "server_header": False,
    }
    if workers > 1 and dialect_of(resolve_url(folder, config.database_url)) != POSTGRESQL:
        raise fail("--workers above 1 needs PostgreSQL (--database postgresql://...)", 2)
    if workers > 1 and config.server.retention_hours:
        raise fail(
            "--retention-hours runs in one server process; with --workers, cron "
            "'facesift retention run' instead",
            2,
        )
    with _accounts(data_dir) as accounts:
        if not accounts.has_admin():
            errors.print(
                "[yellow]No admin account yet: the server will answer 503 to everything but "
                f"/healthz. Create one with:[/]\n  facesift users add NAME --role admin "
                f"--data-dir {folder}"
            )
    # access_log off: request lines are not needed, and logs must never hold probe data.
    host, port = config.server.host, config.server.port
    if workers == 1:
        app = create_app(config, freeze_after_start=True)
        uvicorn.run(app, host=host, port=port, access_log=False, **transport)
        return
    # Each worker process builds its own app from the environment (uvicorn imports it by
    # name); they share the database and see each other's changes through it.
    os.environ.update(config.environment())
    _serve_workers(
        uvicorn.Config(
            "facesift.server.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            access_log=False,
            **transport,
        )
    )


def _serve_workers(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does for several workers, with ``TCP_NODELAY`` on the socket
    they share (Linux gives it to every connection accepted from it).

    uvicorn makes that socket without naming its protocol, so the connections its workers
    accept say protocol 0, and asyncio, which turns Nagle's algorithm off only for sockets
    that say TCP, leaves it on. An answer written in two parts (headers, then body) then
    waited for the client's delayed acknowledgement: 40 ms more on every search with
    ``--workers 2`` (51 ms p50 at 10 users, against 10 ms in one process)."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


@users_app.command("add")
def users_add(
    name: str,
    role: RoleOption,
    password_prompt: Annotated[
        bool, typer.Option("--password", help="Type the password instead of generating one.")
    ] = False,
    training_until: Annotated[
        str | None, typer.Option(help="Record a training attestation valid until this date.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an active account. Prints a one-time password unless --password is given."""
    password = None
    if password_prompt:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _accounts(data_dir) as accounts:
        made = accounts.add_user(name, role, None, password)
        if training_until:
            accounts.record_training(None, made.user.id, training_until)
    console.print(f"created {name} ({', '.join(sorted(made.user.roles))})")
    if made.password:
        console.print(f"one-time password: {made.password}")
        console.print("It is shown only now. The user must change it at the first sign-in.")


@users_app.command("list")
def users_list(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    with _accounts(data_dir) as accounts:
        users = [u.describe() for u in accounts.records.users()]
    if as_json:
        print_json(users)
        return
    for user in users:
        console.print(
            f"{user['id']:>4}  {user['name']:<20} {user['status']:<9} "
            f"{','.join(user['roles']):<30} training until {user['training_expires'] or '-'}"
        )


@users_app.command("roles")
def users_roles(name: str, role: RoleOption, data_dir: DataDir = None) -> None:
    """Replace NAME's roles."""
    with _accounts(data_dir) as accounts:
        user = accounts.set_roles(None, accounts.user_named(name).id, role)
    console.print(f"{name}: {', '.join(sorted(user.roles))}")


@users_app.command("training")
def users_training(
    name: str,
    until: Annotated[str, typer.Option(help="Expiry date, e.g. 2027-06-30.")],
    data_dir: DataDir = None,
) -> None:
    """Record NAME's training attestation and its expiry date."""
    with _accounts(data_dir) as accounts:
        accounts.record_training(None, accounts.user_named(name).id, until)
    console.print(f"{name}: training valid until {until}")


@users_app.command("disable")
def users_disable(name: str, data_dir: DataDir = None) -> None:
    with _accounts(data_dir) as accounts:
        accounts.set_disabled(None, accounts.user_named(name).id, True)
    console.print(f"{name} disabled; their sessions are ended")


@users_app.command("password")
def users_password(name: str, data_dir: DataDir = None) -> None:
    """Give NAME a new one-time password (their sessions end)."""
    with _accounts(data_dir) as accounts:
        generated = accounts.set_password(None, accounts.user_named(name).id, None)
    console.print(f"one-time password for {name}: {generated}")


@tokens_app.command("create")
def tokens_create(
    user: str,
    name: Annotated[str, typer.Option(help="What the token is for.")],
    days: Annotated[int, typer.Option(help="Days until it expires (1-365).")] = (
        DEFAULT_TOKEN_DAYS
    ),
    data_dir: DataDir = None,
) -> None:
    """Make an API token for USER. It is printed once; only its hash is kept."""
    with _accounts(data_dir) as accounts:
        made = accounts.create_token(None, accounts.user_named(user).id, name, days)
    console.print(f"token {made.record.id} for {user}, expires {made.record.expires_at}:")
    console.print(made.token, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Argument()] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    with _accounts(data_dir) as accounts:
        owner = accounts.user_named(user).id if user else None
        tokens = [t.describe() for t in accounts.tokens(None, owner)]
    if as_json:
        print_json(tokens)
        return
    for t in tokens:
        state = "revoked" if t["revoked_at"] else f"expires {t['expires_at'][:10]}"
        console.print(f"{t['id']:>4}  user {t['user_id']:<4} {t['name']:<30} {state}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: int, data_dir: DataDir = None) -> None:
    with _accounts(data_dir) as accounts:
        accounts.revoke_token(None, token_id)
    console.print(f"token {token_id} revoked")
