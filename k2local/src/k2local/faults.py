"""Fault flag files in HOME/faults/ that the running API reads per request.

`api-slow` and `metrics-empty` are implemented as flags so breaking and
healing them needs no restart; the other drills live in drills.py.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from k2local.home import FAULT_API_SLOW, FAULT_METRICS_EMPTY, Home

FLAG_MODES = (FAULT_API_SLOW, FAULT_METRICS_EMPTY)
DEFAULT_SLOW_S = 1.5


def active_flags(home: Home) -> list[str]:
    return [m for m in FLAG_MODES if home.fault_flag(m).exists()]


def slow_seconds(home: Home) -> float:
    """Delay for /v1 requests: 0 normally; flag file content (seconds) or 1.5 s."""
    flag = home.fault_flag(FAULT_API_SLOW)
    try:
        text = flag.read_text().strip()
    except OSError:
        return 0.0
    try:
        return max(0.0, float(text)) if text else DEFAULT_SLOW_S
    except ValueError:
        return DEFAULT_SLOW_S


def set_flag(home: Home, name: str, content: str = "") -> Path:
    home.ensure_dirs()
    path = home.fault_flag(name)
    path.write_text(content)
    return path


def clear_flag(home: Home, name: str) -> bool:
    path = home.fault_flag(name)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def wait_listening(port: int, timeout: float = 10.0) -> bool:
    """True once something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
