"""Helpers for plugin authors' tests (as structlog ships structlog.testing).

from runbook_engine.testing import run_plugin
out = run_plugin(my_plugin, {"url": "http://127.0.0.1:8000/health"})
assert out["status"] == 200
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

from runbook_engine.plugin import Context, Outputs, Resources


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

    Runs what the engine runs: ``run_async`` on an event loop when the plugin has one
    (its shared resources closed afterwards), else ``run``.

    Fails (AssertionError) when the plugin returns an output its OUTPUTS does not document:
    `runbook plugins`, the schema and the docs list OUTPUTS, and people write `expect:`
    against those names."""
    spec = module.Spec.model_validate(args)
    ctx = ctx or make_context()
    run_async = getattr(module, "run_async", None)
    result: Outputs = asyncio.run(_run_async(run_async, spec, ctx)) if run_async else module.run(spec, ctx)
    documented = getattr(module, "OUTPUTS", None)
    if isinstance(documented, dict) and isinstance(result, dict):
        extra = sorted(set(result) - set(documented))
        assert not extra, f"{module.__name__} returned undocumented outputs {extra}: add them to OUTPUTS"
    return result


async def _run_async(run_async: Any, spec: Any, ctx: Context) -> Outputs:
    own = dataclasses.replace(ctx, resources=Resources())
    try:
        result: Outputs = await run_async(spec, own)
        return result
    finally:
        await own.resources.aclose()
