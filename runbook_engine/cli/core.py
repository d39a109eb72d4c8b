"""Everyday commands: list, validate, run, plugins, schema."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from runbook_engine.cli.app import DirOpt, app, console
from runbook_engine.cli.process import before_run
from runbook_engine.errors import UserError


def _library(directory: Path | None, extra: list[Path] | None = None) -> Any:
    from runbook_engine.format.loader import load_library, runbook_dir

    return load_library(runbook_dir(directory), extra)


@app.command("list")
def list_cmd(directory: DirOpt = None) -> None:
    """List runbooks, contingencies and environments."""
    from runbook_engine.execute.timeline import t_minus
    from runbook_engine.format.durations import format_duration

    lib = _library(directory)
    out = console()

    # The event's phases in time order, then the runbooks a person runs at any time.
    def order(kv: tuple[str, Any]) -> tuple[bool, float, str]:
        offset = kv[1].doc.offset
        return (offset is None, offset or 0.0, kv[0])

    for name, loaded in sorted(lib.runbooks.items(), key=order):
        doc = loaded.doc
        offset = t_minus(doc.offset) if doc.offset is not None else ""
        out.print(f"runbook      {name:<28} {offset:>8}  {doc.title or ''}")
    for name, c in sorted(lib.contingencies.items()):
        out.print(f"contingency  {name:<28} RTO {format_duration(c.doc.rto):>4}  {c.doc.title or ''}")
    default = lib.default_environment()
    for name, e in sorted(lib.environments.items()):
        mark = " (default)" if name == default else ""
        out.print(f"environment  {name:<28} {'':>8}  {e.doc.description or ''}{mark}")


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files, folders or document names (default: the runbook directory)."),
    ] = None,
    directory: DirOpt = None,
) -> None:
    """Check runbook files: every problem, with file:line and key."""
    # `runbook validate t-minus-2h` means the runbook of that name: a bare word that is not
    # a file here. The whole directory is checked either way (a runbook needs its
    # contingencies and environments); the name must then exist.
    names = [str(p) for p in paths or [] if _is_name(p)]
    lib = _library(directory, [p for p in paths or [] if not _is_name(p)] or None)
    known = {**lib.runbooks, **lib.contingencies, **lib.environments}
    for name in names:
        if name not in known:
            from runbook_engine.expr import suggest

            raise UserError(
                f"{name}: no such file, and no runbook, contingency or environment of that name"
                f"{suggest(name, list(known))}; `runbook list` shows them"
            )
    from runbook_engine.text import counted

    n = len(lib.runbooks) + len(lib.contingencies) + len(lib.environments)
    kinds = ", ".join(
        counted(len(group), word)
        for group, word in (
            (lib.runbooks, "runbook"),
            (lib.contingencies, "contingency"),
            (lib.environments, "environment"),
        )
    )
    console().print(f"ok: {counted(n, 'document')} ({kinds})")


def _is_name(arg: Path) -> bool:
    return not arg.exists() and len(arg.parts) == 1 and arg.suffix not in {".yaml", ".yml"}


def _parse_vars(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--var {item!r}: write KEY=VALUE")
        out[key] = value
    return out


def _parse_event(text: str | None) -> datetime | None:
    if not text:
        return None
    from runbook_engine.format.timeparse import parse_event_time

    return parse_event_time(text)


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="The runbook's name (see `runbook list`).")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment name (default: the default environment).")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Override a var: KEY=VALUE (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved plan; run nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Allow destructive steps without asking.")] = False,
    confirm_manual: Annotated[
        bool,
        typer.Option(
            "--confirm-manual",
            help="Without a terminal, count every manual step as done (recorded as confirmed by flag).",
        ),
    ] = False,
    operator: Annotated[
        str | None,
        typer.Option("--operator", help="Who runs this (default: $RUNBOOK_OPERATOR or the login name)."),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option(
            "--event",
            envvar="RUNBOOK_EVENT",
            help="Event time, e.g. '2026-12-01 10:00+01:00' (or $RUNBOOK_EVENT).",
        ),
    ] = None,
    stable_for: Annotated[
        str | None,
        typer.Option("--stable-for", help="Shorten (or lengthen) a gate's stability window, e.g. 30s."),
    ] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(
            "--report", "-r", help="Write a report: .json, .md, .html or .xml (by extension). Repeatable."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only problems and the verdict.")] = False,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="History folder (default .runbook/history beside the runbooks, or $RUNBOOK_HISTORY).",
        ),
    ] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="Do not record this run in the history.")
    ] = False,
    directory: DirOpt = None,
) -> None:
    """Run a runbook and decide GO / NO-GO (exit 0 GO, 1 NO-GO)."""
    from runbook_engine.cli.finish import JournalKeeper, run_to_the_end, write_results
    from runbook_engine.execute.events import Observer
    from runbook_engine.execute.interaction import Interaction, login_name
    from runbook_engine.execute.options import RunOptions
    from runbook_engine.execute.runner import Runner
    from runbook_engine.report import check_report_paths
    from runbook_engine.terminal.console import ConsoleView
    from runbook_engine.terminal.prompts import TerminalInteraction

    before_run(True)  # a stop from here to the run's start: nothing ran, no report
    reports = list(report or [])
    check_report_paths(reports)
    lib = _library(directory)
    out = console()
    view = ConsoleView(out, quiet=quiet)
    who = operator or os.environ.get("RUNBOOK_OPERATOR") or None
    opts = RunOptions(
        environment=env,
        vars=_parse_vars(var or []),
        dry_run=dry_run,
        yes=yes,
        confirm_manual=confirm_manual,
        event=_parse_event(event),
        operator=who,
        operator_source="flag" if operator else "environment",
        stable_for=_parse_duration_option("--stable-for", stable_for),
    )
    interactive = sys.stdin.isatty() and out.is_terminal
    interaction: Interaction | None = (
        TerminalInteraction(out, view, who or login_name()) if interactive else None
    )
    recorder = None
    if not no_history:  # the history's modules (index, retention, comparison) only when it is written
        from runbook_engine.history.recorder import open_recorder

        recorder = open_recorder(lib.project_dir, history, enabled=True)
    keeper = JournalKeeper()  # first: it sees the run start before anything can fail
    observers: list[Observer] = [keeper, view, *([recorder] if recorder else [])]
    runner = Runner(lib, opts, observers=observers, interaction=interaction)
    journal, failures = run_to_the_end(lambda: runner.run(name), keeper, runner.emit)
    raise typer.Exit(write_results(journal, reports, recorder, out, quiet, failures))


def _parse_duration_option(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    from runbook_engine.format.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from None


@app.command()
def plugins(directory: DirOpt = None) -> None:
    """List every plugin with its kind and where it comes from."""
    from runbook_engine.format.loader import runbook_dir
    from runbook_engine.registry import build_registry

    reg = build_registry(runbook_dir(directory).resolve().parent)
    out = console()
    for name, info in reg.plugins.items():
        kinds = "/".join(sorted(info.kinds))
        out.print(f"{name:<20} {kinds:<13} {info.source}")
        if info.summary:
            out.print(f"{'':<20} {info.summary}", style="dim")


@app.command()
def schema(directory: DirOpt = None) -> None:
    """Print the JSON Schema of runbook files (for editors)."""
    from runbook_engine.format.loader import runbook_dir
    from runbook_engine.format.schema import json_schema
    from runbook_engine.registry import build_registry

    reg = build_registry(runbook_dir(directory).resolve().parent)
    print(json.dumps(json_schema(reg), indent=2))
