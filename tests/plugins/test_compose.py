"""The compose action with the real Compose CLIs (v2 plugin and Debian's v1) and a real dockerd."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import compose
from runbook_engine.testing import make_context, run_plugin
from tests.support.dockerd import (
    DockerEngine,
    compose_cli,
    free_port,
    http_service,
    remove_project,
    shared_engine,
    sleep_service,
    write_compose,
)

V2, V1 = "docker compose", "docker-compose"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """One dockerd for the whole test session (shared with the other docker test modules)."""
    with shared_engine() as engine:
        yield engine


Act = Callable[..., dict[str, Any]]


@pytest.fixture
def act(docker_engine: DockerEngine) -> Iterator[Act]:
    """Run the compose action against the test engine; projects it touched are removed after."""
    projects: set[str] = set()

    def _act(timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        out = run_plugin(compose, {"host": docker_engine.host, **args}, make_context(timeout=timeout))
        projects.add(out["project"])
        return out

    yield _act
    for project in projects:
        remove_project(docker_engine, project)


def web_and_worker(folder: Path, **worker: Any) -> Path:
    return write_compose(folder, {"web": http_service(free_port()), "worker": sleep_service(**worker)})


def container_started_at(engine: DockerEngine, name: str) -> str:
    client = engine.client()
    try:
        started: str = client.containers.get(name).attrs["State"]["StartedAt"]
        return started
    finally:
        client.close()


@pytest.mark.parametrize("tool", [V2, V1])
def test_up_with_wait_returns_when_healthy(act: Act, tmp_path: Path, tool: str) -> None:
    """up with wait: returns once every service runs healthy, with either CLI, naming the tool used."""
    file = web_and_worker(tmp_path / "Shop Stack")
    out = act(command="up", file=str(file), wait=True, tool=tool)
    assert (out["tool"], out["exit_code"], out["ready"]) == (tool, 0, True)
    assert out["project"] == "shopstack"
    assert 0 < out["waited_s"] < 20
    assert (out["expected"], out["running"], out["healthy"], out["missing"], out["unhealthy"]) == (
        2,
        2,
        2,
        [],
        [],
    )
    sep = "-" if tool == V2 else "_"
    assert out["services"]["web"] == {
        "state": "running",
        "health": "healthy",
        "container": f"shopstack{sep}web{sep}1",
        "replicas": 1,
        "restart_count": 0,
        "exit_code": None,
    }


def test_auto_prefers_compose_v2(act: Act, tmp_path: Path) -> None:
    """tool auto picks the docker compose plugin when it is installed; without wait, ready is null."""
    file = write_compose(tmp_path, {"worker": sleep_service()})
    out = act(command="up", file=str(file), project="rbauto")
    assert (out["tool"], out["exit_code"], out["ready"], out["waited_s"]) == (V2, 0, None, None)
    assert "rbauto-worker-1" in out["stderr"]
    assert out["running"] == 1


def test_wait_ends_early_when_a_service_exits(act: Act, tmp_path: Path) -> None:
    """up with wait stops waiting and reports ready false when a service exits."""
    file = write_compose(tmp_path, {"job": sleep_service(command=["sh", "-c", "exit 4"])})
    out = act(command="up", file=str(file), project="rbexit", wait=True)
    assert (out["exit_code"], out["ready"], out["missing"]) == (0, False, ["job"])
    assert out["services"]["job"]["exit_code"] == 4
    assert out["waited_s"] < 10


def test_wait_is_bounded_by_the_step_timeout(act: Act, tmp_path: Path) -> None:
    """A service that never turns healthy ends the wait shortly before the timeout: ready false."""
    sick = sleep_service(healthcheck={"test": ["CMD", "false"], "interval": "250ms", "retries": 1})
    file = write_compose(tmp_path, {"sick": sick})
    began = time.monotonic()
    out = act(command="up", file=str(file), project="rbsick", wait=True, timeout=4.0)
    elapsed = time.monotonic() - began
    assert (out["exit_code"], out["ready"], out["running"], out["healthy"]) == (0, False, 1, 0)
    assert out["unhealthy"] == ["sick"]
    # The wait keeps about a second (WAIT_MARGIN_SECONDS) to report before the timeout.
    # Upper bound: the step's timeout plus room for a loaded machine's last docker calls.
    assert 4.0 - compose.WAIT_MARGIN_SECONDS - compose.POLL_SECONDS - 0.2 < elapsed < 6.0
    assert 0 < out["waited_s"] < elapsed


def test_cancel_stops_the_wait(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """Cancelling the run while up waits ends the step with a StepError."""
    sick = sleep_service(healthcheck={"test": ["CMD", "false"], "interval": "250ms", "retries": 1})
    file = write_compose(tmp_path, {"sick": sick})
    ctx = make_context(timeout=30.0)
    timer = threading.Timer(1.5, ctx.cancel.set)
    timer.start()
    try:
        with pytest.raises(StepError, match="cancelled"):
            run_plugin(
                compose,
                {
                    "command": "up",
                    "file": str(file),
                    "project": "rbcancel",
                    "wait": True,
                    "host": docker_engine.host,
                },
                ctx,
            )
    finally:
        timer.cancel()
        remove_project(docker_engine, "rbcancel")


def test_restart_restarts_the_containers(docker_engine: DockerEngine, act: Act, tmp_path: Path) -> None:
    """restart leaves the services running with a new start time."""
    file = write_compose(tmp_path, {"worker": sleep_service()})
    act(command="up", file=str(file), project="rbrestart")
    before = container_started_at(docker_engine, "rbrestart-worker-1")
    out = act(command="restart", file=str(file), project="rbrestart")
    assert (out["tool"], out["exit_code"], out["running"], out["missing"]) == (V2, 0, 1, [])
    assert container_started_at(docker_engine, "rbrestart-worker-1") != before


def test_stop_one_service(act: Act, tmp_path: Path) -> None:
    """stop with services: stops only those; the state after shows them missing."""
    file = web_and_worker(tmp_path)
    act(command="up", file=str(file), project="rbstopone")
    out = act(command="stop", file=str(file), project="rbstopone", services=["worker"])
    assert (out["exit_code"], out["expected"], out["running"], out["missing"]) == (0, 1, 0, ["worker"])
    assert (out["services"]["worker"]["state"], out["services"]["web"]["state"]) == ("exited", "running")


def test_down_keeps_volumes_unless_asked(docker_engine: DockerEngine, act: Act, tmp_path: Path) -> None:
    """down removes the containers; only down with volumes: true removes the named volume too."""
    file = write_compose(tmp_path, {"db": sleep_service(volumes=["data:/data"])}, volumes=("data",))
    act(command="up", file=str(file), project="rbdown")
    client = docker_engine.client()
    try:
        out = act(command="down", file=str(file), project="rbdown")
        assert (out["exit_code"], out["running"], out["missing"]) == (0, 0, ["db"])
        assert [v.name for v in client.volumes.list(filters={"name": "rbdown_data"})] == ["rbdown_data"]
        out = act(command="down", file=str(file), project="rbdown", volumes=True)
        assert out["exit_code"] == 0
        assert client.volumes.list(filters={"name": "rbdown_data"}) == []
    finally:
        client.close()


def test_failed_command_is_a_fact(act: Act, tmp_path: Path) -> None:
    """A compose command that fails returns its exit code and stderr, not an error."""
    file = write_compose(tmp_path, {"worker": sleep_service()})
    out = act(command="stop", file=str(file), project="rbfail", services=["nope"])
    assert out["exit_code"] == 1
    assert "no such service: nope" in out["stderr"]
    assert out["missing"] == ["nope"]


def test_v1_down_with_services_is_refused(act: Act, tmp_path: Path) -> None:
    """docker-compose v1 would print its usage and exit 0 for down with services: a StepError instead."""
    file = write_compose(tmp_path, {"worker": sleep_service()})
    with pytest.raises(StepError, match=re.escape("docker-compose (v1) cannot take down single services")):
        act(command="down", file=str(file), project="rbvonedown", services=["worker"], tool=V1)


def test_timeout_kills_the_compose_process_group(
    docker_engine: DockerEngine,
    act: Act,
    tmp_path: Path,
) -> None:
    """A compose command outliving the step timeout is killed with its children: a StepError."""
    # httpd as PID 1 (no init) ignores SIGTERM, so compose stop waits its 10 s grace period.
    stubborn = {**http_service(free_port()), "init": False}
    file = write_compose(tmp_path, {"web": stubborn})
    act(command="up", file=str(file), project="rbslow")
    with pytest.raises(StepError, match=r"timed out after 1s; compose and its children were killed"):
        act(command="stop", file=str(file), project="rbslow", timeout=1.0)
    leftovers = subprocess.run(
        ["pgrep", "-f", "--", "-p rbslow stop"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == ""


def test_detect_tool(tmp_path: Path) -> None:
    """auto prefers the v2 plugin, falls back to docker-compose, and can be forced to either."""
    env = dict(os.environ)
    assert compose.detect_tool("auto", env)[0] == V2
    assert compose.detect_tool(V1, env) == (V1, [shutil.which("docker-compose")])
    only_v1 = tmp_path / "bin"
    only_v1.mkdir()
    (only_v1 / "docker-compose").symlink_to(shutil.which("docker-compose") or "missing")
    assert compose.detect_tool("auto", {**env, "PATH": str(only_v1)}) == (
        V1,
        [str(only_v1 / "docker-compose")],
    )
    with pytest.raises(
        StepError, match=re.escape("no Docker Compose CLI found: tried docker compose (no docker CLI)")
    ):
        compose.detect_tool(V2, {**env, "PATH": str(only_v1)})


def test_missing_cli_is_a_step_error_with_an_install_hint(
    docker_engine: DockerEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With neither CLI on PATH the step errors and says how to install Compose."""
    file = write_compose(tmp_path, {"worker": sleep_service()})
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepError) as caught:
        run_plugin(compose, {"command": "up", "file": str(file), "host": docker_engine.host})
    assert str(caught.value) == (
        "no Docker Compose CLI found: tried docker compose (no docker CLI), "
        f"docker-compose (not on PATH); {compose.INSTALL_HINT}"
    )


def test_up_uses_the_same_project_the_cli_derives(
    docker_engine: DockerEngine, act: Act, tmp_path: Path
) -> None:
    """The project name passed to the CLI is the one compose.services would derive."""
    file = write_compose(tmp_path / "derive-me", {"worker": sleep_service()})
    out = act(command="up", file=str(file))
    assert out["project"] == "derive-me"
    listed = compose_cli(docker_engine, file, "derive-me", "ps", "-q")
    assert listed.stdout.strip() != ""


def test_destructive_only_for_down_with_volumes() -> None:
    """is_destructive is true for down with volumes: true, false otherwise."""

    def spec(**args: Any) -> compose.Spec:
        return compose.Spec.model_validate({"file": "c.yml", **args})

    assert compose.is_destructive(spec(command="down", volumes=True)) is True
    assert compose.is_destructive(spec(command="down")) is False
    assert compose.is_destructive(spec(command="up", wait=True)) is False
    assert compose.is_destructive(spec(command="stop")) is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"file": "c.yml"}, "Field required"),
        ({"command": "start", "file": "c.yml"}, "Input should be 'up', 'down', 'restart' or 'stop'"),
        ({"command": "up", "project": "p"}, "command: up needs file: (the compose file to start)"),
        ({"command": "down"}, "give file: (a compose file) and/or project: (a project name)"),
        ({"command": "down", "project": "p", "wait": True}, "wait: applies to command: up only"),
        ({"command": "up", "file": "c.yml", "volumes": True}, "volumes: applies to command: down only"),
        ({"command": "up", "file": "c.yml", "tool": "podman-compose"}, "Input should be 'auto'"),
    ],
)
def test_invalid_arguments_are_load_errors(args: dict[str, Any], message: str) -> None:
    """Wrong with: arguments fail validation with a message saying what to write."""
    with pytest.raises(ValidationError, match=re.escape(message)):
        compose.Spec.model_validate(args)
