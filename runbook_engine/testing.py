"""Helpers for plugin authors' tests (as structlog ships structlog.testing).

from runbook_engine.testing import run_plugin
out = run_plugin(my_plugin, {"url": "http://127.0.0.1:8000/health"})
assert out["status"] == 200
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from runbook_engine.plugin import Context, Outputs


def make_context(
    step_id: str = "test-step",
    timeout: float | None = 30.0,
    workdir: Path | None = None,
    secrets: dict[str, str] | None = None,
) -> Context:
    """A Context like the one the engine builds for one attempt."""
    wd = workdir or Path.cwd()
    return Context(step_id=step_id, timeout=timeout, workdir=wd, run_dir=wd, secrets=secrets or {})


def run_plugin(module: ModuleType, args: dict[str, Any], ctx: Context | None = None) -> Outputs:
    """Validate ``args`` with the plugin's Spec and run it once, returning its outputs.

    Fails (AssertionError) when the plugin returns an output its OUTPUTS does not document:
    `runbook plugins`, the schema and the docs list OUTPUTS, and people write `expect:`
    against those names."""
    spec = module.Spec.model_validate(args)
    result: Outputs = module.run(spec, ctx or make_context())
    documented = getattr(module, "OUTPUTS", None)
    if isinstance(documented, dict) and isinstance(result, dict):
        extra = sorted(set(result) - set(documented))
        assert not extra, f"{module.__name__} returned undocumented outputs {extra}: add them to OUTPUTS"
    return result
