"""Real process trees for the tests: a command that starts processes which try every way
out of their step (ignoring SIGTERM, a new session, a double fork), and ways to watch them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.procs import running

# Run by /bin/sh with the pid file as $1. Four processes, each recording its pid:
# the shell itself (ignores SIGTERM once it has started the others), a child that leaves the process group with setsid
# (and ignores SIGTERM too), a grandchild whose parent exits at once (a double fork: it
# is reparented away from the step's tree), and a plain background child.
ESCAPING_TREE = r"""
P="$1"
echo $$ >> "$P"
setsid sh -c 'trap "" TERM; echo $$ >> "$0"; exec sleep 60' "$P" &
sh -c 'sh -c "echo \$\$ >> \"\$0\"; exec sleep 60" "$0" & exit 0' "$P"
sleep 60 &
echo $! >> "$P"
trap '' TERM
wait
"""
TREE_SIZE = 4


def write_tree_script(folder: Path) -> Path:
    script = folder / "tree.sh"
    script.write_text(ESCAPING_TREE)
    return script


def wait_for_pids(pidfile: Path, count: int = TREE_SIZE, within: float = 20.0) -> list[int]:
    """The pids the tree recorded, once all `count` have (a generous bound: CI is slow)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"the tree never started all {count} processes: {pidfile}")


def survivors(pids: list[int], within: float = 5.0) -> list[int]:
    """The pids still running after waiting up to `within` seconds for them to go."""
    deadline = time.monotonic() + within
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if running(p)]


def reap_leftovers(pids: list[int]) -> None:
    """Kill what a failing test left behind, so one failure does not leak into others."""
    for pid in pids:
        if running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_cli(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runbook_engine", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_handler(pid: int, signum: int = 15, within: float = 30.0) -> None:
    """Until the process catches `signum` (its SigCgt mask in /proc shows a handler)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return  # already gone: the caller sees its exit code
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signum - 1)):
            return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} never installed a handler for signal {signum}")
