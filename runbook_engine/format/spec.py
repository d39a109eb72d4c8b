"""Pydantic models of the runbook format (FORMAT.md): runbook, contingency, environment.

These models check shape and types only. Checks that need more than one file or the
plugin registry (plugin arguments, expressions, `needs` ids, template names) live in
the loader, which maps every problem back to a file and line.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from runbook_engine.expr import Expression
from runbook_engine.format.durations import MAX_DURATION, format_duration, parse_file_duration

Duration = Annotated[float, BeforeValidator(parse_file_duration)]
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
Severity = Literal["critical", "warning", "info"]


def slugify(text: str) -> str:
    """The default id of a step: its name, lowercased, with dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "step"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Retry(_Strict):
    attempts: int = Field(default=1, ge=1, le=100, description="Attempts in all (1 = no retry).")
    delay: Duration = Field(default=0.0, ge=0, description="Pause between attempts.")
    backoff: float = Field(default=1.0, ge=1.0, le=100, description="Multiply the delay by this each time.")

    @model_validator(mode="after")
    def _longest_pause(self) -> Retry:
        # The last pause is delay * backoff ** (attempts - 2); in logarithms, as it may overflow.
        if self.attempts > 2 and self.delay > 0 and self.backoff > 1:
            exponent = math.log(self.delay) + (self.attempts - 2) * math.log(self.backoff)
            if exponent > math.log(MAX_DURATION):
                raise ValueError(
                    "the last pause between attempts (delay x backoff to the power attempts - 2) "
                    "would be longer than 365d: lower backoff, delay or attempts"
                )
        return self


class Wait(_Strict):
    timeout: Duration = Field(gt=0, description="Give up polling after this long.")
    interval: Duration = Field(default=5.0, gt=0, description="Pause between polls.")


class Step(_Strict):
    """One step: exactly one of `check`, `action` or `manual`."""

    name: str | None = Field(default=None, min_length=1)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    check: str | None = None
    action: str | None = None
    manual: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    expect: list[str] = Field(default_factory=list)
    when: str | None = None
    needs: list[str] = Field(default_factory=list)
    timeout: Duration | None = Field(default=None, gt=0)
    retry: Retry | None = None
    wait: Wait | None = None
    severity: Severity = "critical"
    destructive: bool = False
    owner: str | None = None
    budget: Duration | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, ge=0, le=1_000_000)
    description: str | None = None

    # Compiled by the loader (semantics.py) so the runner never parses an expression.
    _expect: list[Expression] = PrivateAttr(default_factory=list)
    _when: Expression | None = PrivateAttr(default=None)

    @field_validator("expect", "needs", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("check", "action", "manual") if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none of them"
            raise ValueError(f"a step has exactly one of check:, action: or manual: (found {found})")
        if self.manual is None and self.name is None:
            raise ValueError("a check or action step needs a name: (what it proves, in words)")
        if self.manual is not None and (self.with_ or self.expect):
            raise ValueError("a manual step takes no with: or expect: (it is confirmed by a person)")
        return self

    @property
    def compiled_expect(self) -> list[Expression]:
        return self._expect

    @property
    def compiled_when(self) -> Expression | None:
        return self._when

    def set_compiled(self, expect: list[Expression], when: Expression | None) -> None:
        self._expect = expect
        self._when = when

    @property
    def kind(self) -> Literal["check", "action", "manual"]:
        if self.check is not None:
            return "check"
        if self.action is not None:
            return "action"
        return "manual"

    @property
    def plugin(self) -> str | None:
        return self.check if self.check is not None else self.action

    @property
    def title(self) -> str:
        return self.name or self.manual or ""

    @property
    def step_id(self) -> str:
        return self.id or slugify(self.title)


class Section(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    budget: Duration | None = Field(default=None, gt=0)
    parallel: bool = False
    max_parallel: int = Field(default=16, ge=1, le=1024)
    steps: list[Step] = Field(min_length=1)


class Gate(_Strict):
    stable_for: Duration = Field(default=0.0, ge=0)
    interval: Duration = Field(default=30.0, gt=0)
    max_wait: Duration | None = Field(
        default=None,
        gt=0,
        description="Give up (NO-GO) when the window cannot hold by then; default twice stable_for.",
    )
    pass_score: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _window_fits(self) -> Gate:
        # Judged at load: otherwise the gate waits, gives up and says NO-GO with no reason.
        if self.max_wait is not None and self.max_wait < self.stable_for:
            raise ValueError(
                f"max_wait ({format_duration(self.max_wait)}) is shorter than stable_for "
                f"({format_duration(self.stable_for)}): the window could never hold; make max_wait "
                "at least as long as stable_for (or leave it out: it defaults to twice stable_for)"
            )
        return self


class _Document(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    title: str | None = None
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for s in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", s):
                raise ValueError(f"secret name {s!r} must be an environment variable name")
        return value


class Runbook(_Document):
    kind: Literal["runbook"]
    offset: Duration | None = None
    budget: Duration | None = Field(default=None, gt=0)
    min_duration: Duration | None = Field(
        default=None,
        gt=0,
        description="Shortest time the run should take (a demo of '12 minutes, plus or minus "
        "one' has budget 13m and min_duration 11m); finishing sooner adds a warning.",
    )
    sections: list[Section] = Field(min_length=1)
    gate: Gate | None = None
    on_no_go: list[str] = Field(default_factory=list)

    def steps(self) -> list[Step]:
        return [step for section in self.sections for step in section.steps]


class Contingency(_Document):
    kind: Literal["contingency"]
    symptoms: str | None = None
    rto: Duration = Field(gt=0)
    detect: list[Step] = Field(min_length=1)
    recover: list[Step] = Field(default_factory=list)
    verify: list[Step] = Field(default_factory=list)
    fallback: list[Step] = Field(default_factory=list)
    inject: list[Step] = Field(default_factory=list)

    PHASES: ClassVar[tuple[str, ...]] = ("inject", "detect", "recover", "verify", "fallback")

    def phase_steps(self) -> dict[str, list[Step]]:
        return {phase: getattr(self, phase) for phase in self.PHASES}


class Environment(_Strict):
    kind: Literal["environment"]
    name: str = Field(pattern=NAME_PATTERN)
    title: str | None = None
    description: str | None = None
    default: bool = False
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets_file: str | None = Field(
        default=None,
        description="A dotenv-style file of secret values (NAME=value), relative to the project "
        "folder; values in the process environment win. For local, throwaway keys only.",
    )


Document = Runbook | Contingency | Environment
KINDS: dict[str, type[Runbook] | type[Contingency] | type[Environment]] = {
    "runbook": Runbook,
    "contingency": Contingency,
    "environment": Environment,
}
