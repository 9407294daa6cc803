"""``diamond-pricing api-key create|list|revoke``: manage API keys from the shell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import psycopg
import typer

from diamond_pricing.auth.keys import ApiKey, Role, create_key, list_keys, revoke_key
from diamond_pricing.runtime import run_with_conn, stderr
from diamond_pricing.settings import Settings

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

LIST_COLUMNS = ("NAME", "ROLE", "ACTIVE", "CREATED", "EXPIRES", "LAST USED")


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the console script."""
    app.add_typer(keys_app, name="api-key")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def key_table(keys: list[ApiKey], now: datetime) -> list[str]:
    """Aligned text lines (header first): name, role, active, created, expires, last used."""
    rows = [LIST_COLUMNS]
    for key in keys:
        expired = key.expires_at is not None and key.expires_at <= now
        expires = _when(key.expires_at) + (" (expired)" if expired else "")
        active = "yes" if key.active else "no"
        created = _when(key.created_at)
        rows.append((key.name, key.role.value, active, created, expires, _when(key.last_used_at)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_COLUMNS))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


@keys_app.command("create")
def create_command(
    name: Annotated[str, typer.Option("--name", help="A name to recognise the key by.")],
    role: Annotated[Role, typer.Option("--role", help="What the key may do.")],
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create a key and print ONLY the key on stdout (it is shown once, stored as a hash)."""
    from diamond_pricing.cli import configure_logging, database, fail

    configure_logging()
    name = name.strip()
    if not name:
        raise fail("--name must not be empty")
    expires_at = (
        None if expires_in_days is None else datetime.now(UTC) + timedelta(days=expires_in_days)
    )
    with database(Settings()) as db:
        try:
            _, secret = run_with_conn(
                db.conninfo,
                lambda conn: create_key(conn, name=name, role=role, expires_at=expires_at),
            )
        except psycopg.errors.UniqueViolation:
            raise fail(
                f"an active API key named {name!r} already exists; revoke it first"
            ) from None
    stderr.print(f"created {role.value} API key {name!r}", highlight=False)
    typer.echo(secret)


@keys_app.command("list")
def list_command() -> None:
    """List keys: name, role, active, created, expires, last used (never the key)."""
    from diamond_pricing.cli import configure_logging, database

    configure_logging()
    with database(Settings()) as db:
        keys = run_with_conn(db.conninfo, list_keys)
    for line in key_table(keys, datetime.now(UTC)):
        typer.echo(line)


@keys_app.command("revoke")
def revoke_command(name: Annotated[str, typer.Argument(help="Name of the key to revoke.")]) -> None:
    """Revoke the active key with this name (it stops working immediately)."""
    from diamond_pricing.cli import configure_logging, database, fail

    configure_logging()
    with database(Settings()) as db:
        revoked = run_with_conn(db.conninfo, lambda conn: revoke_key(conn, name=name))
    if not revoked:
        raise fail(f"no active API key named {name!r}")
    stderr.print(f"revoked API key {name!r}", highlight=False)
