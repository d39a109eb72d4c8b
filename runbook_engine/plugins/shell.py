"""Run a command and report its exit code and output (check or action)."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from pathlib import Path

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError
from runbook_engine.plugins._proctree import TAG_VAR, Tree, become_subreaper, new_tag

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["exit_code == 0"]
KINDS = frozenset({"check", "action"})
OUTPUTS = {
    "exit_code": "the command's exit status (negative: killed by that signal)",
    "stdout": "standard output (text, at most 64 KiB kept)",
    "stderr": "standard error (text, at most 64 KiB kept)",
}
KEEP_BYTES = 64 * 1024
KILLED = "the command and its children were killed"


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


def _child_env(extra: dict[str, str], token: str) -> dict[str, str]:
    env = dict(os.environ)
    # Tools installed beside the engine (same virtualenv) must be found even when the
    # user started us by full path without activating the environment.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.update(extra)
    env[TAG_VAR] = token  # last: `env:` cannot untag the step (see _proctree)
    return env


# Trees of commands still running: ended when the process exits, should a plugin thread
# have been abandoned before it could end its own.
_RUNNING: set[str] = set()
_running_lock = threading.Lock()


@atexit.register
def _end_leftovers() -> None:
    with _running_lock:
        tokens = list(_RUNNING)
    for token in tokens:
        Tree(token).end(grace=0.1)


def _end_tree(proc: subprocess.Popen[bytes], token: str) -> str:
    """End the command and every process carrying its token; describe what it took."""
    ending = Tree(token).end(spare=proc.pid)
    try:
        proc.communicate(timeout=0.5)  # reap it and close our ends of the pipes
    except subprocess.TimeoutExpired:
        # A process outside the tree (it scrubbed its environment and left the group)
        # still holds the pipes: stop reading rather than wait for it.
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
    return ending.describe()


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
    become_subreaper()
    token = new_tag()
    try:
        # A new session keeps a Ctrl-C at the terminal from reaching the command directly:
        # the engine ends it (and everything it started) itself, see _end_tree.
        proc = subprocess.Popen(
            args,
            shell=isinstance(args, str),
            cwd=cwd,
            env=_child_env(spec.env, token),
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
    with _running_lock:
        _RUNNING.add(token)
    try:
        out, err = _communicate(proc, stdin, ctx, token)
    except BaseException:
        if proc.returncode is None:
            _end_tree(proc, token)
        raise
    finally:
        with _running_lock:
            _RUNNING.discard(token)
    return {"exit_code": proc.returncode, "stdout": _text(out), "stderr": _text(err)}


def _communicate(
    proc: subprocess.Popen[bytes], stdin: bytes | None, ctx: Context, token: str
) -> tuple[bytes, bytes]:
    """Wait in short slices so a timeout or a cancelled run (Ctrl-C) ends the command promptly."""
    pending_input = stdin
    while True:
        try:
            return proc.communicate(pending_input, timeout=0.1)
        except subprocess.TimeoutExpired:
            pending_input = None  # communicate() keeps feeding what it started with
        if ctx.cancel.is_set():
            how = _end_tree(proc, token)
            raise StepError(f"cancelled; {KILLED}{how}")
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            how = _end_tree(proc, token)
            raise StepError(f"timed out after {ctx.timeout:g}s; {KILLED}{how}")
