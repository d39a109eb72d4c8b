"""Run `docker compose` up, down, restart or stop, then report the services' state."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from runbook_engine.plugin import Context, Outputs, StepError
from runbook_engine.plugins import _compose_project as compose
from runbook_engine.plugins import _docker_engine as engine

KINDS = frozenset({"action"})
# Without expect: the command succeeded and, with wait, the services became ready.
DEFAULT_EXPECT = ["exit_code == 0", "ready != false"]
OUTPUTS = {
    "tool": "the CLI that ran: docker compose (v2 plugin) or docker-compose (v1)",
    "exit_code": "the compose command's exit status (negative: killed by that signal)",
    "stdout": "standard output (text, at most 64 KiB kept)",
    "stderr": "standard error, where compose writes its progress (at most 64 KiB kept)",
    "ready": "with wait: whether every expected service ran healthy in time, else null",
    "waited_s": "with wait: seconds spent waiting after the command, else null",
    **compose.STATE_OUTPUTS,
}
KEEP_BYTES = 64 * 1024
V2 = "docker compose"
V1 = "docker-compose"
INSTALL_HINT = (
    "install Docker Compose: the v2 plugin (package docker-compose-plugin from Docker's "
    "repository, or the binary in a cli-plugins folder) or v1 (apt-get install docker-compose)"
)
# Without a step timeout, `wait` still gives up after this long.
DEFAULT_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.5
# Keep a little of the attempt's time to report the state after a wait that ran out.
WAIT_MARGIN_SECONDS = 1.0
_GIVEN_UP_STATES = frozenset({"exited", "dead"})


class Spec(compose.ProjectSpec):
    command: Literal["up", "down", "restart", "stop"] = Field(description="What to do.")
    services: list[str] = Field(default_factory=list, description="Only these services (default: all).")
    wait: bool = Field(default=False, description="up: wait until the services run and are healthy.")
    volumes: bool = Field(default=False, description="down: also remove the project's volumes (destructive).")
    tool: Literal["auto", "docker compose", "docker-compose"] = Field(
        default="auto", description="Which CLI to use; auto prefers docker compose (v2)."
    )

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        compose.check_services(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        if self.command == "up" and self.file is None:
            raise ValueError("command: up needs file: (the compose file to start)")
        if self.wait and self.command != "up":
            raise ValueError("wait: applies to command: up only")
        if self.volumes and self.command != "down":
            raise ValueError("volumes: applies to command: down only")
        return self


def is_destructive(spec: Spec) -> bool:
    """`down` with `volumes: true` deletes the project's data."""
    return spec.command == "down" and spec.volumes


def run(spec: Spec, ctx: Context) -> Outputs:
    files = compose.load(compose.check_files(spec.file), ctx)
    project = compose.project_name(spec.project, files)
    env = dict(os.environ)
    if spec.host:
        env["DOCKER_HOST"] = spec.host
    tool, prefix = detect_tool(spec.tool, env)
    if tool == V1 and spec.command == "down" and spec.services:
        # v1's `down` takes no service names: it prints its usage and exits 0, doing nothing.
        raise StepError(
            "docker-compose (v1) cannot take down single services: use command: stop for "
            "them, or Compose v2 (docker compose)"
        )
    argv = [*prefix]
    for path in files.paths if files else []:
        argv += ["-f", str(path)]
    # The project is always named, so the CLI and our state lookup agree on it.
    argv += ["-p", project, *_command_args(spec)]
    ctx.log(f"{tool}: {' '.join(argv[len(prefix) :])}")
    exit_code, stdout, stderr = run_cli(argv, env, ctx)
    ctx.log(f"{tool} {spec.command} exited {exit_code}")

    expected: list[str] | None = list(spec.services) or (files.default_services() if files else None)
    outputs: Outputs = {
        "tool": tool,
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "ready": None,
        "waited_s": None,
    }
    try:
        client = engine.connect(spec.host, ctx)
    except StepError as exc:
        last = stderr.strip().splitlines()[-1:] or ["(nothing)"]
        raise StepError(f"{exc}; {tool} {spec.command} exited {exit_code}: {last[0]}") from None
    with engine.calls(client, spec.host):
        if spec.wait and exit_code == 0:
            ready, waited = _wait(client, project, expected, ctx)
            outputs |= {"ready": ready, "waited_s": round(waited, 3)}
            ctx.log(f"services {'ready' if ready else 'not ready'} after {waited:.1f}s")
        elif spec.wait:
            outputs["ready"] = False
        return outputs | compose.project_state(client, project, expected, ctx.log)


def _command_args(spec: Spec) -> list[str]:
    if spec.command == "up":
        return ["up", "-d", *spec.services]
    if spec.command == "down":
        return ["down", *(["--volumes"] if spec.volumes else []), *spec.services]
    return [spec.command, *spec.services]


def detect_tool(preference: str, env: dict[str, str]) -> tuple[str, list[str]]:
    """The compose CLI to use, as (name, argv prefix); v2 first when both are there."""
    path = env.get("PATH", os.defpath)
    tried: list[str] = []
    if preference in ("auto", V2):
        docker = shutil.which("docker", path=path)
        if docker and _has_compose_plugin(docker, env):
            return V2, [docker, "compose"]
        tried.append(f"{V2} ({'no compose plugin' if docker else 'no docker CLI'})")
    if preference in ("auto", V1):
        legacy = shutil.which("docker-compose", path=path)
        if legacy:
            return V1, [legacy]
        tried.append(f"{V1} (not on PATH)")
    raise StepError(f"no Docker Compose CLI found: tried {', '.join(tried)}; {INSTALL_HINT}")


def _has_compose_plugin(docker: str, env: dict[str, str]) -> bool:
    try:
        probe = subprocess.run(
            [docker, "compose", "version"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def run_cli(argv: list[str], env: dict[str, str], ctx: Context) -> tuple[int, str, str]:
    """Run the compose CLI in its own process group; kill the group on timeout or cancel."""
    try:
        proc = subprocess.Popen(
            argv,
            cwd=ctx.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise StepError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
    try:
        out, err = _communicate(proc, ctx)
    except BaseException:
        _kill_group(proc)
        raise
    return proc.returncode, _text(out), _text(err)


def _communicate(proc: subprocess.Popen[bytes], ctx: Context) -> tuple[bytes, bytes]:
    """Wait in short slices so a timeout or a cancelled run ends compose promptly."""
    while True:
        try:
            return proc.communicate(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
        if ctx.cancel.is_set():
            _kill_group(proc)
            raise StepError("cancelled; compose and its children were killed")
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            _kill_group(proc)
            raise StepError(f"timed out after {ctx.timeout:g}s; compose and its children were killed")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _text(data: bytes | None) -> str:
    return data[-KEEP_BYTES:].decode("utf-8", errors="replace") if data else ""


def _wait(client: Any, project: str, expected: list[str] | None, ctx: Context) -> tuple[bool, float]:
    """Poll until every expected service runs healthy, one gives up, or time runs out.

    Compose v1 has no `up --wait`; polling ourselves gives both tools the same meaning.
    """
    start = time.monotonic()
    remaining = ctx.remaining()
    budget = DEFAULT_WAIT_SECONDS if remaining is None else remaining - WAIT_MARGIN_SECONDS
    deadline = start + max(0.0, budget)
    while True:
        # Not logged: the state after the wait is looked up and logged once by the caller.
        state = compose.project_state(client, project, expected)
        if state["healthy"] == state["expected"]:
            return True, time.monotonic() - start
        given_up = [s for s in state["missing"] if state["services"][s]["state"] in _GIVEN_UP_STATES]
        if given_up:
            ctx.log(f"stopped waiting: {', '.join(given_up)} exited")
            return False, time.monotonic() - start
        if time.monotonic() + POLL_SECONDS > deadline:
            return False, time.monotonic() - start
        if ctx.cancel.wait(POLL_SECONDS):
            raise StepError("cancelled while waiting for the services")
