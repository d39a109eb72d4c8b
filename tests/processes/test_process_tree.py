"""No orphans: a shell step's whole process tree ends at its timeout, on Ctrl-C and on
SIGTERM, whatever its processes do to get away (ignore SIGTERM, setsid, double fork)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes.tree import (
    TREE_SIZE,
    reap_leftovers,
    start_cli,
    survivors,
    wait_for_pids,
    write_tree_script,
)


def _project(tmp_path: Path, timeout: str) -> tuple[Path, Path]:
    script = write_tree_script(tmp_path)
    pidfile = tmp_path / "pids"
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "t.yaml").write_text(
        "kind: runbook\nname: t\nsections:\n  - name: S\n    steps:\n"
        f"      - {{name: Escapes, action: shell, timeout: {timeout},"
        f' with: {{command: "exec sh {script} {pidfile}"}}}}\n'
    )
    return pidfile, tmp_path / "out.json"


def test_the_whole_tree_ends_at_the_step_timeout(tmp_path: Path) -> None:
    """At a 1 s timeout every process of the step's tree ends, including one that ignores
    SIGTERM, one that left with setsid and a double-forked one; the step ends at its
    timeout (not abandoned two seconds later) and its message says the tree was ended."""
    pidfile, report = _project(tmp_path, "1s")
    pids: list[int] = []
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "runbook_engine", "run", "t", "--no-history", "-r", str(report)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        pids = wait_for_pids(pidfile)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        step = json.loads(report.read_text())["sections"][0]["steps"][0]
        assert step["outcome"] == "error"
        assert step["message"] == (
            f"timed out after 1s; the command and its children were killed (2 of {TREE_SIZE} processes"
            " ignored SIGTERM and were killed with SIGKILL)"
        )
        assert survivors(pids, within=2.0) == [], "processes of the step outlived its timeout"
    finally:
        reap_leftovers(pids)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stopping_the_runbook_ends_the_whole_tree(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    """SIGTERM (or Ctrl-C) of the runbook process during the step ends every process of
    the step's tree, escaped ones included, before runbook exits."""
    pidfile, report = _project(tmp_path, "60s")
    pids: list[int] = []
    proc = start_cli(tmp_path, "run", "t", "--no-history", "-r", str(report))
    try:
        pids = wait_for_pids(pidfile)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, out + err
        # Ended before runbook exited: no grace period after it is needed.
        assert survivors(pids, within=0.0) == [], "processes of the step outlived the runbook"
        step = json.loads(report.read_text())["sections"][0]["steps"][0]
        assert step["outcome"] == "error"
    finally:
        proc.kill()
        proc.communicate()
        reap_leftovers(pids)


def test_concurrent_steps_end_only_their_own_tree(tmp_path: Path) -> None:
    """In a parallel section, one step's timeout ends its tree and not the processes of the
    step running beside it, which passes."""
    script = write_tree_script(tmp_path)
    pidfile = tmp_path / "pids"
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "t.yaml").write_text(
        "kind: runbook\nname: t\nsections:\n  - name: S\n    parallel: true\n    steps:\n"
        f'      - {{name: Escapes, action: shell, timeout: 1s, with: {{command: "exec sh {script} {pidfile}"}}}}\n'
        "      - {name: Neighbour, action: shell, timeout: 30s,"
        ' with: {command: "sleep 3 & sleep 3; wait; echo survived"}}\n'
    )
    report = tmp_path / "out.json"
    pids: list[int] = []
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "runbook_engine", "run", "t", "--no-history", "-r", str(report)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        pids = wait_for_pids(pidfile)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        steps = {s["name"]: s for s in json.loads(report.read_text())["sections"][0]["steps"]}
        assert steps["Escapes"]["outcome"] == "error"
        assert (steps["Neighbour"]["outcome"], steps["Neighbour"]["outputs"]["stdout"]) == (
            "passed",
            "survived\n",
        )
        assert survivors(pids, within=2.0) == []
    finally:
        reap_leftovers(pids)
