"""SQL of the catalog: one statement per function."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from diamond_pricing.catalog.models import SearchFilters
from diamond_pricing.db import DictConn

DIAMOND_COLUMNS = (
    "id, feed, supplier_stone_id, shape, carats, color, clarity, cut, polish, symmetry,"
    " fluorescence, lab_grown, fancy_color, fancy_intensity, certificate_lab, certificate_number,"
    " image_url, feed_price, availability, stone_type, price_model_price, markup_ratio, rating,"
    " price_per_carat, created_at, updated_at"
)

# What a feed upsert writes: the feed's fields and the engine's outputs, in one statement.
UPSERT_COLUMNS = (
    "supplier_stone_id",
    "shape",
    "carats",
    "color",
    "clarity",
    "cut",
    "polish",
    "symmetry",
    "fluorescence",
    "lab_grown",
    "fancy_color",
    "fancy_intensity",
    "certificate_lab",
    "certificate_number",
    "image_url",
    "feed_price",
    "availability",
    "price_model_price",
    "markup_ratio",
    "rating",
    "price_per_carat",
)
UPSERT_TYPES = {
    "carats": "numeric",
    "lab_grown": "boolean",
    "feed_price": "numeric",
    "price_model_price": "numeric",
    "markup_ratio": "numeric",
    "rating": "integer",
    "price_per_carat": "numeric",
}
_CHANGED = [c for c in UPSERT_COLUMNS if c != "supplier_stone_id"]
_UPSERT = f"""
WITH upserted AS (
    INSERT INTO diamonds AS d (feed, {", ".join(UPSERT_COLUMNS)})
    SELECT %(feed)s, {", ".join(UPSERT_COLUMNS)} FROM import_staging ORDER BY supplier_stone_id
    ON CONFLICT (feed, supplier_stone_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _CHANGED)}, updated_at = now()
    WHERE ({", ".join(f"d.{c}" for c in _CHANGED)})
        IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _CHANGED)})
    RETURNING (d.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted
"""


async def create_staging(conn: DictConn) -> None:
    """The session's staging table for feed upserts (created once per connection, emptied at
    every commit or rollback, so repeated ingests on a pooled connection cause no catalog churn)."""
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS import_staging ("
        " line BIGINT NOT NULL,"
        + ", ".join(f" {c} {UPSERT_TYPES.get(c, 'text')}" for c in UPSERT_COLUMNS)
        + ") ON COMMIT DELETE ROWS"
    )


def staging_copy_statement() -> str:
    """The COPY statement that fills the staging table (line first, then UPSERT_COLUMNS)."""
    return f"COPY import_staging (line, {', '.join(UPSERT_COLUMNS)}) FROM STDIN"


async def staging_duplicates(conn: DictConn, *, limit: int) -> list[dict[str, Any]]:
    """Lines whose supplier_stone_id repeats an earlier line, with that first line."""
    cur = await conn.execute(
        "SELECT line, supplier_stone_id, first_line FROM ("
        " SELECT line, supplier_stone_id,"
        "  min(line) OVER (PARTITION BY supplier_stone_id) AS first_line"
        " FROM import_staging) AS s WHERE line <> first_line ORDER BY line LIMIT %(limit)s",
        {"limit": limit},
    )
    return await cur.fetchall()


async def count_staging_duplicates(conn: DictConn) -> int:
    """How many staged lines repeat an earlier line's supplier_stone_id."""
    cur = await conn.execute(
        "SELECT count(*) - count(DISTINCT supplier_stone_id) AS n FROM import_staging"
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def delete_staging_duplicates(conn: DictConn) -> int:
    """Keep only the first line of each supplier_stone_id; return how many were dropped."""
    cur = await conn.execute(
        "DELETE FROM import_staging AS s USING import_staging AS e"
        " WHERE e.supplier_stone_id = s.supplier_stone_id AND e.line < s.line"
    )
    return cur.rowcount


async def lock_feed_for_upsert(conn: DictConn, *, feed: str) -> None:
    """Serialize upserts into one feed until commit (a transaction-level advisory lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))",
        {"key": f"diamond-pricing:feed-upsert:{feed}"},
    )


async def lock_existing_staged(conn: DictConn, *, feed: str) -> int:
    """Lock the feed's existing rows that the staged rows will update, in id order."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM (SELECT d.id FROM diamonds AS d"
        " JOIN import_staging AS s ON s.supplier_stone_id = d.supplier_stone_id"
        " WHERE d.feed = %(feed)s ORDER BY d.id FOR UPDATE OF d) AS locked",
        {"feed": feed},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def upsert_staged(conn: DictConn, *, feed: str) -> dict[str, int]:
    """Upsert the staged rows into the feed; return inserted and updated counts."""
    cur = await conn.execute(_UPSERT, {"feed": feed})
    row = await cur.fetchone()
    assert row is not None
    return {"inserted": int(row["inserted"]), "updated": int(row["updated"])}


async def get_diamond(conn: DictConn, *, diamond_id: UUID) -> dict[str, Any] | None:
    """One diamond by id."""
    cur = await conn.execute(
        f"SELECT {DIAMOND_COLUMNS} FROM diamonds WHERE id = %(id)s", {"id": diamond_id}
    )
    return await cur.fetchone()


def _match(column: str, values: Sequence[Any], params: dict[str, Any]) -> sql.Composable:
    # A single value is a plain equality so an index on (column, sort key) keeps its order.
    params[column] = values[0] if len(values) == 1 else list(values)
    op = "= %({})s" if len(values) == 1 else "= ANY(%({})s)"
    return sql.SQL("{} " + op.format(column)).format(sql.Identifier(column))


def _filters(filters: SearchFilters, params: dict[str, Any]) -> list[sql.Composable]:
    clauses: list[sql.Composable] = []
    for column, values in (
        ("feed", filters.feeds),
        ("shape", filters.shapes),
        ("stone_type", filters.stone_types),
        ("lab_grown", filters.lab_grown),
        ("color", filters.colors),
        ("clarity", filters.clarities),
        ("cut", filters.cuts),
        ("availability", filters.availability),
    ):
        if values:
            clauses.append(_match(column, values, params))
    for column, op, value in (
        ("carats", ">=", filters.carats_min),
        ("carats", "<=", filters.carats_max),
        ("price_model_price", ">=", filters.price_min),
        ("price_model_price", "<=", filters.price_max),
        ("rating", ">=", filters.rating_min),
    ):
        if value is not None:
            name = f"{column}_{'min' if op == '>=' else 'max'}"
            params[name] = value
            clauses.append(sql.SQL(f"{column} {op} %({name})s"))
    return clauses


async def search_diamonds(
    conn: DictConn,
    *,
    filters: SearchFilters,
    sort: str,
    descending: bool,
    null_part: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One keyset page in (sort, id) order; ``null_part`` reads the rows whose sort key is null."""
    params: dict[str, Any] = {"limit": limit}
    clauses = _filters(filters, params)
    column = sql.Identifier(sort)
    direction = sql.SQL("DESC" if descending else "ASC")
    after_op = sql.SQL("<" if descending else ">")
    if null_part:
        clauses.append(sql.SQL("{} IS NULL").format(column))
        order = sql.SQL("id {}").format(direction)
        if after is not None:
            params["after_id"] = after[1]
            clauses.append(sql.SQL("id {} %(after_id)s").format(after_op))
    else:
        clauses.append(sql.SQL("{} IS NOT NULL").format(column))
        order = sql.SQL("{} {}, id {}").format(column, direction, direction)
        if after is not None:
            params["after_value"], params["after_id"] = after
            clauses.append(
                sql.SQL("({}, id) {} (%(after_value)s, %(after_id)s)").format(column, after_op)
            )
    query = sql.SQL("SELECT {} FROM diamonds WHERE {} ORDER BY {} LIMIT %(limit)s").format(
        sql.SQL(DIAMOND_COLUMNS), sql.SQL(" AND ").join(clauses), order
    )
    cur = await conn.execute(query, params)
    return await cur.fetchall()


async def list_versions(conn: DictConn) -> list[dict[str, Any]]:
    """Every feed's dataset version, by feed."""
    cur = await conn.execute("SELECT feed, version, updated_at FROM dataset_versions ORDER BY feed")
    return await cur.fetchall()


async def get_version(conn: DictConn, *, feed: str) -> int:
    """One feed's dataset version (0 when it was never bumped)."""
    cur = await conn.execute(
        "SELECT version FROM dataset_versions WHERE feed = %(feed)s", {"feed": feed}
    )
    row = await cur.fetchone()
    return int(row["version"]) if row else 0


async def bump_versions(conn: DictConn, *, feeds: Sequence[str], channel: str) -> dict[str, int]:
    """Increment each feed's version and queue one NOTIFY per feed (delivered on commit)."""
    cur = await conn.execute(
        "WITH bumped AS ("
        " INSERT INTO dataset_versions AS v (feed, version)"
        " SELECT unnest(%(feeds)s::text[]), 1"
        " ON CONFLICT (feed) DO UPDATE SET version = v.version + 1, updated_at = now()"
        " RETURNING feed, version)"
        " SELECT feed, version,"
        " pg_notify(%(channel)s, json_build_object('feed', feed, 'version', version)::text)"
        " FROM bumped",
        {"feeds": list(feeds), "channel": channel},
    )
    return {row["feed"]: int(row["version"]) for row in await cur.fetchall()}
