"""Shared plumbing for the long-running processes: SIGTERM -> clean stop."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType


def stop_event() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so loops finish their step and exit 0."""
    event = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return event


def log(role: str, message: str) -> None:
    """One timestamped line to stdout (redirected to HOME/logs/<role>.log)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} {role}: {message}", file=sys.stdout, flush=True)
