"""Every rule validation answers 422 with one exact entry per bad field (no rule is stored)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.pricing.helpers import problems, rule_body

RULES = "/api/v2/pricing-rules"
INT = "must be an integer"
NOT_NULL = "must not be null"
STONE = "must be one of: natural, lab, fancy"
DECIMAL = "must be a decimal number (a JSON number or a numeric string)"
NEGATIVE = "must be greater than or equal to 0"
MONEY_MAX = "must be at most 9999999999.99"
PLACES = "must have at most 2 decimal places"
MODIFIER = "must be greater than -1000 and less than 1000"
RATING = "must be an integer from 1 to 10"
FEED = "must be a non-empty string"
BOOL = "must be true or false"

# (case id, body overrides, expected (field, message) entries)
CREATE_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("priority bool", {"priority": True}, [("priority", INT)]),
    ("priority float", {"priority": 1.0}, [("priority", INT)]),
    ("priority string", {"priority": "5"}, [("priority", INT)]),
    ("priority null", {"priority": None}, [("priority", NOT_NULL)]),
    (
        "priority beyond int4",
        {"priority": 2**31},
        [("priority", "must be between -2147483648 and 2147483647")],
    ),
    ("stone_type unknown", {"stone_type": "moissanite"}, [("stone_type", STONE)]),
    ("stone_type wrong case", {"stone_type": "Lab"}, [("stone_type", STONE)]),
    ("stone_type number", {"stone_type": 1}, [("stone_type", STONE)]),
    ("price_min negative", {"price_min": -1}, [("price_min", NEGATIVE)]),
    ("price_min text", {"price_min": "cheap"}, [("price_min", DECIMAL)]),
    ("price_min bool", {"price_min": True}, [("price_min", DECIMAL)]),
    ("price_min NaN", {"price_min": "NaN"}, [("price_min", DECIMAL)]),
    ("price_min three places", {"price_min": "1.001"}, [("price_min", PLACES)]),
    ("price_max too big", {"price_max": "10000000000.00"}, [("price_max", MONEY_MAX)]),
    ("price_max infinite", {"price_max": "Infinity"}, [("price_max", DECIMAL)]),
    ("price_max list", {"price_max": [1]}, [("price_max", DECIMAL)]),
    (
        "price_min above price_max",
        {"price_min": 500, "price_max": "499.99"},
        [("price_max", "must be greater than or equal to price_min (500.00)")],
    ),
    ("margin_modifier 1000", {"margin_modifier": 1000}, [("margin_modifier", MODIFIER)]),
    ("margin_modifier -1000", {"margin_modifier": "-1000"}, [("margin_modifier", MODIFIER)]),
    ("margin_modifier three places", {"margin_modifier": 1.234}, [("margin_modifier", PLACES)]),
    ("margin_modifier null", {"margin_modifier": None}, [("margin_modifier", NOT_NULL)]),
    ("margin_modifier text", {"margin_modifier": "lots"}, [("margin_modifier", DECIMAL)]),
    (
        "ratio reaches 10 for lab when any type matches",
        {"margin_modifier": 850},
        [
            (
                "margin_modifier",
                "margin_modifier 850.00 puts the markup ratio outside (0, 10) for stone type lab",
            )
        ],
    ),
    (
        "ratio reaches 0 for natural and fancy",
        {"margin_modifier": -140},
        [
            (
                "margin_modifier",
                "margin_modifier -140.00 puts the markup ratio outside (0, 10)"
                " for stone type natural, fancy",
            )
        ],
    ),
    (
        "ratio reaches 10 for lab only",
        {"stone_type": "lab", "margin_modifier": "821.00"},
        [
            (
                "margin_modifier",
                "margin_modifier 821.00 puts the markup ratio outside (0, 10) for stone type lab",
            )
        ],
    ),
    ("rating 0", {"rating": 0}, [("rating", RATING)]),
    ("rating 11", {"rating": 11}, [("rating", RATING)]),
    ("rating float", {"rating": 5.5}, [("rating", RATING)]),
    ("rating string", {"rating": "5"}, [("rating", RATING)]),
    ("rating bool", {"rating": True}, [("rating", RATING)]),
    ("feed empty", {"feed": ""}, [("feed", FEED)]),
    ("feed blank", {"feed": "   "}, [("feed", FEED)]),
    ("feed number", {"feed": 7}, [("feed", FEED)]),
    ("feed too long", {"feed": "x" * 201}, [("feed", "must be at most 200 characters")]),
    ("active string", {"active": "yes"}, [("active", BOOL)]),
    ("unknown field", {"markup": 2}, [("markup", "Extra inputs are not permitted")]),
    ("recalculate_pricing text", {"recalculate_pricing": "true"}, [("recalculate_pricing", BOOL)]),
]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [pytest.param(body, expected, id=case) for case, body, expected in CREATE_CASES],
)
def test_create_rejects_each_bad_field_with_its_exact_message(
    shared_admin: httpx.Client, overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    response = shared_admin.post(RULES, json=rule_body(**overrides))
    assert problems(response) == expected


def test_create_requires_priority(shared_admin: httpx.Client) -> None:
    response = shared_admin.post(RULES, json={"margin_modifier": 1})
    assert problems(response) == [("priority", "Field required")]


def test_create_reports_every_bad_field_in_one_response(shared_admin: httpx.Client) -> None:
    body = {
        "priority": "high",
        "stone_type": "opal",
        "price_min": -5,
        "margin_modifier": "1.005",
        "rating": 12,
        "feed": "",
        "colour": "red",
    }
    response = shared_admin.post(RULES, json=body)
    assert sorted(problems(response)) == sorted(
        [
            ("priority", INT),
            ("stone_type", STONE),
            ("price_min", NEGATIVE),
            ("margin_modifier", PLACES),
            ("rating", RATING),
            ("feed", FEED),
            ("colour", "Extra inputs are not permitted"),
        ]
    )


def test_cross_field_problems_are_reported_together(shared_admin: httpx.Client) -> None:
    body = rule_body(price_min="10.00", price_max="9.99", margin_modifier="-150")
    assert problems(shared_admin.post(RULES, json=body)) == [
        ("price_max", "must be greater than or equal to price_min (10.00)"),
        (
            "margin_modifier",
            "margin_modifier -150.00 puts the markup ratio outside (0, 10)"
            " for stone type natural, fancy",
        ),
    ]


def test_a_body_that_is_not_an_object_is_rejected(shared_admin: httpx.Client) -> None:
    response = shared_admin.post(RULES, json=[1, 2])
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body"


def test_rejected_creates_store_nothing(shared_admin: httpx.Client) -> None:
    before = shared_admin.get(RULES, params={"include_inactive": True}).json()["data"]["total"]
    shared_admin.post(RULES, json=rule_body(margin_modifier=900))
    shared_admin.post(RULES, json=rule_body(recalculate_pricing=True, margin_modifier=-900))
    after = shared_admin.get(RULES, params={"include_inactive": True}).json()["data"]["total"]
    assert after == before == 21


def test_malformed_rule_id_is_a_422_on_the_path(shared_admin: httpx.Client) -> None:
    for response in (
        shared_admin.put(f"{RULES}/not-a-uuid", json={"priority": 1}),
        shared_admin.delete(f"{RULES}/not-a-uuid"),
    ):
        assert response.status_code == 422
        [entry] = response.json()["error"]["details"]
        assert (entry["field"], entry["location"]) == ("rule_id", "path")


def test_unknown_rule_id_is_a_404(shared_admin: httpx.Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for response in (
        shared_admin.put(f"{RULES}/{missing}", json={"priority": 1}),
        shared_admin.put(f"{RULES}/{missing}", json={}),
        shared_admin.delete(f"{RULES}/{missing}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"pricing rule {missing} not found",
            "details": None,
        }


def test_include_inactive_must_be_a_boolean(shared_admin: httpx.Client) -> None:
    response = shared_admin.get(RULES, params={"include_inactive": "perhaps"})
    assert [field for field, _ in problems(response)] == ["include_inactive"]
