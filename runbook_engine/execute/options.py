"""How a run was asked for: environment, vars, dry run, confirmations, the event time.

Its own module so that the runner and the components it hands work to (the gate) can
share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RunOptions:
    environment: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    yes: bool = False
    confirm_manual: bool = False
    event: datetime | None = None
    operator: str | None = None
    stable_for: float | None = None
    operator_source: str = "flag"  # how `operator` was given: "flag" or "environment"
