"""HTTP routes of the reapply domain (under /api/v2); every route needs an admin key.

Start, preview, list, get, changes (JSON pages or streamed CSV), revert, cancel, resume. Each
request runs in one transaction; jobs run in the background runners, never in the request.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse

from diamond_pricing.auth.deps import AdminKey
from diamond_pricing.db import transaction
from diamond_pricing.errors import ApiError, error_responses, field_error, validation_error
from diamond_pricing.reapply import queries, service
from diamond_pricing.reapply.models import Job, JobKind, Scope, TriggerType
from diamond_pricing.reapply.preview import preview
from diamond_pricing.reapply.revert import create_revert_job
from diamond_pricing.reapply.schemas import (
    Change,
    ChangePage,
    JobOut,
    JobPage,
    Preview,
    PreviewRequest,
    StartRequest,
)
from diamond_pricing.schemas import Envelope

router = APIRouter(tags=["reapply"])

JOBS = "/pricing-rules/reapply/jobs"
CSV_COLUMNS = tuple(Change.model_fields)
CSV_PAGE = 5000


def _encode_cursor(position: tuple[datetime, UUID] | None) -> str | None:
    if position is None:
        return None
    raw = json.dumps([position[0].isoformat(), str(position[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ident = json.loads(raw)
        return datetime.fromisoformat(at), UUID(ident)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise validation_error([field_error("cursor", "not a cursor from this API")]) from None


@router.post(
    "/pricing-rules/reapply/preview",
    summary="Impact of the current rules over the available diamonds (no writes)",
    response_model=Envelope[Preview],
    responses=error_responses(401, 403, 422),
)
async def preview_route(
    request: Request, key: AdminKey, body: Annotated[PreviewRequest | None, Body()] = None
) -> Envelope[Preview]:
    scope = body.scope.to_scope() if body and body.scope else Scope()
    async with transaction(request.app.state.pool) as conn:
        result = await preview(conn, settings=request.app.state.settings, scope=scope)
    return Envelope(data=result)


@router.post(
    "/pricing-rules/reapply",
    summary="Start a reapply job over the available diamonds (empty body: all of them)",
    status_code=202,
    response_model=Envelope[JobOut],
    responses=error_responses(401, 403, 409, 422),
)
async def start_route(
    request: Request, key: AdminKey, body: Annotated[StartRequest | None, Body()] = None
) -> Envelope[JobOut]:
    body = body or StartRequest()
    async with transaction(request.app.state.pool) as conn:
        job = await service.create_job(
            conn,
            settings=request.app.state.settings,
            scope=body.scope.to_scope() if body.scope else Scope(),
            trigger_type=TriggerType.MANUAL,
            triggered_by=key.name,
            allow_below_cost=body.allow_below_cost,
        )
    return Envelope(data=JobOut.of(job))


@router.get(
    JOBS,
    summary="Recent jobs, newest first (keyset-paginated)",
    response_model=Envelope[JobPage],
    responses=error_responses(401, 403, 422),
)
async def list_route(
    request: Request,
    key: AdminKey,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[JobPage]:
    before = _decode_cursor(cursor)
    async with transaction(request.app.state.pool) as conn:
        jobs, after = await service.list_jobs(conn, before=before, limit=limit)
    return Envelope(
        data=JobPage(jobs=[JobOut.of(job) for job in jobs], next_cursor=_encode_cursor(after))
    )


@router.get(
    JOBS + "/{job_id}",
    summary="One job with progress, rate and ETA",
    response_model=Envelope[JobOut],
    responses=error_responses(401, 403, 404, 422),
)
async def get_route(request: Request, key: AdminKey, job_id: UUID) -> Envelope[JobOut]:
    async with transaction(request.app.state.pool) as conn:
        job = await service.get_job(conn, job_id=job_id)
    return Envelope(data=JobOut.of(job))


async def _changes_page(
    request: Request, job: Job, *, after: UUID | None, feed: str | None, limit: int
) -> list[dict[str, Any]]:
    revert_id = job.reverted_by_job_id if job.kind is JobKind.REAPPLY else None
    async with transaction(request.app.state.pool) as conn:
        return await queries.list_changes(
            conn, job_id=job.id, revert_job_id=revert_id, after=after, feed=feed, limit=limit
        )


async def _csv_stream(request: Request, job: Job, feed: str | None) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    after: UUID | None = None
    while True:
        rows = await _changes_page(request, job, after=after, feed=feed, limit=CSV_PAGE)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < CSV_PAGE:
            return
        after = rows[-1]["diamond_id"]


@router.get(
    JOBS + "/{job_id}/changes",
    summary="The job's per-diamond changes: JSON pages, or the whole list as CSV",
    response_model=Envelope[ChangePage],
    responses={
        **error_responses(401, 403, 404, 410, 422),
        200: {
            "description": "A page of changes (JSON), or all of them (format=csv)",
            "content": {"text/csv": {}},
        },
    },
)
async def changes_route(
    request: Request,
    key: AdminKey,
    job_id: UUID,
    feed: Annotated[str | None, Query(description="Only this feed's diamonds")] = None,
    cursor: Annotated[UUID | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    async with transaction(request.app.state.pool) as conn:
        job = await service.get_job(conn, job_id=job_id)
    if job.snapshots_pruned_at is not None:
        raise ApiError(410, "snapshots_pruned", f"job {job_id}'s changes were pruned")
    if format == "csv":
        return StreamingResponse(
            _csv_stream(request, job, feed),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="job-{job_id}-changes.csv"'},
        )
    rows = await _changes_page(request, job, after=cursor, feed=feed, limit=limit + 1)
    page = rows[:limit]
    return Envelope(
        data=ChangePage(
            changes=[Change(**row) for row in page],
            next_cursor=str(page[-1]["diamond_id"]) if len(rows) > limit else None,
        )
    )


@router.post(
    JOBS + "/{job_id}/revert",
    summary="Start reverting a job (a background job of kind revert)",
    status_code=202,
    response_model=Envelope[JobOut],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def revert_route(request: Request, key: AdminKey, job_id: UUID) -> Envelope[JobOut]:
    async with transaction(request.app.state.pool) as conn:
        job = await create_revert_job(conn, job_id=job_id, triggered_by=key.name)
    return Envelope(data=JobOut.of(job))


@router.post(
    JOBS + "/{job_id}/cancel",
    summary="Ask an active job to stop between batches",
    status_code=202,
    response_model=Envelope[JobOut],
    responses=error_responses(400, 401, 403, 404, 422),
)
async def cancel_route(request: Request, key: AdminKey, job_id: UUID) -> Envelope[JobOut]:
    async with transaction(request.app.state.pool) as conn:
        job = await service.cancel_job(conn, job_id=job_id)
    return Envelope(data=JobOut.of(job))


@router.post(
    JOBS + "/{job_id}/resume",
    summary="Resume a failed job from its cursor",
    status_code=202,
    response_model=Envelope[JobOut],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def resume_route(request: Request, key: AdminKey, job_id: UUID) -> Envelope[JobOut]:
    async with transaction(request.app.state.pool) as conn:
        job = await service.resume_job(conn, job_id=job_id)
    return Envelope(data=JobOut.of(job))
