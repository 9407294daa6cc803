"""Feed ingest: validate every row, price on arrival, upsert atomically, bump the version once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from diamond_pricing.catalog import queries
from diamond_pricing.catalog.models import (
    MAX_INGEST_ROWS,
    PRICING_OUTPUTS,
    SERVER_FIELDS,
    DiamondInput,
    IngestResult,
)
from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.errors import validation_error
from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.settings import Settings


def _message(error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        if field in PRICING_OUTPUTS:
            return "pricing outputs are computed by the engine and may not be sent"
        if field in SERVER_FIELDS:
            return "set by the server, may not be sent"
        return "unknown field"
    return str(error["msg"])


def row_errors(error: ValidationError) -> list[dict[str, str]]:
    """One {field, message, type} entry per problem of one row."""
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "row",
            "message": _message(err),
            "type": str(err["type"]),
        }
        for err in error.errors(include_url=False, include_input=False)
    ]


def validate_row(raw: Any) -> tuple[DiamondInput | None, list[dict[str, str]]]:
    """Validate one row with the API's model: (diamond, []) or (None, errors)."""
    if not isinstance(raw, dict):
        return None, [{"field": "row", "message": "must be a JSON object", "type": "object_type"}]
    try:
        return DiamondInput.model_validate(raw), []
    except ValidationError as exc:
        return None, row_errors(exc)


def validate_batch(raw_rows: Any) -> list[DiamondInput]:
    """Validate a whole call: every bad row is reported (index, field, message) in one 422."""
    if not isinstance(raw_rows, list):
        raise validation_error([_entry(None, "diamonds", "must be a list", "list_type")])
    if len(raw_rows) > MAX_INGEST_ROWS:
        raise validation_error(
            [
                _entry(
                    None,
                    "diamonds",
                    f"at most {MAX_INGEST_ROWS} diamonds per call (got {len(raw_rows)})",
                    "too_long",
                )
            ]
        )
    details: list[dict[str, Any]] = []
    valid: list[DiamondInput] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_rows):
        diamond, errors = validate_row(raw)
        for err in errors:
            details.append(_entry(index, err["field"], err["message"], err["type"], raw))
        if diamond is None:
            continue
        first = first_index.setdefault(diamond.supplier_stone_id, index)
        if first != index:
            details.append(
                _entry(
                    index,
                    "supplier_stone_id",
                    f"duplicate of diamonds[{first}] in this call",
                    "duplicate",
                    raw,
                )
            )
            continue
        valid.append(diamond)
    if details:
        bad = len({d["index"] for d in details})
        raise validation_error(details, f"{bad} of {len(raw_rows)} diamonds are not valid")
    return valid


async def upsert_staged(conn: DictConn, *, feed: str) -> dict[str, int]:
    """Upsert the staged rows into ``feed`` without deadlocks or lost updates.

    Upserts into one feed take turns (advisory lock), so no other writer can insert one of our
    stones behind our back; the feed's existing rows we touch are then locked in id order (the
    reapply job's order), and one statement writes feed_price together with the pricing outputs
    (in supplier_stone_id order). A repricing batch therefore either finishes before us or waits
    and reprices from our feed_price; it can neither deadlock with us nor undo our update.
    """
    await queries.lock_feed_for_upsert(conn, feed=feed)
    await queries.lock_existing_staged(conn, feed=feed)
    return await queries.upsert_staged(conn, feed=feed)


def _entry(
    index: int | None, field: str, message: str, kind: str, raw: Any = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "field": field, "message": message, "type": kind}
    if isinstance(raw, dict) and isinstance(raw.get("supplier_stone_id"), str):
        entry["supplier_stone_id"] = raw["supplier_stone_id"]
    return entry


def price_row(engine: PricingEngine, feed: str, d: DiamondInput) -> tuple[Any, ...]:
    """The row to store: the feed's fields then the engine's outputs (UPSERT_COLUMNS order)."""
    result = engine.price(
        feed=feed,
        feed_price=d.feed_price,
        carats=d.carats,
        lab_grown=d.lab_grown,
        fancy_color=d.fancy_color,
    )
    return (
        d.supplier_stone_id,
        d.shape,
        d.carats,
        d.color,
        d.clarity,
        d.cut,
        d.polish,
        d.symmetry,
        d.fluorescence,
        d.lab_grown,
        d.fancy_color,
        d.fancy_intensity,
        d.certificate_lab,
        d.certificate_number,
        d.image_url,
        d.feed_price,
        d.availability,
        result.price_model_price,
        result.markup_ratio,
        result.rating,
        result.price_per_carat,
    )


async def upsert_feed(
    conn: DictConn, settings: Settings, *, feed: str, diamonds: Sequence[DiamondInput]
) -> IngestResult:
    """Price and upsert a feed's diamonds in the caller's transaction; bump its version once."""
    engine = await load_engine(conn, settings)
    counts = {"inserted": 0, "updated": 0}
    if diamonds:
        await queries.create_staging(conn)
        async with conn.cursor() as cur, cur.copy(queries.staging_copy_statement()) as copy:
            for index, diamond in enumerate(diamonds):
                await copy.write_row((index, *price_row(engine, feed, diamond)))
        counts = await upsert_staged(conn, feed=feed)
    if counts["inserted"] or counts["updated"]:
        version = (await bump_versions(conn, [feed]))[feed]
    else:
        version = await queries.get_version(conn, feed=feed)
    return IngestResult(
        feed=feed,
        received=len(diamonds),
        inserted=counts["inserted"],
        updated=counts["updated"],
        unchanged=len(diamonds) - counts["inserted"] - counts["updated"],
        version=version,
    )
