"""Whether a process still runs, for tests that check a command was really ended."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie (exited, not yet reaped: orphans
    here may have a parent that never reaps them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"
