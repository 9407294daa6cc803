"""The OpenAPI document is complete and true: every route, its errors, the real schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from diamond_pricing.app import API_PREFIX
from diamond_pricing.auth.deps import optional_key
from tests.api.routes import api_routes, build_app
from tests.api.test_auth_matrix import ADMIN, ENDPOINTS, INGEST, READ

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
RULE_FIELDS = [
    "id",
    "priority",
    "stone_type",
    "price_min",
    "price_max",
    "feed",
    "margin_modifier",
    "rating",
    "active",
    "created_at",
    "updated_at",
]


@pytest.fixture(scope="module")
def spec(pg_server_uri: str) -> dict[str, Any]:
    """The document as the app builds it (served over HTTP in the tests below)."""
    document: dict[str, Any] = build_app().openapi()
    return document


def dependencies(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency of a route, nested ones included."""
    for sub in dependant.dependencies:
        yield sub
        yield from dependencies(sub)


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def json_schema(spec: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The resolved JSON schema of a request body or response."""
    return resolve(spec, container["content"]["application/json"]["schema"])


def data_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    """The schema of ``data`` in a success envelope."""
    response = spec["paths"][path][method]["responses"][status]
    envelope = json_schema(spec, response)
    assert envelope["required"] == ["data"]
    return resolve(spec, envelope["properties"]["data"])


def test_openapi_json_and_docs_are_served(client: httpx.Client) -> None:
    document = client.get("/openapi.json")
    assert document.status_code == 200
    assert f"{API_PREFIX}/pricing-rules" in document.json()["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    missing = [
        (method, path)
        for method, path, route in api_routes(build_app())
        if route.include_in_schema and method.lower() not in spec["paths"].get(path, {})
    ]
    assert missing == []


def test_every_error_response_uses_the_error_shape(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ERROR_REF, (method, path, status)
    error = spec["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_api_routes_document_the_errors_they_can_return(spec: dict[str, Any]) -> None:
    roles = {(e.method, e.path): e.role for e in ENDPOINTS}
    problems = []
    for method, path, route in api_routes(build_app()):
        if not path.startswith(API_PREFIX) or not isinstance(route, APIRoute):
            continue
        documented = set(spec["paths"][path][method.lower()]["responses"])
        needed = set()
        dependant = route.dependant
        if any(dep.call is optional_key for dep in dependencies(dependant)):
            needed.add("401")
        if roles.get((method, path)) in {READ, INGEST, ADMIN}:
            needed.add("403")
        if any(param.field_info.annotation is UUID for param in dependant.path_params):
            needed |= {"404", "422"}  # a lookup by id: unknown → 404, malformed → 422
        if dependant.query_params or dependant.body_params:
            needed.add("422")
        if needed - documented:
            problems.append((method, path, sorted(needed - documented)))
    assert problems == []


def test_rule_routes_document_their_real_schemas(spec: dict[str, Any]) -> None:
    rules, one_rule = f"{API_PREFIX}/pricing-rules", f"{API_PREFIX}/pricing-rules/{{rule_id}}"
    listing = data_schema(spec, rules, "get", "200")
    assert sorted(listing["properties"]) == ["rules", "total"]
    rule = resolve(spec, listing["properties"]["rules"]["items"])
    assert list(rule["properties"]) == RULE_FIELDS
    assert {"type": "string"} in rule["properties"]["price_min"]["anyOf"]
    assert rule["properties"]["margin_modifier"]["type"] == "string"
    [param] = spec["paths"][rules]["get"]["parameters"]
    assert (param["name"], param["in"]) == ("include_inactive", "query")

    create = spec["paths"][rules]["post"]
    assert "201" in create["responses"]
    body = json_schema(spec, create["requestBody"])
    assert body["additionalProperties"] is False
    assert body["required"] == ["priority"]
    assert set(body["properties"]) == {*RULE_FIELDS[1:9], "recalculate_pricing", "allow_below_cost"}
    decimal_input = {s.get("type") for s in body["properties"]["margin_modifier"]["anyOf"]}
    assert decimal_input == {"number", "string"}
    changed = data_schema(spec, rules, "post", "201")
    assert list(changed["properties"]) == [*RULE_FIELDS, "reapply_job_id"]

    update = spec["paths"][one_rule]["put"]
    patch = json_schema(spec, update["requestBody"])
    assert "required" not in patch
    assert patch["properties"]["priority"]["type"] == "integer"  # not nullable
    assert {"type": "null"} in patch["properties"]["stone_type"]["anyOf"]  # nullable
    delete = spec["paths"][one_rule]["delete"]
    assert delete["requestBody"].get("required") is not True
    assert "recalculate_pricing" in [p["name"] for p in delete["parameters"]]
    assert list(data_schema(spec, one_rule, "delete", "200")["properties"]) == [
        *RULE_FIELDS,
        "reapply_job_id",
    ]


def test_quote_documents_its_real_schemas(spec: dict[str, Any]) -> None:
    path = f"{API_PREFIX}/pricing/quote"
    body = json_schema(spec, spec["paths"][path]["post"]["requestBody"])
    assert sorted(body["required"]) == ["feed", "feed_price"]
    assert {"supplier_stone_id", "carats", "lab_grown", "fancy_color", "availability"} <= set(
        body["properties"]
    )
    quote = data_schema(spec, path, "post", "200")
    assert list(quote["properties"]) == [
        "stone_type",
        "base_margin",
        "matched_rule_id",
        "margin_modifier",
        "effective_margin",
        "markup_ratio",
        "price_model_price",
        "price_per_carat",
        "rating",
    ]
    assert quote["properties"]["markup_ratio"]["type"] == "string"
