"""compose.services against a real dockerd with projects started by the real compose CLIs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import compose_services
from runbook_engine.testing import make_context, run_plugin
from tests.conftest import Project
from tests.support.dockerd import (
    COMPOSE_V1,
    DockerEngine,
    compose_cli,
    free_port,
    http_service,
    remove_project,
    shared_engine,
    sleep_service,
    write_compose,
)

UNHEALTHY = {"test": ["CMD", "false"], "interval": "250ms", "retries": 1}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """One dockerd for the whole test session (shared with the other docker test modules)."""
    with shared_engine() as engine:
        yield engine


def check(args: dict[str, Any], workdir: Path | None = None) -> dict[str, Any]:
    return run_plugin(compose_services, args, make_context(workdir=workdir))


def poll(
    args: dict[str, Any], done: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> dict[str, Any]:
    """Run the check until `done` holds (what the engine's wait: does), or fail with the last outputs."""
    deadline = time.monotonic() + timeout
    while True:
        out = check(args)
        if done(out):
            return out
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout}s; last outputs: {out}")
        time.sleep(0.2)


def running(container: str, health: str = "none") -> dict[str, Any]:
    return {
        "state": "running",
        "health": health,
        "container": container,
        "replicas": 1,
        "restart_count": 0,
        "exit_code": None,
    }


MISSING = {
    "state": "missing",
    "health": None,
    "container": None,
    "replicas": 0,
    "restart_count": 0,
    "exit_code": None,
}


@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project `rbstack` (v2 CLI): web healthy, worker without healthcheck, sick unhealthy,
    and debug behind a profile (not started). Settled before the tests look."""
    file = write_compose(
        tmp_path_factory.mktemp("stack"),
        {
            "web": http_service(free_port()),
            "worker": sleep_service(),
            "sick": sleep_service(healthcheck=UNHEALTHY),
            "debug": sleep_service(profiles=["debug"]),
        },
    )
    compose_cli(docker_engine, file, "rbstack", "up", "-d")
    poll(
        {"file": str(file), "project": "rbstack", "host": docker_engine.host},
        lambda o: (
            o["services"]["web"]["health"] == "healthy" and o["services"]["sick"]["health"] == "unhealthy"
        ),
    )
    yield file
    remove_project(docker_engine, "rbstack")


def test_expected_services_come_from_the_file(docker_engine: DockerEngine, stack: Path) -> None:
    """All services of the file but the profiled one are expected; one without healthcheck counts healthy."""
    out = check({"file": str(stack), "project": "rbstack", "host": docker_engine.host})
    assert out == {
        "project": "rbstack",
        "expected": 3,
        "running": 3,
        "healthy": 2,
        "missing": [],
        "unhealthy": ["sick"],
        "services": {
            "sick": running("rbstack-sick-1", "unhealthy"),
            "web": running("rbstack-web-1", "healthy"),
            "worker": running("rbstack-worker-1"),
        },
    }


def test_explicit_services_and_a_missing_one(docker_engine: DockerEngine, stack: Path) -> None:
    """services: overrides the file; an expected service without container is missing."""
    out = check(
        {
            "file": str(stack),
            "project": "rbstack",
            "host": docker_engine.host,
            "services": ["web", "debug"],
        }
    )
    assert (out["expected"], out["running"], out["healthy"]) == (2, 1, 1)
    assert (out["missing"], out["unhealthy"]) == (["debug"], [])
    assert out["services"]["debug"] == MISSING
    assert sorted(out["services"]) == ["debug", "sick", "web", "worker"]


def test_a_misspelt_service_is_named_with_a_suggestion(docker_engine: DockerEngine, stack: Path) -> None:
    """An expected service the file does not declare says so (did you mean), and one that
    only starts with a profile says that instead."""
    ctx = make_context()
    lines: list[str] = []
    ctx.log = lines.append
    args = {"file": str(stack), "project": "rbstack", "host": docker_engine.host, "services": ["wbe", "debug"]}
    out = run_plugin(compose_services, args, ctx)
    assert out["missing"] == ["debug", "wbe"]
    assert "'wbe' is not a service in the compose file (did you mean 'web'?)" in lines
    assert "only started with a --profile: debug" in lines


def test_a_project_with_no_services_fails_the_default_expectation(
    docker_engine: DockerEngine, project: Project
) -> None:
    """A misspelt project name finds nothing: without expect: that is a failure, not a pass."""
    project.runbook(
        "c",
        f"""
        kind: runbook
        name: c
        sections:
          - name: S
            steps:
              - {{name: Stack up, check: compose.services, with: {{project: nosuchproj, host: "{docker_engine.host}"}}}}
    """,
    )
    result, journal = project.run_json("c")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert (result.code, step["outcome"], step["message"]) == (1, "failed", "expected > 0 -> expected = 0")


def test_project_alone_expects_what_it_finds(docker_engine: DockerEngine, stack: Path) -> None:
    """Without a file, every service the project has containers for is expected."""
    out = check({"project": "rbstack", "host": docker_engine.host})
    assert (out["expected"], out["running"], out["healthy"], out["unhealthy"]) == (3, 3, 2, ["sick"])


def test_relative_file_is_resolved_from_the_project_folder(docker_engine: DockerEngine, stack: Path) -> None:
    """A relative file: is read relative to the project folder (the context's workdir)."""
    out = check({"file": stack.name, "project": "rbstack", "host": docker_engine.host}, workdir=stack.parent)
    assert out["expected"] == 3


def test_stopped_service_is_missing(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """A service stopped with compose stop is missing and shows its exited state and exit code."""
    file = write_compose(tmp_path, {"a": sleep_service(), "b": sleep_service()})
    compose_cli(docker_engine, file, "rbstop", "up", "-d")
    try:
        compose_cli(docker_engine, file, "rbstop", "stop", "b")
        out = check({"file": str(file), "project": "rbstop", "host": docker_engine.host})
        assert (out["expected"], out["running"], out["healthy"], out["missing"]) == (2, 1, 1, ["b"])
        # init (tini) passes SIGTERM on to sleep and exits 128 + 15.
        assert out["services"]["b"] == {
            "state": "exited",
            "health": "none",
            "container": "rbstop-b-1",
            "replicas": 1,
            "restart_count": 0,
            "exit_code": 143,
        }
    finally:
        remove_project(docker_engine, "rbstop")


def test_project_started_by_compose_v1_is_recognised(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """Containers made by docker-compose v1 (names with underscores) carry the same labels."""
    file = write_compose(tmp_path, {"a": sleep_service()})
    compose_cli(docker_engine, file, "rbvone", "up", "-d", tool=COMPOSE_V1)
    try:
        out = check({"file": str(file), "project": "rbvone", "host": docker_engine.host})
        assert out["services"] == {"a": running("rbvone_a_1")}
        assert (out["expected"], out["running"], out["healthy"]) == (1, 1, 1)
    finally:
        remove_project(docker_engine, "rbvone")


def test_project_name_is_derived_from_the_folder(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """Without project:, the name is the file's folder normalised as Compose does."""
    file = write_compose(tmp_path / "My App!", {"a": sleep_service()})
    out = check({"file": str(file), "host": docker_engine.host})
    assert out == {
        "project": "myapp",
        "expected": 1,
        "running": 0,
        "healthy": 0,
        "missing": ["a"],
        "unhealthy": [],
        "services": {"a": MISSING},
    }


def test_missing_compose_file_is_a_step_error(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """A compose file that does not exist is a StepError naming it."""
    with pytest.raises(StepError, match=re.escape(f"compose file not found: {tmp_path}/nope.yml")):
        check({"file": str(tmp_path / "nope.yml"), "host": docker_engine.host})


def test_unreachable_engine_is_a_step_error() -> None:
    """An engine that does not answer is a StepError naming the address tried."""
    with pytest.raises(
        StepError, match=re.escape("cannot reach the Docker engine at unix:///tmp/rbdk-nowhere.sock")
    ):
        check({"project": "x", "host": "unix:///tmp/rbdk-nowhere.sock"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "give file: (a compose file) and/or project: (a project name)"),
        ({"project": "My App"}, "String should match pattern"),
        ({"file": []}, "file: needs a compose file path"),
        ({"project": "p", "services": ["a", "a"]}, "services: lists a service twice"),
        ({"project": "p", "host": "localhost:2375"}, "host must be a Docker host URL"),
    ],
)
def test_invalid_arguments_are_load_errors(args: dict[str, Any], message: str) -> None:
    """Wrong with: arguments fail validation with a message saying what to write."""
    with pytest.raises(ValidationError, match=re.escape(message)):
        compose_services.Spec.model_validate(args)
