"""Detached background processes tracked by PID files in HOME/run.

Each process runs `python -m k2local.<role>` in its own session (so a
terminal hang-up or the CLI exiting does not touch it, and the whole group
can be signalled), with output appended to HOME/logs/<role>.log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from k2local.home import Home

#: The processes `start` runs; "blocker" only exists during api-port-block.
ROLES: tuple[str, ...] = ("api", "feed", "kernel")
ALL_ROLES: tuple[str, ...] = (*ROLES, "blocker")


def read_pid(home: Home, role: str) -> int | None:
    try:
        return int(home.pid_file(role).read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie.

    A killed child whose parent has not reaped it still answers kill(pid, 0),
    so /proc is consulted to treat zombies as dead.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def running_pid(home: Home, role: str) -> int | None:
    """PID of the live process for role, guarding against PID reuse via cmdline."""
    pid = read_pid(home, role)
    if pid is None or not pid_alive(pid):
        return None
    cmd = _cmdline(pid)
    if cmd is not None and (f"k2local.{role}" not in cmd or str(home.root) not in cmd):
        return None
    return pid


def spawn(home: Home, role: str, args: list[str]) -> int:
    """Start `python -m k2local.<role> --home HOME args...` detached; return its pid."""
    home.ensure_dirs()
    cmd = [sys.executable, "-m", f"k2local.{role}", "--home", str(home.root), *args]
    with open(home.log_file(role), "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} spawn {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(home.root),
        )
    home.pid_file(role).write_text(f"{proc.pid}\n")
    # Popen would warn about an un-waited child at exit; we deliberately leave
    # it running, so drop the reference without waiting.
    proc.returncode = 0
    return proc.pid


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # own session => pgid == pid; reaches any children
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    """Wait until all pids are gone; return those still alive at timeout."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def stop_roles(
    home: Home, roles: tuple[str, ...], grace: float = 5.0, hard: bool = False
) -> dict[str, int]:
    """Stop the given roles: SIGTERM (or SIGKILL when hard), SIGKILL after grace.

    Returns {role: pid} of processes that were running. PID files are removed.
    """
    victims: dict[str, int] = {}
    for role in roles:
        pid = running_pid(home, role)
        if pid is not None:
            victims[role] = pid
            _signal_group(pid, signal.SIGKILL if hard else signal.SIGTERM)
    left = wait_dead(list(victims.values()), timeout=grace)
    for pid in left:
        _signal_group(pid, signal.SIGKILL)
    wait_dead(left, timeout=5.0)
    for role in roles:
        home.pid_file(role).unlink(missing_ok=True)
    return victims
