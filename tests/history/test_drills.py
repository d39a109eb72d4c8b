"""`runbook history --drills`: time to detect and to recover per contingency, against the RTO."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from runbook_engine.execute.events import RunFinished, RunStarted, StepFinished
from runbook_engine.history.recorder import Recorder
from tests.conftest import Project
from tests.support.history import T0, journal, run_id_at

DRILLS = [
    # contingency, hours after T0, time to detect, time to recover, RTO
    ("services-wont-start", 0, 5.0, 100.0, 180.0),
    ("services-wont-start", 24, 6.0, 150.0, 180.0),
    ("api-down", 30, 2.0, 20.0, 30.0),
    ("services-wont-start", 48, 7.0, 200.0, 180.0),
]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def drills(tmp_path: Path) -> list[str]:
    """Drill journals recorded through the recorder, the way `runbook drill` records them."""
    ids = []
    for n, (name, hours, ttd, ttr, rto) in enumerate(DRILLS):
        t = T0 + timedelta(hours=hours)
        facts = {
            "mode": "drill",
            "rto_s": rto,
            "time_to_detect_s": ttd,
            "time_to_recover_s": ttr,
            "within_rto": ttr <= rto,
        }
        j = journal(run_id_at(t, n), t, {"detect": ("passed", ttd), "verify": ("passed", 1.0)}, runbook=name)
        j.kind = "drill"
        recorder = Recorder(tmp_path / ".runbook" / "history")
        recorder(RunStarted(j))
        for step in j.steps():
            recorder(StepFinished(step))
        j.extra["drill"] = facts
        recorder(RunFinished(j))
        ids.append(j.run_id)
    return ids


def test_drills_over_time_against_the_rto(project: Project, drills: list[str], utc: None) -> None:
    """Each drill's detect and recover times, RTO, margin and verdict, per contingency, oldest first."""
    result = project.cli("history", "--drills", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    picked = [
        (
            r["contingency"],
            r["time_to_detect_s"],
            r["time_to_recover_s"],
            r["rto_s"],
            r["within_rto"],
            r["margin_s"],
        )
        for r in rows
    ]
    assert picked == [
        ("api-down", 2.0, 20.0, 30.0, True, 10.0),
        ("services-wont-start", 5.0, 100.0, 180.0, True, 80.0),
        ("services-wont-start", 6.0, 150.0, 180.0, True, 30.0),
        ("services-wont-start", 7.0, 200.0, 180.0, False, -20.0),
    ]
    assert [r["run_id"] for r in rows] == [drills[2], drills[0], drills[1], drills[3]]
    assert rows[0]["started_at"] == "2026-11-02T15:00:00Z"

    table = project.cli("history", "--drills").out.splitlines()
    assert table[0].split() == [
        "contingency", "mode", "started_at", "status", "verdict", "time_to_detect_s", "time_to_recover_s", "rto_s",
        "within_rto", "margin_s", "environment", "user", "run_id",
    ]  # fmt: skip
    assert table[4].split()[:11] == [
        "services-wont-start", "drill", "2026-11-03", "09:00:00", "finished", "GO", "7.00s", "3m20s", "3m00s", "no", "-20.0s",
    ]  # fmt: skip
    assert table[-2:] == [
        "api-down: time to recover ▁ (RTO 30.0s), within RTO in 1 of 1 drills",
        "services-wont-start: time to recover ▁▅█ (RTO 3m00s), within RTO in 2 of 3 drills",
    ]


def test_drills_filter_by_name_and_last(project: Project, drills: list[str]) -> None:
    """NAME picks one contingency; --last N keeps the N newest drills of each."""
    rows = json.loads(
        project.cli("history", "services-wont-start", "--drills", "--last", "2", "-f", "json").out
    )
    assert [r["run_id"] for r in rows] == [drills[1], drills[3]]
    rows = json.loads(project.cli("history", "--drills", "--last", "1", "-f", "json").out)
    assert [r["run_id"] for r in rows] == [drills[2], drills[3]]
    # Drills are listed with the runs too, kind `drill`.
    runs = json.loads(project.cli("history", "api-down", "-f", "json").out)
    assert [(r["kind"], r["run_id"]) for r in runs] == [("drill", drills[2])]
    assert project.cli("history", "nothing-here", "--drills").out.startswith(
        "no drills of nothing-here recorded in "
    )


FLAG = """
    kind: contingency
    name: flag-gone
    title: The flag file is gone
    rto: 30s
    inject: [{name: Remove the flag, action: shell, with: {command: "rm -f {flag}"}}]
    detect: [{name: Flag is there, check: shell, with: {command: "test -f {flag}"}}]
    recover: [{name: Put the flag back, action: shell, with: {command: "touch {flag}"}}]
    verify: [{name: Flag is back, check: shell, with: {command: "test -f {flag}"}}]
"""


def test_a_real_drill_is_recorded(project: Project, tmp_path: Path) -> None:
    """A drill run by the engine with the recorder observing lands in the drills view with its timings."""
    from runbook_engine.execute.drill import Drill, DrillOptions
    from runbook_engine.execute.options import RunOptions
    from runbook_engine.execute.runner import Runner
    from runbook_engine.format.loader import load_library
    from runbook_engine.history.recorder import open_recorder

    flag = tmp_path / "flag"
    flag.touch()
    project.write("runbooks/flag.yaml", FLAG.replace("{flag}", str(flag)))
    lib = load_library(project.runbooks)
    recorder = open_recorder(lib.project_dir, None, enabled=True)
    assert recorder is not None
    runner = Runner(lib, RunOptions(yes=True), observers=[recorder])
    j = Drill(runner, DrillOptions(poll=0.05, detect_timeout=5.0)).run("flag-gone")
    assert (j.kind, j.verdict) == ("drill", "GO")

    rows = json.loads(project.cli("history", "--drills", "-f", "json").out)
    assert [
        (r["run_id"], r["contingency"], r["mode"], r["status"], r["rto_s"], r["within_rto"]) for r in rows
    ] == [(j.run_id, "flag-gone", "drill", "finished", 30.0, True)]
    assert rows[0]["time_to_detect_s"] == j.extra["drill"]["time_to_detect_s"]
    assert rows[0]["time_to_recover_s"] == j.extra["drill"]["time_to_recover_s"]
    assert 0 <= rows[0]["time_to_recover_s"] < 30
