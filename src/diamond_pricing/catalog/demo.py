"""A realistic synthetic inventory for demos, tests and benchmarks, loaded with COPY."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from diamond_pricing.db import DictConn
from diamond_pricing.pricing.engine import PricingEngine, round_cents

DEFAULT_FEEDS = ("atlas", "brilliant-source", "labcore", "northstar")

SHAPES = (
    ("round", 55),
    ("oval", 10),
    ("princess", 7),
    ("cushion", 7),
    ("emerald", 6),
    ("pear", 5),
    ("radiant", 4),
    ("marquise", 3),
    ("asscher", 2),
    ("heart", 1),
)
COLORS = (
    ("D", 1.45),
    ("E", 1.3),
    ("F", 1.2),
    ("G", 1.1),
    ("H", 1.0),
    ("I", 0.9),
    ("J", 0.8),
    ("K", 0.7),
    ("L", 0.62),
    ("M", 0.55),
)
CLARITIES = (
    ("FL", 1.6),
    ("IF", 1.45),
    ("VVS1", 1.3),
    ("VVS2", 1.22),
    ("VS1", 1.12),
    ("VS2", 1.05),
    ("SI1", 0.92),
    ("SI2", 0.8),
    ("I1", 0.55),
)
GRADES = ("Excellent", "Very Good", "Good")
FLUORESCENCE = (("None", 60), ("Faint", 20), ("Medium", 12), ("Strong", 8))
FANCY_COLORS = ("Yellow", "Pink", "Blue", "Green", "Brown", "Orange")
FANCY_INTENSITY = ("Faint", "Light", "Fancy", "Fancy Intense", "Fancy Vivid")
AVAILABILITY = (("available", 90), ("on_hold", 5), ("sold", 4), ("unavailable", 1))

COPY_COLUMNS = (
    "feed",
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
    "price_model_price",
    "markup_ratio",
    "rating",
    "price_per_carat",
    "availability",
)


@dataclass(frozen=True)
class DemoOptions:
    """What to generate."""

    count: int
    feeds: Sequence[str] = DEFAULT_FEEDS
    seed: int = 42
    lab_share: float = 0.85
    fancy_share: float = 0.03


def _weighted(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in table], weights=[w for _, w in table])[0]


def _grade_factor(table: Sequence[tuple[str, float]], name: str) -> float:
    return dict(table)[name]


def generate_rows(options: DemoOptions, engine: PricingEngine) -> Iterator[tuple[object, ...]]:
    """Yield diamond rows (COPY_COLUMNS order), priced by ``engine``; deterministic per seed."""
    rng = random.Random(options.seed)
    for index in range(options.count):
        feed = options.feeds[index % len(options.feeds)]
        lab = rng.random() < options.lab_share
        fancy = rng.random() < options.fancy_share
        shape = _weighted(rng, SHAPES)
        carats = Decimal(str(round(min(max(rng.lognormvariate(-0.05, 0.55), 0.18), 12.0), 2)))
        color = _weighted(rng, [(c, 1.0) for c, _ in COLORS])
        clarity = _weighted(
            rng,
            [
                (c, w)
                for c, w in zip(
                    (c for c, _ in CLARITIES), (2, 4, 8, 10, 16, 18, 20, 14, 8), strict=True
                )
            ],
        )
        grade = _grade_factor(COLORS, color) * _grade_factor(CLARITIES, clarity)
        size = float(carats)
        per_carat = 260.0 * size**0.45 * grade if lab else 2600.0 * size**0.9 * grade
        if fancy:
            per_carat *= 1.8
        cost = Decimal(str(round(per_carat * size * rng.uniform(0.85, 1.15), 2)))
        fancy_color = rng.choice(FANCY_COLORS) if fancy else None
        result = engine.price(
            feed=feed, feed_price=cost, carats=carats, lab_grown=lab, fancy_color=fancy_color
        )
        cert_lab = rng.choice(("IGI", "GCAL")) if lab else rng.choice(("GIA", "GIA", "HRD"))
        yield (
            feed,
            f"{feed[:3].upper()}-{options.seed:x}-{index:08d}",
            shape,
            carats,
            None if fancy else color,
            clarity,
            rng.choice(GRADES) if shape == "round" else None,
            rng.choice(GRADES),
            rng.choice(GRADES),
            _weighted(rng, FLUORESCENCE),
            lab,
            fancy_color,
            rng.choice(FANCY_INTENSITY) if fancy else None,
            cert_lab,
            str(rng.randrange(10**9, 10**10)),
            f"https://images.example.com/{feed}/{index:08d}.jpg",
            cost,
            result.price_model_price,
            result.markup_ratio,
            result.rating,
            round_cents(result.price_per_carat),
            _weighted(rng, AVAILABILITY),
        )


async def load_demo(
    conn: DictConn,
    options: DemoOptions,
    engine: PricingEngine,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """COPY a generated inventory into ``diamonds`` in the caller's transaction; return the count."""
    step = max(1, min(10_000, math.ceil(options.count / 100)))
    written = 0
    columns = ", ".join(COPY_COLUMNS)
    async with conn.cursor() as cur, cur.copy(f"COPY diamonds ({columns}) FROM STDIN") as copy:
        for row in generate_rows(options, engine):
            await copy.write_row(row)
            written += 1
            if on_progress and written % step == 0:
                on_progress(step)
    if on_progress and written % step:
        on_progress(written % step)
    return written
