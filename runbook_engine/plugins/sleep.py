"""Pause for a while (action); prefer `wait:` on a check when waiting for something.

Runs on the engine loop (`run_async`): a pause holds no thread, and Ctrl-C ends it at once.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError

KINDS = frozenset({"action"})
OUTPUTS = {"slept_s": "seconds actually slept"}


class Spec(PluginSpec):
    duration: Duration = Field(description="How long, like 500ms or 10s.")


def run(spec: Spec, ctx: Context) -> Outputs:
    """The synchronous contract (other callers): waits on ctx.cancel, so a cancel ends it."""
    seconds = spec.duration
    remaining = ctx.remaining()
    if remaining is not None and seconds > remaining:
        ctx.cancel.wait(remaining)
        raise StepError(f"sleep of {seconds:g}s is longer than the step timeout ({ctx.timeout:g}s)")
    interrupted = ctx.cancel.wait(seconds)
    if interrupted:
        raise StepError("cancelled")
    return {"slept_s": seconds}


async def run_async(spec: Spec, ctx: Context) -> Outputs:
    seconds = spec.duration
    remaining = ctx.remaining()
    if remaining is not None and seconds > remaining:
        await asyncio.sleep(remaining)
        raise StepError(f"sleep of {seconds:g}s is longer than the step timeout ({ctx.timeout:g}s)")
    await asyncio.sleep(seconds)
    return {"slept_s": seconds}
