"""Run a command and report its exit code and output (check or action)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["exit_code == 0"]
KINDS = frozenset({"check", "action"})
OUTPUTS = {
    "exit_code": "the command's exit status (negative: killed by that signal)",
    "stdout": "standard output (text, at most 64 KiB kept)",
    "stderr": "standard error (text, at most 64 KiB kept)",
}
KEEP_BYTES = 64 * 1024


class Spec(PluginSpec):
    command: str | None = Field(default=None, description="A command line run by /bin/sh.")
    argv: list[str] | None = Field(default=None, description="A program and its arguments, no shell.")
    cwd: str | None = Field(default=None, description="Working folder (relative to the project).")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    stdin: str | None = Field(default=None, description="Text written to the command's input.")

    @model_validator(mode="after")
    def _one_form(self) -> Spec:
        if (self.command is None) == (self.argv is None):
            raise ValueError("give exactly one of command: (a shell line) or argv: (a list)")
        if self.argv is not None and not self.argv:
            raise ValueError("argv: must name a program")
        return self


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # Tools installed beside the engine (same virtualenv) must be found even when the
    # user started us by full path without activating the environment.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=2)  # reap it and close our ends of the pipes
    except subprocess.TimeoutExpired:
        # Something outside the group (it called setsid) still holds the pipes.
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def _text(data: bytes | None) -> str:
    if not data:
        return ""
    return data[-KEEP_BYTES:].decode("utf-8", errors="replace")


def run(spec: Spec, ctx: Context) -> Outputs:
    args: str | list[str] = spec.command if spec.command is not None else list(spec.argv or [])
    cwd = ctx.resolve(spec.cwd) if spec.cwd else ctx.workdir
    if not cwd.is_dir():
        # Otherwise Popen's "No such file or directory" reads as if the command were missing.
        what = "is not a folder" if cwd.exists() else "does not exist"
        raise StepError(f"cwd {str(cwd)!r} {what}; fix `cwd:` (relative paths start at the project folder)")
    try:
        # A new session makes the command a process-group leader, so a timeout can end
        # the command together with everything it started.
        proc = subprocess.Popen(
            args,
            shell=isinstance(args, str),
            cwd=cwd,
            env=_child_env(spec.env),
            stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise StepError(
            f"cannot start {args if isinstance(args, str) else args[0]!r}: {exc.strerror}"
        ) from None
    stdin = spec.stdin.encode() if spec.stdin is not None else None
    try:
        out, err = _communicate(proc, stdin, ctx)
    except BaseException:
        _kill_group(proc)
        raise
    return {"exit_code": proc.returncode, "stdout": _text(out), "stderr": _text(err)}


def _communicate(proc: subprocess.Popen[bytes], stdin: bytes | None, ctx: Context) -> tuple[bytes, bytes]:
    """Wait in short slices so a timeout or a cancelled run (Ctrl-C) ends the command promptly."""
    pending_input = stdin
    while True:
        try:
            return proc.communicate(pending_input, timeout=0.1)
        except subprocess.TimeoutExpired:
            pending_input = None  # communicate() keeps feeding what it started with
        if ctx.cancel.is_set():
            _kill_group(proc)
            raise StepError("cancelled; the command and its children were killed")
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            _kill_group(proc)
            raise StepError(f"timed out after {ctx.timeout:g}s; the command and its children were killed")
