"""HTTP routes of the pricing domain (under /api/v2): rules and quotes.

Each write route runs the rule change in one transaction. That transaction is also
where a reapply job is created when ``recalculate_pricing`` is true (see
``REAPPLY_SEAM`` below), so the rule change and the job succeed or fail together.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request

from diamond_pricing.auth.deps import AdminKey, AnyKey
from diamond_pricing.db import transaction
from diamond_pricing.errors import error_responses, field_error, validation_error
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
from diamond_pricing.schemas import Envelope

router = APIRouter()

RECALCULATE_UNAVAILABLE = (
    "recalculate_pricing is not available yet; save the rule without it"
    " and reapply pricing separately"
)


def reject_recalculate(requested: bool, location: str = "body") -> None:
    """422 on ``recalculate_pricing`` while rule changes cannot start a reapply job yet."""
    # REAPPLY_SEAM: when the reapply job is wired, remove this check and create the job in
    # the write route's transaction, right after the service call, setting reapply_job_id.
    if requested:
        entry = field_error("recalculate_pricing", RECALCULATE_UNAVAILABLE)
        raise validation_error([{**entry, "location": location}])


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
    responses=error_responses(401, 403, 422),
)
async def create_rule(request: Request, key: AdminKey, body: RuleCreate) -> Envelope[RuleChange]:
    """Create a rule; 422 with one entry per bad field."""
    reject_recalculate(body.recalculate_pricing)
    margins = base_margins_from(request.app.state.settings)
    async with transaction(request.app.state.pool) as conn:
        rule = await service.create_rule(conn, data=body, base_margins=margins)
        reapply_job_id = None  # REAPPLY_SEAM: create the job here when body.recalculate_pricing
    return Envelope(data=RuleChange(**rule.model_dump(), reapply_job_id=reapply_job_id))


@router.put(
    "/pricing-rules/{rule_id}",
    tags=["pricing rules"],
    summary="Update a pricing rule (partial; null clears a criterion)",
    response_model=Envelope[RuleChange],
    responses=error_responses(401, 403, 404, 422),
)
async def update_rule(
    request: Request, key: AdminKey, rule_id: UUID, body: RuleUpdate
) -> Envelope[RuleChange]:
    """Change only the fields present; validated on the merged state. ``{}`` changes nothing."""
    reject_recalculate(body.recalculate_pricing)
    margins = base_margins_from(request.app.state.settings)
    async with transaction(request.app.state.pool) as conn:
        rule = await service.update_rule(conn, rule_id=rule_id, data=body, base_margins=margins)
        reapply_job_id = None  # REAPPLY_SEAM: create the job here when body.recalculate_pricing
    return Envelope(data=RuleChange(**rule.model_dump(), reapply_job_id=reapply_job_id))


@router.delete(
    "/pricing-rules/{rule_id}",
    tags=["pricing rules"],
    summary="Deactivate a pricing rule (soft delete)",
    response_model=Envelope[RuleChange],
    responses=error_responses(401, 403, 404, 422),
)
async def delete_rule(
    request: Request,
    key: AdminKey,
    rule_id: UUID,
    recalculate_pricing: Annotated[
        bool, Query(description="Same as the body option: start a reapply job (not yet).")
    ] = False,
    body: Annotated[RuleDeleteOptions | None, Body()] = None,
) -> Envelope[RuleChange]:
    """Set active = false and return the rule; deleting an inactive rule changes nothing."""
    reject_recalculate(recalculate_pricing, "query")
    reject_recalculate(body is not None and body.recalculate_pricing)
    async with transaction(request.app.state.pool) as conn:
        rule = await service.delete_rule(conn, rule_id=rule_id)
        reapply_job_id = None  # REAPPLY_SEAM: create the job here when recalculate_pricing
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
