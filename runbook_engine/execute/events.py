"""What the runner tells its observers (console, history, gates). The runner never prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runbook_engine.journal import RunJournal, SectionResult, StepResult


@dataclass(frozen=True)
class RunStarted:
    journal: RunJournal


@dataclass(frozen=True)
class SectionStarted:
    section: SectionResult


@dataclass(frozen=True)
class StepStarted:
    step: StepResult


@dataclass(frozen=True)
class StepAttempt:
    """An attempt ended without passing and another one follows (retry or wait)."""

    step: StepResult
    attempt: int
    message: str


@dataclass(frozen=True)
class StepFinished:
    step: StepResult


@dataclass(frozen=True)
class SectionFinished:
    section: SectionResult


@dataclass(frozen=True)
class RunFinished:
    journal: RunJournal


@dataclass(frozen=True)
class GateProgress:
    """A gate's stability round ended: time left in the window, and the flaps so far."""

    runbook: str
    remaining_s: float
    stable_for_s: float
    round: int
    flaps: int
    """Rounds so far in which a check did not pass."""
    holding: bool
    failing: tuple[str, ...] = ()
    """This round's checks that did not pass, as "name: what it saw"."""


Event = (
    GateProgress
    | RunStarted
    | SectionStarted
    | StepStarted
    | StepAttempt
    | StepFinished
    | SectionFinished
    | RunFinished
)


class Observer(Protocol):
    def __call__(self, event: Event) -> None: ...
