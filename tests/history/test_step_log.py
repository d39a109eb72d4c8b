"""A running record: finished steps go to an append-only log, folded in by every reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_engine.execute.events import RunFinished, RunStarted, StepFinished
from runbook_engine.history import recorder as recorder_module
from runbook_engine.history.journals import read_record, step_log_path
from runbook_engine.history.recorder import Recorder
from tests.support.history import T0, journal, run_id_at


def test_steps_between_rewrites_are_read_from_the_log(tmp_path: Path) -> None:
    """The record on disk stays as first written; readers still see every finished step,
    a torn last line (a writer killed mid-write) is skipped, and the log goes at the end."""
    j = journal(run_id_at(T0, 1), T0, {f"s{i}": ("passed", 0.5) for i in range(5)}, status="running")
    for sr in j.steps():
        sr.outcome, sr.duration_s = "pending", None
    rec = Recorder(tmp_path)
    rec(RunStarted(j))
    assert rec.path is not None
    log = step_log_path(rec.path)
    for sr in j.steps()[:3]:
        sr.outcome, sr.duration_s = "passed", 0.25
        rec(StepFinished(sr))

    on_disk = json.loads(rec.path.read_text())
    assert [s["outcome"] for s in on_disk["journal"]["sections"][0]["steps"]] == ["pending"] * 5
    assert len(log.read_text().splitlines()) == 3
    with open(log, "a") as fh:
        fh.write('{"at": [0, 4], "step": {"id": "s4", "outc')  # torn: no newline, no end
    rel = rec.path.relative_to(tmp_path).as_posix()
    seen = read_record(tmp_path, rel).journal["sections"][0]["steps"]
    assert [(s["id"], s["outcome"]) for s in seen] == [
        ("s0", "passed"),
        ("s1", "passed"),
        ("s2", "passed"),
        ("s3", "pending"),
        ("s4", "pending"),
    ]

    for sr in j.steps()[3:]:
        sr.outcome, sr.duration_s = "failed", 0.1
    j.status = "finished"
    rec(RunFinished(j))
    assert not log.exists()
    final = read_record(tmp_path, rel).journal["sections"][0]["steps"]
    assert [s["outcome"] for s in final] == ["passed"] * 3 + ["failed"] * 2


def test_a_rewrite_says_how_much_of_the_log_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the whole record is rewritten, readers apply only the log lines after it, so a
    step finished twice (a gate re-check) ends with its latest result."""
    j = journal(run_id_at(T0, 2), T0, {"a": ("passed", 0.5), "b": ("passed", 0.5)}, status="running")
    rec = Recorder(tmp_path)
    rec(RunStarted(j))
    a, b = j.steps()
    a.outcome = "failed"
    rec(StepFinished(a))  # logged: line 1
    # The rewrite is due every REWRITE_EVERY (2 s) of wall time: setting it to 0 makes the
    # next step due now instead of sleeping 2 s in a test; the files written are real.
    monkeypatch.setattr(recorder_module, "REWRITE_EVERY", 0.0)
    b.outcome = "failed"
    rec(StepFinished(b))  # due: a whole rewrite holding line 1 and b
    monkeypatch.setattr(recorder_module, "REWRITE_EVERY", 3600.0)
    a.outcome = "passed"
    rec(StepFinished(a))  # logged: line 2, newer than the rewrite
    assert rec.path is not None
    assert json.loads(rec.path.read_text())["logged"] == 1
    seen = read_record(tmp_path, rec.path.relative_to(tmp_path).as_posix()).journal
    assert [(s["id"], s["outcome"]) for s in seen["sections"][0]["steps"]] == [
        ("a", "passed"),
        ("b", "failed"),
    ]
