"""duckdb.query against real DuckDB files in tmp_path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import duckdb_query
from runbook_engine.testing import make_context, run_plugin
from tests.support.imports import loaded_after_import


def _connect(path: Path | str = ":memory:", read_only: bool = False) -> Any:
    """A DuckDB connection for preparing and inspecting files (imported lazily, as in the plugin)."""
    import duckdb

    return duckdb.connect(str(path), read_only=read_only)


@pytest.fixture
def orders_db(tmp_path: Path) -> Path:
    """A DuckDB file with 250 orders: id 1..250, amount id*1.5, status paid/open."""
    path = tmp_path / "shop.duckdb"
    with _connect(path) as conn:
        conn.execute(
            "CREATE TABLE orders AS SELECT i AS id, CAST(i * 1.5 AS DECIMAL(10,2)) AS amount, "
            "CASE WHEN i % 5 = 0 THEN 'open' ELSE 'paid' END AS status, "
            "TIMESTAMP '2024-05-01 10:00:00' + i * INTERVAL 1 MINUTE AS placed "
            "FROM range(1, 251) r(i)"
        )
    return path


def _count_orders(path: Path) -> int:
    with _connect(path, read_only=True) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])


def test_positional_params_give_rows_value_columns_and_count(orders_db: Path) -> None:
    """`?` placeholders are bound from a list; rows, value, columns and row_count match."""
    out = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "SELECT id, amount, status FROM orders WHERE id <= ? AND status = ? ORDER BY id",
            "params": [10, "open"],
        },
    )
    assert out["rows"] == [
        {"id": 5, "amount": 7.5, "status": "open"},
        {"id": 10, "amount": 15.0, "status": "open"},
    ]
    assert out["row_count"] == 2
    assert out["value"] == 5
    assert out["columns"] == ["id", "amount", "status"]
    assert isinstance(out["elapsed_ms"], float)
    assert set(out) == set(duckdb_query.OUTPUTS)


def test_named_params_are_bound_from_a_mapping(orders_db: Path) -> None:
    """`$name` placeholders are bound from a mapping (a leading $ in the key is allowed)."""
    out = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "SELECT count(*) AS n FROM orders WHERE status = $status AND id > $after",
            "params": {"status": "paid", "$after": 200},
        },
    )
    assert out["rows"] == [{"n": 40}]
    assert out["value"] == 40
    assert out["row_count"] == 1


def test_values_are_not_pasted_into_sql(orders_db: Path) -> None:
    """A bound value that looks like SQL is compared as text, never executed."""
    out = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "SELECT count(*) FROM orders WHERE status = ?",
            "params": ["paid' OR '1'='1"],
        },
    )
    assert out["value"] == 0


def test_rows_are_capped_but_row_count_is_true(orders_db: Path) -> None:
    """Only max_rows rows (default 100) are kept; row_count still counts all 250."""
    out = run_plugin(duckdb_query, {"database": str(orders_db), "sql": "SELECT id FROM orders ORDER BY id"})
    assert len(out["rows"]) == 100
    assert out["rows"][-1] == {"id": 100}
    assert out["row_count"] == 250
    capped = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "SELECT id FROM orders ORDER BY id DESC",
            "max_rows": 0,
        },
    )
    assert capped["rows"] == []
    assert capped["row_count"] == 250
    assert capped["value"] == 250


def test_empty_result_has_columns_and_null_value(orders_db: Path) -> None:
    """No rows: rows [], row_count 0, value null, columns still listed."""
    out = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "SELECT id, status FROM orders WHERE id < 0",
        },
    )
    assert out["rows"] == []
    assert out["row_count"] == 0
    assert out["value"] is None
    assert out["columns"] == ["id", "status"]


def test_non_json_types_become_plain_values() -> None:
    """Decimal, timestamps, dates, UUID, blobs, intervals, NaN, lists and structs are converted."""
    out = run_plugin(
        duckdb_query,
        {
            "database": ":memory:",
            "sql": "SELECT 12.50::DECIMAL(10,2) AS dec, TIMESTAMP '2024-05-01 10:00:00.5' AS ts, "
            "DATE '2024-05-01' AS d, TIME '10:30:00' AS tm, "
            "'5f1b0c3e-8a52-4d7e-9a54-2d3c4b5a6f70'::UUID AS u, 'ab\\xFF'::BLOB AS b, "
            "INTERVAL 90 MINUTE AS iv, 'nan'::DOUBLE AS nan, [1, 2] AS l, {'x': 1} AS s, "
            "170141183460469231731687303715884105727::HUGEINT AS big",
        },
    )
    assert out["rows"] == [
        {
            "dec": 12.5,
            "ts": "2024-05-01T10:00:00.500000",
            "d": "2024-05-01",
            "tm": "10:30:00",
            "u": "5f1b0c3e-8a52-4d7e-9a54-2d3c4b5a6f70",
            "b": "ab\\xff",
            "iv": 5400.0,
            "nan": None,
            "l": [1, 2],
            "s": {"x": 1},
            "big": 170141183460469231731687303715884105727,
        }
    ]


def test_duplicate_column_names_are_made_unique() -> None:
    """Two columns named alike stay apart in rows as a and a_1."""
    out = run_plugin(duckdb_query, {"database": ":memory:", "sql": "SELECT 1 AS a, 2 AS a"})
    assert out["columns"] == ["a", "a_1"]
    assert out["rows"] == [{"a": 1, "a_1": 2}]


def test_read_only_by_default_refuses_writes(orders_db: Path) -> None:
    """The file opens read-only unless read_only: false, so a check cannot change data."""
    with pytest.raises(StepError, match="read-only mode"):
        run_plugin(duckdb_query, {"database": str(orders_db), "sql": "DELETE FROM orders"})
    assert _count_orders(orders_db) == 250


def test_read_only_false_allows_writes(orders_db: Path) -> None:
    """With read_only: false the statement runs and DuckDB reports the rows it changed."""
    out = run_plugin(
        duckdb_query,
        {
            "database": str(orders_db),
            "sql": "DELETE FROM orders WHERE id > ?",
            "params": [200],
            "read_only": False,
        },
    )
    assert out["value"] == 50
    assert _count_orders(orders_db) == 200


def test_missing_database_file_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    """A missing file is a StepError naming it; no empty database is left behind."""
    with pytest.raises(StepError, match=r"database file not found: .*nope\.duckdb"):
        run_plugin(duckdb_query, {"database": str(tmp_path / "nope.duckdb"), "sql": "SELECT 1"})
    with pytest.raises(StepError, match="database file not found"):
        run_plugin(
            duckdb_query,
            {
                "database": str(tmp_path / "nope.duckdb"),
                "sql": "SELECT 1",
                "read_only": False,
            },
        )
    assert list(tmp_path.iterdir()) == []


def test_bad_sql_is_an_error_with_duckdb_message(orders_db: Path) -> None:
    """A query DuckDB rejects is a StepError carrying DuckDB's explanation."""
    with pytest.raises(StepError, match=r"query failed: Catalog Error: Table with name nope"):
        run_plugin(duckdb_query, {"database": str(orders_db), "sql": "SELECT * FROM nope"})
    with pytest.raises(StepError, match="query failed: Invalid Input Error"):
        run_plugin(duckdb_query, {"database": str(orders_db), "sql": "SELECT ?", "params": [1, 2]})


def test_one_statement_only(orders_db: Path) -> None:
    """Several statements would all run with only the last one's result shown: refused,
    and nothing runs (the write before the SELECT does not happen)."""
    args = {"database": str(orders_db), "read_only": False, "sql": "DELETE FROM orders; SELECT count(*) FROM orders"}
    with pytest.raises(StepError, match=r"sql: give exactly one statement \(found 2\)"):
        run_plugin(duckdb_query, args)
    assert run_plugin(duckdb_query, {"database": str(orders_db), "sql": "SELECT count(*) FROM orders"})["value"] > 0
    with pytest.raises(StepError, match=r"found 0"):
        run_plugin(duckdb_query, {"database": str(orders_db), "sql": "-- nothing"})


def test_relative_paths_start_at_the_project_folder(orders_db: Path, tmp_path: Path) -> None:
    """database: and file paths inside the SQL resolve against ctx.workdir, not the cwd."""
    with _connect() as conn:
        conn.execute(f"COPY (SELECT 7 AS n) TO '{tmp_path / 'seven.parquet'}'")
    ctx = make_context(workdir=tmp_path)
    out = run_plugin(
        duckdb_query,
        {
            "database": "shop.duckdb",
            "sql": "SELECT (SELECT count(*) FROM orders) + (SELECT n FROM read_parquet('seven.parquet'))",
        },
        ctx,
    )
    assert out["value"] == 257


def test_attach_opens_more_files_read_only(orders_db: Path, tmp_path: Path) -> None:
    """attach: names more files by alias; they are read-only like the database."""
    other = tmp_path / "stock.duckdb"
    with _connect(other) as conn:
        conn.execute("CREATE TABLE stock AS SELECT 42 AS qty")
    args = {
        "database": ":memory:",
        "attach": {"shop": str(orders_db), "wh": "stock.duckdb"},
        "sql": "SELECT (SELECT count(*) FROM shop.orders) + (SELECT qty FROM wh.stock)",
    }
    ctx = make_context(workdir=tmp_path)
    assert run_plugin(duckdb_query, args, ctx)["value"] == 292
    with pytest.raises(StepError, match="read-only mode"):
        run_plugin(duckdb_query, {**args, "sql": "DELETE FROM wh.stock"}, ctx)
    with pytest.raises(StepError, match=r"attach\.x file not found"):
        run_plugin(
            duckdb_query, {"database": ":memory:", "attach": {"x": "no.duckdb"}, "sql": "SELECT 1"}, ctx
        )


def test_memory_database_works_without_files() -> None:
    """:memory: needs no file and may hold scratch tables."""
    out = run_plugin(duckdb_query, {"database": ":memory:", "sql": "SELECT 6 * 7 AS answer"})
    assert out["rows"] == [{"answer": 42}]


def test_timeout_interrupts_a_long_query() -> None:
    """A query still running at the attempt's timeout is interrupted and reported."""
    start = time.monotonic()
    with pytest.raises(StepError, match=r"query timed out after 0\.3s; it was interrupted"):
        run_plugin(
            duckdb_query,
            {"database": ":memory:", "sql": "SELECT sum(i) FROM range(100000000000) r(i)"},
            make_context(timeout=0.3),
        )
    assert time.monotonic() - start < 3


def test_cancel_interrupts_a_long_query() -> None:
    """Setting ctx.cancel (Ctrl-C in the engine) stops a running query promptly."""
    ctx = make_context(timeout=None)
    threading.Timer(0.2, ctx.cancel.set).start()
    start = time.monotonic()
    with pytest.raises(StepError, match="query cancelled"):
        run_plugin(
            duckdb_query,
            {"database": ":memory:", "sql": "SELECT sum(i) FROM range(100000000000) r(i)"},
            ctx,
        )
    assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"database": "x.duckdb", "sql": "  "}, "sql: must hold a query"),
        ({"database": "x.duckdb", "sql": "SELECT $1", "params": {"a b": 1}}, "parameter name 'a b'"),
        ({"database": "x.duckdb", "sql": "SELECT 1", "attach": {"1x": "y.duckdb"}}, "attach alias '1x'"),
        ({"database": "x.duckdb", "sql": "SELECT 1", "max_rows": -1}, "greater than or equal to 0"),
        ({"database": "x.duckdb", "query": "SELECT 1"}, "Extra inputs are not permitted"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, object], message: str) -> None:
    """Argument mistakes are load-time validation errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        duckdb_query.Spec.model_validate(args)


def test_importing_the_plugin_is_light() -> None:
    """Importing the module does not import duckdb, pyiceberg or pyarrow."""
    assert (
        loaded_after_import("runbook_engine.plugins.duckdb_query", ("duckdb", "pyiceberg", "pyarrow")) == []
    )
