"""Run history: every run and drill kept as its own journal file, queried with DuckDB.

Writing a run (recorder, journals, liveness, retention, compare) needs no DuckDB;
only reading the history (store, queries) imports it. See docs/history.md.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HISTORY = "RUNBOOK_HISTORY"


def history_dir(project_dir: Path, given: Path | None = None) -> Path:
    """--history, else $RUNBOOK_HISTORY, else .runbook/history beside the runbooks."""
    chosen = given or (Path(os.environ[ENV_HISTORY]) if os.environ.get(ENV_HISTORY) else None)
    return (chosen or project_dir / ".runbook" / "history").resolve()
