"""The end of a run, drill or recovery: the journal kept even when a stop escapes the
runner, the reports and the history written whatever signal comes meanwhile, and an exit
code that tells the truth.

Exit codes, in order of precedence: 143/130 when SIGTERM/Ctrl-C stopped the run (the
partial reports are still written); 4 when the verdict was decided but a report or the
history could not be written (each such file named on stderr with the OS's reason; every
other report is still written); else the verdict, 0 GO or 1 NO-GO.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from runbook_engine import stops
from runbook_engine.cli.app import interrupted_exit_code
from runbook_engine.cli.process import before_run
from runbook_engine.errors import NotWritten
from runbook_engine.execute.events import Event, RunFinished, RunStarted
from runbook_engine.journal import RunJournal


class JournalKeeper:
    """An observer that keeps the journal the runner started, so a stop that escapes the
    runner's own handlers (it has a few gaps between them) still gives a partial report."""

    def __init__(self) -> None:
        self.journal: RunJournal | None = None
        self.finished = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted) and self.journal is None:
            self.journal = event.journal
            before_run(False)  # from here a stop leaves a journal to report
        elif isinstance(event, RunFinished):
            self.finished = True


def run_to_the_end(
    start: Callable[[], RunJournal], keeper: JournalKeeper, emit: Callable[[Event], None]
) -> tuple[RunJournal, list[NotWritten]]:
    """The journal of `start()`, also when a stop or a write failure escapes it once the
    run has started (before that, the stop goes on up: nothing ran, nothing to report)."""
    failures: list[NotWritten] = []
    try:
        return start(), failures
    except NotWritten as exc:  # from the history, say: the run itself went on to its verdict
        if keeper.journal is None:
            raise
        failures.append(exc)
    except KeyboardInterrupt:
        if keeper.journal is None:
            raise
    journal = keeper.journal
    with stops.deferred():
        if not keeper.finished:
            _stopped_outside_the_runner(journal)
            emit(RunFinished(journal))  # the verdict on the console, the history record closed
    return journal, failures


def _stopped_outside_the_runner(journal: RunJournal) -> None:
    from runbook_engine.judge.verdict import decide

    journal.status = "interrupted"
    for step in journal.steps():
        if step.started_at is None:
            step.outcome, step.message = "skipped", "not run: the run was interrupted"
    if journal.finished_at is None:
        journal.finished_at = datetime.now(UTC)
    if journal.kind == "drill":
        journal.reasons = ["the drill was interrupted", *journal.reasons]
        journal.verdict = "NO-GO"
    else:
        decide(journal)


def write_results(
    journal: RunJournal,
    reports: list[Path],
    recorder: Any,
    out: Console,
    quiet: bool,
    failures: list[NotWritten],
) -> int:
    """Write the comparison into the history and every report, with a stop signal held
    until they are written (a second one still gets out); returns the exit code."""
    from runbook_engine.report import write_report

    history_broken = False
    with stops.deferred():
        if recorder is not None:
            try:
                recorder.record_comparison()  # journal.extra["comparison"], for the reports
            except NotWritten as exc:
                failures.append(exc)
            except OSError as exc:
                failures.append(NotWritten.of(f"the history ({exc.filename or recorder.directory})", exc))
            # The recorder reports its own write failures on stderr and carries on.
            history_broken = bool(getattr(recorder, "broken", False))
        for path in reports:
            try:
                write_report(journal, path)
            except NotWritten as exc:
                failures.append(exc)
                continue
            if not quiet:
                out.print(f"report: {path}", markup=False)
    for failure in failures:
        sys.stderr.write(f"{failure}; the verdict above ({journal.verdict}) stands\n")
    if journal.status == "interrupted" or stops.first_signal() is not None:
        return interrupted_exit_code()
    if failures or history_broken:
        return NotWritten.exit_code
    return 1 if journal.verdict == "NO-GO" else 0
