"""Runs a runbook: sections in order, steps in order or concurrently, needs, manual steps.

The runner emits events and fills the journal; it never prints. Interaction with a
person (manual steps, destructive confirmations) goes through an Interaction object.
Sections run as coroutines on the engine loop (execute/loop.py): a parallel section is a
set of tasks, not a thread each; the calling thread waits and answers prompts.
"""

from __future__ import annotations

import asyncio
import copy
import secrets as pysecrets
import socket
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from runbook_engine import __version__
from runbook_engine.errors import UserError
from runbook_engine.execute.data import TemplateData, build_template_data
from runbook_engine.execute.events import (
    Event,
    Observer,
    RunFinished,
    RunStarted,
    SectionFinished,
    SectionStarted,
    StepAttempt,
    StepFinished,
    StepStarted,
)
from runbook_engine.execute.interaction import Interaction, NoInteraction, login_name
from runbook_engine.execute.loop import drive, in_caller
from runbook_engine.execute.options import RunOptions
from runbook_engine.execute.section import run_parallel
from runbook_engine.execute.step import RunCancel, StepExecutor
from runbook_engine.execute.timeline import run_timing
from runbook_engine.expr import ExpressionError, is_template, render
from runbook_engine.format.library import Library
from runbook_engine.format.spec import Contingency, Runbook, Section, Step
from runbook_engine.journal import RunJournal, SectionResult, StepResult
from runbook_engine.judge.gate import judge, once_result, record_decision
from runbook_engine.judge.recommend import recommend
from runbook_engine.judge.verdict import decide
from runbook_engine.plugin import Resources, StepError

T = TypeVar("T")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + pysecrets.token_hex(3)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Runner:
    def __init__(
        self,
        lib: Library,
        options: RunOptions | None = None,
        observers: list[Observer] | None = None,
        interaction: Interaction | None = None,
    ) -> None:
        self.lib = lib
        self.options = options or RunOptions()
        self.observers = list(observers or [])
        self.interaction: Interaction = interaction or NoInteraction()
        self.cancel = RunCancel()
        self.resources = Resources()  # shared by the run's steps: connection pools
        self._emit_lock = threading.Lock()
        self.ask_lock = threading.Lock()
        self.results: dict[str, StepResult] = {}
        self.run_dir = lib.project_dir / ".runbook" / "runs" / "unnamed"
        self._base_executor: tuple[StepExecutor | None, tuple[int, Path] | None] = (None, None)

    # -- events ---------------------------------------------------------------
    def emit(self, event: Event) -> None:
        with self._emit_lock:
            for observer in self.observers:
                observer(event)

    def drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the engine loop from this (waiting) thread."""
        return drive(coro, self._stop)

    def _stop(self, why: BaseException) -> None:
        self.cancel.reason = why
        self.cancel.set()

    def close(self) -> None:
        """Close what the run's steps shared (connection pools)."""
        self.drive(self.resources.aclose())

    # -- entry points ---------------------------------------------------------
    def prepare(self, doc: Runbook | Contingency) -> TemplateData:
        env = self.options.environment or self.lib.default_environment()
        self.options.environment = env
        return build_template_data(self.lib, doc, env, self.options.vars, self.options.event)

    def new_journal(
        self, doc: Runbook | Contingency, path: Path, sha: str, data: TemplateData, kind: str = "run"
    ) -> RunJournal:
        run_id = new_run_id()
        self.run_dir = self.lib.project_dir / ".runbook" / "runs" / run_id
        return RunJournal(
            kind="drill" if kind == "drill" else "run",
            run_id=run_id,
            runbook=doc.name,
            title=doc.title,
            file=str(path),
            file_sha256=sha,
            environment=data.environment,
            vars=data.redactor.data(data.vars),
            event=self.options.event,
            offset_s=getattr(doc, "offset", None),
            budget_s=getattr(doc, "budget", None),
            min_duration_s=getattr(doc, "min_duration", None),
            started_at=now_utc(),
            host=socket.gethostname(),
            user=self.options.operator or login_name(),
            engine_version=__version__,
            dry_run=self.options.dry_run,
        )

    def run(self, name: str) -> RunJournal:
        loaded = self.lib.runbooks.get(name)
        if loaded is None:
            from runbook_engine.expr import suggest

            raise UserError(
                f"no runbook named {name!r}{suggest(name, list(self.lib.runbooks))}; "
                "`runbook list` shows them"
            )
        doc = loaded.doc
        if self.options.stable_for is not None and doc.gate is None:
            raise UserError(f"--stable-for shortens a gate's window, and runbook {name!r} has no `gate:`")
        data = self.prepare(doc)
        self.refuse_unconfirmable_destructive(doc.steps(), data)
        journal = self.new_journal(doc, loaded.path, loaded.sha256, data)
        journal.sections = [
            SectionResult(name=s.name, parallel=s.parallel, budget_s=s.budget) for s in doc.sections
        ]
        # Every step is in the journal from the start, so an interrupted run still lists
        # what it did not reach.
        for section, result in zip(doc.sections, journal.sections, strict=True):
            result.steps = [self.new_result(step, section.name) for step in section.steps]
        if self.options.event is not None:
            journal.extra["timing"] = run_timing(self.options.event, doc.offset, journal.started_at)
        started = time.monotonic()
        self.emit(RunStarted(journal))
        try:
            self.drive(self._sections(doc.sections, journal.sections, data))
            journal.status = "finished"
        except KeyboardInterrupt:
            self._interrupted(journal)
        decide(journal)
        more_reasons: list[str] = []
        try:
            more_reasons = judge(self, doc, journal, data)
        except KeyboardInterrupt:  # during the stability window: the verdict and reports still come
            self._interrupted(journal)
        journal.finished_at = now_utc()
        journal.duration_s = time.monotonic() - started
        decide(journal, more_reasons)
        try:
            if journal.verdict == "NO-GO":
                # Interrupted: rank without probing the systems again; the person wants out.
                probe = self.check_once if journal.status == "finished" else None
                recommend(self.lib, doc.on_no_go, journal, data, probe=probe)
            if doc.gate is not None and not self.options.dry_run and journal.status == "finished":
                record_decision(self, journal)
            self.close()
        except KeyboardInterrupt:
            self._interrupted(journal)
            decide(journal, more_reasons)
        self.emit(RunFinished(journal))
        return journal

    def _interrupted(self, journal: RunJournal) -> None:
        self.cancel.set()
        journal.status = "interrupted"
        for sr in journal.steps():
            if sr.started_at is None:
                sr.outcome, sr.message = "skipped", "not run: the run was interrupted"

    def check_once(self, step: Step, data: TemplateData) -> StepResult:
        """One attempt of a check, outside the journal's sections (gate re-checks)."""
        return self.drive(self._check_once(step, data))

    def check_all(self, steps: list[Step], data: TemplateData) -> list[StepResult]:
        """One attempt of each check, all at once (a gate round, a drill's poll)."""

        async def every() -> list[StepResult]:
            return list(await asyncio.gather(*(self._check_once(s, data) for s in steps)))

        return self.drive(every())

    async def _check_once(self, step: Step, data: TemplateData) -> StepResult:
        sr = once_result(step)
        if self._skipped_by_when(step, sr, data):
            return sr
        plugin = self.lib.registry.get(step.plugin or "")
        assert plugin is not None, "the loader rejects unknown plugins"
        executor = self._executor(data, None)
        sr.started_at = now_utc()
        started = time.monotonic()
        try:
            spec, args = executor.render_args(step, plugin)
        except StepError as exc:
            sr.attempts, sr.outcome, sr.message = 1, "error", str(exc)
        else:
            await executor.run(step, plugin, sr, spec, args, once=True)
        sr.duration_s = time.monotonic() - started
        return sr

    def _executor(self, data: TemplateData, sr: StepResult | None) -> StepExecutor:
        """The run's executor (made once: paths resolved, masking set up), with this step's
        retry reports; gate re-checks (sr None) are single attempts with nothing to report."""
        base, made_for = self._base_executor
        if base is None or made_for != (id(data), self.run_dir):
            base = StepExecutor(data, self.lib.project_dir, self.run_dir, self.cancel, _quiet, self.resources)
            self._base_executor = (base, (id(data), self.run_dir))
        if sr is None:
            return base
        executor = copy.copy(base)
        executor.on_retry = lambda n, msg: self.emit(StepAttempt(sr, n, msg))
        return executor

    def refuse_unconfirmable_destructive(self, steps: list[Step], data: TemplateData) -> None:
        """Without --yes and without a person to ask, a destructive runbook does not start."""
        if self.options.yes or self.options.dry_run or self.interaction.interactive:
            return
        names = [s.title for s in steps if self.is_destructive(s, data)]
        if names:
            raise UserError(
                f"destructive steps need confirmation: {', '.join(names)}; "
                "pass --yes to allow them (or run in a terminal to be asked)"
            )

    def is_destructive(self, step: Step, data: TemplateData) -> bool:
        if step.destructive:
            return True
        plugin = self.lib.registry.get(step.plugin or "")
        if plugin is None or not plugin.can_be_destructive:
            return False  # without the hook, only `destructive: true` makes it so: no rendering
        try:
            args = render(step.with_, data.for_templates()) if is_template(str(step.with_)) else step.with_
            return plugin.is_destructive(plugin.spec.model_validate(args))
        except (ExpressionError, ValueError):
            return False  # reported when the step runs

    # -- sections -------------------------------------------------------------
    def run_section(self, section: Section, result: SectionResult, data: TemplateData) -> None:
        self.drive(self._section(section, result, data))

    async def _sections(
        self, sections: list[Section], results: list[SectionResult], data: TemplateData
    ) -> None:
        for section, result in zip(sections, results, strict=True):
            await self._section(section, result, data)

    async def _section(self, section: Section, result: SectionResult, data: TemplateData) -> None:
        result.started_at = now_utc()
        started = time.monotonic()
        self.emit(SectionStarted(result))
        if not result.steps:
            result.steps = [self.new_result(step, section.name) for step in section.steps]
        try:
            if section.parallel:
                await run_parallel(section, result.steps, lambda st, sr: self.step(st, sr, data), self.emit)
            else:
                for step, sr in zip(section.steps, result.steps, strict=True):
                    if self.cancel.is_set():
                        break
                    await self.step(step, sr, data)
        finally:
            result.duration_s = time.monotonic() - started
            self.emit(SectionFinished(result))

    # -- steps ----------------------------------------------------------------
    def new_result(self, step: Step, section: str) -> StepResult:
        sr = StepResult(
            id=step.step_id,
            name=step.title,
            kind=step.kind,
            plugin=step.plugin,
            section=section,
            severity=step.severity,
            destructive=step.destructive,
            weight=step.weight,
            owner=step.owner,
            budget_s=step.budget,
        )
        self.results[sr.id] = sr
        return sr

    def run_step(self, step: Step, sr: StepResult, data: TemplateData) -> None:
        self.drive(self.step(step, sr, data))

    async def step(self, step: Step, sr: StepResult, data: TemplateData) -> None:
        """One step from start to finish: events, outcome, timing (its straight pipeline)."""
        sr.started_at = now_utc()
        started = time.monotonic()
        self.emit(StepStarted(sr))
        try:
            await self._step(step, sr, data)
        except asyncio.CancelledError:
            # cli.process.Terminated (SIGTERM) is a KeyboardInterrupt too; say which one stopped it.
            how = (
                "terminated (SIGTERM)"
                if type(self.cancel.reason).__name__ == "Terminated"
                else "interrupted (Ctrl-C)"
            )
            sr.outcome, sr.message = "error", f"{how} while running"
            raise
        finally:
            sr.duration_s = time.monotonic() - started
            self.emit(StepFinished(sr))

    def _skipped_by_when(self, step: Step, sr: StepResult, data: TemplateData) -> bool:
        when = step.compiled_when
        if when is None:
            return False
        try:
            if when.evaluate(data.for_expressions({})):
                return False
            sr.outcome, sr.message = "skipped", f"when: {when.source} is false"
        except ExpressionError as exc:
            sr.outcome, sr.message = "error", data.redactor.text(f"when: {exc}")
        return True

    async def _step(self, step: Step, sr: StepResult, data: TemplateData) -> None:
        unmet = [n for n in step.needs if self.results.get(n) is None or self.results[n].outcome != "passed"]
        if self.options.dry_run:
            unmet = []  # nothing ran, so nothing could pass: show the plan as it would run
        if unmet:
            sr.outcome, sr.message = "blocked", f"needs {', '.join(unmet)}, which did not pass"
            return
        if self._skipped_by_when(step, sr, data):
            return
        if step.manual is not None:
            await self.run_manual(step, sr, data)
            return
        await self.run_automated(step, sr, data)

    async def run_manual(self, step: Step, sr: StepResult, data: TemplateData) -> None:
        try:
            text = str(render(step.manual, data.for_templates()))
        except ExpressionError as exc:
            sr.outcome, sr.message = "error", data.redactor.text(str(exc))
            return
        sr.name = data.redactor.text(text)
        if self.options.dry_run:
            sr.outcome, sr.message = "skipped", "dry run: a person confirms this step"
            return
        answer = await in_caller(self._ask, self.interaction.ask_manual, sr, sr.name)
        if answer is None:
            if self.options.confirm_manual:
                sr.outcome, sr.answered_by = "passed", "--confirm-manual"
                sr.answered_at, sr.message = now_utc(), "confirmed by flag"
            else:
                sr.outcome = "pending"
                sr.message = "no terminal to ask (pass --confirm-manual to confirm)"
            return
        sr.answered_by, sr.answered_at = answer.by, now_utc()
        sr.operator_skipped = answer.choice == "skip"
        sr.outcome = {"done": "passed", "not-done": "failed", "skip": "skipped"}[answer.choice]  # type: ignore[assignment]
        sr.message = (
            answer.note
            or {"done": None, "not-done": "not done", "skip": "skipped by operator"}[answer.choice]
        )

    def _ask(self, question: Any, *args: Any) -> Any:
        with self.ask_lock:  # one question at a time, whichever thread asks
            return question(*args)

    async def run_automated(self, step: Step, sr: StepResult, data: TemplateData) -> None:
        plugin = self.lib.registry.get(step.plugin or "")
        assert plugin is not None, "the loader rejects unknown plugins"
        confirm = None if self.options.yes else self._confirm
        await self._executor(data, sr).perform(step, plugin, sr, self.options.dry_run, confirm)

    async def _confirm(self, sr: StepResult, shown: dict[str, Any]) -> bool:
        return bool(await in_caller(self._ask, self.interaction.confirm_destructive, sr, shown))


def _quiet(_attempt: int, _message: str) -> None:
    """Gate re-checks are single attempts: nothing to report between them."""
