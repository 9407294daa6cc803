"""Dashboard pages: login, pricing rules (reapply, progress, history), job detail, diamonds."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from diamond_pricing.auth.keys import Role, authenticate
from diamond_pricing.auth.session import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SessionSigner,
    csrf_matches,
    load_or_create_secret,
    session_key,
)
from diamond_pricing.dashboard import queries
from diamond_pricing.dashboard.auth import LoggedIn, LoginRequired
from diamond_pricing.dashboard.security import install_security_headers
from diamond_pricing.db import transaction
from diamond_pricing.pricing.engine import (
    StoneType,
    modifier_keeps_ratio_valid,
    stone_types_matched_by,
)
from diamond_pricing.pricing.queries import list_active_rules
from diamond_pricing.pricing.rules import base_margins_from
from diamond_pricing.reapply.service import rules_freshness
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
        return "/rules"
    return value


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    """The dashboard starts at the pricing rules."""
    return RedirectResponse("/rules", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form (an admin API key)."""
    if await session_key(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, "login.html", {"next_url": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/rules"
) -> Response:
    """Exchange an admin key for a session cookie."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        return _render(
            request, "login.html", {"next_url": "/rules", "error": "Cross-site login refused."}, 403
        )
    async with transaction(request.app.state.pool) as conn:
        api_key = await authenticate(conn, secret=key.strip())
    if api_key is None or api_key.role != Role.ADMIN:
        error = (
            "That key is not a usable admin key."
            if api_key is None
            else "Only admin keys can use the dashboard."
        )
        return _render(request, "login.html", {"next_url": _safe_next(next), "error": error}, 401)
    signer: SessionSigner = request.app.state.session_signer
    cookie, _ = signer.issue(api_key.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    log.info("dashboard login by key %s", api_key.name)
    return response


@router.post("/logout")
async def logout(signed_in: LoggedIn, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session (needs the form's CSRF token)."""
    if not csrf_matches(signed_in.session, csrf_token):
        return HTMLResponse("CSRF token missing or wrong", status_code=403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def effective_margins(rule: dict[str, Any], settings: Settings) -> list[tuple[str, Decimal]]:
    """Base margin + modifier for each stone type the rule can match."""
    margins = base_margins_from(settings)
    kind = StoneType(rule["stone_type"]) if rule["stone_type"] else None
    return [
        (t.value, margins.for_type(t) + rule["margin_modifier"])
        for t in stone_types_matched_by(kind)
    ]


def rule_json(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule's editable fields for the edit dialog (decimals and ids as strings)."""
    fields = (
        "id",
        "priority",
        "stone_type",
        "feed",
        "price_min",
        "price_max",
        "margin_modifier",
        "rating",
    )
    return {
        name: (
            None
            if rule[name] is None
            else rule[name]
            if name in {"priority", "rating"}
            else str(rule[name])
        )
        for name in fields
    }


@router.get("/rules", response_class=HTMLResponse)
async def rules_page(request: Request, signed_in: LoggedIn) -> Response:
    """The Pricing Rules page."""
    settings: Settings = request.app.state.settings
    async with transaction(request.app.state.pool) as conn:
        rules = await list_active_rules(conn)
        feeds = await queries.list_feeds(conn)
        rules_changed_at = await queries.last_rules_change(conn)
        freshness = await rules_freshness(conn, settings=settings)
        if freshness.last_job_id is None:  # never repriced: stale once the rules were edited
            stale = await queries.rules_edited_since_install(conn)
        else:  # the rules differ from those the last completed reapply applied
            stale = freshness.stale
        active_job = await queries.active_job_id(conn)
    margins = base_margins_from(settings)
    context = {
        "key": signed_in.key,
        "csrf_token": signed_in.session.csrf,
        "active_nav": "rules",
        "rules": [
            {**rule, "effective": effective_margins(rule, settings), "json": rule_json(rule)}
            for rule in rules
        ],
        "feeds": feeds,
        "stale": stale,
        "rules_changed_at": rules_changed_at,
        "last_reapply_at": freshness.last_completed_at,
        "active_job_id": active_job,
        "base_margins": margins,
        "ratio_ok": modifier_keeps_ratio_valid,
    }
    return _render(request, "rules.html", context)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: UUID, signed_in: LoggedIn) -> Response:
    """One job: summary, the rules it applied, its changes."""
    context = {
        "key": signed_in.key,
        "csrf_token": signed_in.session.csrf,
        "active_nav": "rules",
        "job_id": job_id,
    }
    return _render(request, "job.html", context)


@router.get("/diamonds", response_class=HTMLResponse)
async def diamonds_page(request: Request, signed_in: LoggedIn) -> Response:
    """Read-only catalog search."""
    async with transaction(request.app.state.pool) as conn:
        feeds = await queries.list_feeds(conn)
    context = {
        "key": signed_in.key,
        "csrf_token": signed_in.session.csrf,
        "active_nav": "diamonds",
        "feeds": feeds,
    }
    return _render(request, "diamonds.html", context)


def install_dashboard(app: FastAPI) -> None:
    """Mount the dashboard pages, its static files, the login redirect and security headers."""
    settings: Settings = app.state.settings
    app.state.session_signer = SessionSigner(load_or_create_secret(settings))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="dashboard_static")
    app.include_router(router)
    install_security_headers(app)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)
