"""Records a run in the history as it goes: an observer of the runner's events.

The record is written whole (and renamed into place) when the run starts and when it ends;
in between, each finished step is appended to the record's step log, and the whole record
is rewritten at most every REWRITE_EVERY seconds (for section timings and gate progress).
So a run killed at any moment leaves a record of every step it finished, and recording
costs the same per step however long the runbook is. When the run ends, its rows go to
the index (index.py), so `runbook history` never has to read the record again.

Before it starts, a run closes the records that earlier runs left at `running` when they
were killed (stuck.py). Writing needs no DuckDB and never stops a run: a failure to write
is reported once on stderr, the run carries on unrecorded, and `raise_if_failed()` then
raises HistoryWriteError for the CLI to exit with its own code.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from runbook_engine.errors import UserError
from runbook_engine.execute.events import Event, RunFinished, RunStarted, StepFinished
from runbook_engine.history import HistoryWriteError, history_dir
from runbook_engine.history.compare import compare_with_previous
from runbook_engine.history.index import append_records
from runbook_engine.history.journals import Record, append_step, record_path, step_log_path, write_record
from runbook_engine.history.liveness import this_process
from runbook_engine.history.retention import Retention, compact_if_due, prune_folder
from runbook_engine.history.stuck import mark_closed, mark_open, sweep_open
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
        self.failure: HistoryWriteError | None = None
        self.compared = False
        self.logged = 0  # lines in the step log
        self.sections_written = 0  # sections in the last whole record (the log can address these)
        self.written_at = 0.0
        self.written_json = "{}"

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            if event.journal.dry_run:
                return  # a dry run runs nothing: nothing to compare later
            # The runner keeps filling this same object; every save writes its current state.
            j = self.journal = event.journal
            self.path = record_path(self.directory, j.kind, j.runbook, j.run_id)
            self._sweep()
            self.save()
            if not self.broken:
                self._guard(lambda: mark_open(self.directory, self._rel(), j.run_id))
        elif self.journal is None:
            return
        elif isinstance(event, StepFinished):
            self._step_finished(event.step)
        elif isinstance(event, RunFinished):
            if self.journal.kind == "run":
                self._compare()  # before the final write: reports and the index both have it
            self.save(durable=True)
            if self.path is not None and not self.broken:
                step_log_path(self.path).unlink(missing_ok=True)  # all in the final record now
                self._index()
            self._apply_retention()

    def _rel(self) -> str:
        assert self.path is not None
        return self.path.relative_to(self.directory).as_posix()

    def _sweep(self) -> None:
        """Close the records of earlier runs killed mid-run (an `open/` marker, a dead writer)."""
        try:
            closed = sweep_open(self.directory)
            if closed:
                append_records(self.directory, closed)
                for record in closed:
                    mark_closed(self.directory, str(record.journal.get("run_id") or ""))
        except (OSError, UserError) as exc:
            sys.stderr.write(f"history: cannot close the runs left running in {self.directory}: {exc}\n")

    def _index(self) -> None:
        """Add the final record's rows to the index: a cache, so a failure only costs speed."""
        assert self.journal is not None and self.path is not None
        record = Record(self._rel(), json.loads(self.written_json), self.process, None)
        try:
            append_records(self.directory, [record])  # a record that does not fit: readers name it
        except (OSError, UserError) as exc:
            sys.stderr.write(f"history: cannot index this run in {self.directory}: {exc}\n")
            return  # still listed in open/: the next run indexes it
        mark_closed(self.directory, self.journal.run_id)

    def _guard(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as exc:
            self._broke(exc)

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
        text = self.journal.model_dump_json()
        try:
            write_record(self.path, text, self.process, durable, self.logged)
        except OSError as exc:
            self._broke(exc)
            return
        self.sections_written = len(self.journal.sections)
        self.written_at = time.monotonic()
        self.written_json = text  # the final one is indexed without serializing it again

    def _broke(self, exc: OSError) -> None:
        self.broken = True
        reason = exc.strerror or str(exc)
        self.failure = HistoryWriteError(self.path or self.directory, reason)
        sys.stderr.write(f"history: cannot record this run in {self.directory}: {exc}\n")

    def raise_if_failed(self) -> None:
        """After the verdict (and the reports): HistoryWriteError if the record could not be written."""
        if self.failure is not None:
            raise self.failure

    def _compare(self) -> None:
        """Put the comparison with the previous run into `journal.extra["comparison"]`."""
        if self.journal is None or self.compared:
            return
        self.compared = True
        comparison = compare_with_previous(self.journal, self.directory)
        if comparison is not None:
            self.journal.extra["comparison"] = comparison

    def record_comparison(self) -> None:
        """The comparison with the previous run, for the reports: made when the run finished
        (so the final record and the index hold it); kept for callers that ask after."""
        if self.journal is not None and not self.compared:
            self._compare()
            self.save(durable=True)

    def _apply_retention(self) -> None:
        if self.journal is None or self.broken or not self.retention.is_set:
            return
        try:
            j = self.journal
            now = datetime.now(UTC)
            removed = prune_folder(self.directory, j.kind, j.runbook, self.retention, now, spare=self.path)
            compact_if_due(self.directory, len(removed))
        except (OSError, UserError) as exc:
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
