"""The DuckDB store is a cache of the record files: rebuilt when gone or old; odd records skipped."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from runbook_engine.errors import UserError
from runbook_engine.history.journals import LOCK_NAME, STORE_NAME
from runbook_engine.history.lock import locked
from tests.conftest import Project
from tests.support.history import T0, dead_process, journal, run_id_at, store


@pytest.fixture
def history(tmp_path: Path) -> Path:
    folder = tmp_path / ".runbook" / "history"
    for n in range(3):
        t = T0 + timedelta(hours=n)
        store(folder, journal(run_id_at(t, n), t, {"a": ("passed", 1.0), "b": ("failed", 2.0)}))
    return folder


def _count(project: Project, table: str = "runs") -> int:
    result = project.cli("history", "--sql", f"SELECT count(*) AS n FROM {table}", "-f", "json")
    assert result.code == 0, result.err
    n: int = json.loads(result.out)[0]["n"]
    return n


def test_store_is_rebuilt_when_deleted_or_old(project: Project, history: Path) -> None:
    """Deleting history.duckdb, or a store of another schema version, loses nothing: it is refolded."""
    import duckdb

    assert (_count(project, "store.runs"), _count(project, "store.steps")) == (3, 6)
    (history / STORE_NAME).unlink()
    assert (_count(project), _count(project, "store.steps")) == (3, 6)
    con = duckdb.connect(str(history / STORE_NAME))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    con.execute("DELETE FROM steps")
    con.close()
    assert (_count(project, "steps"), _count(project, "store.steps")) == (6, 6)
    con = duckdb.connect(str(history / STORE_NAME), read_only=True)
    assert con.execute("SELECT value FROM meta").fetchall() == [("1",)]
    con.close()
    (history / STORE_NAME).write_bytes(b"not a database at all" * 1000)
    result = project.cli("history", "--format", "json")
    assert (result.code, len(json.loads(result.out))) == (0, 3)
    assert result.err.startswith("history: rebuilding history.duckdb from the records (")
    assert _count(project, "store.steps") == 6


def test_odd_files_are_skipped_and_named(project: Project, history: Path) -> None:
    """A file that is not a record is ignored; a record whose values do not fit is skipped with its name."""
    folder = history / "runs" / "demo"
    (folder / "garbage.json").write_text("{not json")
    (folder / "other.json").write_text('{"hello": 1}')
    (folder / ".half-written.json").write_text("{")
    t = T0 + timedelta(hours=5)
    bad = store(history, journal(run_id_at(t, 5), t, {"a": ("passed", 1.0)}))
    data = json.loads(bad.read_text())
    data["journal"]["sections"][0]["steps"][0]["attempts"] = "many"
    bad.write_text(json.dumps(data))
    result = project.cli("history", "--format", "json")
    assert result.code == 0
    assert len(json.loads(result.out)) == 3
    assert result.err.startswith(f"history: skipped runs/demo/{bad.name}: Conversion Error:")
    assert result.err.count("\n") == 1  # said once, though both the fold and the read met it


def test_dead_writer_without_finishing_is_aborted(project: Project, history: Path) -> None:
    """A record left `running` by a process that is gone reads as aborted, with its time as far as it got."""
    t = T0 + timedelta(hours=9)
    j = journal(run_id_at(t, 9), t, {"a": ("passed", 1.0)}, status="running")
    store(history, j, dead_process())
    rows = json.loads(project.cli("history", "--last", "1", "-f", "json").out)
    assert [(r["run_id"], r["status"], r["verdict"], r["steps"]) for r in rows] == [
        (j.run_id, "aborted", None, 1)
    ]


def test_a_busy_history_is_a_clear_error(tmp_path: Path) -> None:
    """While a fold holds the lock, a reader waits, then gives up with a one-line reason."""
    lock = tmp_path / LOCK_NAME
    with locked(lock, exclusive=True), pytest.raises(UserError) as exc, locked(lock, False, wait_s=0.2):
        pass
    assert str(exc.value) == (
        f"history {tmp_path} is busy: another `runbook history` held it for 0.2s; try again"
    )
    with locked(lock, exclusive=False), locked(lock, exclusive=False, wait_s=0.2):
        pass  # readers share
