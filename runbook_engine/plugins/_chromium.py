"""Find the system's Chromium and make sure none of its processes outlive a step.

Playwright starts Chromium through its Node driver. When a step times out or the run is
interrupted, the Python call that waits on the page cannot be interrupted from another
thread, so the browser is ended from outside: every process whose command line names the
step's private profile folder (the browser, its zygotes, renderers and GPU process, and
Chromium's crash handler, whose database lives under HOME, which we point into the profile
folder too), plus any descendant of those. Marking processes by a unique folder name finds
exactly this step's browser and never another step's or the user's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from runbook_engine.plugin import StepError

NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = (
    "install Debian's package: apt-get install chromium "
    "(runbook never downloads a browser; `playwright install` is not needed)"
)
# Flags from REAL-PARTS.md: without the networking ones Chromium tries to reach the internet
# (updates, sync, safe browsing) and floods the log with refusals on a closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str:
    """The Chromium executable on PATH, or a StepError that says how to install it."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise StepError(f"Chromium is not installed (no 'chromium' on PATH); {INSTALL_HINT}")


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every live process we may read."""
    found: dict[int, tuple[int, bytes]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # ended while we looked, or not ours to read
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z":  # a zombie has ended already; only its parent can reap it
            found[int(entry.name)] = (int(fields[1]), cmdline)
    return found


def processes_of(marker: str) -> list[int]:
    """Pids of live processes whose command line contains `marker`, and their descendants."""
    procs = _processes()
    needle = marker.encode()
    chosen = {pid for pid, (_, cmd) in procs.items() if needle in cmd and pid != os.getpid()}
    grew = True
    while grew:  # add children until nothing new is found (renderers are grandchildren)
        more = {pid for pid, (ppid, _) in procs.items() if ppid in chosen and pid not in chosen}
        chosen |= more
        grew = bool(more)
    return sorted(chosen)


def kill_processes_of(marker: str) -> int:
    """SIGKILL every process of the marker; how many were signalled."""
    pids = processes_of(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # ended meanwhile, or not ours
            os.kill(pid, signal.SIGKILL)
    return len(pids)
