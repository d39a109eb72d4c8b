"""Event times (timeparse.py): a bad value names where it came from, --event or RUNBOOK_EVENT."""

from __future__ import annotations

from typing import Any

from tests.conftest import Project

RUNBOOK = """
kind: runbook
name: r
sections: [{name: S, steps: [{manual: "Look"}]}]
"""
HINT = "write a time like '2026-12-01 10:00' or '2026-12-01T10:00+01:00'"


def test_bad_event_from_the_environment_names_the_variable(project: Project, monkeypatch: Any) -> None:
    """RUNBOOK_EVENT=bad, no --event typed: the message names the variable, exit 2."""
    project.runbook("r", RUNBOOK)
    monkeypatch.setenv("RUNBOOK_EVENT", "bad")
    result = project.cli("run", "r", "--no-history")
    assert result.code == 2
    assert result.err == f"RUNBOOK_EVENT='bad' (from the environment): {HINT}\n"
    plan = project.cli("plan")
    assert plan.err == f"RUNBOOK_EVENT='bad' (from the environment): {HINT}\n"


def test_bad_event_flag_names_the_flag(project: Project, monkeypatch: Any) -> None:
    """A typed --event wins over the variable, and its mistake names --event."""
    project.runbook("r", RUNBOOK)
    monkeypatch.setenv("RUNBOOK_EVENT", "2026-12-01 10:00")
    result = project.cli("run", "r", "--no-history", "--event", "tomorrow")
    assert result.code == 2
    assert result.err == f"--event 'tomorrow': {HINT}\n"
    monkeypatch.delenv("RUNBOOK_EVENT")
    assert project.cli("plan", "--event", "nope").err == f"--event 'nope': {HINT}\n"
