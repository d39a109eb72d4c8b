"""The `runbook` command: parse, call, map errors to exit codes. Nothing else lives here.

One module per group of commands; each registers itself on the shared Typer app.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import typer
from rich.console import Console

from runbook_engine.cli import core as _core  # noqa: F401  (registers its commands)
from runbook_engine.cli import drill as _drill  # noqa: F401
from runbook_engine.cli import history as _history  # noqa: F401  (registers history)
from runbook_engine.cli import report as _report  # noqa: F401  (registers report, checklist)
from runbook_engine.cli.app import State, app, console
from runbook_engine.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, UserError

__all__ = ["app", "main"]


def _crash_log() -> Path:
    return Path(tempfile.gettempdir()) / f"runbook-crash-{os.getpid()}.log"


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors exit 2 with one line each; bugs exit 3 with a log file."""
    err = console(stderr=True)
    code = _run(argv, err)
    sys.exit(code if isinstance(code, int) else 0)


def _run(argv: list[str] | None, err: Console) -> Any:
    """Run the command with SIGTERM and a pipe-safe stdout in place, then put them back
    (main() also runs inside other programs: the tests, a notebook)."""
    stdout = sys.stdout
    if not isinstance(stdout, PipeSafe):
        sys.stdout = PipeSafe(stdout)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _dispatch(argv, err)
        return _let_plugins_finish(code)
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.stdout = stdout


def _let_plugins_finish(code: Any) -> Any:
    """Wait (bounded) for plugins still cleaning up; a second Ctrl-C or SIGTERM stops the
    wait, and the process exits as interrupted (the reports are already written).

    Plain writes, not Rich: a signal landing inside Rich's print leaves its buffer
    uncleared, and the next print repeats the line."""
    if "runbook_engine.stepexec" not in sys.modules:
        return code  # nothing ran (help, validate, list...): nothing to wait for
    from runbook_engine.stepexec import finish_plugins, running_plugins

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


def _dispatch(argv: list[str] | None, err: Console) -> Any:
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="runbook", standalone_mode=False)
    except UserError as exc:
        sys.stderr.write(f"{exc}\n")  # plain, unwrapped: one problem per line
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # Typer's own usage errors (unknown option, missing argument)
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        code = EXIT_USAGE
    except Terminated:
        err.print("terminated")
        code = EXIT_TERMINATED
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        code = EXIT_INTERRUPTED
    except Exception:
        log = _crash_log()
        log.write_text(traceback.format_exc(), encoding="utf-8")
        err.print(f"runbook crashed (a bug, not your input); the traceback is in {log}", markup=False)
        code = EXIT_BUG
    return code
