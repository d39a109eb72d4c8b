"""Look at an Iceberg table: existence, rows, freshness, snapshots, and optionally query it (check)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pydantic import ConfigDict, Field, TypeAdapter, field_validator, model_validator

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins._iceberg import (
    CatalogProperties,
    CatalogSession,
    TableName,
    iso_ms,
    load_table_or_none,
    open_catalog,
    total_records,
)
from runbook_engine.plugins._tabular import QUERY_OUTPUTS, QueryParams, run_query

NAME = "iceberg.table"
KINDS = frozenset({"check"})
OUTPUTS = {
    "exists": "true when the table exists (false, with the other outputs null, when it does not)",
    "row_count": "rows in the snapshot read (current, or the `as_of` one), from its summary",
    "snapshot_id": "the snapshot read: the current one, or the one `as_of` selected",
    "snapshot_at": "when that snapshot was committed (ISO 8601, UTC)",
    "current_snapshot_id": "the table's current snapshot (null for a table never written)",
    "snapshot_count": "how many snapshots the table's metadata keeps",
    "last_updated": "when the table's metadata last changed (ISO 8601, UTC)",
    "last_updated_age_s": "seconds since that change: the table's freshness",
    "schema": "the current schema's columns: [{name, type, required}]",
    "partition_spec": "the current partition fields: [{name, source, transform}]",
    "snapshots": "the newest snapshots first (at most `max_snapshots`): "
    "[{snapshot_id, parent_id, timestamp, operation, added_records, total_records}]",
    **{key: f"with sql: {text}" for key, text in QUERY_OUTPUTS.items()},
    "query_row_count": "with sql: how many rows the query returned (all of them)",
    "elapsed_ms": "time of the whole check, in milliseconds",
}
# Epoch milliseconds between 1973 and 5138: an `as_of` number in this range that is
# not a snapshot id of the table is read as a time.
_EPOCH_MS = range(10**11, 10**14)
_DURATION: TypeAdapter[float] = TypeAdapter(Duration)


class Spec(PluginSpec):
    # Catalog values may be credentials: keep them out of validation messages.
    model_config = ConfigDict(hide_input_in_errors=True)

    catalog: CatalogProperties
    table: TableName
    sql: str | None = Field(
        default=None,
        description="A DuckDB query over the table, which it sees as a view named `t` "
        "and by the table's own short name.",
    )
    params: QueryParams = None
    as_of: int | str | None = Field(
        default=None,
        description="Time travel: a snapshot id, a time (ISO 8601 or epoch ms), or how long ago (1h).",
    )
    filter: str | None = Field(
        default=None,
        description="An Iceberg row filter applied to the scan the sql sees, e.g. day >= '2024-05-01'.",
    )
    max_rows: int = Field(default=100, ge=0, le=10_000, description="Rows kept in `rows`.")
    max_snapshots: int = Field(default=10, ge=0, le=1000, description="Snapshots listed.")

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of_form(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("as_of: give a snapshot id, a time or a duration, not true/false")
        if isinstance(value, str):
            value = value.strip()
            if value.isdigit():
                return int(value)
            _point_in_time(value, now_ms=0)  # raises ValueError with a hint
        return value

    @model_validator(mode="after")
    def _query_parts(self) -> Spec:
        if self.sql is None and (self.params is not None or self.filter is not None):
            raise ValueError("params: and filter: apply to the sql: query; add sql:")
        if self.sql is not None and not self.sql.strip():
            raise ValueError("sql: must hold a query")
        return self


def _point_in_time(text: str, now_ms: int) -> int:
    """Epoch ms for an ISO time (UTC unless it says otherwise) or a duration ago."""
    try:
        ago = _DURATION.validate_python(text)
    except ValueError:
        pass
    else:
        return now_ms - round(abs(ago) * 1000)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"as_of: {text!r} is neither a snapshot id, an ISO 8601 time "
            "(2024-05-01T12:00:00Z) nor a duration ago (1h)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * 1000)


def _select_snapshot(table: Any, as_of: int | str | None) -> Any:
    """The snapshot to read: current, or the one `as_of` names."""
    if as_of is None:
        return table.current_snapshot()
    if isinstance(as_of, int):
        snapshot = table.snapshot_by_id(as_of)
        if snapshot is not None:
            return snapshot
        if as_of not in _EPOCH_MS:
            raise StepError(
                f"as_of: the table has no snapshot {as_of} (it may have expired); "
                "for a time, give epoch milliseconds or an ISO 8601 time"
            )
        at_ms = as_of
    else:
        at_ms = _point_in_time(as_of, now_ms=round(time.time() * 1000))
    snapshot = table.snapshot_as_of_timestamp(at_ms)
    if snapshot is None:
        log = table.metadata.snapshot_log
        oldest = f"the oldest is from {iso_ms(log[0].timestamp_ms)}" if log else "it has none"
        raise StepError(f"as_of: the table has no snapshot at or before {iso_ms(at_ms)} ({oldest})")
    return snapshot


def _snapshot_rows(table: Any, limit: int) -> list[dict[str, Any]]:
    newest = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    rows = []
    for snap in newest[:limit]:
        summary = snap.summary
        added = summary["added-records"] if summary is not None else None
        total = summary["total-records"] if summary is not None else None
        rows.append(
            {
                "snapshot_id": snap.snapshot_id,
                "parent_id": snap.parent_snapshot_id,
                "timestamp": iso_ms(snap.timestamp_ms),
                "operation": summary.operation.value if summary is not None else None,
                "added_records": None if added is None else int(added),
                "total_records": None if total is None else int(total),
            }
        )
    return rows


def _describe(table: Any, snapshot: Any, spec: Spec) -> Outputs:
    metadata = table.metadata
    schema = table.schema()
    current = table.current_snapshot()
    return {
        "exists": True,
        "row_count": total_records(table, snapshot),
        "snapshot_id": None if snapshot is None else snapshot.snapshot_id,
        "snapshot_at": None if snapshot is None else iso_ms(snapshot.timestamp_ms),
        "current_snapshot_id": None if current is None else current.snapshot_id,
        "snapshot_count": len(metadata.snapshots),
        "last_updated": iso_ms(metadata.last_updated_ms),
        "last_updated_age_s": round(time.time() - metadata.last_updated_ms / 1000, 3),
        "schema": [
            {"name": f.name, "type": str(f.field_type), "required": f.required} for f in schema.fields
        ],
        "partition_spec": [
            {
                "name": p.name,
                "source": schema.find_column_name(p.source_id),
                "transform": str(p.transform),
            }
            for p in table.spec().fields
        ],
        "snapshots": _snapshot_rows(table, spec.max_snapshots),
    }


def _query(session: CatalogSession, table: Any, snapshot: Any, spec: Spec, ctx: Context) -> Outputs:
    duckdb = require("duckdb", "iceberg")
    require("pyarrow", "iceberg")  # the scan arrives as an Arrow table
    scan_args: dict[str, Any] = {}
    if snapshot is not None:
        scan_args["snapshot_id"] = snapshot.snapshot_id
    if spec.filter is not None:
        scan_args["row_filter"] = spec.filter
    try:
        data = table.scan(**scan_args).to_arrow()
    except Exception as exc:  # a bad filter or unreadable data files: could not look
        raise session.error(f"cannot scan {spec.table}", exc) from None
    if ctx.cancel.is_set():
        raise StepError("cancelled")
    conn = duckdb.connect(":memory:")
    try:
        for view in dict.fromkeys(("t", spec.table.rsplit(".", 1)[-1])):
            conn.register(view, data)
        result = run_query(
            conn,
            spec.sql or "",
            spec.params,
            max_rows=spec.max_rows,
            ctx=ctx,
            duckdb_error=duckdb.Error,
        )
    finally:
        conn.close()
    ctx.log(f"query over {data.num_rows} scanned row(s): {result.row_count} result row(s)")
    return {
        "rows": result.rows,
        "value": result.value,
        "columns": result.columns,
        "query_row_count": result.row_count,
    }


def _absent(spec: Spec) -> Outputs:
    out: Outputs = dict.fromkeys(OUTPUTS)
    out["exists"] = False
    if spec.sql is None:
        for key in ("rows", "value", "columns", "query_row_count"):
            del out[key]
    return out


def run(spec: Spec, ctx: Context) -> Outputs:
    start = time.perf_counter()
    with open_catalog(spec.catalog, ctx, may_create=False) as session:
        table = load_table_or_none(session, spec.table)
        if table is None:
            ctx.log(f"table {spec.table} does not exist in catalog {session.name!r}")
            out = _absent(spec)
        else:
            snapshot = _select_snapshot(table, spec.as_of)
            try:
                out = _describe(table, snapshot, spec)
            except Exception as exc:  # unreadable manifests: could not look
                raise session.error(f"cannot read the metadata of {spec.table}", exc) from None
            ctx.log(
                f"table {spec.table}: {out['row_count']} row(s) in snapshot {out['snapshot_id']}, "
                f"{out['snapshot_count']} snapshot(s), updated {out['last_updated_age_s']:.0f}s ago"
            )
            if spec.sql is not None:
                out.update(_query(session, table, snapshot, spec, ctx))
    out["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return out
