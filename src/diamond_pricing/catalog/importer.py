"""``import FILE --feed NAME``: stream CSV or JSON lines, validate, COPY, upsert in one transaction.

Each row is validated with the API's model and priced by the engine as it is read, then
COPYed into a temporary staging table. Nothing reaches ``diamonds`` until the whole file has
been read: one upsert from the staging table and one version bump, in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from diamond_pricing.catalog import queries
from diamond_pricing.catalog.ingest import price_row, upsert_staged, validate_row
from diamond_pricing.catalog.models import PRICING_OUTPUTS, DiamondInput
from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.settings import Settings

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
INPUT_FIELDS = frozenset(DiamondInput.model_fields)
REQUIRED_FIELDS = frozenset(
    name for name, info in DiamondInput.model_fields.items() if info.is_required()
)


class ImportFailed(Exception):
    """The file cannot be imported (reason in the message); nothing was written."""


@dataclass
class ImportReport:
    """What an import read, skipped and wrote."""

    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    version: int | None = None
    first_bad_line: int | None = None
    written: bool = False
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def valid(self) -> int:
        """Rows that passed validation and were not duplicates."""
        return self.rows - self.invalid - self.duplicates


def detect_format(path: Path, explicit: str | None) -> str:
    """csv or jsonl, from --format or the file name."""
    if explicit:
        return explicit
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportFailed(f"cannot tell the format of {path.name}; pass --format csv|jsonl")
    return fmt


def check_header(columns: list[str]) -> None:
    """Reject a CSV header with pricing outputs, unknown or missing columns (one reason)."""
    outputs = [c for c in columns if c in PRICING_OUTPUTS]
    if outputs:
        raise ImportFailed(
            f"column(s) {', '.join(outputs)} are pricing outputs computed by the engine; remove them"
        )
    unknown = [c for c in columns if c not in INPUT_FIELDS]
    if unknown:
        raise ImportFailed(f"unknown column(s) in the header: {', '.join(unknown)}")
    missing = sorted(REQUIRED_FIELDS - set(columns))
    if missing:
        raise ImportFailed(f"missing required column(s): {', '.join(missing)}")
    if len(set(columns)) != len(columns):
        raise ImportFailed("a column appears twice in the header")


Parsed = tuple[int, Any]  # (line number, a dict to validate, or an error message string)


def read_csv(stream: io.TextIOBase) -> Iterator[Parsed]:
    """Yield (line, row dict) per record; empty cells count as missing."""
    reader = csv.reader(stream)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    check_header(header)
    width = len(header)
    for record in reader:
        line = reader.line_num
        if not record:
            continue
        if len(record) != width:
            yield line, f"expected {width} fields, found {len(record)}"
            continue
        yield line, {name: value for name, value in zip(header, record, strict=True) if value != ""}


def read_jsonl(stream: io.TextIOBase) -> Iterator[Parsed]:
    """Yield (line, object) per non-blank line."""
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield line, json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            yield line, f"not valid JSON: {exc}"


def describe(errors: list[dict[str, str]]) -> str:
    """One line for a row's problems."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors)


async def import_rows(
    conn: DictConn,
    settings: Settings,
    *,
    feed: str,
    rows: Iterator[Parsed],
    skip_invalid: bool,
    on_problem: Callable[[int, str], None],
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate, price and stage every row; upsert them only if all are valid (or skipping)."""
    report = ImportReport()
    engine = await load_engine(conn, settings)
    await queries.create_staging(conn)

    def bad(line: int, message: str) -> None:
        report.invalid += 1
        if report.first_bad_line is None:
            report.first_bad_line = line
        on_problem(line, message)

    async with conn.cursor() as cur, cur.copy(queries.staging_copy_statement()) as copy:
        for line, raw in rows:
            report.rows += 1
            if on_progress is not None and report.rows % 1000 == 0:
                on_progress(1000)
            if isinstance(raw, str):
                bad(line, raw)
                continue
            diamond, errors = validate_row(raw)
            if diamond is None:
                bad(line, describe(errors))
                continue
            await copy.write_row((line, *price_row(engine, feed, diamond)))
    if on_progress is not None:
        on_progress(report.rows % 1000)
    report.duplicates = await queries.count_staging_duplicates(conn)
    if report.duplicates:
        for dup in await queries.staging_duplicates(conn, limit=1000):
            message = (
                f"supplier_stone_id {dup['supplier_stone_id']!r} repeats line {dup['first_line']}"
            )
            on_problem(int(dup["line"]), message)
        if not skip_invalid:
            return report
        await queries.delete_staging_duplicates(conn)
    if report.invalid and not skip_invalid:
        return report
    counts = await upsert_staged(conn, feed=feed)
    report.inserted, report.updated = counts["inserted"], counts["updated"]
    report.unchanged = report.valid - report.inserted - report.updated
    if report.inserted or report.updated:
        report.version = (await bump_versions(conn, [feed]))[feed]
    else:
        report.version = await queries.get_version(conn, feed=feed)
    report.written = True
    return report


def open_rows(path: Path, fmt: str) -> tuple[io.TextIOWrapper, Iterator[Parsed]]:
    """Open the file and return it with its row iterator (CSV header checked on first read)."""
    stream = open(path, encoding="utf-8-sig", newline="" if fmt == "csv" else None)  # noqa: SIM115
    return stream, (read_csv(stream) if fmt == "csv" else read_jsonl(stream))


def count_records(path: Path) -> int:
    """Rough number of records (newlines) for the progress bar."""
    count = 0
    with open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            count += chunk.count(b"\n")
    return count
