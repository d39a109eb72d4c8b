"""Ctrl-C and SIGTERM from the first line of `runbook` to its exit: the exit code is 130
for Ctrl-C and 143 for SIGTERM whatever the process was doing when the signal came.

Light on purpose (standard library only): runbook_engine/__init__ installs the handlers
through it before anything heavy is imported, when the process is the `runbook` program.
Until the command starts, and while its results are written, a signal is only recorded
(deferred) and acted on afterwards, so it can neither leave a traceback from the middle
of an import nor a report half written. Elsewhere it raises, like Python's own Ctrl-C:
KeyboardInterrupt, or Terminated for SIGTERM, which the runner handles as a stop.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130  # 128 + SIGINT (errors.py has the same numbers; kept import-free here)
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C (steps cancelled, process trees ended, reports
    written), so a CI job cancelled mid-run leaves no orphans; exits 143, not 130."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C. A subclass, not KeyboardInterrupt itself: CPython compares the exact type
    when a KeyboardInterrupt leaves an eval() of a string (Typer evaluates annotations
    that way) and then, at exit, kills the process with SIGINT (exit -2) instead of
    exiting 130, even though the interrupt was handled."""


class _Stops:
    first: int | None = None  # the first of SIGINT/SIGTERM to arrive: it decides the exit code
    count = 0
    defer = 0  # > 0: record only (a second signal then raises, to get out of a stuck write)
    starting = False  # before the command starts: record only, however many signals
    program = False  # installed at import by the `runbook` program itself
    saved: dict[int, Any] | None = None


def launched_as_runbook() -> bool:
    """True when this process is the `runbook` program (the console script, or
    `python -m runbook_engine`), not a program that imports the engine (tests, notebooks)."""
    if Path(sys.argv[0]).name == "runbook":
        return True
    argv = getattr(sys, "orig_argv", [])
    return sys.argv[0] == "-m" and argv[argv.index("-m") + 1 : argv.index("-m") + 2] == ["runbook_engine"]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _Stops.first is None:
        _Stops.first = signum
    _Stops.count += 1
    if _Stops.starting or (_Stops.defer and _Stops.count < 2):
        return
    raise Terminated() if signum == signal.SIGTERM else Interrupted()


def install(starting: bool = False) -> bool:
    """Handle SIGTERM and SIGINT here (SIGINT only if not ignored: a background job keeps
    ignoring it). Only the main thread can; returns whether the handlers are in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if _Stops.saved is None:  # not yet in place: nothing recorded belongs to this command
        _Stops.saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        _Stops.first, _Stops.count = None, 0
    _Stops.starting = starting
    signal.signal(signal.SIGTERM, _on_signal)
    if _Stops.saved[signal.SIGINT] is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_signal)
    return True


def install_early() -> None:
    """At import, before the heavy modules: only in the `runbook` program itself."""
    # Decided now: `python -m` rewrites sys.argv[0] before main() runs.
    if launched_as_runbook():
        _Stops.program = install(starting=True)


def is_program() -> bool:
    """Whether this process is the `runbook` program (handlers installed at its import)."""
    return _Stops.program


def command_starts() -> None:
    """The command is about to run: from now on a signal raises (see module docstring)."""
    _Stops.starting = False


def restore() -> None:
    """Put back the handlers found at install (an embedding program gets its own back)."""
    if _Stops.saved is not None and threading.current_thread() is threading.main_thread():
        for sig, handler in _Stops.saved.items():
            signal.signal(sig, handler)
        _Stops.saved = None


def hold() -> None:
    """From now until the process exits, a signal is only recorded: its exit code is chosen."""
    _Stops.starting = True


@contextmanager
def deferred() -> Iterator[None]:
    """Record a stop instead of raising it while the results are written; a second signal
    still raises, so a write stuck on a dead network disk can be left."""
    _Stops.defer += 1
    try:
        yield
    finally:
        _Stops.defer -= 1


def first_signal() -> int | None:
    return _Stops.first


def stop_exit_code() -> int | None:
    """130 or 143 if a stop signal arrived (the first one decides), else None."""
    if _Stops.first is None:
        return None
    return EXIT_TERMINATED if _Stops.first == signal.SIGTERM else EXIT_INTERRUPTED


def stop_words() -> str:
    """'terminated (SIGTERM)' or 'interrupted (Ctrl-C)', for the signal that stopped us."""
    return "terminated (SIGTERM)" if _Stops.first == signal.SIGTERM else "interrupted (Ctrl-C)"
