"""The run journal: one JSON-serialisable record of a run, the truth every view reads.

Console summary, Markdown/HTML/JUnit reports and the history store all render from
this model; `runbook report journal.json` re-renders a saved one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JOURNAL_VERSION = 1
Outcome = Literal["passed", "failed", "error", "skipped", "blocked", "pending"]
Verdict = Literal["GO", "NO-GO", "DRY-RUN"]
BAD_OUTCOMES = ("failed", "error", "blocked", "pending")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectationResult(_Model):
    expr: str
    passed: bool
    detail: str = Field(description="The expression and the actual value of every name it read.")


class StepResult(_Model):
    id: str
    name: str
    kind: Literal["check", "action", "manual"]
    plugin: str | None = None
    section: str = ""
    severity: Literal["critical", "warning", "info"] = "critical"
    destructive: bool = False
    weight: float = 1.0
    owner: str | None = None
    budget_s: float | None = None
    outcome: Outcome = "pending"
    message: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    duration_s: float | None = None
    args: dict[str, Any] = Field(default_factory=dict, description="Rendered with: (secrets masked).")
    expectations: list[ExpectationResult] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    evidence: list[str] = Field(default_factory=list)
    answered_by: str | None = None
    answered_at: datetime | None = None
    operator_skipped: bool = Field(
        default=False, description="A person chose to skip it (manual skip, destructive step declined)."
    )

    def model_post_init(self, context: Any, /) -> None:
        # Pydantic keeps, per instance, the set of fields assigned so far; a step's result
        # gets most of its fields assigned while it runs, and that set grows to 2 KB, 40%
        # of what a run holds per step. Every field counts as set instead, in one shared
        # set (assigning a field adds a name already in it, so it is never changed).
        object.__setattr__(self, "__pydantic_fields_set__", _ALL_STEP_FIELDS)

    @property
    def is_bad(self) -> bool:
        return self.outcome in BAD_OUTCOMES

    @property
    def is_problem(self) -> bool:
        """Counts against the verdict: a bad outcome, or a person skipping the step (which
        the verdict treats as not done unless the step is only info)."""
        return self.is_bad or (self.operator_skipped and self.severity != "info")


_ALL_STEP_FIELDS = set(StepResult.model_fields)


class SectionResult(_Model):
    name: str
    parallel: bool = False
    budget_s: float | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    steps: list[StepResult] = Field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return bool(self.budget_s and self.duration_s and self.duration_s > self.budget_s)


class Recommendation(_Model):
    name: str
    title: str
    rto_s: float
    first_step: str | None = None
    matched: list[str] = Field(default_factory=list, description="Failed step ids its detect checks match.")
    confirmed: bool | None = Field(
        default=None,
        description="True when its detect checks, run at the time of the verdict, saw the scenario; "
        "None when they were not run.",
    )


class RunJournal(_Model):
    version: int = JOURNAL_VERSION
    kind: Literal["run", "drill"] = "run"
    run_id: str
    runbook: str
    title: str | None = None
    file: str | None = None
    file_sha256: str | None = None
    environment: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    event: datetime | None = None
    offset_s: float | None = None
    budget_s: float | None = None
    min_duration_s: float | None = None
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    host: str = ""
    user: str = ""
    engine_version: str = ""
    dry_run: bool = False
    status: Literal["running", "finished", "interrupted", "aborted"] = "running"
    verdict: Verdict | None = None
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    recommended: list[Recommendation] = Field(default_factory=list)
    sections: list[SectionResult] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, description="Data added by gates and drills.")

    def steps(self) -> list[StepResult]:
        return [s for sec in self.sections for s in sec.steps]

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("passed", "failed", "error", "skipped", "blocked", "pending")}
        for s in self.steps():
            out[s.outcome] += 1
        return out

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
