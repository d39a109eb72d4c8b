"""A self-contained HTML report (inline CSS, no scripts, no network) from the journal."""

from __future__ import annotations

from runbook_engine.journal import RunJournal
from runbook_engine.report.templating import template_env
from runbook_engine.report.view import build_view


def render_html(journal: RunJournal) -> str:
    return template_env().get_template("report.html.j2").render(v=build_view(journal))
