"""Configuration, read once from the environment (prefix ``DIAMOND_``) and passed down."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="DIAMOND_", extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DIAMOND_DATABASE_URL"),
        description="PostgreSQL URL; unset means an embedded server in data_dir.",
    )
    data_dir: Path = Field(default=Path(".data"), description="Embedded database and secrets.")
    host: str = "127.0.0.1"
    port: int = 8000
    pool_min_size: int = 2
    pool_max_size: int = 10
    pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest a request waits for a database connection (then 503).",
    )
    migrate_on_start: bool = True

    base_margin_natural: Decimal = Decimal("40")
    base_margin_lab: Decimal = Decimal("79")
    base_margin_fancy: Decimal = Decimal("40")

    demo_count: int = Field(
        default=100_000, description="Demo inventory size on an empty embedded DB."
    )
    demo_seed: int = 42

    catalog_requires_key: bool = False
    cache_max_entries: int = 2048
    cache_poll_seconds: float = 30.0
    cache_listen: bool = True
    cache_stale_after_seconds: float = 120.0

    job_batch_size: int = 5000
    job_workers: int = 2
    job_lease_seconds: float = 30.0
    job_poll_seconds: float = 2.0
    job_max_retries: int = 5
    job_retry_backoff_seconds: float = Field(
        default=0.5, description="First retry delay after a transient job error (doubles)."
    )
    job_lock_timeout_seconds: float = Field(
        default=10.0, description="Longest a job batch waits for a row lock (then retries)."
    )
    job_batch_pause_seconds: float = Field(
        default=0.0, description="Pause between a job's batches (throttles its load)."
    )
    run_jobs: bool = True

    session_secret: str | None = None
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Largest request body accepted (413 above); a full 5,000-row upsert is ~2 MB.",
    )
