"""Records a run in the history as it goes: an observer of the runner's events.

The record is written whole (and renamed into place) when the run starts and when it ends;
in between, each finished step is appended to the record's step log, and the whole record
is rewritten at most every REWRITE_EVERY seconds (for section timings and gate progress).
So a run killed at any moment leaves a record of every step it finished, and recording
costs the same per step however long the runbook is. Writing needs no DuckDB and never
stops a run: a failure to write is reported once on stderr and the run carries on
unrecorded.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from runbook_engine.errors import UserError
from runbook_engine.execute.events import Event, RunFinished, RunStarted, StepFinished
from runbook_engine.history import history_dir
from runbook_engine.history.compare import compare_with_previous
from runbook_engine.history.journals import append_step, record_path, step_log_path, write_record
from runbook_engine.history.liveness import this_process
from runbook_engine.history.retention import Retention, prune_folder
from runbook_engine.journal import RunJournal, StepResult

REWRITE_EVERY = 2.0
"""Seconds between whole rewrites of a running record (steps in between go to its log)."""


class Recorder:
    """Keeps one run's record file up to date; call it with every runner event."""

    def __init__(self, directory: Path, retention: Retention | None = None) -> None:
        self.directory = directory
        self.retention = retention or Retention()
        self.process = this_process()
        self.journal: RunJournal | None = None
        self.path: Path | None = None
        self.broken = False
        self.logged = 0  # lines in the step log
        self.sections_written = 0  # sections in the last whole record (the log can address these)
        self.written_at = 0.0

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
            self._step_finished(event.step)
        elif isinstance(event, RunFinished):
            self.save(durable=True)
            if self.path is not None and not self.broken:
                step_log_path(self.path).unlink(missing_ok=True)  # all in the final record now
            self._apply_retention()

    def _step_finished(self, step: StepResult) -> None:
        at = self._position(step)
        if at is None or time.monotonic() - self.written_at >= REWRITE_EVERY:
            self.save()
            return
        if self.path is None or self.broken:
            return
        try:
            append_step(step_log_path(self.path), at[0], at[1], step.model_dump_json())
            self.logged += 1
        except OSError as exc:
            self._broke(exc)

    def _position(self, step: StepResult) -> tuple[int, int] | None:
        """Where the step sits in the journal, if the last whole record has its section."""
        assert self.journal is not None
        for si, section in enumerate(self.journal.sections[: self.sections_written]):
            for ki, candidate in enumerate(section.steps):
                if candidate is step:
                    return si, ki
        return None  # e.g. a drill phase added after the last rewrite

    def save(self, durable: bool = False) -> None:
        """Write the journal as it is now (after adding to `journal.extra`, say)."""
        if self.journal is None or self.path is None or self.broken:
            return
        try:
            write_record(self.path, self.journal.model_dump_json(), self.process, durable, self.logged)
        except OSError as exc:
            self._broke(exc)
            return
        self.sections_written = len(self.journal.sections)
        self.written_at = time.monotonic()

    def _broke(self, exc: OSError) -> None:
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
