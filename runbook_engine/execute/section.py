"""A parallel section: one task per step on the engine loop, started once the steps it
needs have finished, at most `max_parallel` at a time (no thread per step)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from runbook_engine.execute.events import Event, StepFinished
from runbook_engine.format.spec import Section, Step
from runbook_engine.journal import StepResult


async def run_parallel(
    section: Section,
    results: list[StepResult],
    run_step: Callable[[Step, StepResult], Awaitable[None]],
    emit: Callable[[Event], None],
) -> None:
    """Run the section's steps concurrently; steps caught in a needs cycle never start."""
    ids = [sr.id for sr in results]  # each step's id, computed once (a step derives it from its name)
    here = set(ids)
    finished = {sid: asyncio.Event() for sid in here}
    limit = asyncio.Semaphore(section.max_parallel)
    stuck = in_cycles(section.steps)

    async def one(step: Step, sr: StepResult) -> None:
        for need in step.needs:
            if need in here:
                await finished[need].wait()
        async with limit:
            await run_step(step, sr)
        finished[sr.id].set()

    async with asyncio.TaskGroup() as group:
        for step, sr in zip(section.steps, results, strict=True):
            if sr.id in stuck:
                sr.outcome = "blocked"
                sr.message = f"needs {', '.join(step.needs)}: these steps wait on each other (a cycle)"
                emit(StepFinished(sr))
            else:
                group.create_task(one(step, sr))


def in_cycles(steps: list[Step]) -> set[str]:
    """Ids of the steps that can never start: caught in a needs cycle within the section,
    or needing one that is (the loader should refuse these; this keeps the run from hanging)."""
    ids = {s.step_id for s in steps}
    needs = {s.step_id: [n for n in s.needs if n in ids and n != s.step_id] for s in steps}
    done: set[str] = set()
    progress = True
    while progress:
        progress = False
        for sid, wanted in needs.items():
            if sid not in done and all(n in done for n in wanted):
                done.add(sid)
                progress = True
    return set(needs) - done
