"""The comparison with the previous run that `runbook run` puts in journal.extra["comparison"]."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from runbook_engine.history.compare import compare_with_previous
from tests.conftest import Project
from tests.support.history import T0, journal, run_id_at, store

PACED = """
    kind: runbook
    name: paced
    vars: {pause: "0.05", ok: "yes"}
    sections:
      - name: Setup
        budget: 10s
        steps:
          - {name: Quick, check: shell, with: {command: "true"}}
          - {name: Paced, action: shell, with: {command: "sleep {{ vars.pause }}"}}
      - name: Checks
        steps:
          - {name: Gate, check: shell, with: {command: "test {{ vars.ok }} = yes"}}
"""


def _run(project: Project, *args: str) -> dict[str, Any]:
    result, data = project.run_json("paced", *args)
    assert result.code in (0, 1), result.err
    return data


def test_slower_step_new_and_fixed_failures(project: Project) -> None:
    """A step made slower by --var is listed with before/after; a failure is new, then fixed; trends grow."""
    project.runbook("paced", PACED)
    first = _run(project)
    assert "comparison" not in first["extra"]  # nothing to compare with yet

    second = _run(project, "--var", "pause=1.2", "--var", "ok=no")
    c = second["extra"]["comparison"]
    assert c["previous"]["run_id"] == first["run_id"]
    assert (c["previous"]["verdict"], c["previous"]["same_file"]) == ("GO", True)
    assert c["threshold"] == {"ratio": 0.2, "min_s": 0.5}
    assert [(s["id"], s["name"], s["section"]) for s in c["slower"]] == [("paced", "Paced", "Setup")]
    slower = c["slower"][0]
    assert 0.05 <= slower["before_s"] < 0.6
    assert 1.2 <= slower["after_s"] < 2.5
    assert slower["change_s"] == round(slower["after_s"] - slower["before_s"], 3)
    assert c["new_failures"] == [
        {
            "id": "gate",
            "name": "Gate",
            "section": "Checks",
            "before": "passed",
            "after": "failed",
            "message": "exit_code == 0 -> exit_code = 1",
        }
    ]
    assert c["fixed"] == []
    assert c["trend"]["run_ids"] == [first["run_id"], second["run_id"]]
    assert [(s["name"], s["budget_s"], len(s["durations_s"])) for s in c["trend"]["sections"]] == [
        ("Setup", 10.0, 2),
        ("Checks", None, 2),
    ]
    assert c["trend"]["sections"][0]["durations_s"][1] >= 1.2

    third = _run(project)
    c = third["extra"]["comparison"]
    assert c["previous"]["run_id"] == second["run_id"]
    assert c["slower"] == [] and c["new_failures"] == []
    assert c["fixed"] == [
        {
            "id": "gate",
            "name": "Gate",
            "section": "Checks",
            "before": "failed",
            "after": "passed",
            "message": "exit_code == 0 -> exit_code = 1",
        }
    ]
    assert c["trend"]["run_ids"] == [first["run_id"], second["run_id"], third["run_id"]]
    # The record in the history carries the comparison too.
    record = json.loads(
        (project.root / ".runbook" / "history" / "runs" / "paced" / f"{third['run_id']}.json").read_text()
    )
    assert record["journal"]["extra"]["comparison"] == c


def test_previous_is_the_latest_finished_run_and_the_trend_is_bounded(tmp_path: Path) -> None:
    """Aborted, running and later runs are not 'previous'; the trend holds at most 10 runs, oldest first."""
    history = tmp_path / "history"
    ids = []
    for n in range(12):
        t = T0 + timedelta(hours=n)
        ids.append(run_id_at(t, n))
        store(history, journal(ids[-1], t, {"a": ("passed", 1.0 + n)}))
    t = T0 + timedelta(hours=12)
    store(history, journal(run_id_at(t, 12), t, {"a": ("failed", 9.0)}, status="aborted"))
    now = T0 + timedelta(hours=13)
    later = T0 + timedelta(hours=20)
    store(history, journal(run_id_at(later, 20), later, {"a": ("passed", 1.0)}))
    current = journal(run_id_at(now, 13), now, {"a": ("passed", 30.0), "b": ("failed", 1.0)}, sha="c" * 64)

    c = compare_with_previous(current, history)
    assert c is not None
    assert c["previous"] == {
        "run_id": ids[11],
        "started_at": "2026-11-01T20:00:00Z",
        "verdict": "GO",
        "duration_s": 12.0,
        "same_file": False,
    }
    assert c["slower"] == [
        {
            "id": "a",
            "name": "A",
            "section": "Main",
            "before_s": 12.0,
            "after_s": 30.0,
            "change_s": 18.0,
            "change_pct": 150.0,
        }
    ]
    assert c["new_failures"] == [
        {"id": "b", "name": "B", "section": "Main", "before": None, "after": "failed", "message": "b said no"}
    ]
    assert c["trend"]["run_ids"] == [*ids[3:], current.run_id]
    assert c["trend"]["total_s"] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 31.0]
    assert c["trend"]["sections"] == [
        {
            "name": "Main",
            "budget_s": None,
            "durations_s": [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 31.0],
        }
    ]
    assert compare_with_previous(journal(ids[0], T0, {"a": ("passed", 1.0)}), history) is None
