"""The Typer application, shared console settings, and the options every command takes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from runbook_engine import __version__

if TYPE_CHECKING:  # typer 0.29 vendors click as typer._click (older releases use click itself)
    from typer._click import Context, HelpFormatter


class _PlainHelpGroup(TyperGroup):
    """Plain (click-style) help, each command's summary wrapped, never cut short with "...".

    Typer's boxed help imports markdown-it, rich.markdown and rich.traceback (pygments):
    ~70 ms of CPU on every `--help`, half again the start-up of the libraries themselves
    (issue 12 wants `--help` within 1.1x of them). Plain help says the same things; click's
    own command list would shorten a summary to fit the line, so this one wraps it instead.
    """

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))  # the whole first sentence
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="runbook",
    cls=_PlainHelpGroup,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Declarative YAML runbooks: timed phases, go/no-go gates, contingency drills.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", "-d", help="Runbook directory (default ./runbooks or $RUNBOOK_DIR).", show_default=False
    ),
]


class State:
    no_color = False


def interrupted_exit_code() -> int:
    """The exit code of a run stopped by Ctrl-C (130) or SIGTERM (143): the first to come."""
    from runbook_engine.errors import EXIT_INTERRUPTED
    from runbook_engine.stops import stop_exit_code

    return stop_exit_code() or EXIT_INTERRUPTED


def console(stderr: bool = False) -> Console:
    con = Console(
        stderr=stderr,
        no_color=State.no_color or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=True,
    )
    if not con.is_terminal:
        # Logs and pipes: wide enough that tables never wrap mid-cell (stable text to grep).
        con.width = 160
    return con


def _print_version(value: bool) -> None:
    if value:
        print(f"runbook {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours in output.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    State.no_color = no_color
