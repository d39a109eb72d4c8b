"""Where reports and checklists are written: checked before anything runs, written atomically.

A run or a drill takes minutes and a drill breaks a system on purpose, so a report path
that cannot be written must be refused first (a usage error naming the path), not found
out afterwards with a traceback. The check asks the filesystem itself (it creates and
removes a probe file), because permission bits alone cannot say: root may write almost
anywhere, yet not in /proc or on a read-only mount.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection
from pathlib import Path

from runbook_engine.errors import NotWritten, UserError


def check_output_paths(paths: list[Path], flag: str, formats: Collection[str], what: str) -> None:
    """Refuse (UserError, exit 2) an unknown extension, a folder, or a place no file can be
    written; missing parent folders are fine (written later); nothing is left behind."""
    for path in paths:
        if path.suffix.lower() not in formats:
            raise UserError(
                f"{flag} {path}: unknown {what} format {path.suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(formats))}"
            )
        try:
            problem = _unwritable(path)
        except OSError as exc:
            problem = f"cannot check it: {exc.strerror or exc}"
        if problem:
            raise UserError(f"{flag} {path}: {problem}")


def _unwritable(path: Path) -> str | None:
    """Why no file can be written at `path`, or None."""
    if path.is_dir():
        return "is a folder; give a file name"
    if path.exists() and not path.is_file():
        return "exists and is not a regular file"
    folder = path.parent
    while not folder.exists():  # the nearest folder that exists; the rest is created on writing
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        if folder == path.parent:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".runbook-", dir=folder))
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    return None


def _explain(path: Path) -> str | None:
    try:
        return _unwritable(path)
    except OSError:
        return None


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a file.

    A filesystem error (disk full, a folder removed meanwhile) is a NotWritten (exit 4)
    naming the path and the reason: the paths were checked before the work started, so
    this is not an input problem."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        # mkdir says "File exists" for a file in the way: say which one instead.
        why = _explain(path)
        raise (NotWritten(f"{path}: {why}") if why else NotWritten.of(path, exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # a full disk may only say so here (delayed allocation)
        # mkstemp makes the file private (0600); a report is an ordinary file to share.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise NotWritten.of(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)  # the only way to read it is to set it; put it back at once
    os.umask(current)
    return current
