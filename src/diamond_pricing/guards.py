"""Checks every request passes before routing: body size, JSON bodies, no NUL in URLs.

- Bodies larger than ``settings.max_body_bytes`` get 413 ``payload_too_large``: at once when
  Content-Length says so, else as soon as the streamed body crosses the limit (never buffered
  past it).
- API requests (``/api/``) that carry a body must send it as JSON (``application/json`` or
  ``*+json``): anything else is 415 ``unsupported_media_type``.
- API query parameters and paths must not contain NUL (``%00``): PostgreSQL text cannot hold
  it, so it is a 422 ``validation_error`` naming the parameter (never a 500 from the driver).
  JSON bodies get the same rule from ``schemas.StrictInput``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diamond_pricing.errors import error_json, field_error

API_PATH_PREFIX = "/api/"
NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


class BodyTooLarge(HTTPException):
    """The streamed body crossed the limit (rendered by the app's HTTPException handler)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    """The 413 message."""
    return f"request body is larger than the limit of {limit} bytes"


def content_length(headers: Headers) -> int | None:
    """The declared body length, or None when absent or not a number."""
    value = headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` and ``application/*+json`` (parameters ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def nul_errors(scope: Scope) -> list[dict[str, str]]:
    """One 422 entry per query parameter (or the path) that contains NUL."""
    errors = []
    if NUL in scope.get("path", ""):
        errors.append({**field_error("path", NUL_MESSAGE, kind="string_nul"), "location": "path"})
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or NUL in query:
        seen = set()
        for name, value in parse_qsl(query, keep_blank_values=True):
            if (NUL in name or NUL in value) and name not in seen:
                seen.add(name)
                entry = field_error(name.replace(NUL, "\\u0000"), NUL_MESSAGE, kind="string_nul")
                errors.append({**entry, "location": "query"})
    return errors


class RequestGuard:
    """Pure ASGI middleware enforcing the checks in this module's docstring."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject bad requests up front; limit the body of the others while it streams in."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = content_length(headers)
        limit = self.max_body_bytes
        if length is not None and length > limit:
            response = error_json(413, "payload_too_large", too_large_message(limit))
            await response(scope, receive, send)
            return
        if scope.get("path", "").startswith(API_PATH_PREFIX):
            errors = nul_errors(scope)
            if errors:
                response = error_json(422, "validation_error", "request is not valid", errors)
                await response(scope, receive, send)
                return
            has_body = (length or 0) > 0 or "transfer-encoding" in headers
            if has_body and not is_json(headers.get("content-type")):
                message = "request bodies must be JSON (Content-Type: application/json)"
                response = error_json(415, "unsupported_media_type", message)
                await response(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            # Normally the app's HTTPException handler answers; this covers reads outside it.
            if started:
                raise
            response = error_json(413, "payload_too_large", str(exc.detail))
            await response(scope, receive, send)
