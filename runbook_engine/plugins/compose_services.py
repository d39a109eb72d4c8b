"""Compare a Compose project's expected services with what runs and is healthy."""

from __future__ import annotations

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Outputs
from runbook_engine.plugins import _compose_project as compose
from runbook_engine.plugins import _docker_engine as engine

NAME = "compose.services"
KINDS = frozenset({"check"})
# Without expect: every expected service runs and is healthy.
DEFAULT_EXPECT = ["missing == []", "unhealthy == []"]
OUTPUTS = dict(compose.STATE_OUTPUTS)


class Spec(compose.ProjectSpec):
    services: list[str] | None = Field(
        default=None, description="Expected services (default: every service in the file)."
    )

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str] | None) -> list[str] | None:
        return compose.check_services(value)


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
    with engine.calls(engine.connect(spec.host, ctx), spec.host) as client:
        return compose.project_state(client, project, expected, ctx.log)
