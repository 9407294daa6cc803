"""The impact preview: what a reapply with the current rules would do, without writing.

One aggregate statement groups the available diamonds in scope by (feed, stone_type) with the
same compiled rule expression the job uses (so ``will_change`` equals the job's
``updated_diamonds`` when nothing changes in between); totals and the per-feed / per-stone-type
breakdowns are summed here from those few groups. ``will_change`` counts diamonds whose price,
ratio or rating would change; ``price_up`` / ``price_down`` look at the price alone;
``below_cost`` counts diamonds whose price after the job would be below their feed_price.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from diamond_pricing.db import DictConn
from diamond_pricing.pricing import queries as rule_queries
from diamond_pricing.pricing.rules import base_margins_from, rule_from_row
from diamond_pricing.reapply import batches
from diamond_pricing.reapply.compile import RuleSet, compile_rules
from diamond_pricing.reapply.models import Scope
from diamond_pricing.reapply.schemas import FeedImpact, Preview, StoneTypeImpact
from diamond_pricing.settings import Settings

COUNTS = ("total_diamonds", "will_change", "price_up", "price_down", "below_cost")


def _sum(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    totals["value_before"] = Decimal("0.00")
    totals["value_after"] = Decimal("0.00")
    for row in rows:
        for key in (*COUNTS, "value_before", "value_after"):
            totals[key] += row[key]
    totals["unchanged"] = totals["total_diamonds"] - totals["will_change"]
    return totals


async def current_rule_set(conn: DictConn, settings: Settings) -> RuleSet:
    """The active rules (as this transaction sees them) and the configured base margins."""
    rows = await rule_queries.list_active_rules(conn)
    return RuleSet.of([rule_from_row(row) for row in rows], base_margins_from(settings))


def summarize(rows: list[dict[str, Any]]) -> Preview:
    """Build the preview from the (feed, stone_type) groups."""
    feeds = sorted({row["feed"] for row in rows})
    kinds = sorted({row["stone_type"] for row in rows})
    return Preview(
        **_sum(rows),
        by_feed=[
            FeedImpact(feed=feed, **_sum(r for r in rows if r["feed"] == feed)) for feed in feeds
        ],
        by_stone_type=[
            StoneTypeImpact(stone_type=kind, **_sum(r for r in rows if r["stone_type"] == kind))
            for kind in kinds
        ],
    )


async def preview(conn: DictConn, *, settings: Settings, scope: Scope) -> Preview:
    """The impact of the current active rules over the available diamonds in scope."""
    rule_set = await current_rule_set(conn, settings)
    rows = await batches.impact_by_group(conn, compiled=compile_rules(rule_set), scope=scope)
    return summarize(rows)
