"""GO / NO-GO from step outcomes (FORMAT.md, "Results and verdicts")."""

from __future__ import annotations

from runbook_engine.format.durations import format_duration
from runbook_engine.journal import RunJournal


def decide(journal: RunJournal, more_reasons: list[str] | None = None) -> None:
    """Fill verdict, reasons and warnings. Critical problems make NO-GO; warnings never do.

    `more_reasons` come from gates (a flap, a score under the bar)."""
    reasons: list[str] = []
    warnings: list[str] = []
    for step in journal.steps():
        if step.operator_skipped and step.severity != "info":
            # The same words as the step's own message: a manual step is skipped, a
            # destructive action declined.
            what = "was skipped" if step.kind == "manual" else "was declined"
            line = f"{step.section} / {step.name} {what} by the operator"
            (reasons if step.severity == "critical" else warnings).append(line)
            continue
        if step.budget_s and step.duration_s and step.duration_s > step.budget_s:
            warnings.append(
                f"{step.section} / {step.name} took {format_duration(step.duration_s)}, "
                f"over its {format_duration(step.budget_s)} budget"
            )
        if not step.is_bad:
            continue
        what = {
            "failed": "failed",
            # An action that errs (timed out, could not start) did not do its job; a check
            # that errs could not tell either way.
            "error": "did not complete" if step.kind == "action" else "could not be checked",
            "blocked": "was blocked",
            "pending": "was not confirmed",
        }[step.outcome]
        line = f"{step.section} / {step.name} {what}" + (f": {step.message}" if step.message else "")
        if step.severity == "critical":
            reasons.append(line)
        elif step.severity == "warning":
            warnings.append(line)
    warnings += _timing_warnings(journal)
    if journal.status == "interrupted":
        reasons.insert(0, "the run was interrupted")
    journal.reasons = reasons + list(more_reasons or [])
    journal.warnings = warnings
    if journal.dry_run:
        journal.verdict = "DRY-RUN"
    else:
        journal.verdict = "NO-GO" if journal.reasons else "GO"


def _timing_warnings(journal: RunJournal) -> list[str]:
    """Sections and the run against their budgets, and the run against its min_duration."""
    out = [
        f"section {section.name} took {format_duration(section.duration_s)}, "
        f"over its {format_duration(section.budget_s)} budget"
        for section in journal.sections
        if section.over_budget
    ]
    took = journal.duration_s
    if took is None:
        return out
    if journal.budget_s and took > journal.budget_s:
        out.append(f"run took {format_duration(took)}, over its {format_duration(journal.budget_s)} budget")
    finished = journal.status == "finished" and not journal.dry_run
    if journal.min_duration_s and took < journal.min_duration_s and finished:
        out.append(
            f"run took {format_duration(took)}, "
            f"under its {format_duration(journal.min_duration_s)} minimum (min_duration)"
        )
    return out
