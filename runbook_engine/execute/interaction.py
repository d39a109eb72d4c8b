"""How the runner asks a person something, without knowing about terminals."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal, Protocol

from runbook_engine.journal import StepResult

ManualChoice = Literal["done", "not-done", "skip"]


@dataclass(frozen=True)
class ManualAnswer:
    choice: ManualChoice
    by: str
    note: str | None = None


class Interaction(Protocol):
    interactive: bool
    """True when a person can be asked (a terminal)."""

    def ask_manual(self, step: StepResult, text: str) -> ManualAnswer | None:
        """The person's answer, or None when nobody can be asked (no terminal)."""

    def confirm_destructive(self, step: StepResult, args: dict[str, object]) -> bool | None:
        """True to go ahead, False if declined, None when nobody can be asked."""

    def confirm_decision(self, verdict: str, summary: str) -> str | None:
        """The name of the person who confirms a go/no-go decision, or None."""


class NoInteraction:
    """For runs without a terminal: nobody to ask."""

    interactive = False

    def ask_manual(self, step: StepResult, text: str) -> ManualAnswer | None:
        return None

    def confirm_destructive(self, step: StepResult, args: dict[str, object]) -> bool | None:
        return None

    def confirm_decision(self, verdict: str, summary: str) -> str | None:
        return None


def login_name() -> str:
    """Who is running this, as the system knows them (the default operator)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "operator"
