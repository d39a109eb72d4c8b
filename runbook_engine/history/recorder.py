"""Records a run in the history as it goes: an observer of the runner's events.

The record is rewritten whole (and renamed into place) when the run starts, after every
step and when it ends, so a run killed at any moment leaves a complete record of the
steps it finished. Writing needs no DuckDB and never stops a run: a failure to write is
reported once on stderr and the run carries on unrecorded.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from runbook_engine.errors import UserError
from runbook_engine.events import Event, RunFinished, RunStarted, StepFinished
from runbook_engine.history import history_dir
from runbook_engine.history.compare import compare_with_previous
from runbook_engine.history.journals import record_path, write_record
from runbook_engine.history.liveness import this_process
from runbook_engine.history.retention import Retention, prune_folder
from runbook_engine.journal import RunJournal


class Recorder:
    """Keeps one run's record file up to date; call it with every runner event."""

    def __init__(self, directory: Path, retention: Retention | None = None) -> None:
        self.directory = directory
        self.retention = retention or Retention()
        self.process = this_process()
        self.journal: RunJournal | None = None
        self.path: Path | None = None
        self.broken = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            if event.journal.dry_run:
                return  # a dry run runs nothing: nothing to compare later
            # The runner keeps filling this same object; every save writes its current state.
            j = self.journal = event.journal
            self.path = record_path(self.directory, j.kind, j.runbook, j.run_id)
            self.save()
        elif self.journal is None:
            return
        elif isinstance(event, StepFinished):
            self.save()
        elif isinstance(event, RunFinished):
            self.save(durable=True)
            self._apply_retention()

    def save(self, durable: bool = False) -> None:
        """Write the journal as it is now (after adding to `journal.extra`, say)."""
        if self.journal is None or self.path is None or self.broken:
            return
        try:
            write_record(self.path, self.journal.model_dump_json(), self.process, durable)
        except OSError as exc:
            self.broken = True
            sys.stderr.write(f"history: cannot record this run in {self.directory}: {exc}\n")

    def record_comparison(self) -> None:
        """Put the comparison with the previous run into `journal.extra["comparison"]`."""
        if self.journal is None:
            return
        comparison = compare_with_previous(self.journal, self.directory)
        if comparison is not None:
            self.journal.extra["comparison"] = comparison
            self.save(durable=True)

    def _apply_retention(self) -> None:
        if self.journal is None or self.broken or not self.retention.is_set:
            return
        try:
            j = self.journal
            now = datetime.now(UTC)
            prune_folder(self.directory, j.kind, j.runbook, self.retention, now, spare=self.path)
        except OSError as exc:
            sys.stderr.write(f"history: cannot prune old runs in {self.directory}: {exc}\n")


def open_recorder(project_dir: Path, history: Path | None, enabled: bool) -> Recorder | None:
    """The recorder for a run (None with --no-history); a bad retention setting is a usage error."""
    if not enabled:
        return None
    try:
        retention = Retention.from_env()
    except ValueError as exc:
        raise UserError(f"history retention: {exc}") from None
    return Recorder(history_dir(project_dir.resolve(), history), retention)
