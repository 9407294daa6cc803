"""The ``diamond-pricing`` console script."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
import typer

from diamond_pricing.db import Database, resolve_database
from diamond_pricing.migrate import MigrationError, migrate
from diamond_pricing.runtime import stderr
from diamond_pricing.settings import Settings

app = typer.Typer(
    help="Diamond pricing service: API, dashboard, job runner and operator commands.",
    no_args_is_help=True,
    add_completion=False,
)
log = logging.getLogger("diamond_pricing")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line reason on stderr and return the exit to raise."""
    stderr.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def configure_logging() -> None:
    """Log to stderr with timestamps."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)


@contextmanager
def database(settings: Settings, *, run_migrations: bool = True) -> Iterator[Database]:
    """Resolve the database for a command (embedded or DATABASE_URL) and migrate it."""
    try:
        db = resolve_database(settings)
    except Exception as exc:
        raise fail(f"cannot start or reach the database: {exc}") from exc
    try:
        if run_migrations:
            migrate(db.conninfo)
        yield db
    except MigrationError as exc:
        raise fail(str(exc)) from exc
    except psycopg.OperationalError as exc:
        raise fail(f"database error: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        db.stop()


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending database migrations."""
    configure_logging()
    settings = Settings()
    with database(settings, run_migrations=False) as db:
        try:
            applied = migrate(db.conninfo)
        except MigrationError as exc:
            raise fail(str(exc)) from exc
    stderr.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@app.command("seed-demo")
def seed_demo_command(
    count: Annotated[int, typer.Option(min=1, help="How many diamonds to create.")] = 100_000,
    feeds: Annotated[
        list[str] | None, typer.Option("--feeds", help="Feed names (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same inventory.")] = 42,
) -> None:
    """Load a realistic synthetic inventory, priced with the current rules."""
    from diamond_pricing.catalog.seeding import SeedError, seed_demo

    configure_logging()
    settings = Settings()
    with database(settings) as db:
        try:
            written, seconds = seed_demo(db.conninfo, settings, count=count, feeds=feeds, seed=seed)
        except SeedError as exc:
            raise fail(str(exc)) from exc
    stderr.print(
        f"loaded {written:,} diamonds in {seconds:.1f}s ({written / max(seconds, 1e-9):,.0f} rows/s)"
    )


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load demo data into an empty database.")
    ] = False,
) -> None:
    """Serve the API, the dashboard and the job runner."""
    from diamond_pricing.serve import serve

    configure_logging()
    settings = Settings()
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if overrides:
        settings = settings.model_copy(update=overrides)
    with database(settings) as db:
        serve(settings, db, demo=demo)


def _register_domain_commands() -> None:
    from diamond_pricing.auth import cli as auth_cli
    from diamond_pricing.catalog import cli as catalog_cli
    from diamond_pricing.reapply import cli as reapply_cli

    for module in (auth_cli, catalog_cli, reapply_cli):
        module.register(app)


_register_domain_commands()


def main() -> None:
    """Entry point of the console script."""
    app()
