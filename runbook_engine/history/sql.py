"""`runbook history --sql`: one SELECT over the views runs, sections, steps and drills.

The views read the index's CSV files where they lie (DuckDB parses 300,000 step rows in
well under 0.1 s) plus the snapshot's records not indexed yet, so nothing is folded or
written first. Only the entries the snapshot accepted count (`keep`), which leaves out
rows being appended meanwhile, rows of pruned records and superseded entries.

Bounded by construction: no lock is held while a query runs (readers never lock, see
index.py); a timer interrupts the query at its time limit; DuckDB's memory limit bounds
what it holds and the rows handed back are capped; the query can read the index files
and nothing else on disk.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from runbook_engine.errors import UserError
from runbook_engine.history.index import EXTRA_INDEX, NULL, RUN_INDEX, SECTION_INDEX, STEP_INDEX
from runbook_engine.history.rows import RUN_COLUMNS, SECTION_COLUMNS, STEP_COLUMNS
from runbook_engine.history.store import Snapshot

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

Table = tuple[list[str], list[tuple[Any, ...]]]

TIMEOUT_S = 30.0
MEMORY_LIMIT = "1GB"
MAX_ROWS = 1_000_000
_CHUNK = 10_000

_STEP_FROM_RUN = {"run_id": "r.run_id", "runbook": "r.runbook", "kind": "r.kind",
                  "run_started_at": "r.started_at", "file_sha256": "r.file_sha256"}  # fmt: skip
DRILLS_VIEW = """
CREATE VIEW drills AS
SELECT run_id, runbook AS contingency, mode, started_at, finished_at, status, verdict, environment, "user",
       host, rto_s, time_to_detect_s, time_to_recover_s, within_rto,
       rto_s - time_to_recover_s AS margin_s, file_sha256, journal
FROM all_runs WHERE kind = 'drill'
"""


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise UserError("runbook history --sql needs DuckDB: pip install 'runbook-engine[duckdb]'") from None
    return duckdb


def user_sql(
    snap: Snapshot, sql: str, timeout_s: float = TIMEOUT_S, memory_limit: str = MEMORY_LIMIT
) -> Table:
    """Run a person's query: exactly one SELECT (WITH ... SELECT included), nothing else."""
    duckdb = _duckdb()
    con = duckdb.connect()
    try:
        try:
            con.execute(f"SET memory_limit = {_literal(memory_limit)}")
        except duckdb.Error as exc:
            raise UserError(
                f"--sql-memory {memory_limit!r}: {_message(exc)}; write e.g. 512MB or 2GB"
            ) from None
        statements = _one_select(con, sql)
        _views(con, snap)
        return _run(con, statements, timeout_s, memory_limit)
    finally:
        con.close()


def _one_select(con: DuckDBPyConnection, sql: str) -> Any:
    duckdb = _duckdb()
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(f"--sql: {_message(exc)}") from None
    if len(statements) != 1:
        raise UserError(f"--sql: give exactly one SELECT statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise UserError(f"--sql: only SELECT (or WITH ... SELECT) is allowed, not {kind}")
    return statements[0]


def _run(con: DuckDBPyConnection, statement: Any, timeout_s: float, memory_limit: str) -> Table:
    duckdb = _duckdb()
    deadline = time.monotonic() + timeout_s
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        cur = con.execute(statement)
        description = cur.description or []
        rows: list[tuple[Any, ...]] = []
        while chunk := cur.fetchmany(_CHUNK):
            rows += chunk
            if len(rows) > MAX_ROWS:
                raise UserError(
                    f"--sql: the answer has more than {MAX_ROWS:,} rows; add a LIMIT or aggregate"
                )
            if time.monotonic() > deadline:
                raise duckdb.InterruptException("interrupted")
    except duckdb.InterruptException:
        raise UserError(
            f"--sql: stopped after {timeout_s:g}s, the time limit; narrow the query or allow more with "
            f"--sql-timeout (e.g. --sql-timeout 5m)"
        ) from None
    except duckdb.OutOfMemoryException:
        raise UserError(
            f"--sql: the query needs more than {memory_limit} of memory, the limit; narrow it or allow more "
            f"with --sql-memory"
        ) from None
    except duckdb.Error as exc:
        raise UserError(f"--sql: {_message(exc)}") from None
    finally:
        timer.cancel()
    json_at = [i for i, d in enumerate(description) if str(d[1]) == "JSON"]
    if json_at:  # JSON columns arrive as text: hand them on as data
        rows = [tuple(_json(v) if i in json_at else v for i, v in enumerate(row)) for row in rows]
    return [d[0] for d in description], rows


def _views(con: DuckDBPyConnection, snap: Snapshot) -> None:
    """The views over the index files and the snapshot's other records; then lock it down."""
    allowed = []
    con.execute("CREATE TEMP TABLE keep AS SELECT unnest(?::BIGINT[]) AS key", [snap.indexed_keys])
    live = _live_columns(snap)
    for name, columns in (("runs", RUN_INDEX), ("steps", STEP_INDEX), ("sections", SECTION_INDEX),
                          ("extra", EXTRA_INDEX)):  # fmt: skip
        names = ", ".join(f'"{c}"' for c, _ in columns)
        typed = ", ".join(f'CAST("{c}" AS {_text(t)}) AS "{c}"' for c, t in columns)
        values = live[name]
        params = [values[c] for c, _ in columns]
        unnest = ", ".join(f'unnest(?::VARCHAR[]) AS "{c}"' for c, _ in columns)
        con.execute(f"CREATE TEMP TABLE live_{name} AS SELECT {typed} FROM (SELECT {unnest})", params)  # noqa: S608 (names are this module's constants)
        source = f"SELECT {names} FROM live_{name}"  # noqa: S608 (names are this module's constants)
        path = snap.gen / f"{name}.csv" if snap.gen is not None else None
        if path is not None and path.exists():
            allowed.append(str(path))
            types = ", ".join(f"{_literal(c)}: {_literal(_text(t))}" for c, t in columns)
            csv = (
                f"read_csv({_literal(str(path))}, header = false, auto_detect = false, delim = ',', "
                f"quote = '\"', escape = '\"', new_line = '\\n', nullstr = {_literal(NULL)}, "
                f"allow_quoted_nulls = false, ignore_errors = true, columns = {{{types}}})"
            )
            where = " WHERE key IN (SELECT key FROM keep)" if name == "runs" else ""
            source += f" UNION ALL SELECT {names} FROM {csv}{where}"  # noqa: S608 (names are this module's constants)
        if name == "runs":  # its text columns are percent-encoded (index.plain)
            con.execute(f"CREATE VIEW raw_runs AS {source}")
            decoded = ", ".join(
                f'url_decode("{c}") AS "{c}"' if t in {"VARCHAR", "JSON"} else f'"{c}"' for c, t in columns
            )
            con.execute(f"CREATE VIEW all_runs AS SELECT {decoded} FROM raw_runs")  # noqa: S608 (names are this module's constants)
        else:
            con.execute(f"CREATE VIEW all_{name} AS {source}")
    run_cols = ", ".join(
        "e.extra::JSON AS extra" if c == "extra" else f'r."{c}"::JSON AS "{c}"' if t == "JSON" else f'r."{c}"'
        for c, t in RUN_COLUMNS
    )
    con.execute(f"CREATE VIEW runs AS SELECT {run_cols} FROM all_runs r LEFT JOIN all_extra e USING (key)")  # noqa: S608 (names are this module's constants)
    step_cols = ", ".join(
        f'{_STEP_FROM_RUN.get(c, "s." + chr(34) + c + chr(34))} AS "{c}"' for c, _ in STEP_COLUMNS
    )
    con.execute(f"CREATE VIEW steps AS SELECT {step_cols} FROM all_steps s JOIN all_runs r USING (key)")  # noqa: S608 (names are this module's constants)
    sec_cols = ", ".join(f'{"r" if c in _STEP_FROM_RUN else "s"}."{c}" AS "{c}"' for c, _ in SECTION_COLUMNS)
    con.execute(f"CREATE VIEW sections AS SELECT {sec_cols} FROM all_sections s JOIN all_runs r USING (key)")  # noqa: S608 (names are this module's constants)
    con.execute(DRILLS_VIEW)
    # Queries may read the index files and nothing else on disk, and cannot change that.
    con.execute(f"SET allowed_paths = [{', '.join(_literal(p) for p in allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _live_columns(snap: Snapshot) -> dict[str, dict[str, list[str | None]]]:
    """The records not in the index as column lists of text (None for NULL), per file."""
    tables: dict[str, list[list[str]]] = {"runs": [], "steps": [], "sections": [], "extra": []}
    for run in snap.runs:
        key = run[0]
        if key not in snap.live:
            continue
        steps, sections, extra = snap.live[key]
        tables["runs"].append(run)
        tables["steps"] += [[key, *r] for r in steps]
        tables["sections"] += [[key, *r] for r in sections]
        tables["extra"].append([key, extra])
    out = {}
    for name, columns in (("runs", RUN_INDEX), ("steps", STEP_INDEX), ("sections", SECTION_INDEX),
                          ("extra", EXTRA_INDEX)):  # fmt: skip
        rows = tables[name]
        out[name] = {c: [None if r[i] == NULL else r[i] for r in rows] for i, (c, _) in enumerate(columns)}
    return out


def _text(sql_type: str) -> str:
    """JSON columns travel as text until the views (a JSON and a VARCHAR do not union)."""
    return "VARCHAR" if sql_type == "JSON" else sql_type


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _message(exc: Exception) -> str:
    """DuckDB's message without the echoed query: the lines before the first blank one."""
    text = str(exc).strip().split("\n\n")[0]
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__
