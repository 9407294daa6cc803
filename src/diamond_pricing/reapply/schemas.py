"""The reapply API's request and response shapes (SPEC §4 Job, Preview, changes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field

from diamond_pricing.pricing.engine import StoneType
from diamond_pricing.reapply.models import Job, JobKind, JobStatus, Scope, TriggerType
from diamond_pricing.schemas import DecimalStr, StrictInput


class ScopeIn(StrictInput):
    """Narrow a job or a preview to some feeds and / or stone types (empty or null: all)."""

    feeds: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=1000
    )
    stone_types: list[StoneType] | None = None

    def to_scope(self) -> Scope:
        """The normalized scope."""
        return Scope.of(self.feeds, self.stone_types)


class StartRequest(StrictInput):
    """Body of ``POST /pricing-rules/reapply`` (the whole body is optional)."""

    scope: ScopeIn | None = None
    allow_below_cost: bool = Field(
        default=False, description="Start even if some diamonds would be priced below cost."
    )


class PreviewRequest(StrictInput):
    """Body of ``POST /pricing-rules/reapply/preview`` (optional)."""

    scope: ScopeIn | None = None


class ScopeOut(BaseModel):
    """A job's scope; null lists mean all."""

    feeds: list[str] | None
    stone_types: list[StoneType] | None


class JobOut(BaseModel):
    """A job as the API serves it (SPEC §4 Job)."""

    id: UUID
    kind: JobKind
    status: JobStatus
    reverts_job_id: UUID | None
    scope: ScopeOut | None
    total_diamonds: int
    processed_diamonds: int
    updated_diamonds: int
    failed_diamonds: int
    skipped_diamonds: int
    feeds_affected: list[str]
    error: str | None
    trigger_type: TriggerType
    triggered_by: str | None
    triggered_by_rule_id: UUID | None
    rules_snapshot: dict[str, Any] | None
    revertible: bool
    reverted_by_job_id: UUID | None
    rate_per_second: float | None
    eta_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    reverted_at: datetime | None

    @classmethod
    def of(cls, job: Job, now: datetime | None = None) -> JobOut:
        """Serialize a job with its derived fields."""
        now = now or datetime.now(UTC)
        scope = job.scope.to_json() if job.kind is JobKind.REAPPLY else None
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            reverts_job_id=job.reverts_job_id,
            scope=ScopeOut(**scope) if scope is not None else None,
            total_diamonds=job.total_diamonds,
            processed_diamonds=job.processed_diamonds,
            updated_diamonds=job.updated_diamonds,
            failed_diamonds=job.failed_diamonds,
            skipped_diamonds=job.skipped_diamonds,
            feeds_affected=list(job.feeds_affected),
            error=job.error,
            trigger_type=job.trigger_type,
            triggered_by=job.triggered_by,
            triggered_by_rule_id=job.triggered_by_rule_id,
            rules_snapshot=job.rules_snapshot,
            revertible=job.revertible,
            reverted_by_job_id=job.reverted_by_job_id,
            rate_per_second=job.rate_per_second(now),
            eta_seconds=job.eta_seconds(now),
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            reverted_at=job.reverted_at,
        )


class JobPage(BaseModel):
    """``GET /pricing-rules/reapply/jobs``."""

    jobs: list[JobOut]
    next_cursor: str | None


class ImpactCounts(BaseModel):
    """Counts and values of a preview (or one breakdown row of it)."""

    total_diamonds: int
    will_change: int
    price_up: int
    price_down: int
    unchanged: int
    below_cost: int
    value_before: DecimalStr
    value_after: DecimalStr


class FeedImpact(ImpactCounts):
    """The preview of one feed."""

    feed: str


class StoneTypeImpact(ImpactCounts):
    """The preview of one stone type."""

    stone_type: StoneType


class Preview(ImpactCounts):
    """``POST /pricing-rules/reapply/preview`` (SPEC §4 Preview)."""

    by_feed: list[FeedImpact]
    by_stone_type: list[StoneTypeImpact]


class Change(BaseModel):
    """One diamond a job changed (or, for a revert, restored or skipped)."""

    diamond_id: UUID
    feed: str
    feed_price: DecimalStr | None
    old_price_model_price: DecimalStr
    new_price_model_price: DecimalStr
    old_markup_ratio: DecimalStr | None
    new_markup_ratio: DecimalStr | None
    old_rating: int | None
    new_rating: int | None
    rule_id: UUID | None = Field(description="The rule that won for this diamond (reapply jobs).")
    skipped: bool = Field(
        description="Revert jobs: true when the diamond was left alone because it had changed."
    )
    revert_outcome: str | None = Field(
        description="Reapply jobs: 'restored' or 'skipped' once a revert of the job handled it."
    )


class ChangePage(BaseModel):
    """``GET /pricing-rules/reapply/jobs/{id}/changes``."""

    changes: list[Change]
    next_cursor: str | None
