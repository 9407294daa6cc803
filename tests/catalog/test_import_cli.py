"""``diamond-pricing import`` as a real subprocess against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.catalog.helpers import engine_of

Conn = psycopg.Connection[dict[str, Any]]
CLI = [str(Path(sys.executable).parent / "diamond-pricing")]


def run_import(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "COLUMNS": "200"}
    return subprocess.run(
        [*CLI, "import", *args], env=env, capture_output=True, text=True, timeout=60
    )


def stored(db: Conn, feed: str) -> dict[str, dict[str, Any]]:
    rows = db.execute("SELECT * FROM diamonds WHERE feed = %s", (feed,)).fetchall()
    return {row["supplier_stone_id"]: row for row in rows}


def feed_version(db: Conn, feed: str) -> int:
    row = db.execute("SELECT version FROM dataset_versions WHERE feed = %s", (feed,)).fetchone()
    return int(row["version"]) if row else 0


CSV_HEADER = "supplier_stone_id,shape,carats,color,lab_grown,fancy_color,feed_price,availability\n"


def test_csv_import_writes_rows_priced_by_the_engine(tmp_path: Path, db_url: str, db: Conn) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        CSV_HEADER
        + "C-1,round,1.01,G,true,,1000.00,available\n"
        + "C-2,oval,,,false,,25000,\n"
        + 'C-3,"pear",0.50,,no,Pink,499.99,on_hold\n'
    )
    result = run_import(db_url, str(path), "--feed", "csvfeed")
    assert result.returncode == 0, result.stderr
    assert "3 inserted" in result.stderr
    rows = stored(db, "csvfeed")
    assert set(rows) == {"C-1", "C-2", "C-3"}
    assert rows["C-2"]["carats"] is None and rows["C-2"]["availability"] == "available"
    assert rows["C-3"]["stone_type"] == "fancy" and rows["C-3"]["availability"] == "on_hold"
    engine = engine_of(db_url)
    for row in rows.values():
        priced = engine.price(
            feed="csvfeed",
            feed_price=row["feed_price"],
            carats=row["carats"],
            lab_grown=row["lab_grown"],
            fancy_color=row["fancy_color"],
        )
        assert (row["price_model_price"], row["markup_ratio"], row["price_per_carat"]) == (
            priced.price_model_price,
            priced.markup_ratio,
            priced.price_per_carat,
        )
    assert feed_version(db, "csvfeed") == 1


def test_jsonl_import_inserts_then_updates_and_bumps_once_per_run(
    tmp_path: Path, db_url: str, db: Conn
) -> None:
    path = tmp_path / "feed.jsonl"
    rows = [
        {"supplier_stone_id": f"J-{i}", "lab_grown": True, "feed_price": 100 + i, "carats": 1.2}
        for i in range(20)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    first = run_import(db_url, str(path), "--feed", "jfeed")
    assert first.returncode == 0, first.stderr
    assert len(stored(db, "jfeed")) == 20 and feed_version(db, "jfeed") == 1

    rows[3]["feed_price"] = 9999.5
    path.write_text("\n".join(json.dumps(r) for r in rows))
    second = run_import(db_url, str(path), "--feed", "jfeed")
    assert second.returncode == 0, second.stderr
    assert "0 inserted, 1 updated, 19 unchanged" in second.stderr
    assert stored(db, "jfeed")["J-3"]["feed_price"] == Decimal("9999.50")
    assert feed_version(db, "jfeed") == 2


BAD_FILES = {
    "csv": (
        CSV_HEADER
        + "B-1,round,1.00,G,true,,100.00,available\n"  # line 2
        + "B-2,round,1.00,G,true,,-5.00,available\n"  # line 3: negative cost
        + "B-3,round,1.00,G,true,,100.00,available\n"  # line 4
        + "B-4,round,heavy,G,true,,100.00,reserved\n"  # line 5: carats + availability
        + "B-1,round,2.00,G,true,,300.00,available\n"  # line 6: duplicate of line 2
        + "B-6,round,1.00\n",  # line 7: short record
        {3: "feed_price", 5: "availability", 6: "repeats line 2", 7: "expected 8 fields"},
    ),
    "jsonl": (
        '{"supplier_stone_id": "B-1", "lab_grown": true, "feed_price": 10}\n'
        '{"supplier_stone_id": "B-2", "lab_grown": true, "feed_price": 10, "rating": 5}\n'
        "not json\n"
        "\n"
        '{"supplier_stone_id": "B-3", "lab_grown": "perhaps", "feed_price": 10}\n'
        '{"supplier_stone_id": "B-4", "feed_price": 10}\n',
        {2: "pricing outputs", 3: "not valid JSON", 5: "lab_grown", 6: "lab_grown"},
    ),
}


@pytest.mark.parametrize("fmt", sorted(BAD_FILES))
def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    tmp_path: Path, db_url: str, db: Conn, fmt: str
) -> None:
    text, problems = BAD_FILES[fmt]
    path = tmp_path / f"bad.{fmt}"
    path.write_text(text)
    result = run_import(db_url, str(path), "--feed", "badfeed")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    for line_no, fragment in problems.items():
        assert any(line.startswith(f"line {line_no}:") and fragment in line for line in lines), (
            line_no,
            result.stderr,
        )
    reported = {int(line.split(":")[0].split()[1]) for line in lines if line.startswith("line ")}
    assert reported == set(problems)
    assert "nothing was written" in lines[-1]
    assert stored(db, "badfeed") == {}
    assert feed_version(db, "badfeed") == 0


def test_skip_invalid_imports_the_valid_rows_and_reports_the_skipped(
    tmp_path: Path, db_url: str, db: Conn
) -> None:
    text, problems = BAD_FILES["csv"]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = run_import(db_url, str(path), "--feed", "skipfeed", "--skip-invalid")
    assert result.returncode == 0, result.stderr
    for line_no in problems:
        assert f"line {line_no}:" in result.stderr
    assert "skipped 4 bad rows" in result.stderr
    rows = stored(db, "skipfeed")
    assert set(rows) == {"B-1", "B-3"}
    assert rows["B-1"]["feed_price"] == Decimal("100.00")  # the first of the duplicates wins
    assert feed_version(db, "skipfeed") == 1


def test_a_header_with_pricing_outputs_fails_with_a_one_line_reason(
    tmp_path: Path, db_url: str, db: Conn
) -> None:
    path = tmp_path / "outputs.csv"
    path.write_text("supplier_stone_id,lab_grown,feed_price,price_model_price\nA,true,1,2\n")
    result = run_import(db_url, str(path), "--feed", "hfeed")
    assert result.returncode != 0
    assert "price_model_price" in result.stderr.strip().splitlines()[-1]
    assert stored(db, "hfeed") == {}
