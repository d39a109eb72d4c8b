"""The query store: finished records folded into one DuckDB file, read together with the rest.

Record files are the truth; `history.duckdb` is a cache of the finished ones, so a query
over thousands of runs reads one columnar file instead of parsing thousands of JSON
files. Reading is a short dance under the history lock (see lock.py):

1. shared lock: attach the store read-only, list the records it does not hold yet;
2. if some of those are finished (or aborted), or records were pruned: exclusive lock,
   fold them in (one transaction), then go back to 1;
3. still under the shared lock: load the records that are still running into memory
   and answer queries from views over both.

The store is rebuilt from the records when its schema version differs from this code's.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook_engine.errors import UserError
from runbook_engine.history.journals import LOCK_NAME, STORE_NAME, RecordError, list_records, read_record
from runbook_engine.history.lock import locked
from runbook_engine.history.rows import TABLES, Rows

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

SCHEMA_VERSION = "1"
NULL = "\\N"  # how the fold's CSV spells NULL (a step message of exactly `\N` would read as none)

DRILLS_VIEW = """
CREATE VIEW drills AS
SELECT run_id, runbook AS contingency, extra->>'$.drill.mode' AS mode, started_at, finished_at, status,
       verdict, environment, "user",
       host, rto_s, time_to_detect_s, time_to_recover_s, within_rto,
       rto_s - time_to_recover_s AS margin_s, file_sha256, journal
FROM runs WHERE kind = 'drill'
"""


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise UserError("runbook history needs DuckDB: pip install 'runbook-engine[duckdb]'") from None
    return duckdb


@contextmanager
def open_history(directory: Path) -> Iterator[DuckDBPyConnection]:
    """A read-only connection with the views `runs`, `sections`, `steps` and `drills`."""
    duckdb = _duckdb()
    if not directory.is_dir():
        con = duckdb.connect()
        _load(con, directory, [], attached=False)
        yield con
        con.close()
        return
    lock = directory / LOCK_NAME
    for attempt in (1, 2):
        with locked(lock, exclusive=False):
            con = duckdb.connect()
            try:
                state, folded = _attach(con, directory / STORE_NAME)
                present = list_records(directory)
                pending = sorted(present - folded)
                if attempt == 2 or not _stale(directory, state, folded, present, pending):
                    _load(con, directory, pending, attached=state == "ok")
                    yield con
                    return
            finally:
                con.close()
        with locked(lock, exclusive=True):
            fold(directory)


def _attach(con: DuckDBPyConnection, db: Path) -> tuple[str, set[str]]:
    """Attach the store read-only: ("ok", the records it holds), ("none"|"old", nothing)."""
    if not db.exists():
        return "none", set()
    try:
        con.execute(f"ATTACH {_literal(str(db))} AS store (READ_ONLY)")
    except _duckdb().Error:
        return "old", set()  # unreadable (damaged, or not DuckDB's): the fold rebuilds it
    if _version(con, "store.") != SCHEMA_VERSION:
        con.execute("DETACH store")
        return "old", set()
    return "ok", {r[0] for r in con.execute("SELECT journal FROM store.runs").fetchall()}


def _stale(directory: Path, state: str, folded: set[str], present: set[str], pending: list[str]) -> bool:
    """Whether to fold before reading: old schema, pruned records, or finished ones not folded."""
    if state == "old" or folded - present:
        return True
    for rel in pending:
        try:
            if read_record(directory, rel).final:
                return True  # stop at the first: on a fresh history that is the very first file
        except RecordError:
            continue
    return False


def fold(directory: Path) -> int:
    """Fold finished records into the store and drop the rows of deleted ones (hold the write lock)."""
    con = _open_store(directory / STORE_NAME)
    try:
        if _version(con, "") != SCHEMA_VERSION:
            _create(con)
        folded = {r[0] for r in con.execute("SELECT journal FROM runs").fetchall()}
        present = list_records(directory)
        gone = sorted(folded - present)
        new = sorted(present - folded)
        rows = Rows()
        for rel in new:
            _add(rows, directory, rel, final_only=True)
        if not gone and not rows.runs:
            return 0
        if gone:
            con.begin()
            con.execute("CREATE TEMP TABLE gone AS SELECT unnest(?::VARCHAR[]) AS journal", [gone])
            doomed = "SELECT run_id FROM runs JOIN gone USING (journal)"
            con.execute(f"DELETE FROM steps WHERE run_id IN ({doomed})")  # noqa: S608 (names are this module's constants)
            con.execute(f"DELETE FROM sections WHERE run_id IN ({doomed})")  # noqa: S608 (names are this module's constants)
            con.execute("DELETE FROM runs WHERE journal IN (SELECT journal FROM gone)")
            con.commit()
        _insert_safely(con, directory, rows, new, prefix="", final_only=True)
        return len(rows.runs)
    finally:
        con.close()


def _open_store(db: Path) -> DuckDBPyConnection:
    """The store for writing; one that cannot be opened is a cache lost: start it again."""
    duckdb = _duckdb()
    try:
        con: DuckDBPyConnection = duckdb.connect(str(db))
        _version(con, "")
        return con
    except duckdb.Error as exc:
        sys.stderr.write(f"history: rebuilding {db.name} from the records ({_first_line(exc)})\n")
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    rebuilt: DuckDBPyConnection = duckdb.connect(str(db))
    return rebuilt


def _insert_safely(
    con: DuckDBPyConnection, directory: Path, rows: Rows, rels: list[str], prefix: str, final_only: bool
) -> None:
    """All rows in one transaction; should a value not fit its column (a hand-edited record),
    record by record instead, skipping and naming the ones that do not fit."""
    if not rows.runs:
        return
    duckdb = _duckdb()
    try:
        con.begin()
        _insert(con, rows, prefix)
        con.commit()
        return
    except duckdb.Error:
        con.rollback()
    for rel in rels:
        one = Rows()
        _add(one, directory, rel, final_only)
        if not one.runs:
            continue
        try:
            con.begin()
            _insert(con, one, prefix)
            con.commit()
        except duckdb.Error as exc:
            con.rollback()
            _warn(f"history: skipped {rel}: {_first_line(exc)}")


def _add(rows: Rows, directory: Path, rel: str, final_only: bool = False) -> None:
    try:
        record = read_record(directory, rel)
    except RecordError:
        return  # not ours or unreadable: never folded, never shown
    if record.final or not final_only:
        try:
            rows.add(record)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:  # a hand-edited record
            _warn(f"history: skipped {rel}: {type(exc).__name__}: {exc}")


_warned: set[str] = set()


def _warn(line: str) -> None:
    """Once per process: a skipped record is met by the fold and again by the read after it."""
    if line not in _warned:
        _warned.add(line)
        sys.stderr.write(line + "\n")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _version(con: DuckDBPyConnection, schema: str) -> str | None:
    try:
        query = f"SELECT value FROM {schema}meta WHERE key = 'schema'"  # noqa: S608 (names are this module's constants)
        row = con.execute(query).fetchone()
    except _duckdb().CatalogException:
        return None
    return str(row[0]) if row else None


def _create(con: DuckDBPyConnection) -> None:
    """(Re)create the store's tables empty; the next fold fills them from the records."""
    con.begin()
    for table in ("meta", *TABLES):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for table, columns in TABLES.items():
        con.execute(f"CREATE TABLE {table} ({_ddl(columns)})")
    con.execute("INSERT INTO meta VALUES ('schema', ?)", [SCHEMA_VERSION])
    con.commit()


def _load(con: DuckDBPyConnection, directory: Path, pending: list[str], attached: bool) -> None:
    """In-memory tables of the records not in the store, the views, then lock it all down."""
    for table, columns in TABLES.items():
        con.execute(f"CREATE TABLE live_{table} ({_ddl(columns)})")
    live = Rows()
    for rel in pending:
        _add(live, directory, rel)
    _insert_safely(con, directory, live, pending, prefix="live_", final_only=False)
    for table, columns in TABLES.items():
        names = ", ".join(f'"{c}"' for c, _ in columns)
        union = f" UNION ALL SELECT {names} FROM store.{table}" if attached else ""  # noqa: S608 (names are this module's constants)
        con.execute(f"CREATE VIEW {table} AS SELECT {names} FROM live_{table}{union}")  # noqa: S608 (names are this module's constants)
    con.execute(DRILLS_VIEW)
    # Queries (user SQL included) may read these views and nothing else on disk.
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _insert(con: DuckDBPyConnection, rows: Rows, prefix: str) -> None:
    """Bulk insert through CSV: DuckDB reads 300,000 rows in well under a second this way."""
    with tempfile.TemporaryDirectory(prefix="runbook-history-") as tmp:
        for table, columns in TABLES.items():
            data = rows.table(table)
            if not data:
                continue
            path = Path(tmp) / f"{table}.csv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerows([NULL if v is None else v for v in row] for row in data)
            types = ", ".join(f"{_literal(c)}: {_literal(_csv_type(t))}" for c, t in columns)
            source = (
                f"read_csv({_literal(str(path))}, header = false, auto_detect = false, delim = ',', "
                f"quote = '\"', escape = '\"', new_line = '\\n', nullstr = {_literal(NULL)}, "
                f"allow_quoted_nulls = false, columns = {{{types}}})"
            )
            con.execute(f"INSERT INTO {prefix}{table} SELECT * FROM {source}")  # noqa: S608 (names are this module's constants)


def _ddl(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f'"{c}" {t}' for c, t in columns)


def _csv_type(sql_type: str) -> str:
    return "VARCHAR" if sql_type == "JSON" else sql_type


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
