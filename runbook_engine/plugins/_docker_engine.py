"""Talking to a Docker engine for the docker.* and compose.* plugins (not a plugin itself).

Connecting (with a clear error when the engine cannot be reached) and turning a
container's inspect data into the plain facts the plugins report.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from runbook_engine.plugin import Context, StepError, require

HOST_SCHEMES = ("unix://", "tcp://", "http://", "https://", "ssh://", "npipe://")
DEFAULT_HOST = "unix:///var/run/docker.sock"
# One API call should never need long; a step without a timeout still must not hang.
MAX_CALL_SECONDS = 60.0
# Docker reports "never started" as the zero time.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
# Ranks used to pick the least healthy of several containers (higher is worse).
_HEALTH_RANK = {"unhealthy": 2, "starting": 1}
_EXITED_STATES = frozenset({"exited", "dead", "restarting"})


def check_host(host: str | None) -> str | None:
    """Validate a `host:` argument (for Spec validators)."""
    if host is not None and not host.startswith(HOST_SCHEMES):
        raise ValueError(
            f"host must be a Docker host URL starting with one of {', '.join(HOST_SCHEMES)} (got {host!r})"
        )
    return host


def describe_host(host: str | None) -> str:
    """The engine address a client will use, for messages."""
    return host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def call_timeout(ctx: Context) -> float:
    """Seconds one API call may take: what is left of the attempt, within sane bounds."""
    remaining = ctx.remaining()
    if remaining is None:
        return MAX_CALL_SECONDS
    return max(1.0, min(MAX_CALL_SECONDS, remaining))


def connect(host: str | None, ctx: Context) -> Any:
    """A docker SDK client for `host` (default: DOCKER_HOST, as the SDK and CLI do).

    The client asks the engine for its API version on creation, so an engine that is
    down or unreachable fails here, as a StepError that says where we looked.
    """
    docker = require("docker", "docker")
    timeout = call_timeout(ctx)
    _probe_unix_socket(_sdk_host(docker, host), timeout)
    try:
        if host:
            return docker.DockerClient(base_url=host, timeout=timeout)
        return docker.from_env(timeout=timeout)
    except (docker.errors.DockerException, OSError) as exc:
        raise unreachable(host, exc) from None


def _sdk_host(docker: Any, host: str | None) -> str:
    """The URL the SDK will use: host:, else DOCKER_HOST, else the current docker context."""
    if host:
        return host
    try:
        url = docker.utils.kwargs_from_env().get("base_url")
        url = url or docker.context.ContextAPI.kwargs_from_context().get("base_url")
    except (docker.errors.DockerException, OSError, ValueError):
        url = None
    return str(url or DEFAULT_HOST)


def _probe_unix_socket(url: str, timeout: float) -> None:
    """Fail cleanly when nothing listens on a unix socket.

    The SDK leaks the socket of a failed unix connection (a ResourceWarning later, at
    an unrelated place); trying it ourselves first closes it and gives a plainer reason.
    """
    if not url.startswith("unix://"):
        return
    path = url.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            raise unreachable(url, exc.strerror or exc) from None


def unreachable(host: str | None, exc: BaseException | str) -> StepError:
    return StepError(
        f"cannot reach the Docker engine at {describe_host(host)}: {exc} "
        "(is dockerd running? set host: or DOCKER_HOST to its address)"
    )


def api_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of a call the engine did not answer well (requests' errors are OSErrors)."""
    docker = require("docker", "docker")
    return (docker.errors.DockerException, OSError)


def call_failed(host: str | None, exc: BaseException) -> StepError:
    """A StepError for one of api_errors(): the engine's own refusal, or no engine."""
    docker = require("docker", "docker")
    if isinstance(exc, docker.errors.APIError):
        return StepError(f"the Docker engine at {describe_host(host)} refused: {exc.explanation or exc}")
    return unreachable(host, exc)


def parse_time(text: str | None) -> datetime | None:
    """A Docker timestamp (nanosecond precision, Z or offset) as an aware datetime."""
    if not text or text == _ZERO_TIME:
        return None
    m = _TIME.match(text)
    if not m:
        return None
    whole, frac, zone = m.groups()
    micros = (frac or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{whole}.{micros}{zone}").astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, the way Docker itself writes times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def container_facts(attrs: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Plain facts about one container from its inspect data."""
    state: Mapping[str, Any] = attrs.get("State") or {}
    status = state.get("Status")
    health_info = state.get("Health")
    started = parse_time(state.get("StartedAt"))
    running = status == "running"
    return {
        "name": str(attrs.get("Name", "")).lstrip("/"),
        "id": str(attrs.get("Id", ""))[:12],
        "image": (attrs.get("Config") or {}).get("Image") or attrs.get("Image"),
        "status": status,
        "health": health_info.get("Status", "none") if health_info else "none",
        "restart_count": int(attrs.get("RestartCount") or 0),
        "started_at": iso(started),
        "uptime_s": round((now - started).total_seconds(), 3) if running and started else None,
        # A running container's ExitCode is a stale 0: only report one that means something.
        "exit_code": state.get("ExitCode") if status in _EXITED_STATES else None,
    }


def badness(facts: Mapping[str, Any]) -> tuple[int, int, int]:
    """Sort key: larger means less healthy (not running, then unhealthy, starting, restarts)."""
    return (
        0 if facts["status"] == "running" else 1,
        _HEALTH_RANK.get(str(facts["health"]), 0),
        int(facts["restart_count"]),
    )


def least_healthy(facts: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The least healthy container; ties go to the first by name."""
    ordered = sorted(facts, key=lambda f: str(f["name"]))
    return max(ordered, key=badness)


@contextlib.contextmanager
def calls(client: Any, host: str | None) -> Iterator[Any]:
    """Engine calls on `client`: a failed call becomes one clear StepError; the client is closed."""
    try:
        yield client
    except StepError:
        raise
    except api_errors() as exc:
        raise call_failed(host, exc) from None
    finally:
        client.close()
