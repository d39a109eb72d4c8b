"""Compare a Compose project's expected services with what runs and is healthy."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError
from runbook_engine.plugins import _compose_project as compose
from runbook_engine.plugins import _docker_engine as engine

NAME = "compose.services"
KINDS = frozenset({"check"})
# Without expect: every expected service runs and is healthy.
DEFAULT_EXPECT = ["missing == []", "unhealthy == []"]
OUTPUTS = dict(compose.STATE_OUTPUTS)


class Spec(PluginSpec):
    file: str | list[str] | None = Field(
        default=None, description="Compose file path, or several (later ones override)."
    )
    project: str | None = Field(
        default=None,
        pattern=compose.PROJECT_PATTERN,
        description="Project name (default: as Compose derives it from the file).",
    )
    services: list[str] | None = Field(
        default=None, description="Expected services (default: every service in the file)."
    )
    host: str | None = Field(default=None, description="Docker host URL (default: DOCKER_HOST).")

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | list[str] | None) -> str | list[str] | None:
        compose.check_files(value)
        return value

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str] | None) -> list[str] | None:
        return compose.check_services(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return engine.check_host(value)

    @model_validator(mode="after")
    def _which_project(self) -> Spec:
        if self.file is None and self.project is None:
            raise ValueError("give file: (a compose file) and/or project: (a project name)")
        return self


def run(spec: Spec, ctx: Context) -> Outputs:
    files = compose.load(compose.check_files(spec.file), ctx)
    project = compose.project_name(spec.project, files)
    expected = spec.services
    if expected is None and files is not None:
        expected = files.default_services()
    elif expected is not None and files is not None:
        unknown = sorted(set(expected) - set(files.default_services()))
        if unknown:
            ctx.log(f"not started by default from the compose file: {', '.join(unknown)}")
    client = engine.connect(spec.host, ctx)
    try:
        return compose.project_state(client, project, expected, ctx.log)
    except StepError:
        raise
    except engine.api_errors() as exc:
        raise engine.call_failed(spec.host, exc) from None
    finally:
        client.close()
