"""Report writers: one module per format, chosen by the file extension, all from the journal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from runbook_engine.errors import UserError
from runbook_engine.journal import JOURNAL_VERSION, RunJournal
from runbook_engine.report.output import check_output_paths, write_atomic

__all__ = ["RENDERERS", "check_report_paths", "load_journal", "write_atomic", "write_report"]


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
    """Refuse, before anything runs, a report path that cannot be written: an unknown
    extension, a folder, a parent that is a file, a place no file can be created (/proc,
    a read-only mount). A UserError (exit 2) naming the path and why; nothing is written."""
    check_output_paths(paths, flag, RENDERERS, "report")


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
