"""Compare a Compose project's expected services with what runs and is healthy."""

from __future__ import annotations

from pydantic import Field, field_validator

from runbook_engine.expr import suggest
from runbook_engine.plugin import Context, Outputs
from runbook_engine.plugins import _compose_project as compose
from runbook_engine.plugins import _docker_engine as engine

NAME = "compose.services"
KINDS = frozenset({"check"})
# Without expect: some service is expected (a misspelt project name finds none, which must
# not pass), and every expected service runs and is healthy.
DEFAULT_EXPECT = ["expected > 0", "missing == []", "unhealthy == []"]
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
        declared = files.all_services()
        for name in sorted(set(expected) - set(declared)):
            ctx.log(f"{name!r} is not a service in the compose file{suggest(name, declared)}")
        profiled = sorted(set(expected) & (set(declared) - set(files.default_services())))
        if profiled:
            ctx.log(f"only started with a --profile: {', '.join(profiled)}")
    with engine.calls(engine.connect(spec.host, ctx), spec.host) as client:
        return compose.project_state(client, project, expected, ctx.log)
