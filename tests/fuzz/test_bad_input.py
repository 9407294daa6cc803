"""Hand-written hostile input: each case gets its exact status and error code, and writes nothing.

Decisions pinned here (see ``diamond_pricing.guards``): bodies over ``max_body_bytes`` (16 MiB)
are 413 ``payload_too_large``; API bodies that are not JSON are 415 ``unsupported_media_type``;
a body that is not valid JSON for any reason (syntax, bad UTF-8, nested too deeply, an integer
too long to convert) is 422 ``validation_error`` on field ``body``; NUL is refused in every
string (422 ``string_nul``) because PostgreSQL text cannot hold it. Invalid UTF-8 in a query
parameter decodes to U+FFFD (which matches nothing); invalid UTF-8 in a path parameter fails
that parameter's validation.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fuzz.conftest import Target
from tests.support import make_settings, running_server

API = "/api/v2"
RULES = f"{API}/pricing-rules"
QUOTE = f"{API}/pricing/quote"
INGEST = f"{API}/feeds/atlas/diamonds"
PREVIEW = f"{API}/pricing-rules/reapply/preview"
START = f"{API}/pricing-rules/reapply"
JOBS = f"{API}/pricing-rules/reapply/jobs"
SEARCH = f"{API}/diamonds"
MB = 1024 * 1024
SQLISH = ("'; DROP TABLE diamonds; --", "%(x)s", "%s", "$1 OR 1=1", "\\x00", "Robert'); --")
NUL = "nul\x00byte"
JSON = {"content-type": "application/json"}
ROW = {"supplier_stone_id": "BAD-1", "lab_grown": True, "feed_price": "1000.00"}
QUOTE_BODY = {"feed": "atlas", "feed_price": "1000.00", "lab_grown": False}
DIAMOND_STRINGS = (
    "supplier_stone_id",
    "shape",
    "color",
    "clarity",
    "cut",
    "polish",
    "symmetry",
    "fluorescence",
    "fancy_color",
    "fancy_intensity",
    "certificate_lab",
    "certificate_number",
    "image_url",
)


@pytest.fixture
def admin(target: Target) -> Iterator[httpx.Client]:
    """A client with the admin key."""
    with target.client("admin") as client:
        yield client


@pytest.fixture
def unchanged(target: Target) -> Iterator[None]:
    """Fails the test when any writable table changed while it ran."""
    before = target.state()
    yield
    assert target.state() == before, "a rejected request wrote to the database"


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> list[dict[str, Any]]:
    """The response is our error shape with this status and code (and an entry for ``field``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    details: list[dict[str, Any]] = error["details"] or []
    if field is not None:  # a repeatable parameter's entry names the item: "stone_type.0"
        assert any(d["field"].split(".")[0] == field or d["field"] == field for d in details), (
            details
        )
    return details


def raw(client: httpx.Client, method: str, path: str, body: bytes | str) -> httpx.Response:
    """Send ``body`` byte for byte as JSON."""
    content = body.encode() if isinstance(body, str) else body
    return client.request(method, path, content=content, headers=JSON)


def first_rule_id(client: httpx.Client) -> str:
    """Some active rule's id."""
    rule_id: str = client.get(RULES).json()["data"]["rules"][0]["id"]
    return rule_id


# --- oversized bodies -------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_a_50_mb_ingest_body_is_refused_with_413(admin: httpx.Client) -> None:
    body = b'{"diamonds": [' + b" " * (50 * MB) + b"]}"
    response = admin.put(INGEST, content=body, headers=JSON)
    assert_error(response, 413, "payload_too_large")
    assert "16777216 bytes" in response.json()["error"]["message"]


@pytest.mark.usefixtures("unchanged")
def test_a_50_mb_chunked_body_without_length_is_cut_off_with_413(admin: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"diamonds": ['
        for _ in range(50):
            yield b" " * MB
        yield b"]}"

    response = admin.put(INGEST, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


@pytest.mark.usefixtures("unchanged")
def test_oversized_bodies_are_413_on_every_route(admin: httpx.Client) -> None:
    body = b" " * (17 * MB)
    for method, path in (("POST", RULES), ("POST", QUOTE), ("POST", START), ("POST", "/login")):
        assert_error(
            admin.request(method, path, content=body, headers=JSON), 413, "payload_too_large"
        )


def test_the_body_limit_is_a_setting(target: Target) -> None:
    settings = make_settings(target.db_url, run_jobs=False, max_body_bytes=2048)
    with running_server(settings, target.db_url) as url, httpx.Client(base_url=url) as client:
        client.headers["X-API-Key"] = target.keys["ingest"]
        row = {**ROW, "supplier_stone_id": "LIMIT-1", "image_url": "x" * 1500}
        small = client.put(f"{API}/feeds/limits/diamonds", json={"diamonds": [row]})
        assert small.status_code == 200, small.text
        row["image_url"] = "x" * 1999
        large = client.put(f"{API}/feeds/limits/diamonds", json={"diamonds": [row]})
        assert_error(large, 413, "payload_too_large")
        assert "2048 bytes" in large.json()["error"]["message"]


# --- deeply nested JSON -------------------------------------------------------------------------

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
BODY_ROUTES = (
    ("POST", RULES),
    ("POST", QUOTE),
    ("PUT", INGEST),
    ("POST", PREVIEW),
    ("POST", START),
    ("PUT", f"{RULES}/{{rule_id}}"),
    ("DELETE", f"{RULES}/{{rule_id}}"),
)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_json_nested_100k_levels_deep_is_a_422_on_the_body(
    admin: httpx.Client, method: str, path: str, body: str
) -> None:
    path = path.format(rule_id=first_rule_id(admin))
    assert_error(raw(admin, method, path, body), 422, "validation_error", "body")
    assert admin.get("/healthz").status_code == 200


@pytest.mark.usefixtures("unchanged")
def test_json_nested_inside_a_field_is_a_422_on_that_field(admin: httpx.Client) -> None:
    nested = "[" * 500 + "1" + "]" * 500
    response = raw(admin, "POST", RULES, f'{{"priority": {nested}}}')
    assert_error(response, 422, "validation_error", "priority")
    details = assert_error(
        raw(admin, "PUT", INGEST, f'{{"diamonds": {nested}}}'), 422, "validation_error"
    )
    assert [(d["index"], d["field"]) for d in details] == [(0, "row")]


# --- invalid UTF-8 ------------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_invalid_utf8_in_a_json_body_is_a_422_on_the_body(
    admin: httpx.Client, method: str, path: str
) -> None:
    path = path.format(rule_id=first_rule_id(admin))
    body = b'{"priority": 1, "feed": "\xff\xfe\xc3\x28", "diamonds": []}'
    assert_error(raw(admin, method, path, body), 422, "validation_error", "body")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("param", ["feed", "shape", "color", "clarity", "cut"])
def test_invalid_utf8_in_a_search_parameter_matches_nothing(
    admin: httpx.Client, param: str
) -> None:
    response = admin.get(f"{SEARCH}?{param}=%FF%FE%C3%28")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["diamonds"] == []


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"{SEARCH}/%FF%FE", "diamond_id"),
        ("PUT", f"{API}/feeds/%FF%FE/diamonds", "feed"),
        ("PUT", f"{RULES}/%C3%28", "rule_id"),
        ("DELETE", f"{RULES}/%FF", "rule_id"),
        ("GET", f"{JOBS}/%FF", "job_id"),
        ("GET", f"{JOBS}/%FF/changes", "job_id"),
        ("POST", f"{JOBS}/%FF/revert", "job_id"),
    ],
)
def test_invalid_utf8_in_a_path_parameter_is_a_422_on_it(
    admin: httpx.Client, method: str, path: str, field: str
) -> None:
    body = {"diamonds": []} if method == "PUT" else None
    response = admin.request(method, path, json=body)
    assert_error(response, 422, "validation_error", field)


def test_raw_non_ascii_bytes_in_the_request_line_are_refused_by_the_server(
    target: Target,
) -> None:
    host, port = target.url.removeprefix("http://").split(":")
    for line in (b"GET /api/v2/diamonds?feed=\xff\xfe", b"GET /api/v2/diamonds/\xff"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(line + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    assert httpx.get(f"{target.url}/healthz").status_code == 200


# --- huge and special numbers -------------------------------------------------------------------

GOOGOL_1000 = "1" + "0" * 1000  # 10**1000: a valid JSON integer
DIGITS_5000 = "9" * 5000  # over Python's 4,300-digit conversion limit
SPECIAL_NUMBERS = [
    # (route, JSON body text, field)
    ("rules", f'{{"priority": {GOOGOL_1000}}}', "priority"),
    ("rules", f'{{"priority": {DIGITS_5000}}}', "body"),
    ("rules", '{"priority": 1e400}', "priority"),
    ("rules", '{"priority": 1, "margin_modifier": 1e400}', "margin_modifier"),
    ("rules", '{"priority": 1, "margin_modifier": -1e400}', "margin_modifier"),
    ("rules", '{"priority": 1, "margin_modifier": NaN}', "margin_modifier"),
    ("rules", '{"priority": 1, "margin_modifier": Infinity}', "margin_modifier"),
    ("rules", '{"priority": 1, "margin_modifier": "NaN"}', "margin_modifier"),
    ("rules", '{"priority": 1, "margin_modifier": "-Infinity"}', "margin_modifier"),
    ("rules", f'{{"priority": 1, "price_min": {GOOGOL_1000}}}', "price_min"),
    ("rules", '{"priority": 1, "price_max": "1e400"}', "price_max"),
    ("rules", f'{{"priority": 1, "rating": {GOOGOL_1000}}}', "rating"),
    ("rules", '{"priority": 1, "rating": NaN}', "rating"),
    ("quote", '{"feed": "atlas", "feed_price": 1e400}', "feed_price"),
    ("quote", '{"feed": "atlas", "feed_price": "NaN"}', "feed_price"),
    ("quote", '{"feed": "atlas", "feed_price": Infinity}', "feed_price"),
    ("quote", f'{{"feed": "atlas", "feed_price": 1, "carats": {GOOGOL_1000}}}', "carats"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("route", "body", "field"), SPECIAL_NUMBERS)
def test_huge_and_special_numbers_in_bodies_are_a_422_on_the_field(
    admin: httpx.Client, route: str, body: str, field: str
) -> None:
    path = {"rules": RULES, "quote": QUOTE}[route]
    assert_error(raw(admin, "POST", path, body), 422, "validation_error", field)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("1e400", "feed_price"),
        (GOOGOL_1000, "feed_price"),
        ("NaN", "feed_price"),
        ("Infinity", "feed_price"),
        ('"-Infinity"', "feed_price"),
        ("-1e-400", "feed_price"),
    ],
)
def test_huge_and_special_numbers_in_ingest_rows_are_a_422_naming_the_row(
    target: Target, value: str, field: str
) -> None:
    with target.client("ingest") as ingest:
        row = '{"supplier_stone_id": "NUM-1", "lab_grown": true, "feed_price": ' + value + "}"
        details = assert_error(
            raw(ingest, "PUT", INGEST, '{"diamonds": [' + row + "]}"), 422, "validation_error"
        )
    assert [(d["index"], d["field"]) for d in details] == [(0, field)]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("price_min=1e400", "price_min"),
        (f"price_max={GOOGOL_1000}", "price_max"),
        ("carats_min=NaN", "carats_min"),
        ("carats_max=Infinity", "carats_max"),
        ("carats_max=-Infinity", "carats_max"),
        (f"limit={GOOGOL_1000}", "limit"),
        (f"limit={DIGITS_5000}", "limit"),
        ("rating_min=1e400", "rating_min"),
        ("rating_min=-0", "rating_min"),
    ],
)
def test_huge_and_special_numbers_in_search_parameters_are_a_422(
    admin: httpx.Client, query: str, field: str
) -> None:
    assert_error(admin.get(f"{SEARCH}?{query}"), 422, "validation_error", field)


@pytest.mark.usefixtures("unchanged")
def test_huge_numbers_in_job_parameters_are_a_422(admin: httpx.Client) -> None:
    assert_error(admin.get(f"{JOBS}?limit={GOOGOL_1000}"), 422, "validation_error", "limit")
    deep = "W1tb" * 2000  # base64 of "[[[" repeated: a cursor nested 6,000 levels deep
    assert_error(admin.get(f"{JOBS}?cursor={deep}"), 422, "validation_error", "cursor")
    changes = f"{JOBS}/00000000-0000-0000-0000-000000000000/changes?limit={GOOGOL_1000}"
    assert_error(admin.get(changes), 422, "validation_error", "limit")


def test_negative_zero_is_stored_as_zero(target: Target, admin: httpx.Client) -> None:
    created = raw(
        admin, "POST", RULES, '{"priority": 9999, "price_min": "-0", "margin_modifier": -0.0}'
    )
    assert created.status_code == 201, created.text
    rule = created.json()["data"]
    assert (rule["price_min"], rule["margin_modifier"]) == ("0.00", "0.00")
    admin.delete(f"{RULES}/{rule['id']}")
    with target.client("ingest") as ingest:
        row = {**ROW, "supplier_stone_id": "ZERO-1", "feed_price": "-0"}
        stored = ingest.put(f"{API}/feeds/zero/diamonds", json={"diamonds": [row]})
    assert stored.status_code == 200, stored.text
    diamond = admin.get(f"{SEARCH}?feed=zero").json()["data"]["diamonds"][0]
    assert (diamond["feed_price"], diamond["price_model_price"]) == ("0.00", "0.00")


# --- SQL-ish strings and NUL --------------------------------------------------------------------


@pytest.mark.parametrize("text", SQLISH)
def test_sqlish_rule_feeds_are_stored_verbatim(admin: httpx.Client, text: str) -> None:
    created = admin.post(RULES, json={"priority": 9000, "feed": text})
    assert created.status_code == 201, created.text
    rule_id = created.json()["data"]["id"]
    updated = admin.put(f"{RULES}/{rule_id}", json={"feed": text + "!"})
    assert updated.json()["data"]["feed"] == text + "!"
    listed = admin.get(RULES).json()["data"]["rules"]
    assert [r["feed"] for r in listed if r["id"] == rule_id] == [text + "!"]
    assert admin.delete(f"{RULES}/{rule_id}").status_code == 200
    assert admin.get(f"{SEARCH}?limit=1").json()["data"]["diamonds"], "diamonds table is gone"


@pytest.mark.usefixtures("unchanged")
def test_nul_in_rule_strings_is_a_422_not_a_500(admin: httpx.Client) -> None:
    response = admin.post(RULES, json={"priority": 9000, "feed": NUL})
    details = assert_error(response, 422, "validation_error", "feed")
    assert details[0]["type"] == "string_nul"
    rule_id = first_rule_id(admin)
    update = admin.put(f"{RULES}/{rule_id}", json={"feed": NUL, "recalculate_pricing": True})
    assert_error(update, 422, "validation_error", "feed")
    assert_error(
        admin.post(RULES, json={"priority": 1, "stone_type": NUL}), 422, "validation_error"
    )
    for text in SQLISH:
        bad_type = admin.post(RULES, json={"priority": 1, "stone_type": text})
        assert_error(bad_type, 422, "validation_error", "stone_type")


def test_sqlish_strings_in_every_ingest_field_are_stored_verbatim(target: Target) -> None:
    text = SQLISH[0]
    rows = [
        {**ROW, "supplier_stone_id": f"SQL-{name}", name: f"{text} {name}"}
        for name in DIAMOND_STRINGS
    ]
    with target.client("ingest") as ingest:
        response = ingest.put(f"{API}/feeds/sqlish/diamonds", json={"diamonds": rows})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["inserted"] == len(rows)
    with target.client(None) as public:
        stored = public.get(f"{SEARCH}?feed=sqlish&limit=200").json()["data"]["diamonds"]
    by_id = {d["supplier_stone_id"]: d for d in stored}
    for name in DIAMOND_STRINGS:
        ident = f"{text} {name}" if name == "supplier_stone_id" else f"SQL-{name}"
        assert by_id[ident][name] == f"{text} {name}"


@pytest.mark.usefixtures("unchanged")
def test_nul_in_any_ingest_string_rejects_the_whole_call_naming_each_row(
    target: Target,
) -> None:
    rows = [
        {**ROW, "supplier_stone_id": f"NUL-{i}", name: NUL}
        for i, name in enumerate(DIAMOND_STRINGS)
    ]
    rows.append({**ROW, "supplier_stone_id": "NUL-ok"})
    with target.client("ingest") as ingest:
        response = ingest.put(INGEST, json={"diamonds": rows})
    details = assert_error(response, 422, "validation_error")
    assert [(d["index"], d["field"], d["type"]) for d in details] == [
        (i, name, "string_nul") for i, name in enumerate(DIAMOND_STRINGS)
    ]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("text", SQLISH)
def test_sqlish_feed_names_in_the_ingest_path_are_a_422(target: Target, text: str) -> None:
    with target.client("ingest") as ingest:
        path = f"{API}/feeds/{quote(text, safe='')}/diamonds"
        assert_error(ingest.put(path, json={"diamonds": [ROW]}), 422, "validation_error", "feed")
        nul_path = f"{API}/feeds/{quote(NUL, safe='')}/diamonds"
        details = assert_error(
            ingest.put(nul_path, json={"diamonds": [ROW]}), 422, "validation_error"
        )
    assert details[0]["type"] == "string_nul"


TEXT_SEARCH_PARAMS = ("feed", "shape", "color", "clarity", "cut")
ENUM_SEARCH_PARAMS = ("stone_type", "availability", "sort", "order", "cursor", "lab_grown")
NUMBER_SEARCH_PARAMS = ("carats_min", "carats_max", "price_min", "price_max", "rating_min", "limit")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("text", SQLISH)
def test_sqlish_search_parameters_match_nothing_or_are_a_422(
    admin: httpx.Client, text: str
) -> None:
    for name in TEXT_SEARCH_PARAMS:
        response = admin.get(SEARCH, params={name: text})
        assert response.status_code == 200, (name, response.text)
        assert response.json()["data"]["diamonds"] == []
    for name in ENUM_SEARCH_PARAMS + NUMBER_SEARCH_PARAMS:
        assert_error(admin.get(SEARCH, params={name: text}), 422, "validation_error", name)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("name", TEXT_SEARCH_PARAMS + ENUM_SEARCH_PARAMS + NUMBER_SEARCH_PARAMS)
def test_nul_in_any_search_parameter_is_a_422_naming_it(admin: httpx.Client, name: str) -> None:
    details = assert_error(admin.get(SEARCH, params={name: NUL}), 422, "validation_error", name)
    assert details == [
        {
            "field": name,
            "message": "must not contain NUL (\\u0000) characters",
            "type": "string_nul",
            "location": "query",
        }
    ]


@pytest.mark.usefixtures("unchanged")
def test_nul_in_other_query_parameters_is_a_422(admin: httpx.Client) -> None:
    job = "00000000-0000-0000-0000-000000000000"
    for path, name in (
        (f"{JOBS}/{job}/changes", "feed"),
        (JOBS, "cursor"),
        (RULES, "include_inactive"),
        (f"{API}/dataset-versions", "anything"),
    ):
        assert_error(admin.get(path, params={name: NUL}), 422, "validation_error", name)
    deleted = admin.delete(f"{RULES}/{first_rule_id(admin)}", params={"recalculate_pricing": NUL})
    assert_error(deleted, 422, "validation_error", "recalculate_pricing")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("text", SQLISH)
def test_sqlish_scope_feeds_and_quote_feeds_are_plain_values(
    admin: httpx.Client, text: str
) -> None:
    preview = admin.post(PREVIEW, json={"scope": {"feeds": [text]}})
    assert preview.status_code == 200, preview.text
    assert preview.json()["data"]["total_diamonds"] == 0
    quoted = admin.post(QUOTE, json={**QUOTE_BODY, "feed": text, "shape": text})
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["data"]["price_model_price"] == "1430.00"


@pytest.mark.usefixtures("unchanged")
def test_nul_in_scope_feeds_and_quotes_is_a_422(admin: httpx.Client) -> None:
    for path in (PREVIEW, START):
        response = admin.post(path, json={"scope": {"feeds": ["atlas", NUL]}})
        assert_error(response, 422, "validation_error", "scope.feeds")
    for name in ("feed", "shape", "supplier_stone_id", "image_url"):
        response = admin.post(QUOTE, json={**QUOTE_BODY, name: NUL})
        assert_error(response, 422, "validation_error", name)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("text", (*SQLISH, NUL))
def test_sqlish_api_keys_and_login_keys_are_refused(target: Target, text: str) -> None:
    with httpx.Client(base_url=target.url) as client:
        header = client.get(RULES, headers={"X-API-Key": text.replace("\x00", "")})
        assert_error(header, 401, "unauthorized")
        bearer = client.get(RULES, headers={"Authorization": f"Bearer {text.replace(chr(0), '')}"})
        assert_error(bearer, 401, "unauthorized")
        login = client.post("/login", data={"key": text, "next": "/rules"})
        assert login.status_code == 401
        assert "dp_session" not in login.cookies


# --- wrong content types, empty bodies, the wrong JSON type -------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/csv",
        "application/xml",
        None,
    ],
)
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_non_json_bodies_are_415(
    admin: httpx.Client, method: str, path: str, content_type: str | None
) -> None:
    path = path.format(rule_id=first_rule_id(admin))
    body = json.dumps({"priority": 1, "diamonds": []}).encode()
    request = admin.build_request(method, path, content=body)
    if content_type is None:
        request.headers.pop("content-type", None)
    else:
        request.headers["content-type"] = content_type
    assert_error(admin.send(request), 415, "unsupported_media_type")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.x+json"]
)
def test_json_content_types_with_parameters_or_suffixes_are_accepted(
    admin: httpx.Client, content_type: str
) -> None:
    body = json.dumps(QUOTE_BODY).encode()
    response = admin.post(QUOTE, content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", RULES), ("POST", QUOTE), ("PUT", INGEST), ("PUT", f"{RULES}/{{rule_id}}")],
)
def test_empty_bodies_are_a_422_on_the_body(admin: httpx.Client, method: str, path: str) -> None:
    path = path.format(rule_id=first_rule_id(admin))
    for headers in (JSON, {}):
        response = admin.request(method, path, content=b"", headers=headers)
        assert_error(response, 422, "validation_error", "body")


WRONG_JSON_TYPES = ("[]", '[{"priority": 1}]', "1", '"text"', "true")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("body", WRONG_JSON_TYPES)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", RULES),
        ("POST", QUOTE),
        ("POST", PREVIEW),
        ("POST", START),
        ("PUT", f"{RULES}/{{rule_id}}"),
        ("DELETE", f"{RULES}/{{rule_id}}"),
    ],
)
def test_json_that_is_not_an_object_is_a_422(
    admin: httpx.Client, method: str, path: str, body: str
) -> None:
    path = path.format(rule_id=first_rule_id(admin))
    assert_error(raw(admin, method, path, body), 422, "validation_error")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[]", "diamonds"),
        (json.dumps([ROW]), "diamonds"),
        ('{"diamonds": {"a": 1}}', "diamonds"),
        ('{"diamonds": "x"}', "diamonds"),
        ('{"diamonds": [], "extra": 1}', "extra"),
        ('{"diamonds": [[1, 2]]}', "row"),
        ('{"diamonds": [null]}', "row"),
        ('{"diamonds": [1]}', "row"),
    ],
)
def test_ingest_bodies_of_the_wrong_shape_are_a_422(target: Target, body: str, field: str) -> None:
    with target.client("ingest") as ingest:
        assert_error(raw(ingest, "PUT", INGEST, body), 422, "validation_error", field)


def test_the_guard_statuses_are_documented_on_every_operation(target: Target) -> None:
    spec = httpx.get(f"{target.url}/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                assert {"413", "415"} <= responses.keys(), (method, path)
            if path.startswith(API):
                assert "422" in responses, (method, path)
