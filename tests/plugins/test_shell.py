"""The shell plugin against real subprocesses."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from runbook_engine.plugin import StepError
from runbook_engine.plugins import shell
from runbook_engine.plugins._proctree import TAG_VAR
from runbook_engine.testing import make_context, run_plugin
from tests.processes.tree import reap_leftovers, survivors, wait_for_pids, write_tree_script
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
        run_plugin(
            shell,
            {"command": f"sleep 30 & echo $! > {pids}; echo $$ >> {pids}; wait"},
            make_context(timeout=0.5),
        )
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


def test_timeout_ends_processes_that_leave_the_group(tmp_path: Path) -> None:
    """Processes that ignore SIGTERM, leave the process group with setsid or are double
    forked all end at the timeout, and the ones reparented to us are reaped (no zombies)."""
    script = write_tree_script(tmp_path)
    pidfile = tmp_path / "pids"
    pids: list[int] = []
    try:
        with pytest.raises(StepError) as exc:
            run_plugin(shell, {"argv": ["sh", str(script), str(pidfile)]}, make_context(timeout=1))
        pids = wait_for_pids(pidfile)
        assert str(exc.value) == (
            "timed out after 1s; the command and its children were killed"
            " (2 of 4 processes ignored SIGTERM and were killed with SIGKILL)"
        )
        assert survivors(pids, within=0.0) == []
        leader = pids[0]  # the shell: reaped by its Popen, the others by the plugin
        assert [p for p in pids[1:] if Path(f"/proc/{p}").exists()] == [], "zombies left"
        assert not Path(f"/proc/{leader}").exists()
    finally:
        reap_leftovers(pids)


def test_env_cannot_untag_the_command(tmp_path: Path) -> None:
    """A step's own `env:` naming the tag variable does not hide its processes: a setsid'd
    child is still ended at the timeout."""
    pidfile = tmp_path / "pid"
    pids: list[int] = []
    try:
        with pytest.raises(
            StepError, match=r"^timed out after 0\.5s; the command and its children were killed$"
        ):
            run_plugin(
                shell,
                {
                    "command": f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & wait",
                    "env": {TAG_VAR: "chosen-by-the-runbook"},
                },
                make_context(timeout=0.5),
            )
        pids = wait_for_pids(pidfile, count=1)
        assert survivors(pids, within=1.0) == []
    finally:
        reap_leftovers(pids)


def test_without_pidfds_the_tree_still_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a kernel without pidfd_open (before 5.3, e.g. RHEL 8) the tree is signalled by
    pid and still ends entirely. (A mock: this kernel has pidfds, and the point is the
    fallback.)"""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    script = write_tree_script(tmp_path)
    pidfile = tmp_path / "pids"
    pids: list[int] = []
    try:
        with pytest.raises(
            StepError, match=r"\(2 of 4 processes ignored SIGTERM and were killed with SIGKILL\)$"
        ):
            run_plugin(shell, {"argv": ["sh", str(script), str(pidfile)]}, make_context(timeout=1))
        pids = wait_for_pids(pidfile)
        assert survivors(pids, within=0.0) == []
    finally:
        reap_leftovers(pids)
