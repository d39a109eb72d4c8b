"""Run history: every run and drill kept as its own record file, with an index for queries.

Nothing but `runbook history --sql` imports DuckDB: recording (recorder, journals, index)
and the common views (store, views) are plain Python. See docs/history.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from runbook_engine.errors import UserError

ENV_HISTORY = "RUNBOOK_HISTORY"


def history_dir(project_dir: Path, given: Path | None = None) -> Path:
    """--history, else $RUNBOOK_HISTORY, else .runbook/history beside the runbooks."""
    chosen = given or (Path(os.environ[ENV_HISTORY]) if os.environ.get(ENV_HISTORY) else None)
    return (chosen or project_dir / ".runbook" / "history").resolve()


class HistoryWriteError(UserError):
    """The run's verdict is decided, but its history record could not be written (disk full,
    read-only folder). Exit code 4: "verdict decided, but a report or the history was not
    written" (errors.py); the message names the folder and the reason."""

    exit_code = 4

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: history: this run was not recorded: {reason}")
