"""HTTP routes of the pricing domain (under /api/v2): rules and quotes.

Each write route runs the rule change in one transaction. That transaction is also where a
reapply job is created when ``recalculate_pricing`` is true, so the rule change and the job
succeed or fail together: a 409 (a job is already active) or a 422 (the new rules would price
diamonds below cost and ``allow_below_cost`` was not given) leaves the rule unchanged.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request

from diamond_pricing.auth.deps import AdminKey, AnyKey
from diamond_pricing.auth.keys import ApiKey
from diamond_pricing.db import DictConn, transaction
from diamond_pricing.errors import error_responses
from diamond_pricing.pricing import service
from diamond_pricing.pricing.models import (
    Quote,
    QuoteRequest,
    RuleChange,
    RuleCreate,
    RuleDeleteOptions,
    RuleList,
    RuleUpdate,
)
from diamond_pricing.pricing.rules import base_margins_from
from diamond_pricing.reapply.models import TriggerType
from diamond_pricing.reapply.service import create_job
from diamond_pricing.schemas import Envelope

router = APIRouter()


async def start_rule_job(
    conn: DictConn,
    request: Request,
    *,
    key: ApiKey,
    trigger: TriggerType,
    rule_id: UUID,
    allow_below_cost: bool,
) -> UUID:
    """Create the reapply job a rule change asked for, in the rule change's transaction."""
    job = await create_job(
        conn,
        settings=request.app.state.settings,
        trigger_type=trigger,
        triggered_by=key.name,
        triggered_by_rule_id=rule_id,
        allow_below_cost=allow_below_cost,
    )
    return job.id


@router.get(
    "/pricing-rules",
    tags=["pricing rules"],
    summary="List pricing rules in precedence order",
    response_model=Envelope[RuleList],
    responses=error_responses(401, 422),
)
async def list_rules(
    request: Request,
    key: AnyKey,
    include_inactive: Annotated[
        bool, Query(description="Include soft-deleted (inactive) rules.")
    ] = False,
) -> Envelope[RuleList]:
    """Active rules (or all) ordered by priority, created_at, id."""
    async with transaction(request.app.state.pool) as conn:
        rules = await service.list_rules(conn, include_inactive=include_inactive)
    return Envelope(data=RuleList(rules=rules, total=len(rules)))


@router.post(
    "/pricing-rules",
    tags=["pricing rules"],
    summary="Create a pricing rule",
    status_code=201,
    response_model=Envelope[RuleChange],
    responses=error_responses(401, 403, 409, 422),
)
async def create_rule(request: Request, key: AdminKey, body: RuleCreate) -> Envelope[RuleChange]:
    """Create a rule (and, with recalculate_pricing, its reapply job); 422 per bad field."""
    margins = base_margins_from(request.app.state.settings)
    reapply_job_id = None
    async with transaction(request.app.state.pool) as conn:
        rule = await service.create_rule(conn, data=body, base_margins=margins)
        if body.recalculate_pricing:
            reapply_job_id = await start_rule_job(
                conn,
                request,
                key=key,
                trigger=TriggerType.RULE_CREATE,
                rule_id=rule.id,
                allow_below_cost=body.allow_below_cost,
            )
    return Envelope(data=RuleChange(**rule.model_dump(), reapply_job_id=reapply_job_id))


@router.put(
    "/pricing-rules/{rule_id}",
    tags=["pricing rules"],
    summary="Update a pricing rule (partial; null clears a criterion)",
    response_model=Envelope[RuleChange],
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_rule(
    request: Request, key: AdminKey, rule_id: UUID, body: RuleUpdate
) -> Envelope[RuleChange]:
    """Change only the fields present; validated on the merged state. ``{}`` changes nothing."""
    margins = base_margins_from(request.app.state.settings)
    reapply_job_id = None
    async with transaction(request.app.state.pool) as conn:
        rule = await service.update_rule(conn, rule_id=rule_id, data=body, base_margins=margins)
        if body.recalculate_pricing:
            reapply_job_id = await start_rule_job(
                conn,
                request,
                key=key,
                trigger=TriggerType.RULE_UPDATE,
                rule_id=rule.id,
                allow_below_cost=body.allow_below_cost,
            )
    return Envelope(data=RuleChange(**rule.model_dump(), reapply_job_id=reapply_job_id))


@router.delete(
    "/pricing-rules/{rule_id}",
    tags=["pricing rules"],
    summary="Deactivate a pricing rule (soft delete)",
    response_model=Envelope[RuleChange],
    responses=error_responses(401, 403, 404, 409, 422),
)
async def delete_rule(
    request: Request,
    key: AdminKey,
    rule_id: UUID,
    recalculate_pricing: Annotated[
        bool, Query(description="Same as the body option: start a reapply job afterwards.")
    ] = False,
    allow_below_cost: Annotated[
        bool, Query(description="Same as the body option: start even if below cost.")
    ] = False,
    body: Annotated[RuleDeleteOptions | None, Body()] = None,
) -> Envelope[RuleChange]:
    """Set active = false and return the rule; deleting an inactive rule changes nothing."""
    recalculate = recalculate_pricing or (body is not None and body.recalculate_pricing)
    below_cost_ok = allow_below_cost or (body is not None and body.allow_below_cost)
    reapply_job_id = None
    async with transaction(request.app.state.pool) as conn:
        rule = await service.delete_rule(conn, rule_id=rule_id)
        if recalculate:
            reapply_job_id = await start_rule_job(
                conn,
                request,
                key=key,
                trigger=TriggerType.RULE_DELETE,
                rule_id=rule.id,
                allow_below_cost=below_cost_ok,
            )
    return Envelope(data=RuleChange(**rule.model_dump(), reapply_job_id=reapply_job_id))


@router.post(
    "/pricing/quote",
    tags=["pricing"],
    summary="Price a diamond with the current rules, with the explanation",
    response_model=Envelope[Quote],
    responses=error_responses(401, 422),
)
async def quote(request: Request, key: AnyKey, body: QuoteRequest) -> Envelope[Quote]:
    """What the engine would charge for these attributes, and why."""
    async with transaction(request.app.state.pool) as conn:
        result = await service.quote(conn, request=body, settings=request.app.state.settings)
    return Envelope(data=result)
