"""docker.container against a real dockerd (tests/support/dockerd.py) and busybox containers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import docker_container
from runbook_engine.testing import run_plugin
from tests.support.dockerd import DockerEngine, free_port, shared_engine

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
MS = 1_000_000  # Docker healthcheck durations are nanoseconds


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """One dockerd for the whole test session (shared with the other docker test modules)."""
    with shared_engine() as engine:
        yield engine


def httpd_container(port: int) -> dict[str, Any]:
    """busybox httpd serving /www, with a healthcheck that fetches its page."""
    return {
        "command": ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"],
            "interval": 200 * MS,
            "timeout": 2000 * MS,
            "retries": 2,
            "start_period": 0,
        },
    }


Launch = Callable[..., Any]


@pytest.fixture
def launch(docker_engine: DockerEngine) -> Iterator[Launch]:
    """Start a container on the host network; every one is removed after the test."""
    client = docker_engine.client()
    created: list[Any] = []

    def _launch(name: str, command: list[str], **kwargs: Any) -> Any:
        kwargs.setdefault("init", True)
        container = client.containers.run(
            docker_engine.image, command, name=name, detach=True, network_mode="host", **kwargs
        )
        created.append(container)
        return container

    yield _launch
    for container in created:
        container.remove(force=True)
    client.close()


def check(args: dict[str, Any]) -> dict[str, Any]:
    return run_plugin(docker_container, args)


def poll(
    args: dict[str, Any], done: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> dict[str, Any]:
    """Run the check until `done` holds (what the engine's wait: does), or fail with the last outputs."""
    deadline = time.monotonic() + timeout
    while True:
        out = check(args)
        if done(out):
            return out
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout}s; last outputs: {out}")
        time.sleep(0.1)


def test_running_container_found_by_name_through_docker_host(
    docker_engine: DockerEngine,
    launch: Launch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A running container is found by name on the engine named by DOCKER_HOST."""
    container = launch("rbt-running", ["sleep", "3600"])
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    out = check({"name": "rbt-running"})
    assert out["exists"] is True
    assert out["name"] == "rbt-running"
    assert out["id"] == container.id[:12]
    assert out["image"] == "runbook-test/busybox:latest"
    assert out["status"] == "running"
    assert out["health"] == "none"
    assert out["restart_count"] == 0
    assert out["exit_code"] is None
    assert out["log_matches"] is None
    assert ISO_UTC.match(out["started_at"])
    assert 0 <= out["uptime_s"] < 30
    assert out["count"] == 1
    assert out["containers"] == [{k: out[k] for k in out if k not in ("exists", "count", "containers")}]


def test_missing_container_is_a_fact(docker_engine: DockerEngine) -> None:
    """No container of that name gives exists false and null facts, not an error."""
    out = check({"name": "rbt-no-such-container", "host": docker_engine.host})
    assert out == {
        "exists": False,
        "name": None,
        "id": None,
        "image": None,
        "status": None,
        "health": None,
        "restart_count": None,
        "started_at": None,
        "uptime_s": None,
        "exit_code": None,
        "log_matches": None,
        "count": 0,
        "containers": [],
    }


def test_unreachable_engine_is_a_step_error() -> None:
    """An engine that does not answer is a StepError naming the address tried."""
    with pytest.raises(
        StepError, match=r"cannot reach the Docker engine at unix:///tmp/rbdk-nowhere/docker\.sock"
    ):
        check({"name": "anything", "host": "unix:///tmp/rbdk-nowhere/docker.sock"})


def test_healthy_container(docker_engine: DockerEngine, launch: Launch) -> None:
    """A container whose healthcheck passes reports health healthy."""
    launch("rbt-healthy", **httpd_container(free_port()))
    args = {"name": "rbt-healthy", "host": docker_engine.host}
    out = poll(args, lambda o: o["health"] != "starting")
    assert (out["status"], out["health"], out["restart_count"]) == ("running", "healthy", 0)


def test_labels_match_several_and_top_level_is_the_least_healthy(
    docker_engine: DockerEngine,
    launch: Launch,
) -> None:
    """With labels matching two containers, count is 2 and the top level shows the unhealthy one."""
    labels = {"rbt.group": "pair", "rbt.tier": "web"}
    launch("rbt-pair-a", labels=labels, **httpd_container(free_port()))
    launch(
        "rbt-pair-b",
        ["sleep", "3600"],
        labels=labels,
        healthcheck={"test": ["CMD", "false"], "interval": 200 * MS, "retries": 1},
    )
    launch("rbt-pair-other", ["sleep", "3600"], labels={"rbt.group": "pair"})
    args = {"labels": labels, "host": docker_engine.host}
    out = poll(args, lambda o: [c["health"] for c in o["containers"]] == ["healthy", "unhealthy"])
    assert out["count"] == 2
    assert [c["name"] for c in out["containers"]] == ["rbt-pair-a", "rbt-pair-b"]
    assert (out["name"], out["status"], out["health"]) == ("rbt-pair-b", "running", "unhealthy")


def test_exited_container_restart_count_exit_code_and_logs(
    docker_engine: DockerEngine,
    launch: Launch,
) -> None:
    """A crashing container restarted twice by its policy ends exited 3 with three 'boom' lines."""
    launch(
        "rbt-crash",
        ["sh", "-c", "echo boom; exit 3"],
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    args = {"name": "rbt-crash", "host": docker_engine.host, "log_pattern": "^boom$"}
    out = poll(args, lambda o: o["status"] == "exited" and o["restart_count"] == 2)
    assert out["exit_code"] == 3
    assert out["uptime_s"] is None
    assert out["health"] == "none"
    assert out["log_matches"] == 3


def test_log_pattern_counts_lines_within_the_tail(
    docker_engine: DockerEngine,
    launch: Launch,
) -> None:
    """log_matches counts matching lines of stdout and stderr among the last log_tail lines."""
    # Docker copies stdout and stderr separately, so their relative order in the log is
    # not guaranteed: the stderr line comes first, well before the tail windows below.
    script = (
        "echo warn on stderr >&2; sleep 0.3; for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; done; "
        "echo ERROR one; echo ok; echo ERROR two; sleep 3600"
    )
    launch("rbt-logs", ["sh", "-c", script])
    base = {"name": "rbt-logs", "host": docker_engine.host}
    poll({**base, "log_pattern": "ERROR two"}, lambda o: o["log_matches"] == 1)
    assert check({**base, "log_pattern": "ERROR"})["log_matches"] == 2
    assert check({**base, "log_pattern": r"^line \d+$"})["log_matches"] == 10
    assert check({**base, "log_pattern": "stderr"})["log_matches"] == 1
    assert check({**base, "log_pattern": "ERROR", "log_tail": 2})["log_matches"] == 1
    assert check({**base, "log_pattern": "^line", "log_tail": 3})["log_matches"] == 0
    assert check({**base, "log_pattern": "^line", "log_tail": 4})["log_matches"] == 1


def test_log_since_takes_a_duration_or_a_timestamp(
    docker_engine: DockerEngine,
    launch: Launch,
) -> None:
    """log_since keeps only newer lines: 1h sees both, start+0.5s only the late one, the future none."""
    launch("rbt-since", ["sh", "-c", "echo early; sleep 1; echo late; sleep 3600"])
    base = {"name": "rbt-since", "host": docker_engine.host, "log_pattern": "early|late"}
    out = poll(base, lambda o: o["log_matches"] == 2)
    started = datetime.fromisoformat(out["started_at"])
    assert check({**base, "log_since": "1h"})["log_matches"] == 2
    middle = (started + timedelta(seconds=0.5)).isoformat()
    assert check({**base, "log_since": middle})["log_matches"] == 1
    future = (started + timedelta(hours=1)).isoformat()
    assert check({**base, "log_since": future})["log_matches"] == 0


def test_unreadable_logs_are_a_step_error(docker_engine: DockerEngine, launch: Launch) -> None:
    """Logs the engine cannot read back (log driver none) give a StepError with the engine's reason."""
    launch("rbt-nolog", ["sleep", "3600"], log_config={"Type": "none"})
    with pytest.raises(StepError, match="refused: configured logging driver does not support reading"):
        check({"name": "rbt-nolog", "host": docker_engine.host, "log_pattern": "x"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "give exactly one of name: (a container) or labels: (a mapping)"),
        ({"name": "a", "labels": {"x": "y"}}, "give exactly one of name:"),
        ({"labels": {}}, "labels: needs at least one label"),
        ({"name": "a", "log_pattern": "("}, "log_pattern is not a valid regular expression"),
        ({"name": "a", "log_tail": 50}, "log_tail need log_pattern:"),
        ({"name": "a", "log_pattern": "x", "log_since": "yesterday"}, "log_since must be a duration"),
        ({"name": "a", "log_pattern": "x", "log_since": "-5m"}, "log_since duration must be positive"),
        ({"name": "a", "host": "/var/run/docker.sock"}, "host must be a Docker host URL"),
        ({"name": "a", "nmae": "b"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_arguments_are_load_errors(args: dict[str, Any], message: str) -> None:
    """Wrong with: arguments fail validation with a message saying what to write."""
    with pytest.raises(ValidationError, match=re.escape(message)):
        docker_container.Spec.model_validate(args)
