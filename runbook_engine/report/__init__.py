"""Report writers: one module per format, chosen by the file extension, all from the journal."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from runbook_engine.errors import UserError
from runbook_engine.journal import JOURNAL_VERSION, RunJournal


def _json(journal: RunJournal) -> str:
    return journal.to_json() + "\n"


def _markdown(journal: RunJournal) -> str:
    from runbook_engine.report.markdown import render_markdown

    return render_markdown(journal)


def _html(journal: RunJournal) -> str:
    from runbook_engine.report.html import render_html

    return render_html(journal)


def _junit(journal: RunJournal) -> str:
    from runbook_engine.report.junit import render_junit

    return render_junit(journal)


RENDERERS: dict[str, Callable[[RunJournal], str]] = {
    ".json": _json,
    ".md": _markdown,
    ".html": _html,
    ".xml": _junit,
}


def check_report_paths(paths: list[Path], flag: str = "--report") -> None:
    """Reject an unknown extension before anything runs (exit 2, nothing written)."""
    for p in paths:
        if p.suffix.lower() not in RENDERERS:
            raise UserError(
                f"{flag} {p}: unknown report format {p.suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(RENDERERS))}"
            )


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes the file private (0600); a report is an ordinary file to share.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)  # the only way to read it is to set it; put it back at once
    os.umask(current)
    return current


def write_report(journal: RunJournal, path: Path) -> None:
    check_report_paths([path])
    write_atomic(path, RENDERERS[path.suffix.lower()](journal))


def load_journal(path: Path) -> RunJournal:
    """A saved journal, or a one-line UserError naming the file and the first problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such journal file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a run journal: invalid JSON: {exc}") from None
    version = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > JOURNAL_VERSION:
        raise UserError(
            f"{path}: journal version {version} is newer than this runbook understands "
            f"({JOURNAL_VERSION}); upgrade runbook-engine"
        )
    try:
        return RunJournal.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise UserError(f"{path}: not a valid run journal: {where}: {first['msg']}{more}") from None
