"""Run a SQL query on a DuckDB database file and report its rows (check)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins._tabular import IDENTIFIER, QUERY_OUTPUTS, QueryParams, run_query

NAME = "duckdb.query"
KINDS = frozenset({"check"})
OUTPUTS = {
    **QUERY_OUTPUTS,
    "row_count": "how many rows the query returned (all of them, even beyond `max_rows`)",
    "elapsed_ms": "time to run the query and fetch its result, in milliseconds",
}
MEMORY = ":memory:"


class Spec(PluginSpec):
    database: str = Field(
        min_length=1,
        description="A DuckDB file (relative to the project folder), or :memory: for none.",
    )
    sql: str = Field(description="One SQL statement; use ? or $name placeholders for values.")
    params: QueryParams = None
    attach: dict[str, str] = Field(
        default_factory=dict,
        description="More DuckDB files to open beside the database: alias -> path.",
    )
    max_rows: int = Field(default=100, ge=0, le=10_000, description="Rows kept in `rows`.")
    read_only: bool = Field(
        default=True, description="Open the files read-only, so the check cannot change data."
    )

    @field_validator("sql")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("sql: must hold a query")
        return value

    @field_validator("attach")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        for alias, path in value.items():
            if not IDENTIFIER.match(alias):
                raise ValueError(f"attach alias {alias!r} must be a SQL name (letters, digits, _)")
            if not path.strip() or path == MEMORY:
                raise ValueError(f"attach.{alias} must be the path of a DuckDB file")
        return value


def _existing(ctx: Context, path: str, what: str) -> Path:
    resolved = ctx.resolve(path)
    if not resolved.is_file():
        # DuckDB would create an empty database here and the check would look at nothing.
        raise StepError(
            f"{what} not found: {resolved} (relative paths start at the project folder {ctx.workdir})"
        )
    return resolved


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run(spec: Spec, ctx: Context) -> Outputs:
    duckdb = require("duckdb", "duckdb")
    in_memory = spec.database == MEMORY
    path = MEMORY if in_memory else str(_existing(ctx, spec.database, "database file"))
    attached = {a: _existing(ctx, p, f"attach.{a} file") for a, p in spec.attach.items()}
    # An in-memory database starts empty and vanishes with the step, so it is always
    # writable; read_only protects the files.
    try:
        conn = duckdb.connect(path, read_only=spec.read_only and not in_memory)
    except duckdb.Error as exc:
        raise StepError(f"cannot open {path}: {exc}") from None
    try:
        try:
            # Paths inside the SQL (read_parquet('data/x.parquet')) start at the project
            # folder too, wherever the engine was started.
            conn.execute(f"SET file_search_path = {_sql_text(str(ctx.workdir))}")
            for alias, file in attached.items():
                mode = " (READ_ONLY)" if spec.read_only else ""
                conn.execute(f'ATTACH {_sql_text(str(file))} AS "{alias}"{mode}')
        except duckdb.Error as exc:
            raise StepError(f"cannot prepare the database: {exc}") from None
        result = run_query(
            conn, spec.sql, spec.params, max_rows=spec.max_rows, ctx=ctx, duckdb_error=duckdb.Error
        )
    finally:
        conn.close()
    ctx.log(f"{result.row_count} row(s) in {result.elapsed_ms:.1f} ms from {path}")
    return {
        "rows": result.rows,
        "row_count": result.row_count,
        "value": result.value,
        "columns": result.columns,
        "elapsed_ms": result.elapsed_ms,
    }
