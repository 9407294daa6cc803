"""The file importer meets the same hostile rows as the API: each is reported by line, none crash."""

from __future__ import annotations

import io
import json

import psycopg

from diamond_pricing.catalog.importer import ImportReport, import_rows, read_csv, read_jsonl
from diamond_pricing.db import DictConn
from tests.support import make_settings, run_async

GOOD = {"supplier_stone_id": "IMP-1", "lab_grown": True, "feed_price": "1000.00"}
HOSTILE_LINES = [
    json.dumps(GOOD),
    "[" * 100_000 + "]" * 100_000,  # nested past the parser's recursion limit
    json.dumps({**GOOD, "supplier_stone_id": "IMP-2", "color": "D\x00"}),  # NUL
    '{"supplier_stone_id": "IMP-3", "lab_grown": true, "feed_price": 1e400}',
    '{"supplier_stone_id": "IMP-4", "lab_grown": true, "feed_price": NaN}',
    json.dumps({**GOOD, "supplier_stone_id": "'; DROP TABLE diamonds; --"}),
    "[1, 2]",  # an array where a row object belongs
]


def run_import(db_url: str, text: str, *, jsonl: bool, skip_invalid: bool) -> ImportReport:
    """Import ``text`` into feed ``imp`` and collect the problems it reports."""
    settings = make_settings(db_url)
    problems: list[tuple[int, str]] = []
    rows = read_jsonl(io.StringIO(text)) if jsonl else read_csv(io.StringIO(text, newline=""))

    async def work(conn: DictConn) -> ImportReport:
        report = await import_rows(
            conn,
            settings,
            feed="imp",
            rows=rows,
            skip_invalid=skip_invalid,
            on_problem=lambda line, message: problems.append((line, message)),
        )
        report.problems = problems
        return report

    return run_async(db_url, work)


def stored_ids(db: psycopg.Connection[dict[str, object]]) -> list[object]:
    """supplier_stone_ids of feed imp."""
    rows = db.execute(
        "SELECT supplier_stone_id FROM diamonds WHERE feed = 'imp' ORDER BY 1"
    ).fetchall()
    return [row["supplier_stone_id"] for row in rows]


def test_hostile_json_lines_are_reported_by_line_and_nothing_is_written(
    db_url: str, db: psycopg.Connection[dict[str, object]]
) -> None:
    report = run_import(db_url, "\n".join(HOSTILE_LINES), jsonl=True, skip_invalid=False)
    assert [line for line, _ in report.problems] == [2, 3, 4, 5, 7]
    assert "not valid JSON" in report.problems[0][1]
    assert "NUL" in report.problems[1][1]
    assert not report.written
    assert stored_ids(db) == []


def test_with_skip_invalid_the_good_lines_are_stored_verbatim(
    db_url: str, db: psycopg.Connection[dict[str, object]]
) -> None:
    report = run_import(db_url, "\n".join(HOSTILE_LINES), jsonl=True, skip_invalid=True)
    assert report.written and report.inserted == 2
    assert stored_ids(db) == ["'; DROP TABLE diamonds; --", "IMP-1"]


def test_nul_in_a_csv_cell_is_reported_not_a_crash(
    db_url: str, db: psycopg.Connection[dict[str, object]]
) -> None:
    text = "supplier_stone_id,lab_grown,feed_price,color\nIMP-1,true,10,D\nIMP-2,true,10,E\x00\n"
    report = run_import(db_url, text, jsonl=False, skip_invalid=False)
    assert [line for line, _ in report.problems] == [3]
    assert stored_ids(db) == []
