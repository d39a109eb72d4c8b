"""iceberg.table against a real pyiceberg SQL catalog (SQLite) and warehouse in tmp_path."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import iceberg_table
from runbook_engine.testing import make_context, run_plugin
from tests.support.iceberg import Seeded, catalog_props, open_catalog, seed_events
from tests.support.imports import loaded_after_import


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """ops.events with two appends: 3 rows (kind a), then 2 rows (kind b)."""
    return seed_events(tmp_path)


def _check(root: Path, **args: object) -> dict[str, object]:
    return run_plugin(iceberg_table, {"catalog": catalog_props(root), "table": "ops.events", **args})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_table_is_a_fact_not_an_error(tmp_path: Path) -> None:
    """A table that does not exist gives exists: false and null outputs."""
    open_catalog(tmp_path).create_namespace("ops")
    out = _check(tmp_path)
    assert out.pop("elapsed_ms") is not None
    assert out == {
        key: None
        for key in iceberg_table.OUTPUTS
        if key not in {"rows", "value", "columns", "query_row_count", "elapsed_ms"}
    } | {"exists": False}


def test_missing_namespace_is_a_missing_table(seeded: Seeded, tmp_path: Path) -> None:
    """A table in a namespace that does not exist is also exists: false (with sql keys null)."""
    out = _check(tmp_path, table="nowhere.events", sql="SELECT 1")
    assert out["exists"] is False
    assert out["row_count"] is None
    assert out["rows"] is None
    assert out["query_row_count"] is None


def test_missing_sqlite_catalog_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    """A catalog database that is not there is a StepError; the check creates no file."""
    with pytest.raises(StepError, match="catalog's SQLite database does not exist"):
        _check(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_rest_catalog_is_an_error_without_credentials(tmp_path: Path) -> None:
    """A REST catalog that refuses connections is a StepError that never shows the credential."""
    port = _closed_port()
    catalog = {
        "type": "rest",
        "uri": f"http://127.0.0.1:{port}/api?token=tok-in-query",
        "credential": "client-id:s3cr3t-value",
        # Without an explicit token endpoint pyiceberg warns (DeprecationWarning).
        "oauth2-server-uri": f"http://127.0.0.1:{port}/api/v1/oauth/tokens",
    }
    with pytest.raises(StepError, match="cannot open catalog 'default'") as info:
        run_plugin(iceberg_table, {"catalog": catalog, "table": "ops.events"})
    message = str(info.value)
    assert "Connection refused" in message
    for secret in ("s3cr3t-value", "client-id", "tok-in-query"):
        assert secret not in message


def test_unknown_catalog_uri_error_hides_the_uri() -> None:
    """pyiceberg's own message quotes the URI; the step's error masks it."""
    catalog = {"uri": "ftp://admin:pa55word@lake.example/catalog"}
    expected = r"^cannot open catalog 'default': Could not infer the catalog type from the uri: \*\*\*$"
    with pytest.raises(StepError, match=expected):
        run_plugin(iceberg_table, {"catalog": catalog, "table": "ops.events"})


def test_row_count_and_snapshots_come_from_metadata(seeded: Seeded, tmp_path: Path) -> None:
    """row_count is the current snapshot's total-records; two appends make two snapshots."""
    out = _check(tmp_path)
    assert out["exists"] is True
    assert out["row_count"] == 5
    assert out["snapshot_count"] == 2
    assert out["current_snapshot_id"] == seeded.second_snapshot_id
    assert out["snapshot_id"] == seeded.second_snapshot_id
    assert out["snapshots"] == [
        {
            "snapshot_id": seeded.second_snapshot_id,
            "parent_id": seeded.first_snapshot_id,
            "timestamp": out["snapshot_at"],
            "operation": "append",
            "added_records": 2,
            "total_records": 5,
        },
        {
            "snapshot_id": seeded.first_snapshot_id,
            "parent_id": None,
            "timestamp": dt.datetime.fromtimestamp(seeded.first_timestamp_ms / 1000, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "operation": "append",
            "added_records": 3,
            "total_records": 3,
        },
    ]
    assert _check(tmp_path, max_snapshots=1)["snapshots"] == out["snapshots"][:1]


def test_as_of_snapshot_id_reads_the_older_snapshot(seeded: Seeded, tmp_path: Path) -> None:
    """as_of with a snapshot id (number or digits) gives that snapshot's row count."""
    for as_of in (seeded.first_snapshot_id, str(seeded.first_snapshot_id)):
        out = _check(tmp_path, as_of=as_of)
        assert out["row_count"] == 3
        assert out["snapshot_id"] == seeded.first_snapshot_id
        assert out["current_snapshot_id"] == seeded.second_snapshot_id


def test_as_of_time_reads_the_snapshot_current_then(seeded: Seeded, tmp_path: Path) -> None:
    """as_of with an ISO time or epoch ms picks the snapshot current at that moment."""
    at = dt.datetime.fromtimestamp(seeded.first_timestamp_ms / 1000, dt.UTC)
    for as_of in (
        at.isoformat(timespec="milliseconds"),
        at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        seeded.first_timestamp_ms,
        seeded.first_timestamp_ms + 1,
    ):
        out = _check(tmp_path, as_of=as_of)
        assert (as_of, out["row_count"], out["snapshot_id"]) == (as_of, 3, seeded.first_snapshot_id)
    assert _check(tmp_path, as_of="0s")["row_count"] == 5


def test_as_of_before_any_snapshot_is_an_error(seeded: Seeded, tmp_path: Path) -> None:
    """A time before the first commit, or an unknown id, cannot be read: StepError."""
    expected = r"no snapshot at or before 2001-01-01T00:00:00\.000\+00:00 \(the oldest is from 20"
    with pytest.raises(StepError, match=expected):
        _check(tmp_path, as_of="2001-01-01T00:00:00Z")
    with pytest.raises(StepError, match="the table has no snapshot 12345 "):
        _check(tmp_path, as_of=12345)


def test_freshness_age_counts_from_the_last_update(seeded: Seeded, tmp_path: Path) -> None:
    """last_updated_age_s is the seconds since the metadata's last update."""
    updated = seeded.table.metadata.last_updated_ms / 1000
    before = time.time() - updated
    out = _check(tmp_path)
    after = time.time() - updated
    assert before - 0.01 <= out["last_updated_age_s"] <= after + 0.01
    expected = dt.datetime.fromtimestamp(updated, dt.UTC).isoformat(timespec="milliseconds")
    assert out["last_updated"] == expected


def test_schema_and_partition_spec(seeded: Seeded, tmp_path: Path) -> None:
    """The schema lists columns with Iceberg types; the spec lists the day(ts) field."""
    out = _check(tmp_path)
    assert out["schema"] == [
        {"name": "id", "type": "long", "required": False},
        {"name": "kind", "type": "string", "required": False},
        {"name": "ts", "type": "timestamp", "required": False},
    ]
    assert out["partition_spec"] == [{"name": "ts_day", "source": "ts", "transform": "day"}]


def test_sql_runs_over_the_scan(seeded: Seeded, tmp_path: Path) -> None:
    """sql sees the table as `t` and by its short name; query outputs are separate from row_count."""
    out = _check(
        tmp_path,
        sql="SELECT kind, count(*) AS n, max(ts) AS last FROM events "
        "WHERE id > ? GROUP BY kind ORDER BY kind",
        params=[1],
    )
    assert out["rows"] == [
        {"kind": "a", "n": 2, "last": "2024-05-01T10:00:00"},
        {"kind": "b", "n": 2, "last": "2024-05-01T10:00:00"},
    ]
    assert out["columns"] == ["kind", "n", "last"]
    assert out["value"] == "a"
    assert out["query_row_count"] == 2
    assert out["row_count"] == 5
    same = _check(tmp_path, sql="SELECT count(*) FROM t WHERE kind = $k", params={"$k": "b"}, max_rows=0)
    assert (same["value"], same["rows"], same["query_row_count"]) == (2, [], 1)


def test_sql_with_as_of_and_filter(seeded: Seeded, tmp_path: Path) -> None:
    """The view holds the as_of snapshot's rows, narrowed by filter when given."""
    old = _check(tmp_path, sql="SELECT count(*) FROM t", as_of=seeded.first_snapshot_id)
    assert old["value"] == 3
    filtered = _check(tmp_path, sql="SELECT sum(id) FROM t", filter="id >= 4")
    assert filtered["value"] == 9


def test_bad_sql_is_an_error(seeded: Seeded, tmp_path: Path) -> None:
    """A query DuckDB rejects is a StepError, as in duckdb.query."""
    with pytest.raises(StepError, match=r"query failed: .*nope"):
        _check(tmp_path, sql="SELECT nope FROM t")


def test_table_without_snapshots(tmp_path: Path) -> None:
    """A created but never written table has 0 rows, no snapshot, and an empty view."""
    catalog = open_catalog(tmp_path)
    catalog.create_namespace("ops")
    import pyarrow as pa

    catalog.create_table("ops.empty", schema=pa.schema([("id", pa.int64())]))
    out = _check(tmp_path, table="ops.empty", sql="SELECT count(*) FROM empty")
    assert (out["exists"], out["row_count"], out["snapshot_id"], out["snapshot_count"]) == (True, 0, None, 0)
    assert (out["value"], out["snapshots"], out["partition_spec"]) == (0, [], [])


def test_relative_catalog_paths_start_at_the_project_folder(tmp_path: Path) -> None:
    """sqlite:///relative and a relative warehouse resolve against ctx.workdir."""
    seed_events(tmp_path / ".k2")
    catalog = {"name": "k2", "type": "sql", "uri": "sqlite:///.k2/catalog.db", "warehouse": ".k2/warehouse"}
    ctx = make_context(workdir=tmp_path)
    out = run_plugin(iceberg_table, {"catalog": catalog, "table": "ops.events"}, ctx)
    assert out["row_count"] == 5


def test_catalog_name_selects_the_sql_catalog(seeded: Seeded, tmp_path: Path) -> None:
    """SQL catalogs keep tables per catalog name: another name does not see ops.events."""
    props = {**catalog_props(tmp_path), "name": "other"}
    out = run_plugin(iceberg_table, {"catalog": props, "table": "ops.events"})
    assert out["exists"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"catalog": {}, "table": "ops.events"}, "catalog: needs its properties"),
        ({"catalog": {"warehouse": "w"}, "table": "ops.events"}, "catalog: needs type:"),
        ({"catalog": {"type": "sql"}, "table": "events"}, "table must be namespace.table"),
        ({"catalog": {"type": "sql"}, "table": "ops..events"}, "table must be namespace.table"),
        ({"catalog": {"type": "sql"}, "table": "a.b", "as_of": "yesterday"}, "neither a snapshot id"),
        ({"catalog": {"type": "sql"}, "table": "a.b", "as_of": True}, "not true/false"),
        ({"catalog": {"type": "sql"}, "table": "a.b", "filter": "id > 1"}, "add sql:"),
        ({"catalog": {"type": "sql"}, "table": "a.b", "sql": " "}, "sql: must hold a query"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, object], message: str) -> None:
    """Argument mistakes are load-time validation errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        iceberg_table.Spec.model_validate(args)


def test_spec_error_does_not_echo_catalog_values() -> None:
    """A catalog mistake's message names the problem, not the (possibly secret) values."""
    with pytest.raises(ValidationError) as info:
        iceberg_table.Spec.model_validate({"catalog": {"credential": "s3cr3t"}, "table": "a.b"})
    assert "s3cr3t" not in str(info.value)


def test_importing_the_plugin_is_light() -> None:
    """Importing the module does not import duckdb, pyiceberg or pyarrow."""
    assert (
        loaded_after_import("runbook_engine.plugins.iceberg_table", ("duckdb", "pyiceberg", "pyarrow")) == []
    )
