"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What went wrong, in a form a client can act on."""

    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error the API reports to the client as is."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str, ident: object) -> ApiError:
    """404 for an unknown resource id."""
    return ApiError(404, "not_found", f"{what} {ident} not found")


def field_error(field: str, message: str, *, kind: str = "invalid") -> dict[str, Any]:
    """One entry of a 422's details list."""
    return {"field": field, "message": message, "type": kind}


def validation_error(errors: Sequence[dict[str, Any]], message: str = "") -> ApiError:
    """422 with one entry per bad field."""
    return ApiError(422, "validation_error", message or "request is not valid", list(errors))


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def error_json(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build the standard error response."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}))


BODY_NOT_JSON = {
    "field": "body",
    "message": "body is not valid JSON (it must be UTF-8 text, not nested too deeply)",
    "type": "json_invalid",
    "location": "body",
}


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def pydantic_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn pydantic / FastAPI validation errors into our per-field entries."""
    details = []
    for err in errors:
        loc = err.get("loc", ())
        entry = field_error(
            _field_path(loc), str(err.get("msg", "invalid")), kind=str(err.get("type"))
        )
        if loc and str(loc[0]) in {"body", "query", "path", "header"}:
            entry["location"] = str(loc[0])
        details.append(entry)
    return details


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the standard shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_json(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_json(
            422, "validation_error", "request is not valid", pydantic_details(exc.errors())
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI could not decode the JSON body (bad UTF-8, nested too deep, an integer
            # over 4,300 digits): the same 422 as a JSON syntax error, not a bare 400.
            return error_json(422, "validation_error", "request is not valid", [BODY_NOT_JSON])
        code = STATUS_CODES.get(exc.status_code, "error")
        return error_json(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> Response:
        log.warning("database unavailable: %s", exc)
        return error_json(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        log.warning("database pool timeout: %s", exc)
        return error_json(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        log.exception(
            "unhandled error in request %s %s [%s]", request.method, request.url.path, request_id
        )
        return error_json(
            500,
            "internal_error",
            "an unexpected error occurred",
            {"request_id": request_id},
            headers={"X-Request-ID": request_id},
        )


def install_request_id(app: FastAPI) -> None:
    """Give every request an id (``X-Request-ID``), echoed in the response and in 500 bodies."""

    @app.middleware("http")
    async def _request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        request.state.request_id = request_id
        response = await call_next(request)
        response.headers.setdefault("X-Request-ID", request_id)
        return response


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can return."""
    descriptions = {
        400: "Bad request or bad state",
        401: "Missing, unknown, inactive or expired API key",
        403: "The API key's role may not do this",
        404: "Not found",
        409: "Conflict",
        413: "Request body over the size limit (settings.max_body_bytes)",
        415: "Request body is not JSON",
        422: "Validation error: one entry per bad field",
        503: "Database unavailable",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions.get(status, "Error")}
        for status in statuses
    }
