"""The shell plugin against real subprocesses."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runbook_engine.plugin import StepError
from runbook_engine.plugins import shell
from runbook_engine.testing import make_context, run_plugin
from tests.support.procs import running


def test_command_outputs() -> None:
    """A shell line reports exit code, stdout and stderr exactly."""
    out = run_plugin(shell, {"command": "echo out; echo err >&2; exit 3"})
    assert out == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n"}


def test_argv_env_cwd_and_stdin(tmp_path: Path) -> None:
    """argv runs without a shell, in cwd, with extra env and the given stdin."""
    (tmp_path / "sub").mkdir()
    out = run_plugin(
        shell,
        {
            "argv": ["sh", "-c", 'pwd; echo "$GREETING"; cat'],
            "cwd": "sub",
            "env": {"GREETING": "hi"},
            "stdin": "from stdin",
        },
        make_context(workdir=tmp_path),
    )
    assert out["stdout"] == f"{tmp_path / 'sub'}\nhi\nfrom stdin"
    assert out["exit_code"] == 0


def test_missing_program_is_a_step_error() -> None:
    """A program that does not exist is 'could not check', not a failed check."""
    with pytest.raises(StepError, match="cannot start 'no-such-program-xyz'"):
        run_plugin(shell, {"argv": ["no-such-program-xyz"]})


def test_a_missing_cwd_is_named(tmp_path: Path) -> None:
    """A `cwd:` that is not a folder says so, instead of blaming the command."""
    (tmp_path / "file").write_text("")
    ctx = make_context(workdir=tmp_path)
    with pytest.raises(StepError, match=r"cwd '.*/nowhere' does not exist; fix `cwd:`"):
        run_plugin(shell, {"command": "true", "cwd": "nowhere"}, ctx)
    with pytest.raises(StepError, match=r"cwd '.*/file' is not a folder"):
        run_plugin(shell, {"command": "true", "cwd": "file"}, ctx)


def test_timeout_kills_the_group(tmp_path: Path) -> None:
    """At its timeout the command and the processes it started are killed, and a StepError
    says so."""
    pids = tmp_path / "pids"
    started = time.monotonic()
    with pytest.raises(StepError, match=r"timed out after 0\.5s"):
        run_plugin(shell, {"command": f"sleep 30 & echo $! > {pids}; echo $$ >> {pids}; wait"}, make_context(timeout=0.5))
    assert time.monotonic() - started < 10  # not the 30 s of the sleep
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2
    deadline = time.monotonic() + 5
    while any(running(p) for p in recorded) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in recorded if running(p)] == [], "a process of the group survived the timeout"


def test_cancel_ends_the_command() -> None:
    """Setting the context's cancel event (Ctrl-C) ends a running command promptly."""
    ctx = make_context(timeout=30)
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(StepError, match="cancelled"):
        run_plugin(shell, {"command": "sleep 30"}, ctx)
    assert time.monotonic() - started < 3


def test_one_form_only() -> None:
    """command and argv together are refused by the spec."""
    with pytest.raises(ValueError, match="exactly one of command"):
        shell.Spec.model_validate({"command": "true", "argv": ["true"]})
