"""Dashboard login state: pages need a signed-in admin, others are redirected to /login."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from diamond_pricing.auth.session import SignedIn, session_key


class LoginRequired(Exception):
    """Raised by dashboard routes when nobody is signed in; answered with a redirect."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


async def require_login(request: Request) -> SignedIn:
    """Dashboard pages need a signed-in admin; others are sent to /login."""
    signed_in = await session_key(request)
    if signed_in is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    return signed_in


LoggedIn = Annotated[SignedIn, Depends(require_login)]
