"""Dashboard sessions: a signed, HttpOnly, SameSite=Strict cookie naming an admin key, plus CSRF.

The JSON API accepts the session too (so the dashboard's JavaScript calls the same endpoints as
integrators); state-changing requests authenticated this way must carry the X-CSRF-Token header.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from diamond_pricing.auth import queries as key_queries
from diamond_pricing.auth.keys import ApiKey, Role
from diamond_pricing.db import transaction
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "dp_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SESSION_MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """Who is logged in (by key id) and the CSRF token bound to this session."""

    key_id: UUID
    csrf: str


def load_or_create_secret(settings: Settings) -> str:
    """The signing secret: from settings, else generated once and kept in the data directory."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / "session_secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    log.info("generated a dashboard session secret in %s", path)
    return secret


class SessionSigner:
    """Signs and verifies session cookies."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="diamond-pricing-session")

    def issue(self, key_id: UUID) -> tuple[str, Session]:
        """A new session for a key: the cookie value and the session."""
        session = Session(key_id=key_id, csrf=secrets.token_urlsafe(32))
        value = self._serializer.dumps({"k": str(key_id), "c": session.csrf})
        return value, session

    def verify(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when missing, forged or expired."""
        if not value:
            return None
        try:
            data: Any = self._serializer.loads(value, max_age=SESSION_MAX_AGE_SECONDS)
            return Session(key_id=UUID(str(data["k"])), csrf=str(data["c"]))
        except (BadSignature, KeyError, ValueError, TypeError):
            return None


def csrf_matches(session: Session, token: str | None) -> bool:
    """Constant-time check of a submitted CSRF token."""
    return bool(token) and hmac.compare_digest(session.csrf, str(token))


@dataclass(frozen=True)
class SignedIn:
    """The admin key behind a dashboard session, and the session itself."""

    key: ApiKey
    session: Session


async def session_key(request: Request) -> SignedIn | None:
    """The signed-in admin key from the session cookie, or None (also when revoked or expired)."""
    signer: SessionSigner | None = getattr(request.app.state, "session_signer", None)
    session = signer.verify(request.cookies.get(SESSION_COOKIE)) if signer else None
    if session is None:
        return None
    async with transaction(request.app.state.pool) as conn:
        row = await key_queries.get_key_by_id(conn, key_id=session.key_id)
    if row is None:
        return None
    key = ApiKey.from_row(row)
    if not key.is_usable(datetime.now(UTC)) or key.role != Role.ADMIN:
        return None
    return SignedIn(key=key, session=session)
