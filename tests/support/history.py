"""Helpers for history tests: real `runbook` processes, and records written as the recorder does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runbook_engine.history.journals import read_record, record_path, write_record
from runbook_engine.history.liveness import ProcessId, this_process
from runbook_engine.journal import RunJournal, SectionResult, StepResult

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


QUICK_RUNBOOK = """
kind: runbook
name: quick
sections:
  - name: Only
    steps:
      - {name: First, check: shell, with: {command: "echo one"}}
"""
"""A one-step runbook that runs in a moment (for tests that need a run in the history)."""


def runbook_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "runbook_engine", *args]


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`runbook ARGS` as a separate process in cwd."""
    return subprocess.run(runbook_cmd(*args), cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def history_json(cwd: Path, *args: str) -> Any:
    proc = run_cli(cwd, "history", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def records(history: Path, name: str, kind: str = "runs") -> list[dict[str, Any]]:
    """The record files of one runbook as data, oldest first; a running record's journal
    includes the steps from its step log, as every reader of the history sees it."""
    folder = history / kind / name
    files = sorted(p for p in folder.glob("*.json")) if folder.is_dir() else []
    out = []
    for path in files:
        data = json.loads(path.read_text())
        data["journal"] = read_record(history, path.relative_to(history).as_posix()).journal
        out.append(data)
    return out


def journal(
    run_id: str,
    started: datetime,
    steps: dict[str, tuple[str, float]],
    *,
    runbook: str = "demo",
    kind: str = "run",
    sha: str = "a" * 64,
    status: str = "finished",
    environment: str | None = "local",
    extra: dict[str, Any] | None = None,
) -> RunJournal:
    """A journal with one section whose steps have the given (outcome, duration) each."""
    results = []
    at = started
    for sid, (outcome, duration) in steps.items():
        results.append(
            StepResult(
                id=sid,
                name=sid.replace("-", " ").capitalize(),
                kind="check",
                plugin="shell",
                section="Main",
                outcome=outcome,  # type: ignore[arg-type]
                message=None if outcome == "passed" else f"{sid} said no",
                attempts=1,
                started_at=at,
                duration_s=duration,
            )
        )
        at += timedelta(seconds=duration)
    total = sum(d for _, d in steps.values())
    done = status == "finished"
    bad = any(o in {"failed", "error"} for o, _ in steps.values())
    return RunJournal(
        kind=kind,  # type: ignore[arg-type]
        run_id=run_id,
        runbook=runbook,
        file=f"runbooks/{runbook}.yaml",
        file_sha256=sha,
        environment=environment,
        started_at=started,
        finished_at=started + timedelta(seconds=total) if done else None,
        duration_s=total if done else None,
        host="testhost",
        user="tester",
        status=status,  # type: ignore[arg-type]
        verdict=("NO-GO" if bad else "GO") if done else None,
        sections=[SectionResult(name="Main", started_at=started, duration_s=total, steps=results)],
        extra=extra or {},
    )


def run_id_at(t: datetime, n: int) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ-") + f"{n:06x}"


def store(history: Path, j: RunJournal, process: ProcessId | None = None) -> Path:
    """Write a record file exactly as the recorder does (finished runs need no live process)."""
    path = record_path(history, j.kind, j.runbook, j.run_id)
    write_record(path, j.model_dump_json(), process or this_process())
    return path


def dead_process() -> ProcessId:
    """The identity of a process that has exited (it ran `true`)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    me = this_process()
    return ProcessId(pid=proc.pid, host=me.host, boot_id=me.boot_id, start_ticks=1)


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env
