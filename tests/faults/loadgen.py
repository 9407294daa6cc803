"""A bounded loopback load generator: storefront-like catalog reads at a fixed total rate.

``threads`` threads, each with its own keep-alive ``httpx.Client``, send requests on a fixed
schedule (``rate`` requests per second in total) until stopped or ``max_seconds`` have passed
(it always stops by itself). Each response is recorded with the time its request started and
ended (``time.monotonic``), its status and the pricing of every diamond it shows.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

Pricing = tuple[Decimal, Decimal | None, int | None]

# Popular queries (cache hits once warm) ...
POPULAR = [
    "sort=price_model_price&limit=20",
    "sort=price_model_price&order=desc&limit=20",
    "stone_type=lab&limit=20",
    "stone_type=natural&sort=carats&limit=20",
    "stone_type=fancy&limit=20",
    "shape=round&sort=price_model_price&limit=20",
    "shape=oval&limit=20",
    "color=D&color=E&limit=20",
    "clarity=VS1&sort=rating&limit=20",
    "lab_grown=true&price_max=2000&limit=20",
    "carats_min=1&carats_max=2&limit=20",
    "rating_min=5&limit=20",
]


@dataclass
class Sample:
    """One request and what its response showed."""

    started: float
    ended: float
    kind: str
    status: int
    prices: dict[str, Pricing] = field(default_factory=dict)
    error: str | None = None
    cache: str | None = None

    @property
    def seconds(self) -> float:
        """Its latency."""
        return self.ended - self.started


def shown(diamond: dict[str, Any]) -> Pricing:
    """(price, ratio, rating) as a response shows them."""
    ratio = diamond["markup_ratio"]
    return (
        Decimal(diamond["price_model_price"]),
        None if ratio is None else Decimal(ratio),
        diamond["rating"],
    )


def listed(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The diamonds a catalog response's data shows (a page of them, or one diamond)."""
    return list(data["diamonds"]) if "diamonds" in data else [data]


class LoadGenerator:
    """Catalog search and one-diamond reads at ``rate`` requests/s over ``threads`` threads."""

    def __init__(
        self,
        base_url: str,
        ids: list[str],
        *,
        rate: float,
        threads: int = 8,
        max_seconds: float = 600,
        seed: int = 11,
    ) -> None:
        self.base_url = base_url
        self.ids = ids
        self.interval = threads / rate
        self.threads = [
            threading.Thread(target=self._run, args=(seed + n,), daemon=True)
            for n in range(threads)
        ]
        self.max_seconds = max_seconds
        self.stopping = threading.Event()
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self.started_at = 0.0
        self.stopped_at = 0.0

    def start(self) -> None:
        """Start sending."""
        self.started_at = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> list[Sample]:
        """Stop, wait for the threads and return every sample."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.stopped_at = time.monotonic()
        return self.samples

    def _path(self, rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < 0.4:
            return "search", f"/api/v2/diamonds?{rng.choice(POPULAR)}"
        if roll < 0.6:  # a price window of its own: mostly misses
            low = rng.randrange(300, 20_000)
            return "search", f"/api/v2/diamonds?price_min={low}&price_max={low + 400}&limit=20"
        return "diamond", f"/api/v2/diamonds/{rng.choice(self.ids)}"

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        deadline = self.started_at + self.max_seconds
        next_at = time.monotonic() + rng.uniform(0, self.interval)
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self.stopping.is_set() and time.monotonic() < deadline:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at = max(next_at + self.interval, time.monotonic() - self.interval)
                kind, path = self._path(rng)
                sample = self._send(client, kind, path)
                with self._lock:
                    self.samples.append(sample)

    @staticmethod
    def _send(client: httpx.Client, kind: str, path: str) -> Sample:
        started = time.monotonic()
        try:
            response = client.get(path)
            ended = time.monotonic()
        except httpx.HTTPError as exc:
            return Sample(started, time.monotonic(), kind, -1, error=repr(exc))
        sample = Sample(started, ended, kind, response.status_code)
        sample.cache = response.headers.get("x-cache")
        if response.status_code != 200:
            sample.error = response.text[:300]
            return sample
        data = response.json()["data"]
        for diamond in listed(data):
            sample.prices[diamond["id"]] = shown(diamond)
        return sample


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]
