"""Query results as plain data: the shared part of `duckdb.query` and `iceberg.table`.

Runs one SQL statement on an open DuckDB connection, stops it when the attempt's time
is up or the run is cancelled, and turns the result into capped rows of JSON-able
values. Takes the connection from its caller, so it never imports DuckDB itself.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, JsonValue

from runbook_engine.plugin import Context, StepError

FETCH_CHUNK = 10_000
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUERY_OUTPUTS = {
    "rows": "result rows as objects keyed by column name (at most `max_rows`)",
    "value": "the first column of the first row, or null when there are no rows",
    "columns": "the result's column names, in order",
}


def _param_names(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    named = {}
    for key, item in value.items():
        name = key.removeprefix("$")  # people write the key as it appears in the query
        if not IDENTIFIER.match(name):
            raise ValueError(f"parameter name {key!r} must be a name like $day in the query")
        named[name] = item
    return named


QueryParams = Annotated[
    list[JsonValue] | dict[str, JsonValue] | None,
    AfterValidator(_param_names),
    Field(description="Values bound to the query's placeholders: a list for ?, a mapping for $name."),
]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int
    value: Any
    elapsed_ms: float


def _finite(value: float | Decimal) -> float | None:
    # NaN and infinity are not JSON; a comparison with null fails loudly instead.
    number = float(value)
    return number if math.isfinite(number) else None


_CONVERTERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    ((float, Decimal), _finite),
    ((dt.datetime, dt.date, dt.time), lambda v: v.isoformat()),
    (dt.timedelta, lambda v: v.total_seconds()),
    (uuid.UUID, str),
    ((bytes, bytearray, memoryview), lambda v: bytes(v).decode("utf-8", errors="backslashreplace")),
    (Mapping, lambda v: {str(k): plain(x) for k, x in v.items()}),
    ((list, tuple, set, frozenset), lambda v: [plain(x) for x in v]),
)


def plain(value: Any) -> Any:
    """A database value as JSON-able data (see the plugin docs for the mapping)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    for types, convert in _CONVERTERS:
        if isinstance(value, types):
            return convert(value)
    return str(value)


def unique_names(names: Sequence[str]) -> list[str]:
    """Column names made unique (a, a_1, a_2) so no value is lost when rows become objects."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


@contextmanager
def _interrupt_when_due(conn: Any, ctx: Context) -> Iterator[list[str]]:
    """Interrupt the connection's running query on timeout or cancel; yields why it did."""
    reason: list[str] = []
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            left = ctx.remaining()
            if ctx.cancel.is_set() or (left is not None and left <= 0):
                why = "cancelled" if ctx.cancel.is_set() else f"timed out after {ctx.timeout:g}s"
                reason.append(why)
                conn.interrupt()
                return
            # Wake often enough to notice ctx.cancel, which the engine sets from another thread.
            finished.wait(0.05 if left is None else min(0.05, left))

    watcher = threading.Thread(target=watch, name="query-deadline", daemon=True)
    watcher.start()
    try:
        yield reason
    finally:
        finished.set()
        watcher.join()


def run_query(
    conn: Any,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None,
    *,
    max_rows: int,
    ctx: Context,
    duckdb_error: type[BaseException],
) -> QueryResult:
    """Run ``sql`` with bound ``params``; keep ``max_rows`` rows but count them all."""
    try:
        statements = len(conn.extract_statements(sql))
    except duckdb_error as exc:
        raise StepError(_query_error(exc)) from None
    if statements != 1:
        # DuckDB would run them all and show only the last: the others would go unseen.
        raise StepError(f"sql: give exactly one statement (found {statements}); split them into steps")
    start = time.perf_counter()
    with _interrupt_when_due(conn, ctx) as stopped:
        try:
            conn.execute(sql, params)
            description = conn.description
            first = conn.fetchmany(max(max_rows, 1)) if description else []
            row_count = len(first)
            if len(first) >= max(max_rows, 1):
                # Counting the rest without converting it keeps a capped result cheap.
                while chunk := conn.fetchmany(FETCH_CHUNK):
                    row_count += len(chunk)
        except duckdb_error as exc:
            if stopped:
                raise StepError(f"query {stopped[0]}; it was interrupted") from None
            raise StepError(_query_error(exc)) from None
    elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
    columns = unique_names([d[0] for d in description or []])
    rows = [{name: plain(v) for name, v in zip(columns, row, strict=True)} for row in first[:max_rows]]
    value = plain(first[0][0]) if first and columns else None
    return QueryResult(columns, rows, row_count, value, elapsed_ms)


def _query_error(exc: BaseException) -> str:
    text = str(exc).strip()
    if "pytz" in text:
        # DuckDB converts TIMESTAMP WITH TIME ZONE values with pytz, an optional module.
        return (
            "DuckDB needs the pytz package to return TIMESTAMP WITH TIME ZONE values: "
            "pip install pytz, or cast the column in the query (CAST(ts AS VARCHAR))"
        )
    return f"query failed: {text or type(exc).__name__}"
