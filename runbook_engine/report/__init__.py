"""Report writers: one module per format, chosen by the file extension, all from the journal."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from runbook_engine.errors import UserError
from runbook_engine.journal import RunJournal


def _json(journal: RunJournal) -> str:
    return journal.to_json() + "\n"


def _markdown(journal: RunJournal) -> str:
    from runbook_engine.report.markdown import render_markdown

    return render_markdown(journal)


RENDERERS: dict[str, Callable[[RunJournal], str]] = {
    ".json": _json,
    ".md": _markdown,
}


def check_report_paths(paths: list[Path]) -> None:
    """Reject an unknown extension before anything runs (exit 2, nothing written)."""
    for p in paths:
        if p.suffix.lower() not in RENDERERS:
            raise UserError(
                f"--report {p}: unknown report format {p.suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(RENDERERS))}"
            )


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(journal: RunJournal, path: Path) -> None:
    check_report_paths([path])
    write_atomic(path, RENDERERS[path.suffix.lower()](journal))
