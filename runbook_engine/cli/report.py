"""Report commands: re-render a saved journal; print a runbook as a paper checklist."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from runbook_engine.cli.app import DirOpt, app, console
from runbook_engine.errors import UserError

OutOpt = Annotated[
    list[Path] | None,
    typer.Option("--output", "-o", help="Write to this file; format by extension. Repeatable."),
]


@app.command()
def report(
    journal: Annotated[Path, typer.Argument(help="A saved run journal (the .json report of a run).")],
    output: OutOpt = None,
) -> None:
    """Re-render a saved run journal: .md, .html, .xml (JUnit) or .json; Markdown to stdout without -o."""
    from runbook_engine.report import RENDERERS, check_report_paths, load_journal, write_report

    outputs = list(output or [])
    check_report_paths(outputs, flag="-o")
    loaded = load_journal(journal)
    if not outputs:
        sys.stdout.write(RENDERERS[".md"](loaded))
        return
    out = console()
    for path in outputs:
        write_report(loaded, path)
        out.print(f"report: {path}", markup=False)


@app.command()
def checklist(
    name: Annotated[
        str | None, typer.Argument(help="A runbook or contingency name (see `runbook list`).")
    ] = None,
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="One document for the event: every runbook with an offset, in order, "
            "then the contingency table.",
        ),
    ] = False,
    output: OutOpt = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", "-e", help="Show with: values for this environment (default: the default environment)."
        ),
    ] = None,
    directory: DirOpt = None,
) -> None:
    """Print a runbook or contingency as a paper checklist (.html for print, .md); Markdown to stdout."""
    from runbook_engine.format.loader import load_library, runbook_dir
    from runbook_engine.report import write_atomic
    from runbook_engine.report.checklist import CHECKLIST_FORMATS, build_checklist, render_checklist
    from runbook_engine.report.output import check_output_paths

    outputs = list(output or [])
    check_output_paths(outputs, "-o", CHECKLIST_FORMATS, "checklist")
    if everything and name:
        raise UserError("checklist: give a name or --all, not both")
    doc = build_checklist(load_library(runbook_dir(directory)), name, everything, env)
    if not outputs:
        sys.stdout.write(render_checklist(doc, "md"))
        return
    out = console()
    for path in outputs:
        write_atomic(path, render_checklist(doc, CHECKLIST_FORMATS[path.suffix.lower()]))
        out.print(f"checklist: {path}", markup=False)
