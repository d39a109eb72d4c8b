"""Report a Docker container's state, health, restarts and log matches (by name or labels)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from runbook_engine.format.durations import parse_duration
from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins import _docker_engine as engine

NAME = "docker.container"
KINDS = frozenset({"check"})
# Without expect: the container must exist, run, and not fail its healthcheck.
DEFAULT_EXPECT = ["exists", 'status == "running"', 'health in ["healthy", "none"]']
OUTPUTS = {
    "exists": "whether a container matched (false is a fact, not an error)",
    "name": "container name (several matched: the least healthy one's; see docs)",
    "id": "short container id",
    "image": "image the container was created from, as given (e.g. app:1.2)",
    "status": "created, running, paused, restarting, removing, exited or dead",
    "health": "healthy, unhealthy, starting, or none without a healthcheck",
    "restart_count": "restarts done by the restart policy",
    "started_at": "when the container last started (UTC ISO 8601), null if never",
    "uptime_s": "seconds since it started, null when not running",
    "exit_code": "exit status of the last run, null while running or never run",
    "log_matches": "with log_pattern: matching log lines (summed over all matches)",
    "count": "how many containers matched",
    "containers": "every matching container with the fields above, by name",
}
DEFAULT_TAIL = 200
EVIDENCE_LINES = 3


class Spec(PluginSpec):
    name: str | None = Field(default=None, min_length=1, description="Container name or id.")
    labels: dict[str, str] | None = Field(
        default=None, description="Match containers carrying all these labels."
    )
    log_pattern: str | None = Field(
        default=None, min_length=1, description="Count log lines matching this regex."
    )
    log_tail: int = Field(
        default=DEFAULT_TAIL, ge=1, le=1_000_000, description="Look at this many last log lines."
    )
    log_since: str | None = Field(
        default=None, description="Only logs newer than this: a duration (5m) or ISO timestamp."
    )
    host: str | None = Field(default=None, description="Docker host URL (default: DOCKER_HOST).")

    @field_validator("log_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"log_pattern is not a valid regular expression: {exc}") from None
        return value

    @field_validator("log_since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        if value is not None:
            since_timestamp(value, now=0.0)
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return engine.check_host(value)

    @model_validator(mode="after")
    def _one_selector(self) -> Spec:
        if (self.name is None) == (self.labels is None):
            raise ValueError("give exactly one of name: (a container) or labels: (a mapping)")
        if self.labels is not None and not self.labels:
            raise ValueError("labels: needs at least one label")
        log_options = {"log_tail", "log_since"} & self.model_fields_set
        if log_options and self.log_pattern is None:
            raise ValueError(f"{' and '.join(sorted(log_options))} need log_pattern:")
        return self


def since_timestamp(text: str, now: float) -> float:
    """Unix time for `log_since`: a duration back from `now`, or an ISO 8601 timestamp."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        pass
    else:
        if seconds <= 0:
            raise ValueError(f"log_since duration must be positive (got {text!r})")
        return now - seconds
    try:
        # Without an offset the time is local, as the docker CLI reads --since.
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"log_since must be a duration like 5m or a timestamp like 2025-06-01T12:00:00Z (got {text!r})"
        ) from None
    return moment.timestamp()


def run(spec: Spec, ctx: Context) -> Outputs:
    with engine.calls(engine.connect(spec.host, ctx), spec.host) as client:
        return _look(client, spec, ctx)


def _look(client: Any, spec: Spec, ctx: Context) -> Outputs:
    not_found = require("docker", "docker").errors.NotFound
    if spec.name is not None:
        try:
            found = [client.containers.get(spec.name)]
        except not_found:
            found = []
    else:
        labels = [f"{k}={v}" for k, v in sorted((spec.labels or {}).items())]
        found = client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)

    now = datetime.now(UTC)
    pattern = re.compile(spec.log_pattern) if spec.log_pattern else None
    since = since_timestamp(spec.log_since, time.time()) if spec.log_since else None
    every: list[dict[str, Any]] = []
    for container in found:
        if ctx.cancel.is_set():
            raise StepError("cancelled")
        facts = engine.container_facts(container.attrs, now)
        facts["log_matches"] = _count_matches(container, pattern, spec, since, ctx) if pattern else None
        every.append(facts)
    every.sort(key=lambda f: str(f["name"]))

    if not every:
        ctx.log(f"no container matches {_selector(spec)}")
        blank: Outputs = dict.fromkeys(OUTPUTS)
        return blank | {"exists": False, "count": 0, "containers": []}
    top = dict(engine.least_healthy(every))
    if pattern:
        top["log_matches"] = sum(int(f["log_matches"]) for f in every)
    ctx.log(
        f"{len(every)} container(s) match {_selector(spec)}; "
        f"{top['name']}: {top['status']}, health {top['health']}"
    )
    return {**top, "exists": True, "count": len(every), "containers": every}


def _selector(spec: Spec) -> str:
    if spec.name is not None:
        return f"name {spec.name!r}"
    return "labels " + ", ".join(f"{k}={v}" for k, v in sorted((spec.labels or {}).items()))


def _count_matches(
    container: Any, pattern: re.Pattern[str], spec: Spec, since: float | None, ctx: Context
) -> int:
    kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "tail": spec.log_tail}
    if since is not None:
        # The SDK wants a positive unix time; anything before 1970 means "everything".
        kwargs["since"] = max(since, 0.001)
    raw: bytes = container.logs(**kwargs)
    matches = [line for line in raw.decode("utf-8", errors="replace").splitlines() if pattern.search(line)]
    for line in matches[:EVIDENCE_LINES]:
        ctx.log(f"{container.name}: {line[:200]}")
    return len(matches)
