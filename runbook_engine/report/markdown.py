"""GitHub-flavoured Markdown report from the journal."""

from __future__ import annotations

from runbook_engine.journal import RunJournal
from runbook_engine.report.templating import template_env
from runbook_engine.report.view import build_view


def render_markdown(journal: RunJournal) -> str:
    return template_env().get_template("report.md.j2").render(v=build_view(journal))
