"""The index is a cache of the record files: rebuilt when gone, torn rows ignored, odd records skipped."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from runbook_engine.errors import UserError
from runbook_engine.history.index import R, append_records, current_generation, read_runs
from runbook_engine.history.journals import LOCK_NAME, read_record
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


def _sql(project: Project, query: str) -> list[dict[str, object]]:
    result = project.cli("history", "--sql", query, "-f", "json")
    assert result.code == 0, result.err
    rows: list[dict[str, object]] = json.loads(result.out)
    return rows


def _journals(history: Path) -> list[str]:
    """The records the index holds an entry for (one line per entry)."""
    gen = current_generation(history)
    return sorted(row[R["journal"]] for row in read_runs(gen)) if gen else []


def test_records_are_indexed_once_and_the_index_is_rebuilt(project: Project, history: Path) -> None:
    """Records written without the index are indexed by the first reader; deleting index/ loses nothing."""
    import shutil

    (history / "history.duckdb").write_bytes(b"the cache of an older engine")
    assert _journals(history) == []
    assert _sql(project, "SELECT count(*) AS n FROM steps") == [{"n": 6}]
    assert len(_journals(history)) == 3
    assert not (history / "history.duckdb").exists()  # superseded by the index
    assert _sql(project, "SELECT count(*) AS n FROM runs") == [{"n": 3}]
    assert len(_journals(history)) == 3  # not indexed twice
    shutil.rmtree(history / "index")
    rows = json.loads(project.cli("history", "--format", "json").out)
    assert [(r["steps"], r["passed"], r["failed"]) for r in rows] == [(2, 1, 1)] * 3
    assert len(_journals(history)) == 3


def test_indexed_runs_are_answered_without_reading_their_records(project: Project, history: Path) -> None:
    """Once indexed, a record is not read again: every view answers from the index alone."""
    before = {
        view: project.cli("history", *args, "-f", "json").out
        for view, args in {
            "list": [],
            "steps": ["demo", "--steps"],
            "sql": ["--sql", "SELECT * FROM steps ORDER BY run_id, position"],
        }.items()
    }
    assert json.loads(before["list"])
    for path in (history / "runs" / "demo").glob("*.json"):
        data = json.loads(path.read_text())
        data["journal"]["sections"] = []  # what a reader of the records would now see
        path.write_text(json.dumps(data))
    after = {
        "list": project.cli("history", "-f", "json").out,
        "steps": project.cli("history", "demo", "--steps", "-f", "json").out,
        "sql": project.cli(
            "history", "--sql", "SELECT * FROM steps ORDER BY run_id, position", "-f", "json"
        ).out,
    }
    assert after == before


def test_torn_and_duplicate_index_rows_are_ignored(project: Project, history: Path) -> None:
    """A half-written row at the end of each index file, and a record indexed twice, change no answer."""
    project.cli("history")
    gen = current_generation(history)
    assert gen is not None
    first = sorted((history / "runs" / "demo").glob("*.json"))[0]
    append_records(history, [read_record(history, first.relative_to(history).as_posix())])  # again
    for name in ("runs", "steps", "sections", "extra"):
        with (gen / f"{name}.csv").open("a", encoding="utf-8") as fh:
            fh.write('123,"torn mid-wri')  # a writer caught mid-append
    listed = json.loads(project.cli("history", "-f", "json").out)
    assert len(listed) == 3
    assert _sql(project, "SELECT count(*) AS runs, count(DISTINCT run_id) AS ids FROM runs") == [
        {"runs": 3, "ids": 3}
    ]
    assert _sql(project, "SELECT count(*) AS n FROM steps") == [{"n": 6}]
    assert _sql(project, "SELECT count(*) AS n FROM sections") == [{"n": 3}]
    steps = json.loads(project.cli("history", "demo", "--steps", "-f", "json").out)
    assert [(s["step_id"], s["runs"], s["passed"], s["failed"]) for s in steps] == [
        ("a", 3, 3, 0),
        ("b", 3, 0, 3),
    ]


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
    assert result.err == f"history: skipped runs/demo/{bad.name}: attempts: 'many' is not an integer\n"
    assert len(_journals(history)) == 3


def test_dead_writer_without_finishing_is_closed_as_aborted(project: Project, history: Path) -> None:
    """A record left `running` by a process that is gone is rewritten as aborted, with the reason."""
    t = T0 + timedelta(hours=9)
    j = journal(run_id_at(t, 9), t, {"a": ("passed", 1.0)}, status="running")
    writer = dead_process()
    path = store(history, j, writer)
    written = json.loads(path.read_text())["updated_at"].replace("+00:00", "Z")
    rows = json.loads(project.cli("history", "--last", "1", "-f", "json").out)
    assert [(r["run_id"], r["status"], r["verdict"], r["steps"]) for r in rows] == [
        (j.run_id, "aborted", None, 1)
    ]
    saved = json.loads(path.read_text())["journal"]
    assert saved["status"] == "aborted"
    assert saved["reasons"] == [
        f"aborted: the run's process (pid {writer.pid} on {writer.host}) ended before the run finished; "
        f"last recorded at {written}"
    ]
    assert saved["extra"]["aborted"]["reason"] == saved["reasons"][0]
    assert f"runs/demo/{path.name}" in _journals(history)
    reasons = _sql(project, f"SELECT status, reasons FROM runs WHERE run_id = '{j.run_id}'")
    assert reasons == [{"status": "aborted", "reasons": saved["reasons"]}]


def test_a_busy_history_is_a_clear_error(tmp_path: Path) -> None:
    """While an index append holds the lock, another writer waits, then gives up with a one-line reason."""
    lock = tmp_path / LOCK_NAME
    with locked(lock, exclusive=True), pytest.raises(UserError) as exc, locked(lock, False, wait_s=0.2):
        pass
    assert str(exc.value) == (
        f"history {tmp_path} is busy: another `runbook history` held it for 0.2s; try again"
    )
    with locked(lock, exclusive=False), locked(lock, exclusive=False, wait_s=0.2):
        pass  # readers share
