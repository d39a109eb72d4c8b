"""The history folder's lock: many readers at once, one writer (folding records into the store).

DuckDB lets one process write a database file, or several read it, never both; it
fails at once on a conflict. This lock makes `runbook history` processes wait their
turn instead (with a deadline) and keeps readers from seeing a store mid-fold.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runbook_engine.errors import UserError

WAIT_S = 30.0


@contextmanager
def locked(path: Path, exclusive: bool, wait_s: float = WAIT_S) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot use the history in {path.parent}: {exc.strerror or exc}") from None
    try:
        _acquire(fd, exclusive, wait_s, path)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, exclusive: bool, wait_s: float, path: Path) -> None:
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while True:
        try:
            fcntl.flock(fd, mode)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"history {path.parent} is busy: another `runbook history` held it for "
                    f"{wait_s:g}s; try again"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
