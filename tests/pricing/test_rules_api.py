"""Pricing rules over HTTP: list, create, partial update, soft delete, on a real database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from tests.pricing.helpers import problems, rule_body

RULES = "/api/v2/pricing-rules"
RULE_FIELDS = {
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
}
Db = psycopg.Connection[dict[str, Any]]


def at(timestamp: str) -> datetime:
    """Parse an API timestamp (it must carry an offset)."""
    moment = datetime.fromisoformat(timestamp)
    assert moment.utcoffset() is not None, timestamp
    return moment


def listed(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """The data of GET /pricing-rules."""
    response = client.get(RULES, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def created(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Create a rule (expecting 201) and return it."""
    response = client.post(RULES, json=rule_body(**fields))
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()["data"]
    return rule


def test_list_returns_the_default_rules_in_precedence_order_with_decimal_strings(
    admin: httpx.Client,
) -> None:
    data = listed(admin)
    assert data["total"] == len(data["rules"]) == 21
    first = data["rules"][0]
    assert set(first) == RULE_FIELDS
    assert first["priority"] == 10
    assert (first["stone_type"], first["price_min"], first["price_max"]) == (
        "natural",
        "0.00",
        "499.99",
    )
    assert first["margin_modifier"] == "6.00"
    assert (first["feed"], first["rating"], first["active"]) == (None, None, True)
    assert at(first["created_at"]) == at(first["updated_at"])
    assert [rule["priority"] for rule in data["rules"]] == sorted(
        rule["priority"] for rule in data["rules"]
    )
    assert data["rules"][6]["price_max"] is None  # the open-ended top bracket


def test_create_returns_201_with_every_field_and_no_reapply_job(admin: httpx.Client) -> None:
    response = admin.post(
        RULES,
        json={
            "priority": 1,
            "stone_type": "lab",
            "price_min": 100,
            "price_max": "2500.5",
            "feed": " acme ",
            "margin_modifier": -2.5,
            "rating": 7,
        },
    )
    assert response.status_code == 201
    rule = response.json()["data"]
    assert set(rule) == RULE_FIELDS | {"reapply_job_id"}
    assert rule["reapply_job_id"] is None
    assert (rule["priority"], rule["stone_type"], rule["feed"], rule["rating"]) == (
        1,
        "lab",
        "acme",
        7,
    )
    assert (rule["price_min"], rule["price_max"], rule["margin_modifier"]) == (
        "100.00",
        "2500.50",
        "-2.50",
    )
    assert rule["active"] is True
    assert listed(admin)["rules"][0]["id"] == rule["id"]


def test_create_defaults_omitted_criteria_to_null_and_modifier_to_zero(
    admin: httpx.Client, db: Db
) -> None:
    response = admin.post(RULES, json={"priority": 3})
    assert response.status_code == 201
    rule = response.json()["data"]
    assert {k: rule[k] for k in ("stone_type", "price_min", "price_max", "feed", "rating")} == {
        "stone_type": None,
        "price_min": None,
        "price_max": None,
        "feed": None,
        "rating": None,
    }
    assert rule["margin_modifier"] == "0.00"
    stored = db.execute("SELECT margin_modifier FROM pricing_rules WHERE id = %s", [rule["id"]])
    assert stored.fetchone() == {"margin_modifier": Decimal("0.00")}


def test_numbers_and_decimal_strings_are_accepted_alike(admin: httpx.Client) -> None:
    as_numbers = created(admin, price_min=10, price_max=20.25, margin_modifier=-4)
    as_strings = created(admin, price_min="10", price_max="20.25", margin_modifier="-4.00")
    for rule in (as_numbers, as_strings):
        assert (rule["price_min"], rule["price_max"], rule["margin_modifier"]) == (
            "10.00",
            "20.25",
            "-4.00",
        )


def test_put_changes_only_the_fields_sent(admin: httpx.Client) -> None:
    rule = created(admin, stone_type="natural", price_min=1, price_max=2, feed="f", rating=3)
    response = admin.put(f"{RULES}/{rule['id']}", json={"margin_modifier": "2.25", "rating": 4})
    assert response.status_code == 200
    updated = response.json()["data"]
    assert updated["reapply_job_id"] is None
    assert (updated["margin_modifier"], updated["rating"]) == ("2.25", 4)
    unchanged = ("priority", "stone_type", "price_min", "price_max", "feed", "created_at", "id")
    assert {k: updated[k] for k in unchanged} == {k: rule[k] for k in unchanged}
    assert at(updated["updated_at"]) > at(rule["updated_at"])


def test_put_null_clears_each_nullable_criterion(admin: httpx.Client) -> None:
    rule = created(admin, stone_type="fancy", price_min=1, price_max=2, feed="f", rating=3)
    cleared = {"stone_type": None, "price_min": None, "price_max": None, "feed": None}
    response = admin.put(f"{RULES}/{rule['id']}", json={**cleared, "rating": None})
    assert response.status_code == 200
    updated = response.json()["data"]
    assert {k: updated[k] for k in [*cleared, "rating"]} == {**cleared, "rating": None}


def test_put_null_on_a_required_field_is_rejected(admin: httpx.Client) -> None:
    rule = created(admin)
    body = {"priority": None, "margin_modifier": None, "active": None}
    assert sorted(problems(admin.put(f"{RULES}/{rule['id']}", json=body))) == [
        ("active", "must not be null"),
        ("margin_modifier", "must not be null"),
        ("priority", "must not be null"),
    ]


def test_put_validates_price_bounds_against_the_merged_rule(admin: httpx.Client) -> None:
    rule = created(admin, price_min="100.00", price_max="200.00")
    url = f"{RULES}/{rule['id']}"
    assert problems(admin.put(url, json={"price_min": 300})) == [
        ("price_min", "must be less than or equal to price_max (200.00)")
    ]
    assert problems(admin.put(url, json={"price_max": 50})) == [
        ("price_max", "must be greater than or equal to price_min (100.00)")
    ]
    assert admin.put(url, json={"price_max": None}).status_code == 200
    assert admin.put(url, json={"price_min": 300}).status_code == 200


def test_put_validates_the_markup_ratio_against_the_merged_rule(admin: httpx.Client) -> None:
    rule = created(admin, stone_type="natural", margin_modifier=850)  # ratio 9.9 for natural
    url = f"{RULES}/{rule['id']}"
    message = "margin_modifier 850.00 puts the markup ratio outside (0, 10) for stone type lab"
    assert problems(admin.put(url, json={"stone_type": None})) == [("stone_type", message)]
    assert problems(admin.put(url, json={"stone_type": "lab"})) == [("stone_type", message)]
    both = {"stone_type": "lab", "margin_modifier": "821"}
    assert problems(admin.put(url, json=both)) == [
        (
            "margin_modifier",
            "margin_modifier 821.00 puts the markup ratio outside (0, 10) for stone type lab",
        )
    ]
    response = admin.put(url, json={"stone_type": "lab", "margin_modifier": "820.99"})
    assert response.status_code == 200
    stored = admin.get(RULES).json()["data"]["rules"]
    assert {"id": rule["id"], "stone_type": "lab", "margin_modifier": "820.99"}.items() <= next(
        r for r in stored if r["id"] == rule["id"]
    ).items()


def test_put_with_an_empty_body_changes_nothing(admin: httpx.Client) -> None:
    rule = created(admin)
    response = admin.put(f"{RULES}/{rule['id']}", json={})
    assert response.status_code == 200
    assert response.json()["data"] == {**rule, "reapply_job_id": None}


def test_put_reports_every_bad_field_in_one_response(admin: httpx.Client) -> None:
    rule = created(admin)
    body = {"priority": 1.5, "rating": 0, "stone_type": "x", "extra": 1}
    assert sorted(problems(admin.put(f"{RULES}/{rule['id']}", json=body))) == [
        ("extra", "Extra inputs are not permitted"),
        ("priority", "must be an integer"),
        ("rating", "must be an integer from 1 to 10"),
        ("stone_type", "must be one of: natural, lab, fancy"),
    ]


def test_delete_is_a_soft_delete_hidden_from_the_default_list(admin: httpx.Client, db: Db) -> None:
    rule = created(admin, priority=-1)
    response = admin.delete(f"{RULES}/{rule['id']}")
    assert response.status_code == 200
    deleted = response.json()["data"]
    assert deleted["active"] is False
    assert deleted["reapply_job_id"] is None
    assert at(deleted["updated_at"]) > at(rule["updated_at"])
    assert {k: v for k, v in deleted.items() if k not in {"active", "updated_at"}} == {
        **{k: v for k, v in rule.items() if k not in {"active", "updated_at"}}
    }
    assert rule["id"] not in [r["id"] for r in listed(admin)["rules"]]
    everything = listed(admin, include_inactive="true")
    assert everything["total"] == 22
    assert everything["rules"][0] == {k: v for k, v in deleted.items() if k != "reapply_job_id"}
    assert db.execute(
        "SELECT active FROM pricing_rules WHERE id = %s", [rule["id"]]
    ).fetchone() == {"active": False}


def test_deleting_an_inactive_rule_again_changes_nothing(admin: httpx.Client) -> None:
    rule = created(admin)
    first = admin.delete(f"{RULES}/{rule['id']}").json()["data"]
    second = admin.delete(f"{RULES}/{rule['id']}")
    assert second.status_code == 200
    assert second.json()["data"] == first


def test_an_inactive_rule_can_be_reactivated_with_put(admin: httpx.Client) -> None:
    rule = created(admin)
    admin.delete(f"{RULES}/{rule['id']}")
    response = admin.put(f"{RULES}/{rule['id']}", json={"active": True})
    assert response.json()["data"]["active"] is True
    assert rule["id"] in [r["id"] for r in listed(admin)["rules"]]


def test_equal_priorities_are_ordered_by_created_at_then_id(admin: httpx.Client, db: Db) -> None:
    older = created(admin, priority=0)
    newer = created(admin, priority=0)
    twins = db.execute(
        "INSERT INTO pricing_rules (priority, margin_modifier, created_at)"
        " SELECT 0, 1, '2000-01-01T00:00:00Z' FROM generate_series(1, 3) RETURNING id"
    ).fetchall()
    twin_ids = sorted(str(row["id"]) for row in twins)
    expected = [*twin_ids, older["id"], newer["id"]]
    for _ in range(2):  # the same order every time
        assert [r["id"] for r in listed(admin)["rules"][:5]] == expected
