"""Which process wrote a journal, and whether it is still running.

A journal that still says `running` was either written by a live run or left behind by
one that was killed. The writer records its pid, host, boot id and process start time;
on the same host that tells a live run from a dead one even when the pid was reused.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ProcessId:
    pid: int
    host: str
    boot_id: str | None = None
    start_ticks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ProcessId | None:
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        ticks = data.get("start_ticks")
        boot = data.get("boot_id")
        return cls(
            pid=data["pid"],
            host=str(data.get("host") or ""),
            boot_id=boot if isinstance(boot, str) else None,
            start_ticks=ticks if isinstance(ticks, int) else None,
        )


def this_process() -> ProcessId:
    pid = os.getpid()
    stat = _stat(pid)
    return ProcessId(pid, socket.gethostname(), _boot_id(), stat[1] if stat else None)


def is_alive(proc: ProcessId) -> bool | None:
    """True or False on the writer's own host; None elsewhere (we cannot look)."""
    if proc.host != socket.gethostname():
        return None
    boot = _boot_id()
    if proc.boot_id and boot and proc.boot_id != boot:
        return False  # the machine restarted since: every process of that boot is gone
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    stat = _stat(proc.pid)
    if stat is None:
        return True  # no /proc (not Linux): the pid exists, trust it
    state, ticks = stat
    if state in {"Z", "X"}:
        return False  # killed, not yet reaped by its parent
    return proc.start_ticks is None or ticks == proc.start_ticks


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name sits in parentheses and may itself hold spaces or parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    with contextlib.suppress(IndexError, ValueError):
        return fields[0], int(fields[19])
    return None
