"""The statements that do a job's work: one batch = one statement = one transaction.

A reprice batch, in one data-modifying statement: lock the next ``limit`` available diamonds of
one id range in id order (``FOR UPDATE``: a concurrent feed upsert either committed first, and we
price from its cost, or waits for us and overwrites our outputs), price them with the compiled
rule set from the locked rows' own ``feed_price``, update only the rows whose outputs change,
insert their snapshots (old values from the locked rows), advance the range's cursor and the
job's counters, merge ``feeds_affected`` and renew the lease. The job row is only updated while we
still hold its lease (``owned`` in the result); the caller rolls back when we do not. The cursor
is the last id locked; a range is done only when a batch finds no row at all (a short batch does
not end it). A diamond inserted behind a range's cursor while the job runs is not repriced by it:
the ingest that inserted it priced it.

A revert batch does the same over the reverted job's snapshots: it restores a diamond only when its
current outputs and cost still equal what the job wrote, and records every diamond it handled
(restored, or skipped as stale) as the revert job's own snapshot rows.

The preview aggregates the same compiled expression over the scope without writing.

Plans: the only joins are a batch-sized CTE against the diamonds primary key (and one-row joins).
Job sessions disable hash and merge joins (``executor.connect``), because the planner otherwise
sometimes prices a hash join over the whole table below 5,000 index lookups (measured twice as slow
per batch at 300k diamonds); there is no CTE-to-CTE join for that setting to hurt. Snapshots are written
from the changed rows themselves (they are locked, so each is updated): the statement reports
``written`` and ``updated`` and the executor rolls the batch back if they ever differ.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql

from diamond_pricing.db import DictConn
from diamond_pricing.reapply.compile import PRICE_LIMIT, CompiledRules, numeric
from diamond_pricing.reapply.models import Scope

# What pricing reads and compares, from a row of diamonds aliased d.
PRICING_COLUMNS = sql.SQL(
    "d.id, d.feed, d.stone_type, d.feed_price, d.price_model_price, d.markup_ratio, d.rating"
)


def scope_filter(scope: Scope, alias: str = "d") -> sql.Composed:
    """``AND ...`` conditions narrowing available diamonds to a scope (literals inlined)."""
    parts: list[sql.Composable] = []
    for column, values in (("feed", scope.feed_list), ("stone_type", scope.stone_type_list)):
        if values is not None:
            parts.append(
                sql.SQL(" AND {}.{} IN ({})").format(
                    sql.Identifier(alias),
                    sql.Identifier(column),
                    sql.SQL(", ").join(sql.Literal(v) for v in values),
                )
            )
    return sql.Composed(parts)


def priced_select(compiled: CompiledRules, source: sql.Composable) -> sql.Composed:
    """Rows of ``source`` (aliased d) with new_markup_ratio, new_rating, rule_id, ok, new price.

    ``OFFSET 0`` keeps each level a separate subquery, so the slot CASE and the array lookups run
    once per row (a flattened query would repeat them in every expression that uses them).
    """
    return sql.SQL(
        "SELECT q.*, (q.new_markup_ratio IS NOT NULL AND q.feed_price * q.new_markup_ratio"
        " < {limit}) AS ok, round(q.feed_price * q.new_markup_ratio, 2) AS new_price_model_price"
        " FROM (SELECT m.*, {ratios}[m.slot] AS new_markup_ratio, {ratings}[m.slot] AS new_rating,"
        " {rule_ids}[m.slot] AS rule_id"
        " FROM (SELECT d.*, {slot} AS slot FROM {source} d OFFSET 0) m OFFSET 0) q"
    ).format(
        ratios=compiled.ratios,
        ratings=compiled.ratings,
        rule_ids=compiled.rule_ids,
        limit=numeric(PRICE_LIMIT),
        source=source,
        slot=compiled.slot,
    )


def reprice_statement(compiled: CompiledRules, scope: Scope) -> sql.Composed:
    """The reprice batch statement for one job (rules and scope inlined, cursor as parameters)."""
    return sql.SQL(
        """
WITH locked AS (
    SELECT d.id, d.feed, d.stone_type, d.feed_price, d.price_model_price, d.markup_ratio, d.rating
    FROM diamonds d
    WHERE d.id >= %(start)s AND d.id <= %(hi)s AND d.availability = 'available'{scope}
    ORDER BY d.id LIMIT %(limit)s
    FOR UPDATE
), decided AS ({priced}), changed AS (
    SELECT * FROM decided
    WHERE ok AND (new_price_model_price, new_markup_ratio, new_rating)
        IS DISTINCT FROM (price_model_price, markup_ratio, rating)
), written AS (
    UPDATE diamonds t SET price_model_price = c.new_price_model_price,
        markup_ratio = c.new_markup_ratio, rating = c.new_rating, updated_at = now()
    FROM changed c WHERE t.id = c.id
    RETURNING t.id
), snapped AS (
    INSERT INTO pricing_reapply_snapshots (job_id, diamond_id, feed, feed_price,
        old_price_model_price, old_markup_ratio, old_rating,
        new_price_model_price, new_markup_ratio, new_rating, rule_id)
    SELECT %(job_id)s, c.id, c.feed, c.feed_price, c.price_model_price, c.markup_ratio, c.rating,
        c.new_price_model_price, c.new_markup_ratio, c.new_rating, c.rule_id
    FROM changed c
    RETURNING feed
), tally AS (
    SELECT (SELECT count(*) FROM locked) AS processed,
        (SELECT id FROM locked ORDER BY id DESC LIMIT 1) AS last_id,
        (SELECT count(*) FROM decided WHERE NOT ok) AS failed,
        (SELECT count(*) FROM snapped) AS updated,
        (SELECT count(*) FROM written) AS written,
        0::bigint AS skipped,
        ARRAY(SELECT DISTINCT feed FROM snapped) AS feeds
){progress}"""
    ).format(
        scope=scope_filter(scope),
        priced=priced_select(compiled, sql.Identifier("locked")),
        progress=PROGRESS,
    )


# Shared tail of both batch statements: advance the range and the job, renew the lease, report.
PROGRESS = sql.SQL(
    """, range_moved AS (
    UPDATE pricing_reapply_job_ranges r SET cursor = coalesce(t.last_id, r.cursor),
        done = (t.processed = 0), processed = r.processed + t.processed
    FROM tally t WHERE r.job_id = %(job_id)s AND r.range_no = %(range_no)s
    RETURNING r.done
), job_moved AS (
    UPDATE pricing_reapply_jobs j SET
        processed_diamonds = j.processed_diamonds + t.processed,
        updated_diamonds = j.updated_diamonds + t.updated,
        failed_diamonds = j.failed_diamonds + t.failed,
        skipped_diamonds = j.skipped_diamonds + t.skipped,
        feeds_affected = CASE WHEN cardinality(t.feeds) = 0 THEN j.feeds_affected
            ELSE ARRAY(SELECT DISTINCT f FROM unnest(j.feeds_affected || t.feeds) AS u (f) ORDER BY f)
            END,
        lease_expires_at = now() + make_interval(secs => %(lease)s), heartbeat_at = now()
    FROM tally t
    WHERE j.id = %(job_id)s AND j.lease_owner = %(owner)s AND j.status = 'running'
    RETURNING j.cancel_requested
)
SELECT t.processed, t.updated, t.written, t.failed, t.skipped,
    coalesce((SELECT done FROM range_moved), false) AS done,
    coalesce((SELECT cancel_requested FROM job_moved), false) AS cancel_requested,
    EXISTS (SELECT 1 FROM job_moved) AS owned
FROM tally t"""
)

REVERT_STATEMENT = (
    sql.SQL(
        """
WITH targets AS (
    SELECT s.diamond_id, s.feed, s.feed_price, s.old_price_model_price, s.old_markup_ratio,
        s.old_rating, s.new_price_model_price, s.new_markup_ratio, s.new_rating
    FROM pricing_reapply_snapshots s
    WHERE s.job_id = %(target_id)s AND s.diamond_id >= %(start)s AND s.diamond_id <= %(hi)s
    ORDER BY s.diamond_id LIMIT %(limit)s
), decided AS (
    -- One primary-key lookup and row lock per snapshot, in diamond id order.
    SELECT x.*, l.id IS NOT NULL AND (l.price_model_price, l.markup_ratio, l.rating, l.feed_price)
            IS NOT DISTINCT FROM
            (x.new_price_model_price, x.new_markup_ratio, x.new_rating, x.feed_price) AS restore,
        coalesce(l.feed_price, x.feed_price) AS cur_feed_price,
        coalesce(l.price_model_price, x.new_price_model_price) AS cur_price,
        CASE WHEN l.id IS NULL THEN x.new_markup_ratio ELSE l.markup_ratio END AS cur_ratio,
        CASE WHEN l.id IS NULL THEN x.new_rating ELSE l.rating END AS cur_rating
    FROM targets x LEFT JOIN LATERAL (
        SELECT d.id, d.feed_price, d.price_model_price, d.markup_ratio, d.rating
        FROM diamonds d WHERE d.id = x.diamond_id
        FOR UPDATE
    ) l ON true
), written AS (
    UPDATE diamonds d SET price_model_price = x.old_price_model_price,
        markup_ratio = x.old_markup_ratio, rating = x.old_rating, updated_at = now()
    FROM decided x WHERE x.restore AND d.id = x.diamond_id
    RETURNING d.id
), snapped AS (
    INSERT INTO pricing_reapply_snapshots (job_id, diamond_id, feed, feed_price,
        old_price_model_price, old_markup_ratio, old_rating,
        new_price_model_price, new_markup_ratio, new_rating, skipped)
    SELECT %(job_id)s, x.diamond_id, x.feed, x.cur_feed_price, x.cur_price, x.cur_ratio,
        x.cur_rating,
        CASE WHEN x.restore THEN x.old_price_model_price ELSE x.cur_price END,
        CASE WHEN x.restore THEN x.old_markup_ratio ELSE x.cur_ratio END,
        CASE WHEN x.restore THEN x.old_rating ELSE x.cur_rating END,
        NOT x.restore
    FROM decided x
    RETURNING feed, skipped
), tally AS (
    SELECT (SELECT count(*) FROM targets) AS processed,
        (SELECT diamond_id FROM targets ORDER BY diamond_id DESC LIMIT 1) AS last_id,
        0::bigint AS failed,
        (SELECT count(*) FROM snapped WHERE NOT skipped) AS updated,
        (SELECT count(*) FROM written) AS written,
        (SELECT count(*) FROM snapped WHERE skipped) AS skipped,
        ARRAY(SELECT DISTINCT feed FROM snapped WHERE NOT skipped) AS feeds
)"""
    )
    + PROGRESS
)


async def run_reprice_batch(
    conn: DictConn, statement: sql.Composed, params: dict[str, Any]
) -> dict[str, Any]:
    """Execute one reprice batch; returns processed, updated, failed, done, cancel_requested."""
    cur = await conn.execute(statement, params)
    row = await cur.fetchone()
    assert row is not None
    return row


async def run_revert_batch(conn: DictConn, params: dict[str, Any]) -> dict[str, Any]:
    """Execute one revert batch; returns processed, updated, skipped, done, cancel_requested."""
    cur = await conn.execute(REVERT_STATEMENT, params)
    row = await cur.fetchone()
    assert row is not None
    return row


async def impact_by_group(
    conn: DictConn, *, compiled: CompiledRules, scope: Scope
) -> list[dict[str, Any]]:
    """The preview aggregate per (feed, stone_type) over available diamonds in scope."""
    source = sql.SQL("(SELECT {} FROM diamonds d WHERE d.availability = 'available'{})").format(
        PRICING_COLUMNS, scope_filter(scope)
    )
    cur = await conn.execute(
        sql.SQL(
            "SELECT feed, stone_type, count(*) AS total_diamonds,"
            " count(*) FILTER (WHERE changed) AS will_change,"
            " count(*) FILTER (WHERE new_price > price_model_price) AS price_up,"
            " count(*) FILTER (WHERE new_price < price_model_price) AS price_down,"
            " count(*) FILTER (WHERE new_price < feed_price) AS below_cost,"
            " coalesce(sum(price_model_price), 0) AS value_before,"
            " coalesce(sum(new_price), 0) AS value_after"
            " FROM (SELECT p.feed, p.stone_type, p.feed_price, p.price_model_price,"
            "  CASE WHEN p.ok THEN p.new_price_model_price ELSE p.price_model_price END"
            "   AS new_price,"
            "  p.ok AND (p.new_price_model_price, p.new_markup_ratio, p.new_rating)"
            "   IS DISTINCT FROM (p.price_model_price, p.markup_ratio, p.rating) AS changed"
            "  FROM ({priced}) p) x"
            " GROUP BY feed, stone_type ORDER BY feed, stone_type"
        ).format(priced=priced_select(compiled, source))
    )
    return await cur.fetchall()


async def count_in_scope(conn: DictConn, *, scope: Scope) -> int:
    """How many available diamonds a scope covers now."""
    cur = await conn.execute(
        sql.SQL("SELECT count(*) AS n FROM diamonds d WHERE d.availability = 'available'{}").format(
            scope_filter(scope)
        )
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def dry_run_prices(
    conn: DictConn, *, compiled: CompiledRules, ids: list[UUID]
) -> list[dict[str, Any]]:
    """What the compiled rules give the listed diamonds (no writes): for checks and tests."""
    source = sql.SQL("(SELECT {} FROM diamonds d WHERE d.id = ANY(%(ids)s))").format(
        PRICING_COLUMNS
    )
    cur = await conn.execute(
        sql.SQL(
            "SELECT p.id, p.ok, p.new_price_model_price, p.new_markup_ratio, p.new_rating,"
            " p.rule_id FROM ({}) p ORDER BY p.id"
        ).format(priced_select(compiled, source)),
        {"ids": ids},
    )
    return await cur.fetchall()
