"""Load a Parquet or CSV file into an Iceberg table, appending or overwriting (action)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins._iceberg import (
    CatalogProperties,
    CatalogSession,
    TableName,
    identifier,
    load_table_or_none,
    open_catalog,
    total_records,
)

NAME = "iceberg.load"
KINDS = frozenset({"action"})
OUTPUTS = {
    "rows_added": "rows read from the file and written",
    "row_count": "rows in the table after the load (from the new snapshot's summary)",
    "snapshot_id": "the snapshot the load committed",
    "created": "true when this step created the table",
}
FileFormat = Literal["parquet", "csv"]
_EXTENSIONS: dict[str, FileFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
}


def _format_of(file: str) -> FileFormat | None:
    lower = file.lower()
    return next((fmt for ext, fmt in _EXTENSIONS.items() if lower.endswith(ext)), None)


class Spec(PluginSpec):
    # Catalog values may be credentials: keep them out of validation messages.
    model_config = ConfigDict(hide_input_in_errors=True)

    catalog: CatalogProperties
    table: TableName
    file: str = Field(min_length=1, description="A Parquet or CSV file (relative to the project).")
    format: FileFormat | None = Field(
        default=None, description="parquet or csv; by default from the file's extension."
    )
    create: bool = Field(
        default=False,
        description="Create the table (and its namespace) from the file's columns if missing.",
    )
    mode: Literal["append", "overwrite"] = Field(
        default="append", description="append adds rows; overwrite replaces the table's rows."
    )

    @model_validator(mode="after")
    def _known_format(self) -> Spec:
        if self.format is None and _format_of(self.file) is None:
            raise ValueError(
                f"cannot tell the format of {self.file!r} from its extension "
                "(.parquet, .pq, .csv, .csv.gz): add format: parquet or format: csv"
            )
        return self


def is_destructive(spec: Spec) -> bool:
    """Overwriting replaces every row of the table."""
    return spec.mode == "overwrite"


def _read(path: Path, fmt: FileFormat, table: Any) -> Any:
    """The file as an Arrow table; a CSV takes the existing table's column types."""
    if fmt == "parquet":
        parquet = require("pyarrow.parquet", "iceberg")
        return parquet.read_table(path)
    csv = require("pyarrow.csv", "iceberg")
    options = None
    if table is not None:
        # CSV has no types: read it as the table's, so "007" stays a string and a
        # column of whole numbers is not refused by a double column.
        arrow_schema = table.schema().as_arrow()
        options = csv.ConvertOptions(column_types={f.name: f.type for f in arrow_schema})
    return csv.read_csv(path, convert_options=options)


def _write(session: CatalogSession, table: Any, data: Any, spec: Spec) -> None:
    try:
        if spec.mode == "overwrite":
            table.overwrite(data)
        else:
            table.append(data)
    except Exception as exc:  # schema mismatch, storage failure, commit conflict
        raise session.error(f"cannot {spec.mode} to {spec.table}", exc) from None


def run(spec: Spec, ctx: Context) -> Outputs:
    path = ctx.resolve(spec.file)
    if not path.is_file():
        raise StepError(f"file not found: {path} (relative paths start at the project folder {ctx.workdir})")
    fmt = spec.format or _format_of(spec.file) or "parquet"
    require("pyarrow", "iceberg")
    # Only an action that may create the table may also create a missing SQLite catalog.
    with open_catalog(spec.catalog, ctx, may_create=spec.create) as session:
        table = load_table_or_none(session, spec.table)
        if table is None and not spec.create:
            raise StepError(
                f"table {spec.table} does not exist in catalog {session.name!r}; "
                "set create: true to create it from the file's columns"
            )
        try:
            data = _read(path, fmt, table)
        except StepError:
            raise
        except Exception as exc:  # unreadable or malformed file
            raise StepError(f"cannot read {path} as {fmt}: {exc}") from None
        created = table is None
        if table is None:
            table = _create(session, spec.table, data)
        if ctx.cancel.is_set():
            raise StepError("cancelled before writing")
        _write(session, table, data, spec)
        snapshot = table.current_snapshot()
        out: Outputs = {
            "rows_added": data.num_rows,
            "row_count": total_records(table, snapshot),
            "snapshot_id": None if snapshot is None else snapshot.snapshot_id,
            "created": created,
        }
    ctx.log(
        f"{spec.mode} {out['rows_added']} row(s) from {path.name} to {spec.table}"
        f"{' (created)' if created else ''}: {out['row_count']} row(s), "
        f"snapshot {out['snapshot_id']}"
    )
    return out


def _create(session: CatalogSession, table: str, data: Any) -> Any:
    ident = identifier(table)
    try:
        session.catalog.create_namespace_if_not_exists(ident[:-1])
        return session.catalog.create_table(ident, schema=data.schema)
    except Exception as exc:  # e.g. a column type Iceberg has no equivalent for
        raise session.error(f"cannot create table {table}", exc) from None
