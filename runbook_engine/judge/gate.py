"""Go/no-go gates: the stability window, the readiness score and the recorded decision.

Gates that hold over time: after a first full pass, the critical checks are
re-run every `interval` and must hold for `stable_for` without a break.

A flap (any critical check not passing) restarts the window and is recorded with what it
saw. The gate gives up, NO-GO, once a full window can no longer fit before `max_wait`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from runbook_engine.execute.events import Event, GateProgress
from runbook_engine.format.spec import Gate, Runbook, Step
from runbook_engine.journal import RunJournal, StepResult
from runbook_engine.judge.score import compute_score

if TYPE_CHECKING:
    import threading

    from runbook_engine.execute.data import TemplateData
    from runbook_engine.execute.interaction import Interaction
    from runbook_engine.execute.options import RunOptions


class Runner(Protocol):
    """What the gate needs from the runner that hands it a finished first pass: re-run one
    check, report progress, ask a person. The gate never runs a runbook itself, so it
    depends on this shape, not on the runner module (which imports the gate)."""

    options: RunOptions
    ask_lock: threading.Lock
    interaction: Interaction

    @property
    def cancel(self) -> threading.Event: ...

    def check_once(self, step: Step, data: TemplateData) -> StepResult: ...

    def check_all(self, steps: list[Step], data: TemplateData) -> list[StepResult]: ...

    def emit(self, event: Event) -> None: ...


def critical_checks(doc: Runbook, journal: RunJournal) -> list[Step]:
    """The critical checks that ran and passed in the first pass (a skipped one stays skipped)."""
    passed = {s.id for s in journal.steps() if s.outcome == "passed"}
    return [s for s in doc.steps() if s.kind == "check" and s.severity == "critical" and s.step_id in passed]


def _round(runner: Runner, checks: list[Step], data: TemplateData) -> list[tuple[Step, StepResult]]:
    """Re-run every check once, concurrently (they are independent): on the engine loop,
    as a parallel section runs its steps."""
    return list(zip(checks, runner.check_all(checks, data), strict=True))


def _summarise(flaps: list[dict[str, Any]]) -> str:
    """One entry per flapping check: how often, and what it saw the last time."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    for f in flaps:
        by_step.setdefault(f["name"], []).append(f)
    parts = []
    for name, seen in by_step.items():
        last = seen[-1]
        times = f"{len(seen)} times, " if len(seen) > 1 else ""
        parts.append(f"{name} ({times}last in round {last['round']}: {last['message']})")
    return "; ".join(parts)


def hold(
    runner: Runner, doc: Runbook, gate: Gate, journal: RunJournal, data: TemplateData, stable_for: float
) -> str | None:
    """Run the stability window; fills journal.extra["gate"]; returns why it failed, if it did."""
    checks = critical_checks(doc, journal)
    # A window shortened on the command line brings its own limit; the runbook's max_wait
    # belongs to the runbook's own window.
    max_wait = (
        gate.max_wait if gate.max_wait is not None and stable_for == gate.stable_for else 2 * stable_for
    )
    started = time.monotonic()
    window_start = started
    flaps: list[dict[str, Any]] = []  # one entry per check that did not pass, per round
    flap_rounds = 0  # a flap is a round in which any check did not pass
    rounds = 0
    held = False
    try:
        while not runner.cancel.is_set():
            rounds += 1
            failing = [(step, r) for step, r in _round(runner, checks, data) if r.outcome != "passed"]
            now = time.monotonic()
            for step, result in failing:
                flaps.append(
                    {
                        "step": step.step_id,
                        "name": step.title,
                        "round": rounds,
                        "at": datetime.now(UTC).isoformat(),
                        "after_s": round(now - started, 3),
                        "outcome": result.outcome,
                        "message": result.message,
                    }
                )
            if failing:
                flap_rounds += 1
                window_start = now
            remaining = stable_for - (now - window_start)
            runner.emit(
                GateProgress(
                    doc.name,
                    max(remaining, 0.0),
                    stable_for,
                    rounds,
                    flap_rounds,
                    not failing,
                    tuple(f"{step.title}: {r.message or r.outcome}" for step, r in failing),
                )
            )
            if remaining <= 0:
                held = True
                break
            if now + remaining > started + max_wait:
                break
            runner.cancel.wait(min(gate.interval, remaining))
    finally:
        # Also when interrupted mid-window: the report shows how far the window got.
        journal.extra["gate"] = {
            "stable_for_s": stable_for,
            "interval_s": gate.interval,
            "max_wait_s": max_wait,
            "held": held,
            "rounds": rounds,
            "flap_rounds": flap_rounds,
            "checks": [s.step_id for s in checks],
            "elapsed_s": round(time.monotonic() - started, 3),
            "flaps": flaps,
        }
    if held or runner.cancel.is_set():
        return None
    return f"not stable for {stable_for:g}s within {max_wait:g}s: {flap_rounds} flap(s): {_summarise(flaps)}"


def once_result(step: Step) -> StepResult:
    """A throw-away result for one re-check (not part of the journal's sections)."""
    return StepResult(
        id=step.step_id, name=step.title, kind=step.kind, plugin=step.plugin, severity=step.severity
    )


def judge(runner: Runner, doc: Runbook, journal: RunJournal, data: TemplateData) -> list[str]:
    """Stability window and readiness score, for runbooks that are a decision."""
    reasons: list[str] = []
    if runner.options.dry_run or journal.status != "finished":
        return reasons
    gate = doc.gate
    weighted = any(s.weight != 1.0 for s in doc.steps())
    if gate is None and not weighted:
        return reasons
    if gate is not None:
        stable_for = runner.options.stable_for if runner.options.stable_for is not None else gate.stable_for
        if journal.verdict == "GO" and stable_for > 0:
            why = hold(runner, doc, gate, journal, data, stable_for)
            if why:
                reasons.append(why)
    score = compute_score(journal, gate.pass_score if gate else None)
    journal.extra["score"] = score
    if not score["passed"]:
        reasons.append(f"readiness score {score['score']:g} is below the pass score {score['pass_score']:g}")
    return reasons


def record_decision(runner: Runner, journal: RunJournal) -> None:
    """Who confirmed the verdict, when, how, and on which evidence."""
    summary = f"{journal.runbook}: {journal.verdict}"
    score = journal.extra.get("score")
    if score:  # the person confirms knowing the score (the summary box comes after)
        bar = f" (pass {score['pass_score']:g})" if score.get("pass_score") is not None else ""
        summary += f", readiness score {score['score']:g}/100{bar}"
    if journal.reasons:
        summary += f"; {len(journal.reasons)} reason(s): {journal.reasons[0]}"
    with runner.ask_lock:
        name = runner.interaction.confirm_decision(journal.verdict or "", summary)
    how = (
        "terminal"
        if name
        else ("unconfirmed" if not runner.options.operator else runner.options.operator_source)
    )
    score = journal.extra.get("score", {})
    journal.extra["decision"] = {
        "verdict": journal.verdict,
        "confirmed_by": name or runner.options.operator,
        "confirmed_at": datetime.now(UTC).isoformat(),
        "how": how,
        "evidence": {
            "run_id": journal.run_id,
            "score": score.get("score"),
            "reasons": list(journal.reasons),
            "flaps": journal.extra.get("gate", {}).get("flap_rounds", 0),
            "steps": journal.counts(),
        },
    }
