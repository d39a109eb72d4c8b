"""The errors users see, and the process exit codes (documented in docs/cli.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EXIT_GO = 0
EXIT_NO_GO = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_NOT_WRITTEN = 4  # the verdict was decided, but a report or the history could not be written
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), handled like Ctrl-C


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a user's file, pointing at the line and the key."""

    file: str
    line: int
    key: str
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class UserError(Exception):
    """A mistake in what the user gave us: printed in one line, exit code 2, no traceback."""

    exit_code = EXIT_USAGE


class NotWritten(UserError):
    """A file the command had to write could not be written (disk full, folder gone,
    read-only): one line naming the file and the OS's reason, exit 4 (EXIT_NOT_WRITTEN).

    For run, drill and recover this means the verdict was decided and printed, but a
    report or the history record is missing: not an input problem (2), not a bug (3).
    Raise it (or let an OSError out of the history recorder) after the run has started;
    the CLI still writes every other report and then exits 4."""

    exit_code = EXIT_NOT_WRITTEN

    @classmethod
    def of(cls, path: Path | str, exc: OSError) -> NotWritten:
        """'cannot write out.json: No space left on device' from the OSError."""
        return cls(f"cannot write {path}: {exc.strerror or exc}")


@dataclass
class LoadError(UserError):
    """Every problem found while loading files, reported together and sorted."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render() for p in sorted(set(self.problems)))


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
