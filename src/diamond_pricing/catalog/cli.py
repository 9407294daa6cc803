"""Console commands of the catalog domain: ``import FILE --feed NAME``."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer

from diamond_pricing.catalog.models import FEED_PATTERN

MAX_REPORTED_PROBLEMS = 1000


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the console script."""
    app.command("import")(import_command)


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with a header row, or JSON lines.")],
    feed: Annotated[str, typer.Option("--feed", help="The feed these diamonds belong to.")],
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the valid rows; report and skip the rest."),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl (default: from the file extension)."),
    ] = None,
) -> None:
    """Upsert a feed's diamonds from a file, priced on arrival; all or nothing by default."""
    from diamond_pricing.catalog.importer import (
        ImportFailed,
        ImportReport,
        count_records,
        detect_format,
        import_rows,
        open_rows,
    )
    from diamond_pricing.cli import configure_logging, database, fail
    from diamond_pricing.db import DictConn
    from diamond_pricing.runtime import progress_bar, run_with_conn, stderr
    from diamond_pricing.settings import Settings

    configure_logging()
    if not re.match(FEED_PATTERN, feed):
        raise fail(f"invalid feed name {feed!r} (letters, digits, . _ -; at most 100)")
    if fmt is not None and fmt not in ("csv", "jsonl"):
        raise fail(f"unknown --format {fmt!r}; use csv or jsonl")
    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        kind = detect_format(file, fmt)
    except ImportFailed as exc:
        raise fail(str(exc)) from exc
    settings = Settings()
    total = count_records(file)
    started = time.perf_counter()
    reported = 0

    with database(settings) as db, progress_bar() as bar:
        task = bar.add_task(
            f"importing into {feed}", total=max(total - (kind == "csv"), 1), rate=""
        )

        def problem(line: int, message: str) -> None:
            nonlocal reported
            reported += 1
            if reported <= MAX_REPORTED_PROBLEMS:
                bar.console.print(f"line {line}: {message}", highlight=False, soft_wrap=True)

        def advance(step: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            done = bar.tasks[task].completed + step
            bar.update(task, advance=step, rate=f"{done / elapsed:,.0f} rows/s")

        async def work(conn: DictConn) -> object:
            stream, rows = open_rows(file, kind)
            with stream:
                return await import_rows(
                    conn,
                    settings,
                    feed=feed,
                    rows=rows,
                    skip_invalid=skip_invalid,
                    on_problem=problem,
                    on_progress=advance,
                )

        reason = None
        try:
            report = run_with_conn(db.conninfo, work)
        except ImportFailed as exc:
            reason = str(exc)
        except UnicodeDecodeError as exc:
            reason = f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        if reason is not None:
            bar.stop()
    if reason is not None:  # reported after the progress bar is gone, as the last line
        raise fail(reason)
    assert isinstance(report, ImportReport)
    if reported > MAX_REPORTED_PROBLEMS:
        stderr.print(f"… and {reported - MAX_REPORTED_PROBLEMS:,} more problem rows")
    bad = report.invalid + report.duplicates
    if not report.written:
        first = f" (first at line {report.first_bad_line})" if report.first_bad_line else ""
        raise fail(
            f"{bad:,} of {report.rows:,} rows are not valid{first}; nothing was written"
            " (fix them or pass --skip-invalid)"
        )
    seconds = time.perf_counter() - started
    skipped = f"; skipped {bad:,} bad rows" if bad else ""
    stderr.print(
        f"imported {report.valid:,} rows into {feed}: {report.inserted:,} inserted, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged{skipped}; "
        f"version {report.version} ({seconds:.1f}s, {report.rows / max(seconds, 1e-9):,.0f} rows/s)",
        highlight=False,
        soft_wrap=True,
    )
