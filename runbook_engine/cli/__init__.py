"""The `runbook` command: parse, call, map errors to exit codes. Nothing else lives here.

One module per group of commands; each registers itself on the shared Typer app.
"""

from __future__ import annotations

import copy
import sys
import types
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

from runbook_engine.cli import core as _core  # noqa: F401  (registers its commands)
from runbook_engine.cli import drill as _drill  # noqa: F401
from runbook_engine.cli import history as _history  # noqa: F401  (registers history)
from runbook_engine.cli import report as _report  # noqa: F401  (registers report, checklist)
from runbook_engine.cli.app import app, console
from runbook_engine.cli.process import run_guarded, stopped, write_crash_log
from runbook_engine.errors import EXIT_BUG, EXIT_USAGE, UserError

__all__ = ["app", "main"]


def _without_httpx_cli() -> None:
    """Let `import httpx` skip httpx's own command-line client.

    httpx's __init__ imports httpx._main (its `httpx` command: click, rich.syntax and
    pygments' table of lexers, ~40 ms of every run with an http step); this process never
    runs that command, so a stub stands in for it. Nothing changes if httpx is already in.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stub = types.ModuleType("httpx._main")

    def _main() -> None:
        raise SystemExit("httpx's command-line client is not loaded inside runbook")

    stub.main = _main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stub


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors exit 2 with one line each; bugs exit 3 with a log file."""
    _without_httpx_cli()
    err = console(stderr=True)
    code = run_guarded(lambda: _dispatch(argv, err))
    sys.exit(code if isinstance(code, int) else 0)


def _click_command(argv: list[str] | None) -> Any:
    """The click group to parse argv with: when argv starts with a command's name, a group
    of that command alone (typer builds every command's options from its signature on each
    start, ~18 ms of CPU for eleven commands; one command's help, options and errors come
    out the same). Anything else (--help, --version, a typo) gets the whole group."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        wanted = [
            info
            for info in app.registered_commands
            if info.callback is not None
            and (info.name or typer.main.get_command_name(info.callback.__name__)) == args[0]
        ]
        if wanted and not app.registered_groups:
            only = copy.copy(app)  # a shallow copy: the shared app keeps all its commands
            only.registered_commands = wanted
            return typer.main.get_command(only)
    return typer.main.get_command(app)


def _dispatch(argv: list[str] | None, err: Console) -> Any:
    command = _click_command(argv)
    try:
        code = command.main(args=argv, prog_name="runbook", standalone_mode=False)
    except UserError as exc:
        sys.stderr.write(f"{exc}\n")  # plain, unwrapped: one problem per line
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # Typer's own usage errors (unknown option, missing argument)
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        code = EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):  # Ctrl-C or SIGTERM (Click turns them into Abort)
        code = stopped()
    except Exception:
        import traceback  # only when something crashed

        log = write_crash_log(traceback.format_exc())
        err.print(f"runbook crashed (a bug, not your input); the traceback is in {log}", markup=False)
        code = EXIT_BUG
    return code
