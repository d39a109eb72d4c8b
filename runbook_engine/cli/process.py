"""The process around a command: SIGTERM handled like Ctrl-C, a stdout that outlives its
reader, and a bounded wait for plugins still stopping before the process exits."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

from runbook_engine.cli.app import State
from runbook_engine.errors import EXIT_INTERRUPTED, EXIT_TERMINATED


class PipeSafe:
    """stdout that outlives its reader: `runbook run X -r out.json | head -1` must still
    run to the end, write its reports and exit with the verdict. After the reader goes,
    output is dropped instead of raising BrokenPipeError at the next print."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed_by_reader = True
        # Point the descriptor at /dev/null so the interpreter's own flush at exit is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding... for Rich
        return getattr(self._stream, name)


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C (steps cancelled, process groups ended, reports
    written), so a CI job cancelled mid-run leaves no orphans; exits 143, not 130."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    State.terminated = True
    raise Terminated()


def run_guarded(command: Callable[[], Any]) -> Any:
    """Run the command with SIGTERM and a pipe-safe stdout in place, then put them back
    (main() also runs inside other programs: the tests, a notebook)."""
    stdout = sys.stdout
    if not isinstance(stdout, PipeSafe):
        sys.stdout = PipeSafe(stdout)
    # Signal handlers can only be set from the main thread (an embedding program may call
    # main() from another): there, SIGTERM keeps its default.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        code = command()
        return _let_plugins_finish(code)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        sys.stdout = stdout


def _let_plugins_finish(code: Any) -> Any:
    """Wait (bounded) for plugins still cleaning up; a second Ctrl-C or SIGTERM stops the
    wait, and the process exits as interrupted (the reports are already written).

    Plain writes, not Rich: a signal landing inside Rich's print leaves its buffer
    uncleared, and the next print repeats the line."""
    if "runbook_engine.execute.step" not in sys.modules:
        return code  # nothing ran (help, validate, list...): nothing to wait for
    from runbook_engine.execute.step import finish_plugins, running_plugins

    try:
        running = running_plugins()
        if running:
            sys.stderr.write(f"waiting up to 5s for {', '.join(running)} to stop...\n")
            sys.stderr.flush()
        stuck = finish_plugins()
    except Terminated:
        sys.stderr.write("terminated while plugins were stopping\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while plugins were stopping\n")
        return EXIT_INTERRUPTED
    if stuck:
        sys.stderr.write(f"left behind, still running: {', '.join(stuck)}\n")
    return code
