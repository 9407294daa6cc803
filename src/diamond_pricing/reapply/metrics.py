"""Job figures for /metrics: jobs per kind and status, and the active job's progress."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client.core import Metric

from diamond_pricing.db import transaction
from diamond_pricing.metrics import gauge
from diamond_pricing.reapply import queries


async def job_metrics(app: FastAPI) -> list[Metric]:
    """Read the job table and turn it into gauges."""
    async with transaction(app.state.pool) as conn:
        counts = await queries.count_jobs_by_status(conn)
        active = await queries.get_active_job(conn)
    metrics: list[Metric] = [
        gauge(
            "diamond_pricing_jobs",
            "Reapply / revert jobs by kind and status",
            {(row["kind"], row["status"]): float(row["n"]) for row in counts},
            ["kind", "status"],
        )
    ]
    progress: dict[tuple[str, ...], float] = {}
    if active is not None:
        for field in ("total", "processed", "updated", "skipped", "failed"):
            progress[(active["kind"], field)] = float(active[f"{field}_diamonds"])
    metrics.append(
        gauge(
            "diamond_pricing_active_job_diamonds",
            "Progress counters of the pending or running job (absent when idle)",
            progress,
            ["kind", "counter"],
        )
    )
    return metrics
