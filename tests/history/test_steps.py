"""`runbook history NAME --steps`: pass rate, durations, last failure and the flaky mark."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support.history import T0, journal, run_id_at, store

FLAPPY = """
    kind: runbook
    name: flappy
    sections:
      - name: Checks
        steps:
          - name: Flips
            check: shell
            with: {command: "n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; [ $((n % 2)) -eq 0 ]"}
          - {name: Steady, check: shell, with: {command: "true"}}
"""


def test_alternating_step_is_marked_flaky(project: Project, tmp_path: Path) -> None:
    """A step that passes and fails in turn with the same runbook file is flaky; a steady one is not."""
    project.runbook("flappy", FLAPPY.replace("{count}", str(tmp_path / "count")))
    assert [project.cli("run", "flappy").code for _ in range(4)] == [0, 1, 0, 1]
    result = project.cli("history", "flappy", "--steps", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    picked = [
        (r["step_id"], r["section"], r["runs"], r["passed"], r["failed"], r["pass_rate"], r["flaky"])
        for r in rows
    ]
    assert picked == [
        ("flips", "Checks", 4, 2, 2, 0.5, True),
        ("steady", "Checks", 4, 4, 0, 1.0, False),
    ]
    assert rows[0]["last_failure"] == "exit_code == 0 -> exit_code = 1"
    assert rows[1]["last_failure"] is None and rows[1]["last_failure_at"] is None

    table = project.cli("history", "flappy", "--steps")
    lines = table.out.splitlines()
    assert lines[0] == "flappy: steps over the last 4 runs (of 4 recorded)"
    assert lines[1].split() == [
        "flaky", "section", "step_id", "name", "runs", "passed", "failed", "pass_rate", "median_s",
        "p95_s", "last_failure_at", "last_failure",
    ]  # fmt: skip
    assert lines[2].split()[:8] == ["FLAKY", "Checks", "flips", "Flips", "4", "2", "2", "50%"]
    assert lines[3].split()[:7] == ["Checks", "steady", "Steady", "4", "4", "0", "100%"]


def test_the_steps_table_fits_the_terminal(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long names and messages are shortened to fit $COLUMNS (down to 12 characters a
    column: 120 fits every column of --steps); the numbers stay whole."""
    long_name = "A step whose name goes on and on " * 3
    project.runbook(
        "wide",
        f"""
        kind: runbook
        name: wide
        sections:
          - name: Checks
            steps:
              - {{name: "{long_name.strip()}", check: shell, with: {{command: "echo {"x" * 120}; exit 1"}}}}
    """,
    )
    project.cli("run", "wide")
    monkeypatch.setenv("COLUMNS", "120")
    lines = project.cli("history", "wide", "--steps").out.splitlines()
    assert max(len(line) for line in lines) <= 120, lines
    # The long name is cut (…) and step_id left out; the numbers come whole after it.
    assert re.search(r"…\s+1\s+0\s+1\s+0%", lines[2]), lines[2]


def test_a_changed_file_or_environment_is_not_flakiness(tmp_path: Path, project: Project) -> None:
    """Pass then fail across a change of the runbook file (or environment) is not flaky; --last bounds the window."""
    history = tmp_path / ".runbook" / "history"
    runs = [
        ("passed", "a" * 64, "local"),
        ("failed", "b" * 64, "local"),  # the file was edited: a fix or a break, not a flap
        ("passed", "b" * 64, "staging"),  # another environment
        ("failed", "b" * 64, "local"),
    ]
    for n, (outcome, sha, env) in enumerate(runs):
        t = T0 + timedelta(hours=n)
        store(history, journal(run_id_at(t, n), t, {"check": (outcome, 1.0 + n)}, sha=sha, environment=env))
    rows = json.loads(project.cli("history", "demo", "--steps", "-f", "json").out)
    assert [(r["runs"], r["passed"], r["failed"], r["flaky"]) for r in rows] == [(4, 2, 2, False)]
    assert (rows[0]["median_s"], rows[0]["p95_s"]) == (2.5, 3.8499999999999996)
    assert rows[0]["last_failure_at"] == "2026-11-01T12:00:00Z"
    assert rows[0]["last_failure"] == "check said no"

    # A pass with file b in local: with that same file and environment it has now both passed and failed.
    t = T0 + timedelta(hours=4)
    store(history, journal(run_id_at(t, 4), t, {"check": ("passed", 1.0)}, sha="b" * 64))
    rows = json.loads(project.cli("history", "demo", "--steps", "-f", "json").out)
    assert [(r["runs"], r["flaky"]) for r in rows] == [(5, True)]
    # The last 2 runs only: a failure then a pass, same file and environment.
    rows = json.loads(project.cli("history", "demo", "--steps", "--last", "2", "-f", "json").out)
    assert [(r["runs"], r["passed"], r["failed"], r["flaky"]) for r in rows] == [(2, 1, 1, True)]
    # The first of them alone cannot flap.
    rows = json.loads(project.cli("history", "demo", "--steps", "--last", "1", "-f", "json").out)
    assert [(r["runs"], r["flaky"]) for r in rows] == [(1, False)]


def test_steps_needs_a_name_and_reports_nothing_recorded(project: Project, tmp_path: Path) -> None:
    """--steps without NAME is a usage error; an unknown name says nothing is recorded."""
    result = project.cli("history", "--steps")
    assert (result.code, result.err) == (2, "--steps needs a runbook name: runbook history NAME --steps\n")
    result = project.cli("history", "nope", "--steps")
    history = tmp_path / ".runbook" / "history"
    assert (result.code, result.out) == (0, f"no runs of nope recorded in {history}\n")


def test_the_run_list_drops_minor_columns_before_cutting(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 120 columns the list leaves out host, kind, user and environment rather than
    cutting run ids and runbook names; json keeps every column."""
    project.runbook("flappy", FLAPPY.replace("{count}", str(tmp_path / "count")))
    project.cli("run", "flappy")
    monkeypatch.setenv("COLUMNS", "120")
    lines = project.cli("history").out.splitlines()
    assert lines[0].split() == [
        "started_at", "runbook", "status", "verdict", "duration_s", "steps", "passed", "failed", "run_id",
    ]  # fmt: skip
    assert "…" not in "\n".join(lines)
    full = json.loads(project.cli("history", "--format", "json").out)
    assert {"host", "kind", "user", "environment"} <= set(full[0])
