"""Recording runs as they go: concurrent runs, a killed run, opting out and moving the history."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support import procs
from tests.support.history import history_json, records, run_cli, runbook_cmd, wait_for

QUICK = """
kind: runbook
name: quick
sections:
  - name: Only
    steps:
      - {name: First, check: shell, with: {command: "echo one"}}
      - {name: Second, action: shell, with: {command: "sleep 0.2"}}
      - {name: Third, check: shell, with: {command: "echo three"}, expect: "'three' in stdout"}
"""


def _project(root: Path, name: str, text: str) -> Path:
    (root / "runbooks").mkdir(parents=True, exist_ok=True)
    (root / "runbooks" / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def test_eight_concurrent_runs_are_all_recorded(tmp_path: Path) -> None:
    """8 `runbook run` processes at once, with `runbook history` reading meanwhile: 8 whole records, none lost."""
    root = _project(tmp_path, "quick", QUICK)
    runs = [
        subprocess.Popen(
            runbook_cmd("run", "quick", "--report", f"r{i}.json"),
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    # Readers read the index while the other runs still append to it.
    readers = 0
    while any(p.poll() is None for p in runs) and readers < 3:
        assert run_cli(root, "history", "--last", "100").returncode == 0
        readers += 1
    for p in runs:
        out, err = p.communicate()
        assert p.returncode == 0, out + err
    assert readers >= 1
    ids = {json.loads((root / f"r{i}.json").read_text())["run_id"] for i in range(8)}
    assert len(ids) == 8

    listed = history_json(root, "quick", "--last", "100")
    assert {r["run_id"] for r in listed} == ids
    assert {(r["status"], r["verdict"], r["steps"], r["passed"], r["failed"]) for r in listed} == {
        ("finished", "GO", 3, 3, 0)
    }
    files = records(root / ".runbook" / "history", "quick")
    assert sorted(f["journal"]["run_id"] for f in files) == sorted(ids)
    for f in files:
        steps = [s for sec in f["journal"]["sections"] for s in sec["steps"]]
        assert [(s["id"], s["outcome"]) for s in steps] == [
            ("first", "passed"),
            ("second", "passed"),
            ("third", "passed"),
        ]
    counted = history_json(root, "--sql", "SELECT count(*) AS n, count(DISTINCT run_id) AS d FROM steps")
    assert counted == [{"n": 24, "d": 8}]


KILLED = """
kind: runbook
name: killed
sections:
  - name: Only
    steps:
      - {name: First, check: shell, with: {command: "sleep 0.3; echo one"}}
      - {name: Long, action: shell, with: {command: "echo $$ > {pidfile}; exec sleep 30"}}
      - {name: Never, check: shell, with: {command: "echo never"}}
"""


def test_killed_run_shows_aborted_with_its_finished_steps(tmp_path: Path) -> None:
    """A run killed with SIGKILL mid-step shows as running while alive, then aborted with the steps it finished."""
    pidfile = tmp_path / "sleeper.pid"
    root = _project(tmp_path, "killed", KILLED.replace("{pidfile}", str(pidfile)))
    history = root / ".runbook" / "history"
    proc = subprocess.Popen(
        runbook_cmd("run", "killed"), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def first_step_recorded() -> bool:
            found = records(history, "killed")
            steps = [s for sec in found[0]["journal"]["sections"] for s in sec["steps"]] if found else []
            return bool(steps) and steps[0]["duration_s"] is not None

        wait_for("the first step in the record", first_step_recorded)
        wait_for("the long step to start", lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        running = history_json(root, "killed")
        assert [(r["status"], r["verdict"], r["steps"], r["passed"]) for r in running] == [
            ("running", None, 1, 1)
        ]

        os.kill(proc.pid, signal.SIGKILL)
        wait_for("the killed process to exit", lambda: not procs.running(proc.pid))
        # Not reaped yet (a zombie): the pid still exists, and is rightly taken as dead.
        aborted = history_json(root, "killed")
        assert [(r["status"], r["verdict"], r["steps"], r["passed"]) for r in aborted] == [
            ("aborted", None, 1, 1)
        ]
        proc.wait()
        # As far as the record goes: through the first step, whose line is in the step log.
        assert aborted[0]["duration_s"] >= 0.3
        run_id = aborted[0]["run_id"]
        steps = history_json(
            root, "--sql", f"SELECT step_id, outcome FROM steps WHERE run_id = '{run_id}' ORDER BY position"
        )
        assert steps == [{"step_id": "first", "outcome": "passed"}]
        # Closed on disk as aborted, with the reason, its step log merged in, and indexed.
        saved = records(history, "killed")[0]["journal"]
        assert (saved["status"], saved["reasons"][0].split(" (")[0]) == (
            "aborted",
            "aborted: the run's process",
        )
        assert [s["outcome"] for sec in saved["sections"] for s in sec["steps"] if s["duration_s"]] == [
            "passed"
        ]
        assert not list(history.glob("runs/killed/.*.steps.jsonl"))
        assert not list((history / "open").iterdir())
        stored = history_json(root, "--sql", "SELECT status, journal FROM runs")
        assert stored == [{"status": "aborted", "journal": f"runs/killed/{run_id}.json"}]
        per_step = history_json(root, "killed", "--steps")
        assert [(s["step_id"], s["runs"], s["passed"]) for s in per_step] == [("first", 1, 1)]
    finally:
        proc.kill()
        proc.wait()
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the orphaned `sleep 30`


def test_no_history_records_nothing_and_history_moves(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-history writes nothing; --history PATH and $RUNBOOK_HISTORY move the record; --dir finds it."""
    project.runbook("quick", QUICK)
    history = tmp_path / ".runbook" / "history"
    assert project.cli("run", "quick", "--no-history").code == 0
    assert not history.exists()

    assert project.cli("run", "quick", "--history", "elsewhere").code == 0
    assert len(records(tmp_path / "elsewhere", "quick")) == 1
    assert len(json.loads(project.cli("history", "--history", "elsewhere", "-f", "json").out)) == 1

    monkeypatch.setenv("RUNBOOK_HISTORY", str(tmp_path / "from-env"))
    assert project.cli("run", "quick").code == 0
    assert len(records(tmp_path / "from-env", "quick")) == 1
    assert len(json.loads(project.cli("history", "-f", "json").out)) == 1
    assert not history.exists()
    monkeypatch.delenv("RUNBOOK_HISTORY")

    # --dir: the history lives beside the runbook folder it names.
    other = _project(tmp_path / "other", "quick", QUICK)
    assert project.cli("run", "quick", "--dir", str(other / "runbooks")).code == 0
    assert len(records(other / ".runbook" / "history", "quick")) == 1
    assert len(json.loads(project.cli("history", "--dir", str(other / "runbooks"), "-f", "json").out)) == 1
    monkeypatch.setenv("RUNBOOK_DIR", str(other / "runbooks"))
    assert len(json.loads(project.cli("history", "-f", "json").out)) == 1
    monkeypatch.delenv("RUNBOOK_DIR")
    assert project.cli("history").out == f"no runs recorded in {history}\n"


PROBE = """
import atexit, sys
atexit.register(lambda: print("DUCKDB:" + str("duckdb" in sys.modules), file=sys.stderr))
from runbook_engine.cli import main
main(sys.argv[1:])
"""


def test_only_sql_imports_duckdb(tmp_path: Path) -> None:
    """`runbook run` and the common history views never import DuckDB; `history --sql` does."""
    root = _project(tmp_path, "quick", QUICK)
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "quick"], cwd=root, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "DUCKDB:False" in ran.stderr
    assert len(records(root / ".runbook" / "history", "quick")) == 1
    for view in (["history"], ["history", "quick", "--steps"], ["history", "--drills"]):
        read = subprocess.run([sys.executable, "-c", PROBE, *view], cwd=root, capture_output=True, text=True)
        assert (read.returncode, read.stderr) == (0, "DUCKDB:False\n"), view
    sql = subprocess.run(
        [sys.executable, "-c", PROBE, "history", "--sql", "SELECT 1"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert (sql.returncode, sql.stderr) == (0, "DUCKDB:True\n")
