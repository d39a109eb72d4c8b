"""`runbook --help` is plain text that still says everything: every command, its whole summary."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

from runbook_engine.cli import app


def _help(*args: str, columns: int = 60) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run(
        [sys.executable, "-m", "runbook_engine", *args, "--help"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_lists_every_command_with_its_whole_first_sentence() -> None:
    """On a narrow terminal each command's summary is wrapped, never shortened with '...'."""
    text = _help(columns=60)
    assert "..." not in text.replace("COMMAND [ARGS]...", "")
    flat = " ".join(text.split())
    for name, cmd in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        summary = cmd.get_short_help_str(limit=10_000)
        assert f"{name} {summary}" in flat, name


def test_command_help_shows_every_option_and_its_description() -> None:
    """`runbook run --help` names each option with its full description (wrapped, not cut)."""
    flat = " ".join(_help("run").split())
    assert "Usage: runbook run [OPTIONS] {name}" in flat
    assert (
        "-r, --report <list[Path]> Write a report: .json, .md, .html or .xml (by extension). Repeatable."
        in flat
    )
    assert "--no-history Do not record this run in the history." in flat


def test_a_command_built_alone_behaves_as_in_the_whole_group() -> None:
    """`runbook NAME ...` (only NAME built) prints what `runbook --no-color NAME ...` (all built) does."""
    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert len(names) >= 11
    for name in names:
        assert _help(name) == _help("--no-color", name), name
    # Errors too: a bad option of one command, from either path.
    env = {**os.environ, "COLUMNS": "80"}
    alone, whole = (
        subprocess.run(
            [sys.executable, "-m", "runbook_engine", *pre, "validate", "--bogus"],
            capture_output=True,
            text=True,
            env=env,
        )
        for pre in ([], ["--no-color"])
    )
    assert (alone.returncode, alone.stdout, alone.stderr) == (whole.returncode, whole.stdout, whole.stderr)
    assert alone.returncode == 2 and "No such option: --bogus" in alone.stderr


def test_only_the_named_command_is_built() -> None:
    """argv starting with a command builds that command alone; options first or a typo build all."""
    from runbook_engine.cli import _click_command

    assert list(_click_command(["run", "x"]).commands) == ["run"]
    everything = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for argv in (["--no-color", "run"], ["rn"], []):
        assert sorted(_click_command(argv).commands) == everything
