"""Interrupting a runaway evaluation: one watchdog thread for the whole process.

An evaluation registers its thread and deadline; when the deadline passes, the watchdog
raises Timeout inside that thread (CPython's PyThreadState_SetAsyncExc). Python delivers
it between two bytecode instructions, so a loop in a template stops within milliseconds;
a single long C call would delay it, which is why the sandbox keeps every operation small.
When the evaluation ends, its thread withdraws any exception still pending, under the
watchdog's lock, so none can fire later in unrelated code. Code that swallows the exception
(a finalizer, a tracer, an `except BaseException`) would keep a runaway going: the watchdog
raises it again every REFIRE seconds until the evaluation has ended.
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
        self._fired: set[int] = set()  # tokens interrupted at least once
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._tokens = itertools.count()
        self._idle = True

    def start(self, seconds: float) -> int:
        token = next(self._tokens)
        with self._lock:
            self._active[token] = (threading.get_ident(), time.monotonic() + seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="expression-watchdog", daemon=True)
                self._thread.start()
            wake = self._idle  # waking it costs more than the rest of start(): only when asleep
            self._idle = False
        if wake:
            self._wake.set()
        return token

    def stop(self, token: int) -> None:
        with self._lock:
            self._active.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                _drain()

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                for token, (thread, deadline) in list(self._active.items()):
                    if now >= deadline:
                        self._active[token] = (thread, now + REFIRE)
                        self._fired.add(token)
                        _async_raise(thread, Timeout)
                idle = self._idle = not self._active
                if idle:
                    self._wake.clear()
            if idle:
                self._wake.wait()
            else:
                time.sleep(0.01)


class _Drained(BaseException):
    pass


def _drain() -> None:
    """Withdraw a Timeout not delivered yet. Clearing it (SetAsyncExc with NULL) would leave
    CPython's "exception pending" flag up, slowing every thread until the next one: replace
    it with one raised and caught right here instead, which lowers the flag."""
    try:
        _async_raise(threading.get_ident(), _Drained)
        for _ in range(1000):  # a backward jump delivers it
            pass
    except _Drained:
        pass


def _async_raise(thread: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)


_WATCHDOG = _Watchdog()


REFIRE = 0.25


def with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """fn(), interrupted with Timeout after `seconds`."""
    token = _WATCHDOG.start(seconds)
    try:
        try:
            return fn()
        finally:
            _WATCHDOG.stop(token)
    except Timeout:
        # A second Timeout may have arrived inside stop(), before it ended the watch: stop
        # again until it has (stop is idempotent), then report the first.
        while True:
            try:
                _WATCHDOG.stop(token)
                break
            except Timeout:
                continue
        raise
