"""A realistic synthetic inventory for demos, tests and benchmarks, loaded with COPY."""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate

from diamond_pricing.db import DictConn
from diamond_pricing.pricing.engine import PricingEngine

DEFAULT_FEEDS = ("atlas", "brilliant-source", "labcore", "northstar")

# (name, relative frequency)
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
# (grade, price factor); colours are drawn uniformly
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
# (grade, price factor, relative frequency)
CLARITIES = (
    ("FL", 1.6, 2),
    ("IF", 1.45, 4),
    ("VVS1", 1.3, 8),
    ("VVS2", 1.22, 10),
    ("VS1", 1.12, 16),
    ("VS2", 1.05, 18),
    ("SI1", 0.92, 20),
    ("SI2", 0.8, 14),
    ("I1", 0.55, 8),
)
GRADES = ("Excellent", "Very Good", "Good")
FLUORESCENCE = (("None", 60), ("Faint", 20), ("Medium", 12), ("Strong", 8))
FANCY_COLORS = ("Yellow", "Pink", "Blue", "Green", "Brown", "Orange")
FANCY_INTENSITY = ("Faint", "Light", "Fancy", "Fancy Intense", "Fancy Vivid")
AVAILABILITY = (("available", 90), ("on_hold", 5), ("sold", 4), ("unavailable", 1))
LAB_CERTIFICATES = ("IGI", "GCAL")
NATURAL_CERTIFICATES = ("GIA", "GIA", "HRD")
CENT = Decimal("0.01")

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


class Weighted:
    """Draws names with fixed relative frequencies from one uniform number (precomputed CDF)."""

    def __init__(self, table: Sequence[tuple[str, float]]) -> None:
        self.names = tuple(name for name, _ in table)
        cumulative = list(accumulate(weight for _, weight in table))
        total = cumulative[-1]
        self.bounds = tuple(value / total for value in cumulative[:-1])

    def pick(self, uniform: float) -> str:
        """The name whose share of [0, 1) contains ``uniform``."""
        return self.names[bisect(self.bounds, uniform)]


SHAPE_PICKER = Weighted(SHAPES)
CLARITY_PICKER = Weighted([(name, weight) for name, _, weight in CLARITIES])
FLUORESCENCE_PICKER = Weighted(FLUORESCENCE)
AVAILABILITY_PICKER = Weighted(AVAILABILITY)
COLOR_FACTOR = dict(COLORS)
CLARITY_FACTOR = {name: factor for name, factor, _ in CLARITIES}
COLOR_NAMES = tuple(name for name, _ in COLORS)


def cents(value: float) -> Decimal:
    """A float amount as a Decimal with exactly two places (nearest cent)."""
    return Decimal(round(value * 100)) * CENT


def generate_rows(options: DemoOptions, engine: PricingEngine) -> Iterator[tuple[object, ...]]:
    """Yield diamond rows (COPY_COLUMNS order), priced by ``engine``; deterministic per seed."""
    rng = random.Random(options.seed)
    uniform = rng.random
    feeds = tuple(options.feeds)
    prefixes = tuple(f"{feed[:3].upper()}-{options.seed:x}-" for feed in feeds)
    for index in range(options.count):
        slot = index % len(feeds)
        feed = feeds[slot]
        lab = uniform() < options.lab_share
        fancy = uniform() < options.fancy_share
        shape = SHAPE_PICKER.pick(uniform())
        size = round(min(max(rng.lognormvariate(-0.05, 0.55), 0.18), 12.0), 2)
        carats = cents(size)
        color = COLOR_NAMES[int(uniform() * len(COLOR_NAMES))]
        clarity = CLARITY_PICKER.pick(uniform())
        grade = COLOR_FACTOR[color] * CLARITY_FACTOR[clarity]
        # Cost per carat rises with size: steeply for natural stones, gently for lab-grown.
        per_carat = 260.0 * size**0.45 * grade if lab else 2600.0 * size**0.9 * grade
        if fancy:
            per_carat *= 1.8
        cost = cents(per_carat * size * (0.85 + 0.3 * uniform()))
        fancy_color = FANCY_COLORS[int(uniform() * len(FANCY_COLORS))] if fancy else None
        result = engine.price(
            feed=feed, feed_price=cost, carats=carats, lab_grown=lab, fancy_color=fancy_color
        )
        certificates = LAB_CERTIFICATES if lab else NATURAL_CERTIFICATES
        yield (
            feed,
            f"{prefixes[slot]}{index:08d}",
            shape,
            carats,
            None if fancy else color,
            clarity,
            GRADES[int(uniform() * 3)] if shape == "round" else None,
            GRADES[int(uniform() * 3)],
            GRADES[int(uniform() * 3)],
            FLUORESCENCE_PICKER.pick(uniform()),
            lab,
            fancy_color,
            FANCY_INTENSITY[int(uniform() * len(FANCY_INTENSITY))] if fancy else None,
            certificates[int(uniform() * len(certificates))],
            str(1_000_000_000 + int(uniform() * 9_000_000_000)),
            f"https://images.example.com/{feed}/{index:08d}.jpg",
            cost,
            result.price_model_price,
            result.markup_ratio,
            result.rating,
            result.price_per_carat,
            AVAILABILITY_PICKER.pick(uniform()),
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
