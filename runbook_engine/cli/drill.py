"""Contingency commands: drill (inject, detect, recover, verify), recover, and the event plan."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from runbook_engine.cli.app import DirOpt, app, console
from runbook_engine.cli.core import _library, _parse_duration_option, _parse_event, _parse_vars
from runbook_engine.cli.process import before_run
from runbook_engine.errors import EXIT_NOT_WRITTEN, UserError

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment name.")]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="Override a var: KEY=VALUE (repeatable).")]
ReportOpt = Annotated[
    list[Path] | None, typer.Option("--report", "-r", help="Write a report; format by extension. Repeatable.")
]
PollOpt = Annotated[str, typer.Option("--poll", help="How often detect and verify checks are re-run.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only problems and the verdict.")]
HistoryOpt = Annotated[
    Path | None,
    typer.Option("--history", help="History folder (default .runbook/history or $RUNBOOK_HISTORY)."),
]
VerifyTimeoutOpt = Annotated[
    str | None,
    typer.Option("--verify-timeout", help="Give up verifying after this (default 3x RTO, at least 30s)."),
]
NoHistoryOpt = Annotated[bool, typer.Option("--no-history", help="Do not record this in the history.")]


@dataclass(frozen=True)
class DrillArgs:
    """The options drill and recover share, as the user gave them."""

    env: str | None
    var: list[str] | None
    yes: bool
    report: list[Path] | None
    poll: str
    detect_timeout: str | None
    verify_timeout: str | None
    operator: str | None
    quiet: bool
    directory: Path | None
    history: Path | None
    no_history: bool


def _run_contingency(names: list[str], inject: bool, a: DrillArgs) -> list[Any]:
    from runbook_engine.cli.finish import JournalKeeper, run_to_the_end, write_results
    from runbook_engine.execute.drill import Drill, DrillOptions
    from runbook_engine.execute.events import Observer
    from runbook_engine.execute.interaction import Interaction, login_name
    from runbook_engine.execute.options import RunOptions
    from runbook_engine.execute.runner import Runner
    from runbook_engine.history.recorder import open_recorder
    from runbook_engine.report import check_report_paths
    from runbook_engine.terminal.console import ConsoleView
    from runbook_engine.terminal.prompts import TerminalInteraction

    before_run(True)  # a stop from here to the run's start: nothing ran, no report
    reports = list(a.report or [])
    check_report_paths(reports)
    if len(names) > 1 and reports:
        raise UserError("--report names one file; with --all, run drills one by one to get a report each")
    lib = _library(a.directory)
    out = console()
    who = a.operator or os.environ.get("RUNBOOK_OPERATOR") or None
    options = DrillOptions(
        inject=inject,
        poll=_parse_duration_option("--poll", a.poll) or 0.25,
        detect_timeout=_parse_duration_option("--detect-timeout", a.detect_timeout)
        or (60.0 if inject else 10.0),
        verify_timeout=_parse_duration_option("--verify-timeout", a.verify_timeout),
    )
    journals = []
    unwritten = False
    for name in names:
        view = ConsoleView(out, quiet=a.quiet)
        interactive = sys.stdin.isatty() and out.is_terminal
        interaction: Interaction | None = (
            TerminalInteraction(out, view, who or login_name()) if interactive else None
        )
        opts = RunOptions(environment=a.env, vars=_parse_vars(a.var or []), yes=a.yes, operator=who)
        recorder = open_recorder(lib.project_dir, a.history, enabled=not a.no_history)
        keeper = JournalKeeper()
        observers: list[Observer] = [keeper, view, *([recorder] if recorder else [])]
        runner = Runner(lib, opts, observers=observers, interaction=interaction)
        drill = Drill(runner, options)
        journal, failures = run_to_the_end(partial(drill.run, name), keeper, runner.emit)
        journals.append(journal)
        code = write_results(journal, reports, recorder, out, a.quiet, failures)
        if code not in (0, 1, EXIT_NOT_WRITTEN):  # stopped: the remaining drills do not start
            raise typer.Exit(code)
        unwritten = unwritten or code == EXIT_NOT_WRITTEN
    if unwritten:  # after every drill ran: their verdicts are printed, a file is missing
        raise typer.Exit(EXIT_NOT_WRITTEN)
    return journals


@app.command()
def drill(
    name: Annotated[str | None, typer.Argument(help="The contingency to drill.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Drill every contingency that has inject: steps.")
    ] = False,
    env: EnvOpt = None,
    var: VarOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Allow the injection (and destructive steps).")
    ] = False,
    report: ReportOpt = None,
    poll: PollOpt = "250ms",
    detect_timeout: Annotated[
        str | None, typer.Option("--detect-timeout", help="Give up detecting after this (default 60s).")
    ] = None,
    verify_timeout: VerifyTimeoutOpt = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who runs the drill.")] = None,
    quiet: QuietOpt = False,
    history: HistoryOpt = None,
    no_history: NoHistoryOpt = False,
    directory: DirOpt = None,
) -> None:
    """Drill a contingency: cause the failure, detect it, recover, verify, and time it against the RTO."""
    if all_ == (name is not None):
        raise UserError("name one contingency, or pass --all")
    names = (
        [name] if name else sorted(n for n, c in _library(directory).contingencies.items() if c.doc.inject)
    )
    if not names:
        raise UserError("no contingency has inject: steps to drill")
    journals = _run_contingency(names, True, DrillArgs(**_shared(locals())))
    if all_:
        _print_table(journals)
    raise typer.Exit(0 if all(j.verdict == "GO" for j in journals) else 1)


@app.command()
def recover(
    name: Annotated[str, typer.Argument(help="The contingency to recover from.")],
    env: EnvOpt = None,
    var: VarOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Allow destructive recovery steps.")] = False,
    report: ReportOpt = None,
    poll: PollOpt = "250ms",
    detect_timeout: Annotated[
        str | None, typer.Option("--detect-timeout", help="How long to look for the scenario (default 10s).")
    ] = None,
    verify_timeout: VerifyTimeoutOpt = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who runs the recovery.")] = None,
    quiet: QuietOpt = False,
    history: HistoryOpt = None,
    no_history: NoHistoryOpt = False,
    directory: DirOpt = None,
) -> None:
    """Recover from a contingency on the live system: detect, recover, verify, timed against the RTO."""
    journals = _run_contingency([name], False, DrillArgs(**_shared(locals())))
    raise typer.Exit(0 if journals[0].verdict == "GO" else 1)


def _shared(given: dict[str, Any]) -> dict[str, Any]:
    """The shared options out of a command's parameters."""
    return {f: given[f] for f in DrillArgs.__dataclass_fields__}


def _print_table(journals: list[Any]) -> None:
    from rich.table import Table

    from runbook_engine.execute.drill import drill_row
    from runbook_engine.format.durations import format_duration

    table = Table(title="Recovery times (measured)", title_justify="left")
    for col in ("scenario", "RTO", "time to detect", "time to recover", "within RTO"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for j in journals:
        row = drill_row(j)
        within = {True: "yes", False: "NO", None: "not recovered"}[row["within_rto"]]
        table.add_row(
            row["scenario"],
            format_duration(row["rto_s"]),
            format_duration(row["time_to_detect_s"]),
            format_duration(row["time_to_recover_s"]),
            within,
        )
    console().print(table)


@app.command()
def plan(
    event: Annotated[
        str | None,
        typer.Option("--event", envvar="RUNBOOK_EVENT", help="Event time, e.g. '2026-12-01 10:00+01:00'."),
    ] = None,
    in_: Annotated[str | None, typer.Option("--in", help="Event is this far from now, e.g. 2h.")] = None,
    directory: DirOpt = None,
) -> None:
    """List every timed runbook in order with its start, budget and deadline, marking what is overdue."""
    from runbook_engine.execute.timeline import plan as make_plan
    from runbook_engine.execute.timeline import t_minus
    from runbook_engine.format.durations import format_duration

    now = datetime.now().astimezone()
    if (event is None) == (in_ is None):
        raise UserError("give the event time with --event '2026-12-01 10:00' or --in 2h")
    when = _parse_event(event) if event else now + timedelta(seconds=_parse_duration_option("--in", in_) or 0)
    assert when is not None
    rows = make_plan(_library(directory), when, now)
    out = console()
    out.print(f"event at {when:%Y-%m-%d %H:%M %Z} ({t_minus((now - when).total_seconds())} now)")
    for r in rows:
        if r.deadline is None:
            deadline = "-"
        elif r.deadline.date() == r.start.date():
            deadline = f"{r.deadline:%H:%M}"
        else:
            deadline = f"{r.deadline:%m-%d %H:%M}"
        budget = format_duration(r.budget_s) if r.budget_s else "-"
        style = {"overdue": "red", "due now": "yellow"}.get(r.status, "")
        note = f"  ({r.note})" if r.note else ""
        out.print(
            f"{t_minus(r.offset_s):>9}  {r.start:%Y-%m-%d %H:%M}  budget {budget:>6}  until {deadline:<11}  "
            f"{r.name:<22} {r.status}{note}",
            style=style,
        )
