"""Contingency drills: cause the failure, see it, recover, prove it, and time all of it.

    inject -> poll detect until a check confirms the scenario (time to detect)
           -> recover -> poll verify until every check passes (time to recover)
           -> compare time to recover with the RTO; print the fallback when it is missed.

`detect` checks fail while the scenario holds, so a detect check that does NOT pass is
the scenario seen: it is recorded as a passed detection. Timings use the monotonic clock,
measured from the end of injection and from the moment the scenario was seen.

How precise the moments are (docs/gates-and-drills.md, "How a drill times recovery"): a
check sees the system at the middle of its request (or of the check, for plugins that do
not report `elapsed_ms`), not when the engine is done with it. A change (scenario seen,
recovery) happened between the last observation without it and the first with it; the
moment reported is the middle of the two, within half their distance (when verify passes
at once, the recover steps did it: their end is the moment). While the verdict
depends on the moment (within the RTO of an injection or of the detection) rounds follow
each other every `precision` seconds, so that distance is one check plus `precision`;
after that, every `poll` seconds.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runbook_engine.errors import UserError
from runbook_engine.execute.data import TemplateData
from runbook_engine.execute.events import (
    RunFinished,
    RunStarted,
    SectionFinished,
    SectionStarted,
    StepFinished,
    StepStarted,
)
from runbook_engine.execute.runner import Runner, now_utc
from runbook_engine.expr import suggest
from runbook_engine.format.spec import Contingency, Step
from runbook_engine.journal import RunJournal, SectionResult, StepResult


@dataclass
class DrillOptions:
    inject: bool = True
    poll: float = 0.25
    # The pause between rounds while the verdict depends on the moment (within the RTO):
    # what keeps the measured time to recover within a check plus 20 ms of the real one.
    precision: float = 0.02
    detect_timeout: float = 60.0
    verify_timeout: float | None = None  # default: three times the RTO, at least 30 s


class Drill:
    def __init__(self, runner: Runner, options: DrillOptions) -> None:
        self.runner = runner
        self.options = options

    def contingency(self, name: str) -> Contingency:
        loaded = self.runner.lib.contingencies.get(name)
        if loaded is None:
            raise UserError(
                f"no contingency named {name!r}"
                f"{suggest(name, list(self.runner.lib.contingencies))}; `runbook list` shows them"
            )
        c = loaded.doc
        human = [s.title for s in [*c.detect, *c.verify] if s.kind != "check"]
        if human:
            # Polling needs checks a machine can repeat; a person's detection is a checklist.
            raise UserError(
                f"contingency {name!r} has detect/verify steps that are not checks "
                f"({'; '.join(human)}), so it cannot be timed automatically; "
                f"print it with `runbook checklist {name}`"
            )
        if self.options.inject and not c.inject:
            raise UserError(
                f"contingency {name!r} has no inject: steps, so it cannot be drilled safely; "
                f"use `runbook recover {name}` against the live system"
            )
        return c

    def run(self, name: str) -> RunJournal:
        c = self.contingency(name)
        loaded = self.runner.lib.contingencies[name]
        r = self.runner
        data = r.prepare(c)
        if self.options.inject and not (r.options.yes or r.options.dry_run) and not r.interaction.interactive:
            raise UserError(
                f"a drill breaks the environment on purpose ({len(c.inject)} inject steps); "
                "pass --yes to allow it (or run in a terminal to be asked)"
            )
        if self.options.inject and not (r.options.yes or r.options.dry_run):
            self._confirm_injection(c)
        r.refuse_unconfirmable_destructive(c.recover, data)
        journal = r.new_journal(c, loaded.path, loaded.sha256, data, kind="drill")
        phases = (["Inject"] if self.options.inject else []) + ["Detect", "Recover", "Verify"]
        journal.sections = [SectionResult(name=p) for p in phases]
        sec = {s.name: s for s in journal.sections}
        started = time.monotonic()
        r.emit(RunStarted(journal))
        facts: dict[str, Any] = {
            "contingency": c.name,
            "mode": "drill" if self.options.inject else "recover",
            "rto_s": c.rto,
            "detected": False,
            "recovered": False,
        }
        reasons: list[str] = []
        try:
            self._phases(c, data, sec, facts, reasons)
            journal.status = "finished"
        except KeyboardInterrupt:
            r.cancel.set()
            journal.status = "interrupted"
            reasons.insert(0, "the drill was interrupted")
            inject = sec.get("Inject")
            injected = inject is not None and any(s.started_at is not None for s in inject.steps)
            if injected and not facts["recovered"]:
                # The drill broke something on purpose and stopped before mending it.
                reasons.insert(
                    1, f"the injected failure may still be in place: run `runbook recover {c.name}`"
                )
        journal.finished_at = now_utc()
        journal.duration_s = time.monotonic() - started
        if reasons and c.fallback and facts["detected"]:
            # Only for a failure that was seen: with nothing detected there is nothing to
            # fall back from (the drill's own detection is what needs looking at).
            facts["fallback"] = [s.title for s in c.fallback]
        journal.extra["drill"] = facts
        journal.reasons = reasons
        journal.verdict = "NO-GO" if reasons else "GO"
        with contextlib.suppress(KeyboardInterrupt):  # the verdict is decided: close the run's pools
            r.close()
        r.emit(RunFinished(journal))
        return journal

    def _confirm_injection(self, c: Contingency) -> None:
        """In a terminal, a person says yes to breaking the environment on purpose."""
        what = "; ".join(s.title for s in c.inject)
        ask = StepResult(
            id="inject", name=f"Drill {c.title or c.name}: {what}", kind="action", destructive=True
        )
        if self.runner.interaction.confirm_destructive(ask, {}) is not True:
            raise UserError(f"drill {c.name} not started: the injection was not confirmed")

    def _phases(
        self,
        c: Contingency,
        data: TemplateData,
        sec: dict[str, SectionResult],
        facts: dict[str, Any],
        reasons: list[str],
    ) -> None:
        t_injected: float | None = None
        if self.options.inject:
            if not self._sequence(c.inject, sec["Inject"], data):
                reasons.append("injection failed: the failure could not be caused")
                return
            t_injected = time.monotonic()
            facts["injected_at"] = now_utc().isoformat()
        detect = self._poll(
            c.detect,
            sec["Detect"],
            data,
            want_pass=False,
            timeout=self.options.detect_timeout,
            # Fast rounds only after an injection: `recover` on a live system, where the
            # scenario is there from the start or not at all, polls detect at --poll.
            precise_until=t_injected + c.rto if t_injected is not None else 0.0,
        )
        seen, t_seen = detect.done, detect.when
        if not seen:
            reasons.append(
                f"the scenario was not detected within {self.options.detect_timeout:g}s "
                "(every detect check still passes)"
            )
            return
        facts["detected"] = True
        facts["detected_at"] = _wall(t_seen).isoformat()
        if t_injected is not None:
            facts["time_to_detect_s"] = round(t_seen - t_injected, 3)
        if not self._sequence(c.recover, sec["Recover"], data):
            reasons.append("a recovery step did not pass")
        recovered_by = time.monotonic()
        verify_timeout = self.options.verify_timeout or max(3 * c.rto, 30.0)
        verify = self._poll(
            c.verify or c.detect,
            sec["Verify"],
            data,
            want_pass=True,
            timeout=verify_timeout,
            precise_until=t_seen + c.rto,
        )
        # Verify's very first round passing means the recovery was done by the end of the
        # recover steps: that is its moment (the first look only came after them).
        t_ok = verify.when if verify.within is not None else min(verify.when, recovered_by)
        if not verify.done:
            reasons.append(f"recovery was not verified within {verify_timeout:g}s")
            return
        facts["recovered"] = True
        facts["recovered_at"] = _wall(t_ok).isoformat()
        ttr = round(t_ok - t_seen, 3)
        facts["time_to_recover_s"] = ttr
        if verify.within is not None:  # the recovery was seen between two observations
            facts["time_to_recover_within_s"] = round(verify.within, 3)
        if t_injected is not None:
            facts["time_from_injection_s"] = round(t_ok - t_injected, 3)
        facts["within_rto"] = ttr <= c.rto
        if ttr > c.rto:
            reasons.append(f"time to recover {ttr:g}s missed the RTO of {c.rto:g}s")

    def _sequence(self, steps: list[Step], section: SectionResult, data: TemplateData) -> bool:
        """Run steps in order (as a runbook section does); True when all passed."""
        r = self.runner
        section.started_at = now_utc()
        began = time.monotonic()
        r.emit(SectionStarted(section))
        section.steps = [r.new_result(s, section.name) for s in steps]
        for step, sr in zip(steps, section.steps, strict=True):
            if r.cancel.is_set():
                break
            r.run_step(step, sr, data)
        section.duration_s = time.monotonic() - began
        r.emit(SectionFinished(section))
        return all(s.outcome in ("passed", "skipped") for s in section.steps)

    def _poll(
        self,
        checks: list[Step],
        section: SectionResult,
        data: TemplateData,
        want_pass: bool,
        timeout: float,
        precise_until: float,
    ) -> Seen:
        """Re-run checks until all pass (verify) or any fails (detect); when, and how sure.

        Rounds follow each other every `precision` seconds until `precise_until` (monotonic),
        then every `poll` seconds.
        """
        r = self.runner
        section.started_at = now_utc()
        began = time.monotonic()
        r.emit(SectionStarted(section))
        section.steps = [r.new_result(s, section.name) for s in checks]
        for sr in section.steps:
            sr.started_at = section.started_at
            r.emit(StepStarted(sr))
        rounds = 0
        seen, now, before = Seen(False, began), began, None
        latest: list[StepResult] = []
        while not r.cancel.is_set():
            rounds += 1
            start = time.monotonic()
            latest = r.check_all(checks, data)  # concurrently, on the engine loop
            now = time.monotonic()
            # All checks of a round start together; each saw the system within its own duration.
            looks = [_observed(start, start + (x.duration_s or 0.0), x) for x in latest]
            # A check skipped by `when:` (another environment's) neither confirms nor denies.
            ran = [
                (x.outcome == "passed", t)
                for x, t in zip(latest, looks, strict=True)
                if x.outcome != "skipped"
            ]
            seen, before = _judge(ran, want_pass, before, now)
            if seen.done or now - began >= timeout:
                break
            pause = self.options.precision if now < precise_until else self.options.poll
            r.cancel.wait(min(pause, self.options.poll, max(0.0, timeout - (now - began))))
        for sr, last in zip(section.steps, latest, strict=False):
            self._settle(sr, last, want_pass, rounds, now - began)
            r.emit(StepFinished(sr))
        section.duration_s = time.monotonic() - began
        r.emit(SectionFinished(section))
        return seen

    @staticmethod
    def _settle(sr: StepResult, seen: StepResult, want_pass: bool, rounds: int, elapsed: float) -> None:
        sr.attempts, sr.duration_s = rounds, elapsed
        sr.outputs, sr.expectations, sr.args = seen.outputs, seen.expectations, seen.args
        if want_pass or seen.outcome == "skipped":
            sr.outcome, sr.message = seen.outcome, seen.message
        elif seen.outcome == "passed":
            sr.outcome, sr.message = "failed", "not seen: this check still passes"
        else:
            sr.outcome, sr.message = "passed", f"scenario seen: {seen.message}"


@dataclass
class Seen:
    """The outcome of polling: done or not, the moment (monotonic) and its +/- bound, if bracketed."""

    done: bool
    when: float
    within: float | None = None


def _observed(start: float, end: float, result: StepResult) -> float:
    """When a check saw the system: the middle of its request when it reports `elapsed_ms`
    (http, tcp), else the middle of the check (the engine's own work before and after the
    request can be longer than the request itself)."""
    elapsed = result.outputs.get("elapsed_ms") if result.outputs else None
    if (
        isinstance(elapsed, int | float)
        and not isinstance(elapsed, bool)
        and 0 <= elapsed / 1000 <= end - start
    ):
        return end - elapsed / 2000
    return (start + end) / 2


def _judge(
    ran: list[tuple[bool, float]], want_pass: bool, before: float | None, now: float
) -> tuple[Seen, float | None]:
    """One round's verdict, and the latest moment the awaited change had not yet happened.

    The change happened between that moment and the first observation that shows it: the
    moment reported is the middle of the two, within half their distance. With no earlier
    round to bracket it (the first round shows the change), it is the observation itself.
    """
    if want_pass:  # recovered once every check passes: by the last of those observations
        done = all(ok for ok, _ in ran)
        shown = max((t for _, t in ran), default=now) if done else None
        still = max((t for ok, t in ran if not ok), default=None)
    else:  # the scenario is seen by the first check that does not pass
        fails = [t for ok, t in ran if not ok]
        done = bool(fails)
        shown = min(fails) if done else None
        still = None if done else max((t for _, t in ran), default=None)
    if shown is None:
        return Seen(False, now), still if still is not None else before
    if before is None:
        return Seen(True, shown), before
    return Seen(True, (before + shown) / 2, (shown - before) / 2), before


def _wall(moment: float) -> datetime:
    """The wall-clock time of a monotonic moment (so *_at and the durations agree)."""
    return now_utc() - timedelta(seconds=time.monotonic() - moment)


def drill_row(journal: RunJournal) -> dict[str, Any]:
    """One row of the recovery-time table (as in the seeds' contingency table, measured)."""
    d = journal.extra.get("drill", {})
    return {
        "scenario": journal.title or journal.runbook,
        "name": journal.runbook,
        "rto_s": d.get("rto_s"),
        "time_to_detect_s": d.get("time_to_detect_s"),
        "time_to_recover_s": d.get("time_to_recover_s"),
        "within_rto": d.get("within_rto"),
        "verdict": journal.verdict,
    }
