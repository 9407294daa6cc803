"""Reapply jobs as values: the job row, its scope, statuses and kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from diamond_pricing.pricing.engine import StoneType


class JobKind(StrEnum):
    """A reapply job reprices; a revert job undoes one."""

    REAPPLY = "reapply"
    REVERT = "revert"


class JobStatus(StrEnum):
    """Lifecycle of a job (SPEC §3)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REVERTED = "reverted"


class TriggerType(StrEnum):
    """How a job came to be."""

    MANUAL = "manual"
    RULE_CREATE = "rule_create"
    RULE_UPDATE = "rule_update"
    RULE_DELETE = "rule_delete"
    REVERT = "revert"


ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)
# Stops after which a reapply job's changes can be reverted.
REVERTIBLE_STATUSES = (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED)


@dataclass(frozen=True)
class Scope:
    """Which available diamonds a job covers: None means every feed / stone type."""

    feeds: tuple[str, ...] | None = None
    stone_types: tuple[StoneType, ...] | None = None

    @classmethod
    def of(cls, feeds: Any = None, stone_types: Any = None) -> Scope:
        """Normalize lists (deduplicated, sorted; empty means all)."""
        feed_list = tuple(sorted(set(feeds))) if feeds else None
        type_list = (
            tuple(sorted({StoneType(value) for value in stone_types})) if stone_types else None
        )
        return cls(feeds=feed_list, stone_types=type_list)

    def to_json(self) -> dict[str, Any]:
        """The stored / served form."""
        return {
            "feeds": list(self.feeds) if self.feeds is not None else None,
            "stone_types": [t.value for t in self.stone_types] if self.stone_types else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Scope:
        """Rebuild from ``to_json`` output."""
        data = data or {}
        return cls.of(data.get("feeds"), data.get("stone_types"))

    @property
    def feed_list(self) -> list[str] | None:
        """Feeds as a query parameter (None: all)."""
        return list(self.feeds) if self.feeds is not None else None

    @property
    def stone_type_list(self) -> list[str] | None:
        """Stone types as a query parameter (None: all)."""
        return [t.value for t in self.stone_types] if self.stone_types else None


@dataclass(frozen=True)
class Job:
    """One row of ``pricing_reapply_jobs``."""

    id: UUID
    kind: JobKind
    status: JobStatus
    reverts_job_id: UUID | None
    reverted_by_job_id: UUID | None
    scope: Scope
    rules_snapshot: dict[str, Any] | None
    total_diamonds: int
    processed_diamonds: int
    updated_diamonds: int
    failed_diamonds: int
    skipped_diamonds: int
    feeds_affected: tuple[str, ...]
    error: str | None
    trigger_type: TriggerType
    triggered_by: str | None
    triggered_by_rule_id: UUID | None
    allow_below_cost: bool
    cancel_requested: bool
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    snapshots_pruned_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    reverted_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        """Build from a ``SELECT *`` row."""
        return cls(
            id=row["id"],
            kind=JobKind(row["kind"]),
            status=JobStatus(row["status"]),
            reverts_job_id=row["reverts_job_id"],
            reverted_by_job_id=row["reverted_by_job_id"],
            scope=Scope.from_json(row["scope"]),
            rules_snapshot=row["rules_snapshot"],
            total_diamonds=row["total_diamonds"],
            processed_diamonds=row["processed_diamonds"],
            updated_diamonds=row["updated_diamonds"],
            failed_diamonds=row["failed_diamonds"],
            skipped_diamonds=row["skipped_diamonds"],
            feeds_affected=tuple(row["feeds_affected"] or ()),
            error=row["error"],
            trigger_type=TriggerType(row["trigger_type"]),
            triggered_by=row["triggered_by"],
            triggered_by_rule_id=row["triggered_by_rule_id"],
            allow_below_cost=row["allow_below_cost"],
            cancel_requested=row["cancel_requested"],
            attempts=row["attempts"],
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
            snapshots_pruned_at=row["snapshots_pruned_at"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            reverted_at=row["reverted_at"],
            created_at=row["created_at"],
        )

    @property
    def is_active(self) -> bool:
        """Pending or running."""
        return self.status in ACTIVE

    def not_revertible_reason(self) -> str | None:
        """Why this job cannot be reverted, or None when it can."""
        if self.kind is not JobKind.REAPPLY:
            return "a revert job cannot itself be reverted"
        if self.status is JobStatus.REVERTED:
            return "the job has already been reverted"
        if self.reverted_by_job_id is not None:
            return f"the job is being reverted by job {self.reverted_by_job_id}"
        if self.status not in REVERTIBLE_STATUSES:
            return f"the job is {self.status.value}; cancel it or wait for it to stop"
        if self.snapshots_pruned_at is not None:
            return "the job's snapshots were pruned; it can no longer be reverted"
        if self.updated_diamonds == 0:
            return "the job changed no diamond; there is nothing to revert"
        return None

    @property
    def revertible(self) -> bool:
        """True when a revert may be started now."""
        return self.not_revertible_reason() is None

    def rate_per_second(self, now: datetime | None = None) -> float | None:
        """Diamonds processed per second since the job started (to its end if it stopped)."""
        if self.started_at is None:
            return None
        end = self.completed_at if not self.is_active and self.completed_at else now
        elapsed = ((end or datetime.now(UTC)) - self.started_at).total_seconds()
        if elapsed <= 0:
            return None
        return round(self.processed_diamonds / elapsed, 1)

    def eta_seconds(self, now: datetime | None = None) -> float | None:
        """Seconds left at the current rate (running jobs only)."""
        rate = self.rate_per_second(now)
        if self.status is not JobStatus.RUNNING or not rate:
            return None
        return round(max(self.total_diamonds - self.processed_diamonds, 0) / rate, 1)
