"""A Compose project as the compose.* plugins see it (not a plugin itself).

The expected services come from the compose file(s), read with PyYAML; what is
actually there comes from the engine, through the labels that Compose v1 and v2 both
put on every container they create. No compose CLI is needed to look.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from runbook_engine.plugin import Context, PluginSpec, StepError
from runbook_engine.plugins import _docker_engine as engine

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

STATE_OUTPUTS = {
    "project": "the Compose project name looked at",
    "expected": "how many services are expected",
    "running": "expected services whose containers all run",
    "healthy": "expected services running and healthy (or running without a healthcheck)",
    "missing": "expected services not running (no container, exited, restarting...)",
    "unhealthy": "expected services running but unhealthy or still starting",
    "services": "per service: state, health, container, replicas, restart_count, exit_code",
}


def check_files(value: str | list[str] | None) -> list[str]:
    """`file:` as a list (Compose accepts several files, later ones override)."""
    if value is None:
        return []
    files = [value] if isinstance(value, str) else list(value)
    if not files or any(not f.strip() for f in files):
        raise ValueError("file: needs a compose file path (or a list of them)")
    return files


def check_services(value: list[str] | None) -> list[str] | None:
    if value is not None:
        if any(not s.strip() for s in value):
            raise ValueError("services: names must not be empty")
        if len(set(value)) != len(value):
            raise ValueError("services: lists a service twice")
    return value


class ComposeFiles:
    """The parts of compose files the plugins need: service names and the project name."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.docs: list[Mapping[str, Any]] = [self._read(p) for p in self.paths]

    @staticmethod
    def _read(path: Path) -> Mapping[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StepError(f"compose file not found: {path}") from None
        except OSError as exc:
            raise StepError(f"cannot read compose file {path}: {exc.strerror}") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise StepError(f"compose file {path} is not valid YAML: {exc}") from None
        if doc is None:
            return {}
        if not isinstance(doc, Mapping):
            raise StepError(f"compose file {path} must be a mapping with a services: key")
        return doc

    def default_services(self) -> list[str]:
        """Services `compose up` starts without --profile: all, less those with profiles."""
        return sorted(name for name, body in self._merged().items() if not body.get("profiles"))

    def all_services(self) -> list[str]:
        """Every service the files declare, profiles included."""
        return sorted(self._merged())

    def _merged(self) -> dict[str, Mapping[str, Any]]:
        merged: dict[str, Mapping[str, Any]] = {}
        for doc in self.docs:
            services = doc.get("services") or {}
            if not isinstance(services, Mapping):
                continue
            for name, body in services.items():
                previous = merged.get(str(name), {})
                merged[str(name)] = {**previous, **(body if isinstance(body, Mapping) else {})}
        return merged

    def declared_name(self) -> str | None:
        """A literal top-level `name:` (Compose v2); interpolated names are left to the CLI."""
        for doc in reversed(self.docs):
            name = doc.get("name")
            if isinstance(name, str) and name.strip() and "$" not in name:
                return name
        return None


def normalize_project(name: str) -> str:
    """Compose's own normalisation: lower case, keep [a-z0-9_-], no leading _ or -."""
    return "".join(re.findall(r"[a-z0-9_-]", name.lower())).lstrip("_-")


def project_name(explicit: str | None, files: ComposeFiles | None) -> str:
    """The project name Compose would use: project:, COMPOSE_PROJECT_NAME, name:, folder."""
    if explicit:
        return explicit
    candidates = [os.environ.get("COMPOSE_PROJECT_NAME")]
    if files is not None and files.paths:
        candidates += [files.declared_name(), files.paths[0].resolve().parent.name]
    for candidate in candidates:
        if candidate and normalize_project(candidate):
            return normalize_project(candidate)
    raise StepError("cannot work out the Compose project name: give project:")


def load(file: list[str], ctx: Context) -> ComposeFiles | None:
    return ComposeFiles([ctx.resolve(f) for f in file]) if file else None


def project_state(
    client: Any,
    project: str,
    expected: Sequence[str] | None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The STATE_OUTPUTS of a project; with `expected` None, every service found is expected."""
    found = client.containers.list(
        all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]}, ignore_removed=True
    )
    now = datetime.now(UTC)
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in found:
        labels = (container.attrs.get("Config") or {}).get("Labels") or {}
        service = labels.get(SERVICE_LABEL)
        # `compose run` containers are one-off tasks, not the service itself.
        if not service or labels.get(ONEOFF_LABEL) == "True":
            continue
        by_service.setdefault(service, []).append(engine.container_facts(container.attrs, now))

    wanted = sorted(by_service) if expected is None else list(expected)
    services = {name: _service_state(by_service.get(name, [])) for name in sorted({*wanted, *by_service})}
    missing = [s for s in wanted if services[s]["state"] != "running"]
    unhealthy = [
        s
        for s in wanted
        if services[s]["state"] == "running" and services[s]["health"] in ("unhealthy", "starting")
    ]
    running = len(wanted) - len(missing)
    if log is not None:
        log(
            f"project {project}: {running}/{len(wanted)} expected services running"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not healthy {', '.join(unhealthy)}" if unhealthy else "")
        )
    return {
        "project": project,
        "expected": len(wanted),
        "running": running,
        "healthy": running - len(unhealthy),
        "missing": sorted(missing),
        "unhealthy": sorted(unhealthy),
        "services": services,
    }


def _service_state(containers: list[dict[str, Any]]) -> dict[str, Any]:
    """One service over its containers: running only when every replica runs."""
    if not containers:
        return {
            "state": "missing",
            "health": None,
            "container": None,
            "replicas": 0,
            "restart_count": 0,
            "exit_code": None,
        }
    ordered = sorted(containers, key=lambda f: str(f["name"]))
    worst = engine.least_healthy(ordered)
    return {
        "state": worst["status"],
        "health": worst["health"],
        "container": worst["name"],
        "replicas": len(ordered),
        "restart_count": sum(int(f["restart_count"]) for f in ordered),
        "exit_code": worst["exit_code"],
    }


class ProjectSpec(PluginSpec):
    """The arguments that name a Compose project, shared by compose and compose.services."""

    file: str | list[str] | None = Field(
        default=None, description="Compose file path, or several (later ones override)."
    )
    project: str | None = Field(
        default=None,
        pattern=PROJECT_PATTERN,
        description="Project name (default: as Compose derives it from the file).",
    )
    host: str | None = Field(default=None, description="Docker host URL (default: DOCKER_HOST).")

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | list[str] | None) -> str | list[str] | None:
        check_files(value)
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return engine.check_host(value)

    @model_validator(mode="after")
    def _which_project(self) -> ProjectSpec:
        if self.file is None and self.project is None:
            raise ValueError("give file: (a compose file) and/or project: (a project name)")
        return self
