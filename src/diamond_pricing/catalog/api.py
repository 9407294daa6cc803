"""HTTP routes of the catalog domain (under /api/v2): search, one diamond, versions, ingest.

Decisions: catalog reads (search, one diamond, dataset versions) are public unless
``catalog_requires_key``, and then need a read key (admin passes); a key that is sent must be
valid either way. A malformed diamond id is a 422, an unknown one a 404. Search parameters are
parsed by hand (not by FastAPI) so a cached hit skips validation; the OpenAPI parameters are
generated from the same model.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from diamond_pricing.auth.deps import IngestKey, OptionalKey, api_key_header, bearer, optional_key
from diamond_pricing.auth.keys import ApiKey, Role
from diamond_pricing.catalog import queries
from diamond_pricing.catalog.cache import CatalogCache
from diamond_pricing.catalog.http_cache import cached_json
from diamond_pricing.catalog.ingest import upsert_feed, validate_batch
from diamond_pricing.catalog.models import (
    FEED_PATTERN,
    DatasetVersion,
    DatasetVersions,
    Diamond,
    DiamondPage,
    IngestRequest,
    IngestResult,
    SearchParams,
)
from diamond_pricing.catalog.search import (
    diamond_json,
    normalize,
    parse_params,
    search_page_json,
)
from diamond_pricing.db import transaction
from diamond_pricing.errors import ApiError, error_responses, field_error, validation_error
from diamond_pricing.schemas import Envelope

router = APIRouter(tags=["catalog"])

CACHED_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "OK. Headers: ETag (strong, per query and dataset versions), "
        "Cache-Control, X-Cache: HIT|MISS",
    },
    304: {"description": "Not modified (If-None-Match matched: a tag, a weak tag, or *)"},
}


def require_reader(request: Request, key: ApiKey | None) -> None:
    """Catalog reads are public unless ``catalog_requires_key``; then a read key is needed."""
    if not request.app.state.settings.catalog_requires_key:
        return
    if key is None:
        raise ApiError(401, "unauthorized", "an API key with role read is required")
    if not key.may(Role.READ):
        raise ApiError(403, "forbidden", "this action needs a key with role read")


async def authorize_read(request: Request) -> None:
    """Like an OptionalKey dependency (a key that is sent must be valid), without its overhead."""
    headers = request.headers
    if "x-api-key" in headers or "authorization" in headers or "cookie" in headers:
        key = await optional_key(request, await api_key_header(request), await bearer(request))
    else:
        key = None  # nothing to authenticate: the common, public case costs no lookup
    require_reader(request, key)


def _query_parameters() -> list[dict[str, Any]]:
    """OpenAPI parameters of GET /diamonds, from SearchParams (parsed by hand for speed)."""
    schema = SearchParams.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        entry: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": prop}
        if "description" in prop:
            entry["description"] = prop["description"]
        parameters.append(entry)
    return parameters


OPTIONAL_KEY_SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}]


@router.get(
    "/diamonds",
    summary="Search the catalog (cached; keyset pagination; ETag)",
    response_model=Envelope[DiamondPage],
    responses={**CACHED_READ_RESPONSES, **error_responses(401, 403, 422, 503)},
    openapi_extra={"parameters": _query_parameters(), "security": OPTIONAL_KEY_SECURITY},
)
async def search_diamonds(request: Request) -> Response:
    """Filters, sort and an opaque cursor; unknown parameters are rejected with 422."""
    await authorize_read(request)
    cache: CatalogCache = request.app.state.catalog_cache
    raw: bytes = request.scope["query_string"]
    memo = cache.parsed.get(raw)
    if memo is None:
        query = normalize(parse_params(request.query_params.multi_items()))
        memo = cache.parsed[raw] = (query, query.canonical())
    query, canonical = memo
    return await cached_json(
        request,
        kind="search",
        query=canonical,
        feeds=query.feeds,
        compute=lambda conn: search_page_json(conn, query),
        missing=lambda: ApiError(500, "internal_error", "search produced no page"),
    )


@router.get(
    "/diamonds/{diamond_id}",
    summary="One diamond (cached; ETag)",
    response_model=Envelope[Diamond],
    responses={**CACHED_READ_RESPONSES, **error_responses(401, 403, 404, 422, 503)},
    openapi_extra={"security": OPTIONAL_KEY_SECURITY},
)
async def get_diamond(request: Request, diamond_id: UUID) -> Response:
    """Any diamond by id, whatever its availability; a malformed id is a 422."""
    await authorize_read(request)
    return await cached_json(
        request,
        kind="diamond",
        query=str(diamond_id),
        feeds=None,
        compute=lambda conn: diamond_json(conn, diamond_id),
        missing=lambda: ApiError(404, "not_found", f"diamond {diamond_id} not found"),
    )


@router.get(
    "/dataset-versions",
    summary="Current dataset version of every feed",
    response_model=Envelope[DatasetVersions],
    responses=error_responses(401, 403, 503),
)
async def dataset_versions(request: Request, key: OptionalKey) -> Envelope[DatasetVersions]:
    """Read straight from the database (never cached); public like the catalog."""
    require_reader(request, key)
    async with transaction(request.app.state.pool) as conn:
        rows = await queries.list_versions(conn)
    return Envelope(data=DatasetVersions(versions=[DatasetVersion(**row) for row in rows]))


def _inline_schema(model: type[IngestRequest]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined (OpenAPI refs resolve from the root)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


async def _read_rows(request: Request) -> Any:
    # The body size limit (413) is enforced for every route by guards.RequestGuard.
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise validation_error([field_error("body", f"not valid JSON: {exc}")]) from exc
    if not isinstance(body, dict) or "diamonds" not in body:
        raise validation_error(
            [field_error("diamonds", 'body must be an object {"diamonds": [...]}', kind="missing")]
        )
    extra = sorted(set(body) - {"diamonds"})
    if extra:
        raise validation_error(
            [field_error(name, "unknown field", kind="extra_forbidden") for name in extra]
        )
    return body["diamonds"]


@router.put(
    "/feeds/{feed}/diamonds",
    summary="Upsert a feed's diamonds (≤ 5,000), priced on arrival, all or nothing",
    response_model=Envelope[IngestResult],
    responses=error_responses(401, 403, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(IngestRequest)}},
        }
    },
)
async def put_feed_diamonds(
    request: Request,
    feed: Annotated[str, Path(pattern=FEED_PATTERN, description="Feed name")],
    key: IngestKey,
) -> Envelope[IngestResult]:
    """Every row is validated first; one bad row rejects the call with a 422 listing all."""
    diamonds = validate_batch(await _read_rows(request))
    settings = request.app.state.settings
    async with transaction(request.app.state.pool) as conn:
        result = await upsert_feed(conn, settings, feed=feed, diamonds=diamonds)
    # Read-your-writes on this process without waiting for our own NOTIFY to come back.
    cache: CatalogCache | None = getattr(request.app.state, "catalog_cache", None)
    if cache is not None:
        cache.note_version(feed, result.version)
    return Envelope(data=result)
