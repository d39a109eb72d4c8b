"""The questions `runbook history` answers, as SQL over the views of store.py.

Every function returns (column names, rows) so the CLI formats them all the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbook_engine.errors import UserError

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

Table = tuple[list[str], list[tuple[Any, ...]]]

RUNS_SQL = """
SELECT started_at, runbook, kind, status, verdict, duration_s, environment, "user", host,
       steps, passed, failed + errors AS failed, run_id
FROM runs
WHERE ($name IS NULL OR runbook = $name) AND ($since IS NULL OR started_at >= $since)
ORDER BY started_at DESC, run_id DESC
LIMIT $last
"""

# Per step over the last N runs that ran (not still running) of one runbook. A step is
# flaky when, with one and the same runbook file (hash) in one environment, it both
# passed and failed: nothing the team controls changed, yet the answer did.
STEPS_SQL = """
WITH recent AS (
    SELECT run_id, environment FROM runs
    WHERE runbook = $name AND kind = 'run' AND status <> 'running'
    ORDER BY started_at DESC, run_id DESC
    LIMIT $last
),
s AS (SELECT st.*, recent.environment FROM steps st JOIN recent USING (run_id)),
by_hash AS (
    SELECT step_id, bool_or(outcome = 'passed') AND bool_or(outcome IN ('failed', 'error')) AS flipped
    FROM s GROUP BY step_id, file_sha256, environment
),
flaky AS (SELECT step_id, bool_or(flipped) AS flaky FROM by_hash GROUP BY step_id)
SELECT
    arg_max(s.section, s.run_started_at) AS section,
    s.step_id,
    arg_max(s.name, s.run_started_at) AS name,
    count(*) AS runs,
    count(*) FILTER (outcome = 'passed') AS passed,
    count(*) FILTER (outcome IN ('failed', 'error')) AS failed,
    count(*) FILTER (outcome = 'passed')
        / nullif(count(*) FILTER (outcome IN ('passed', 'failed', 'error')), 0) AS pass_rate,
    median(duration_s) FILTER (outcome IN ('passed', 'failed', 'error')) AS median_s,
    quantile_cont(duration_s, 0.95) FILTER (outcome IN ('passed', 'failed', 'error')) AS p95_s,
    max(s.run_started_at) FILTER (outcome IN ('failed', 'error')) AS last_failure_at,
    arg_max(coalesce(message, outcome), s.run_started_at) FILTER (outcome IN ('failed', 'error'))
        AS last_failure,
    any_value(flaky.flaky) AS flaky
FROM s JOIN flaky USING (step_id)
GROUP BY s.step_id
ORDER BY arg_max(s.position, s.run_started_at), s.step_id
"""

STEPS_WINDOW_SQL = """
SELECT count(*) FILTER (rank <= $last), count(*)
FROM (SELECT row_number() OVER (ORDER BY started_at DESC, run_id DESC) AS rank FROM runs
      WHERE runbook = $name AND kind = 'run' AND status <> 'running')
"""

DRILLS_SQL = """
SELECT contingency, mode, started_at, status, verdict, time_to_detect_s, time_to_recover_s, rto_s, within_rto,
       margin_s, environment, "user", run_id
FROM drills
WHERE ($name IS NULL OR contingency = $name) AND ($since IS NULL OR started_at >= $since)
QUALIFY row_number() OVER (PARTITION BY contingency ORDER BY started_at DESC, run_id DESC) <= $last
ORDER BY contingency, started_at, run_id
"""


def _table(con: DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Table:
    cur = con.execute(sql, params)
    description = cur.description or []
    rows = cur.fetchall()
    json_at = [i for i, d in enumerate(description) if str(d[1]) == "JSON"]
    if json_at:  # JSON columns arrive as text: hand them on as data
        rows = [tuple(_json(v) if i in json_at else v for i, v in enumerate(row)) for row in rows]
    return [d[0] for d in description], rows


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def list_runs(con: DuckDBPyConnection, name: str | None, last: int, since: datetime | None) -> Table:
    return _table(con, RUNS_SQL, {"name": name, "since": since, "last": last})


def step_stats(con: DuckDBPyConnection, name: str, last: int) -> tuple[Table, int, int]:
    """Per-step figures, with how many runs they cover and how many runs there are in all."""
    row = con.execute(STEPS_WINDOW_SQL, {"name": name, "last": last}).fetchone()
    used, total = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
    return _table(con, STEPS_SQL, {"name": name, "last": last}), used, total


def drill_stats(con: DuckDBPyConnection, name: str | None, last: int, since: datetime | None) -> Table:
    return _table(con, DRILLS_SQL, {"name": name, "since": since, "last": last})


def user_sql(con: DuckDBPyConnection, sql: str) -> Table:
    """Run a person's query: exactly one SELECT (WITH ... SELECT included), nothing else."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(f"--sql: {_message(exc)}") from None
    if len(statements) != 1:
        raise UserError(f"--sql: give exactly one SELECT statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise UserError(f"--sql: only SELECT (or WITH ... SELECT) is allowed, not {kind}")
    try:
        return _table(con, sql)
    except duckdb.Error as exc:
        raise UserError(f"--sql: {_message(exc)}") from None


def _message(exc: Exception) -> str:
    """DuckDB's message without the echoed query: the lines before the first blank one."""
    text = str(exc).strip().split("\n\n")[0]
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__
