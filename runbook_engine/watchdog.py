"""Interrupting a runaway evaluation: one watchdog thread for the whole process.

An evaluation registers its thread and deadline; when the deadline passes, the watchdog
raises Timeout inside that thread (CPython's PyThreadState_SetAsyncExc). Python delivers
it between two bytecode instructions, so a loop in a template stops within milliseconds;
a single long C call would delay it, which is why the sandbox keeps every operation small.
When the evaluation ends first, its thread withdraws any exception still pending, under
the watchdog's lock, so it can never fire later in unrelated code.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(BaseException):
    # A BaseException, so no `except Exception` inside Jinja or a filter can swallow it.
    pass


class _Watchdog:
    """One daemon thread that interrupts evaluations running past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[int, float]] = {}  # token -> (thread id, deadline)
        self._fired: set[int] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._tokens = itertools.count()

    def start(self, seconds: float) -> int:
        token = next(self._tokens)
        with self._lock:
            self._active[token] = (threading.get_ident(), time.monotonic() + seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="expression-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()
        return token

    def stop(self, token: int) -> None:
        with self._lock:
            self._active.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                _async_raise(threading.get_ident(), None)  # not delivered yet: never will be

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                for token, (thread, deadline) in list(self._active.items()):
                    if now >= deadline:
                        del self._active[token]
                        self._fired.add(token)
                        _async_raise(thread, Timeout)
                idle = not self._active
                if idle:
                    self._wake.clear()
            if idle:
                self._wake.wait()
            else:
                time.sleep(0.01)


def _async_raise(thread: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)


_WATCHDOG = _Watchdog()


def with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """fn(), interrupted with Timeout after `seconds`."""
    token = _WATCHDOG.start(seconds)
    try:
        return fn()
    finally:
        _WATCHDOG.stop(token)
