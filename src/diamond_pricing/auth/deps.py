"""FastAPI dependencies that require an API key with a given role."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from diamond_pricing.auth.keys import ApiKey, Role, authenticate
from diamond_pricing.auth.session import CSRF_HEADER, SESSION_COOKIE, csrf_matches, session_key
from diamond_pricing.db import transaction
from diamond_pricing.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


async def optional_key(
    request: Request,
    header_key: Annotated[str | None, Security(api_key_header)] = None,
    bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> ApiKey | None:
    """The authenticated key if one was sent; 401 if one was sent but is not usable."""
    secret = header_key or (bearer_key.credentials if bearer_key else None)
    if secret is None:
        return await _key_from_session(request)
    async with transaction(request.app.state.pool) as conn:
        key = await authenticate(conn, secret=secret.strip())
    if key is None:
        raise _unauthorized("API key is unknown, revoked or expired")
    return key


async def _key_from_session(request: Request) -> ApiKey | None:
    """A dashboard session stands in for its admin key; unsafe methods also need the CSRF token."""
    if SESSION_COOKIE not in request.cookies:
        return None
    signed_in = await session_key(request)
    if signed_in is None:
        return None
    if request.method not in SAFE_METHODS and not csrf_matches(
        signed_in.session, request.headers.get(CSRF_HEADER)
    ):
        raise ApiError(
            403, "csrf_failed", f"cookie-authenticated requests need a valid {CSRF_HEADER} header"
        )
    return signed_in.key


def require_role(role: Role | None) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency that needs a usable key whose role grants ``role`` (None: any role)."""

    async def dependency(key: Annotated[ApiKey | None, Depends(optional_key)]) -> ApiKey:
        if key is None:
            raise _unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")
        if role is not None and not key.may(role):
            raise ApiError(403, "forbidden", f"this action needs a key with role {role.value}")
        return key

    return dependency


AnyKey = Annotated[ApiKey, Depends(require_role(None))]
ReadKey = Annotated[ApiKey, Depends(require_role(Role.READ))]
AdminKey = Annotated[ApiKey, Depends(require_role(Role.ADMIN))]
IngestKey = Annotated[ApiKey, Depends(require_role(Role.INGEST))]
OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]
