"""Dashboard login state: who is signed in, redirects to /login, CSRF checks on forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from diamond_pricing.auth import queries as key_queries
from diamond_pricing.auth.keys import ApiKey, Role
from diamond_pricing.dashboard.session import SESSION_COOKIE, Session, SessionSigner
from diamond_pricing.db import transaction


class LoginRequired(Exception):
    """Raised by dashboard routes when nobody is signed in; answered with a redirect."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class SignedIn:
    """The admin key behind a dashboard session, and the session itself."""

    key: ApiKey
    session: Session


async def session_key(request: Request) -> SignedIn | None:
    """The signed-in admin key from the session cookie, or None (also when revoked or expired)."""
    signer: SessionSigner = request.app.state.session_signer
    session = signer.verify(request.cookies.get(SESSION_COOKIE))
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


async def require_login(request: Request) -> SignedIn:
    """Dashboard pages need a signed-in admin; others are sent to /login."""
    signed_in = await session_key(request)
    if signed_in is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    return signed_in


LoggedIn = Annotated[SignedIn, Depends(require_login)]
