"""The process around a command: SIGTERM handled like Ctrl-C (runbook_engine.stops), a
stdout that outlives its reader, a bounded wait for plugins still stopping before the
process exits, and the crash log of a bug."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from runbook_engine import stops
from runbook_engine.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from runbook_engine.stops import Terminated

__all__ = ["PipeSafe", "Terminated", "run_guarded", "stopped", "write_crash_log"]


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


def run_guarded(command: Callable[[], Any]) -> Any:
    """Run the command with the stop signals and a pipe-safe stdout in place; the exit
    code is 143 or 130 if SIGTERM or Ctrl-C came at any point, whatever the command
    returned. Embedded (tests, a notebook), the handlers and stdout are put back after."""
    stdout = sys.stdout
    if not isinstance(stdout, PipeSafe):
        sys.stdout = PipeSafe(stdout)
    program = stops.is_program()
    # Record-only until the command starts (see stops). Only the main thread can set
    # handlers (an embedding program may call main() from another): there, the defaults stay.
    stops.install(starting=True)
    _Doing.note = " while starting: nothing ran"
    code: Any = None
    try:
        try:
            stops.command_starts()  # from here a signal raises, and is caught below
            if stops.first_signal() is not None:  # it came while Python was importing
                raise KeyboardInterrupt
            _Doing.note, _Doing.said = "", False
            code = command()
            if stops.first_signal() is not None and not _Doing.said:
                # Typer turns a KeyboardInterrupt inside a command into a silent exit 130.
                code = stopped()
            code = _let_plugins_finish(code)
            if program:
                stops.hold()  # the exit code is chosen: a later signal is only recorded
        except KeyboardInterrupt:
            if program:
                stops.hold()
            code = stopped()
    finally:
        if not program:
            stops.restore()
        sys.stdout = stdout
    return stops.stop_exit_code() or code


def stopped() -> int:
    """The command was stopped before it could finish: say so on one line, and the code.

    Plain writes, not Rich: a signal landing inside Rich's print leaves its buffer
    uncleared, and the next print repeats the line."""
    _Doing.said = True
    sys.stderr.write(f"{stops.stop_words()}{_Doing.note}\n")
    sys.stderr.flush()
    return stops.stop_exit_code() or EXIT_INTERRUPTED


class _Doing:
    note = ""  # what a stop interrupts, for the line that says so
    said = False  # that line is out


def before_run(doing: bool) -> None:
    """run/drill/recover: until the run starts, a stop means nothing ran and no report."""
    _Doing.note = " before the run started: nothing ran, no report written" if doing else ""


def write_crash_log(text: str) -> Path:
    """Write a bug's traceback to a new private file, never through a planted symlink.

    In the user's own state folder ($XDG_STATE_HOME/runbook/crashes, else
    ~/.local/state/runbook/crashes) if it is a real folder (opened with O_NOFOLLOW) that
    only this user can write; otherwise in a new private temporary folder (mkdtemp). The
    file is new (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) with a name nobody can guess."""
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}.log"
    folder, dir_fd = _private_state_dir()
    if dir_fd is None:
        folder = Path(tempfile.mkdtemp(prefix="runbook-crash-"))
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return folder / name


def _private_state_dir() -> tuple[Path, int | None]:
    """The crash folder and an open descriptor on it, or no descriptor when it is not
    a folder of this user's that only they can write (a symlink, someone else's...)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    folder = Path(base) / "runbook" / "crashes"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return folder, None
    st = os.fstat(fd)
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        os.close(fd)
        return folder, None
    return folder, fd


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
