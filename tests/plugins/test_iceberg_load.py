"""iceberg.load into a real pyiceberg SQL catalog (SQLite) and warehouse in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import iceberg_load, iceberg_table
from runbook_engine.testing import make_context, run_plugin
from tests.support.iceberg import catalog_props, events, open_catalog, seed_events
from tests.support.imports import loaded_after_import


def _parquet(path: Path, ids: list[int]) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(events(ids), path)
    return path


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _load(root: Path, file: Path, **args: object) -> dict[str, object]:
    return run_plugin(
        iceberg_load,
        {
            "catalog": catalog_props(root),
            "table": "ops.events",
            "file": str(file),
            **args,
        },
    )


def _table_rows(root: Path, table: str = "ops.events") -> list[dict[str, object]]:
    loaded = open_catalog(root).load_table(table)
    rows: list[dict[str, object]] = loaded.scan().to_arrow().sort_by("id").to_pylist()
    return rows


def test_create_from_parquet_makes_namespace_and_table(tmp_path: Path) -> None:
    """create: true builds the namespace and table from the Parquet file's columns."""
    open_catalog(tmp_path)  # an empty catalog: no namespace yet
    out = _load(tmp_path, _parquet(tmp_path / "a.parquet", [1, 2, 3]), create=True)
    table = open_catalog(tmp_path).load_table("ops.events")
    assert out == {
        "rows_added": 3,
        "row_count": 3,
        "snapshot_id": table.current_snapshot().snapshot_id,
        "created": True,
    }
    assert [f.name for f in table.schema().fields] == ["id", "kind", "ts"]
    assert [r["id"] for r in _table_rows(tmp_path)] == [1, 2, 3]


def test_missing_table_without_create_is_an_error(tmp_path: Path) -> None:
    """Without create: true a missing table is a StepError with the hint, and nothing is written."""
    open_catalog(tmp_path).create_namespace("ops")
    with pytest.raises(StepError, match=r"table ops.events does not exist in catalog 'k2'; set create: true"):
        _load(tmp_path, _parquet(tmp_path / "a.parquet", [1]))
    assert open_catalog(tmp_path).list_tables("ops") == []


def test_append_parquet_to_existing_table(tmp_path: Path) -> None:
    """Appending to a table adds rows and a snapshot; created is false."""
    seed_events(tmp_path)
    out = _load(tmp_path, _parquet(tmp_path / "more.parquet", [6, 7]))
    assert (out["rows_added"], out["row_count"], out["created"]) == (2, 7, False)
    check = run_plugin(iceberg_table, {"catalog": catalog_props(tmp_path), "table": "ops.events"})
    assert (check["row_count"], check["snapshot_count"], check["current_snapshot_id"]) == (
        7,
        3,
        out["snapshot_id"],
    )


def test_append_csv_takes_the_table_types(tmp_path: Path) -> None:
    """CSV columns are read as the existing table's types (an id column stays long)."""
    seed_events(tmp_path)
    csv = _csv(tmp_path / "more.csv", ["id,kind,ts", "8,c,2024-05-02 09:30:00", "9,c,2024-05-02 09:31:00"])
    out = _load(tmp_path, csv)
    assert (out["rows_added"], out["row_count"], out["created"]) == (2, 7, False)
    rows = _table_rows(tmp_path)
    assert [(r["id"], r["kind"], str(r["ts"])) for r in rows[-2:]] == [
        (8, "c", "2024-05-02 09:30:00"),
        (9, "c", "2024-05-02 09:31:00"),
    ]


def test_create_from_csv_infers_columns(tmp_path: Path) -> None:
    """A new table from CSV gets the columns pyarrow infers."""
    open_catalog(tmp_path)
    csv = _csv(tmp_path / "teams.csv", ["team,members,score", "red,3,1.5", "blue,4,2.0"])
    out = run_plugin(
        iceberg_load,
        {
            "catalog": catalog_props(tmp_path),
            "table": "ops.teams",
            "file": str(csv),
            "create": True,
        },
    )
    assert (out["rows_added"], out["row_count"], out["created"]) == (2, 2, True)
    schema = open_catalog(tmp_path).load_table("ops.teams").schema()
    assert [(f.name, str(f.field_type)) for f in schema.fields] == [
        ("team", "string"),
        ("members", "long"),
        ("score", "double"),
    ]


def test_create_true_on_an_existing_table_appends(tmp_path: Path) -> None:
    """create: true is harmless when the table exists: created is false, rows are appended."""
    seed_events(tmp_path)
    out = _load(tmp_path, _parquet(tmp_path / "a.parquet", [6]), create=True)
    assert (out["created"], out["row_count"]) == (False, 6)


def test_overwrite_replaces_rows_and_is_destructive(tmp_path: Path) -> None:
    """mode: overwrite leaves only the file's rows, and marks the step destructive."""
    seed_events(tmp_path)
    args = {
        "catalog": catalog_props(tmp_path),
        "table": "ops.events",
        "file": str(_parquet(tmp_path / "new.parquet", [10, 11])),
        "mode": "overwrite",
    }
    out = run_plugin(iceberg_load, args)
    assert (out["rows_added"], out["row_count"], out["created"]) == (2, 2, False)
    assert [r["id"] for r in _table_rows(tmp_path)] == [10, 11]
    assert iceberg_load.is_destructive(iceberg_load.Spec.model_validate(args)) is True
    assert iceberg_load.is_destructive(iceberg_load.Spec.model_validate({**args, "mode": "append"})) is False


def test_relative_paths_start_at_the_project_folder(tmp_path: Path) -> None:
    """file, a sqlite:/// path and the warehouse resolve against ctx.workdir; create makes the catalog."""
    (tmp_path / "data").mkdir()
    _parquet(tmp_path / "data" / "a.parquet", [1, 2])
    catalog = {"name": "k2", "type": "sql", "uri": "sqlite:///.k2/catalog.db", "warehouse": ".k2/warehouse"}
    ctx = make_context(workdir=tmp_path)
    out = run_plugin(
        iceberg_load,
        {"catalog": catalog, "table": "ops.events", "file": "data/a.parquet", "create": True},
        ctx,
    )
    assert (out["rows_added"], out["created"]) == (2, True)
    assert (tmp_path / ".k2" / "catalog.db").is_file()
    assert list((tmp_path / ".k2" / "warehouse" / "ops" / "events" / "data").glob("*.parquet"))


def test_missing_catalog_without_create_is_an_error(tmp_path: Path) -> None:
    """Only create: true may create a missing SQLite catalog."""
    with pytest.raises(StepError, match="catalog's SQLite database does not exist"):
        _load(tmp_path, _parquet(tmp_path / "a.parquet", [1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """A file that is not there is a StepError naming it."""
    with pytest.raises(StepError, match=r"file not found: .*gone\.csv"):
        _load(tmp_path, tmp_path / "gone.csv", create=True)


def test_csv_that_does_not_fit_the_table_is_an_error(tmp_path: Path) -> None:
    """A CSV value that cannot become the table's type is a StepError; nothing is written."""
    seed_events(tmp_path)
    csv = _csv(tmp_path / "bad.csv", ["id,kind,ts", "x,c,2024-05-02 09:30:00"])
    with pytest.raises(StepError, match=r"cannot read .*bad\.csv as csv: .*id"):
        _load(tmp_path, csv)
    assert len(_table_rows(tmp_path)) == 5


def test_format_overrides_the_extension(tmp_path: Path) -> None:
    """format: csv reads a file whose name does not say csv."""
    open_catalog(tmp_path)
    data = _csv(tmp_path / "export.txt", ["id", "1", "2", "3"])
    out = _load(tmp_path, data, format="csv", create=True)
    assert out["row_count"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"file": "export.txt"}, "cannot tell the format of 'export.txt'"),
        ({"file": "a.csv", "mode": "replace"}, "'append' or 'overwrite'"),
        ({"file": "a.csv", "format": "json"}, "'parquet' or 'csv'"),
        ({"file": "a.csv", "table": "events"}, "table must be namespace.table"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, object], message: str) -> None:
    """Argument mistakes are load-time validation errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        iceberg_load.Spec.model_validate({"catalog": {"type": "sql"}, "table": "ops.events", **args})


def test_importing_the_plugin_is_light() -> None:
    """Importing the module does not import duckdb, pyiceberg or pyarrow."""
    assert (
        loaded_after_import("runbook_engine.plugins.iceberg_load", ("duckdb", "pyiceberg", "pyarrow")) == []
    )
