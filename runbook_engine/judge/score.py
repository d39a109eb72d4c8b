"""The weighted readiness score of a run (the seeds' 100-point rubric, as step weights).

Each step earns its weight when it passes. A non-critical step that did not pass
(severity warning) earns half, as Keptn scores a warning; critical and info steps that
did not pass earn nothing. Skipped steps do not count either way.
"""

from __future__ import annotations

from typing import Any

from runbook_engine.journal import RunJournal, StepResult


def credit(step: StepResult) -> float | None:
    """Share of the weight a step earns, or None when it does not count."""
    if step.outcome == "skipped":
        return None
    if step.outcome == "passed":
        return 1.0
    return 0.5 if step.severity == "warning" else 0.0


def compute_score(journal: RunJournal, pass_score: float | None) -> dict[str, Any]:
    sections = []
    earned_all = possible_all = 0.0
    for sec in journal.sections:
        earned = possible = 0.0
        for step in sec.steps:
            c = credit(step)
            if c is None or step.weight == 0:
                continue
            earned += c * step.weight
            possible += step.weight
        earned_all += earned
        possible_all += possible
        sections.append({"name": sec.name, "earned": round(earned, 2), "possible": round(possible, 2)})
    score = round(100.0 * earned_all / possible_all, 1) if possible_all else 100.0
    return {
        "score": score,
        "pass_score": pass_score,
        "passed": pass_score is None or score >= pass_score,
        "earned": round(earned_all, 2),
        "possible": round(possible_all, 2),
        "sections": sections,
    }
