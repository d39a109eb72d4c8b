"""One automated step: render, validate, run the plugin with a timeout, judge, retry, wait.

Retries, waits, timeouts and judging live here once, for every plugin (plugins only
report facts). Manual steps and ordering are the runner's business.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runbook_engine.execute.data import TemplateData
from runbook_engine.expr import ExpressionError, render
from runbook_engine.format.spec import Step
from runbook_engine.journal import ExpectationResult, Outcome, StepResult
from runbook_engine.plugin import Context, PluginSpec, StepError
from runbook_engine.registry import PluginInfo

DEFAULT_TIMEOUT_S = 60.0
# A plugin that ignores its timeout is abandoned this long after it (its thread is a
# daemon); the step is reported as an error either way.
GRACE_S = 2.0


@dataclass
class Attempt:
    outcome: Outcome
    message: str | None
    outputs: dict[str, Any]
    expectations: list[ExpectationResult]
    args: dict[str, Any]


class StepExecutor:
    def __init__(
        self,
        data: TemplateData,
        workdir: Path,
        run_dir: Path,
        cancel: threading.Event,
        on_retry: Callable[[int, str], None],
    ) -> None:
        self.data = data
        # Absolute: plugins hand these paths to subprocesses that run in other folders.
        self.workdir = workdir.absolute()
        self.run_dir = run_dir.absolute()
        self.cancel = cancel
        self.on_retry = on_retry
        self.redact = data.redactor

    def render_args(self, step: Step, plugin: PluginInfo) -> tuple[PluginSpec, dict[str, Any]]:
        """Rendered and validated `with:`; raises StepError naming the key on a problem."""
        try:
            rendered = render(step.with_, self.data.for_templates(), "with")
        except ExpressionError as exc:
            raise StepError(self.redact.text(str(exc))) from None
        try:
            spec = plugin.spec.model_validate(rendered)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            got = _source(step.with_, rendered, tuple(first["loc"]))
            msg = str(first["msg"]).removeprefix("Value error, ")  # Pydantic's wording, not ours
            raise StepError(self.redact.text(f"with.{key}: {msg}{got}")) from None
        return spec, rendered

    def run(self, step: Step, plugin: PluginInfo, result: StepResult) -> dict[str, Any]:
        """Run all attempts, fill `result`, return the raw outputs (for `steps.<id>`)."""
        retry_attempts = step.retry.attempts if step.retry else 1
        delay = step.retry.delay if step.retry else 0.0
        last = Attempt("error", "not run", {}, [], {})
        for n in range(1, retry_attempts + 1):
            last = self._wait_loop(step, plugin, result) if step.wait else self._attempt(step, plugin, result)
            if last.outcome == "passed" or self.cancel.is_set():
                break
            if n < retry_attempts:
                self.on_retry(n, last.message or last.outcome)
                if self.cancel.wait(delay):
                    break
                delay *= step.retry.backoff if step.retry else 1.0
        result.outcome = last.outcome
        result.message = last.message
        result.expectations = last.expectations
        result.outputs = self.redact.data(last.outputs, trim=True)
        result.args = self.redact.data(last.args, trim=True)
        return last.outputs

    def _wait_loop(self, step: Step, plugin: PluginInfo, result: StepResult) -> Attempt:
        assert step.wait is not None
        deadline = time.monotonic() + step.wait.timeout
        polls = 0
        while True:
            left = deadline - time.monotonic()
            attempt = self._attempt(step, plugin, result, cap=max(left, 0.05))
            polls += 1
            if attempt.outcome == "passed" or self.cancel.is_set():
                return attempt
            left = deadline - time.monotonic()
            if left <= 0:
                attempt.message = (
                    f"still not passing after waiting {step.wait.timeout:g}s "
                    f"({polls} polls): {attempt.message}"
                )
                return attempt
            self.on_retry(polls, attempt.message or attempt.outcome)
            if self.cancel.wait(min(step.wait.interval, left)):
                return attempt

    def _attempt(
        self, step: Step, plugin: PluginInfo, result: StepResult, cap: float | None = None
    ) -> Attempt:
        result.attempts += 1
        try:
            spec, args = self.render_args(step, plugin)
        except StepError as exc:
            return Attempt("error", str(exc), {}, [], {})
        timeout = step.timeout or DEFAULT_TIMEOUT_S
        if cap is not None:
            timeout = min(timeout, cap)
        attempt_cancel = threading.Event()
        lines: list[str] = []
        ctx = Context(
            step_id=step.step_id,
            timeout=timeout,
            workdir=self.workdir,
            run_dir=self.run_dir,
            secrets=self.data.secrets,
            cancel=attempt_cancel,
            log=lambda line: lines.append(self.redact.text(str(line))),
        )
        outputs, error = self._call(plugin, spec, ctx, timeout)
        result.evidence = lines[-50:]
        if error is not None:
            return Attempt("error", self.redact.text(error), {}, [], args)
        return self._judge(step, plugin, outputs, args)

    def _call(
        self, plugin: PluginInfo, spec: PluginSpec, ctx: Context, timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        # A daemon thread, not a pool: a plugin stuck in a library call that ignores its
        # timeout (a socket that never answers) is abandoned at the deadline, and must not
        # keep the process alive after the verdict (pool threads are joined at exit).
        future: Future[Any] = Future()
        worker = threading.Thread(
            target=_resolve,
            args=(future, plugin.module.run, spec, ctx),
            name=f"step-{ctx.step_id}",
            daemon=True,
        )
        _WORKERS.add(worker)
        worker.start()
        relay = threading.Thread(target=self._relay_cancel, args=(future, ctx.cancel), daemon=True)
        relay.start()
        try:
            outputs = future.result(timeout=timeout + GRACE_S)
        except FutureTimeout:
            ctx.cancel.set()
            where = _target(spec)
            return {}, f"timed out after {timeout:g}s: {plugin.name} did not finish (abandoned){where}"
        except StepError as exc:
            return {}, str(exc)
        except Exception as exc:  # a plugin bug must not take the run down: report it on the step
            return {}, f"plugin {plugin.name} failed: {type(exc).__name__}: {exc}"
        finally:
            ctx.cancel.set()  # also ends the relay thread
        if not isinstance(outputs, dict):
            return {}, f"plugin {plugin.name} returned {type(outputs).__name__}, not a mapping"
        try:
            outputs = json.loads(json.dumps(outputs, default=str))  # plain data only
        except (TypeError, ValueError) as exc:
            return {}, f"plugin {plugin.name} returned data that is not plain: {exc}"
        return outputs, None

    def _relay_cancel(self, future: Future[Any], attempt_cancel: threading.Event) -> None:
        """Pass a run-wide cancel (Ctrl-C) on to the attempt."""
        while not future.done() and not attempt_cancel.is_set():
            if self.cancel.wait(0.1):
                attempt_cancel.set()
                return

    def _judge(
        self, step: Step, plugin: PluginInfo, outputs: dict[str, Any], args: dict[str, Any]
    ) -> Attempt:
        expressions = step.compiled_expect or plugin.default_expect
        data = self.data.for_expressions(outputs)
        results: list[ExpectationResult] = []
        for expr in expressions:
            try:
                ok = bool(expr.evaluate(data))
                detail = expr.explain(data)
            except ExpressionError as exc:
                ok, detail = False, f"{expr.explain(data)} ({exc})"
            results.append(ExpectationResult(expr=expr.source, passed=ok, detail=self.redact.text(detail)))
        failed = [r for r in results if not r.passed]
        if failed:
            return Attempt("failed", "; ".join(r.detail for r in failed), outputs, results, args)
        return Attempt("passed", None, outputs, results, args)


def _source(raw: Any, rendered: Any, loc: tuple[Any, ...]) -> str:
    """' (got 'eighty' from "{{ env.port }}")': the value that failed and the template it
    came from, since the file shows only the template (secrets are masked by the caller)."""
    for part in loc:
        try:
            raw, rendered = raw[part], rendered[part]
        except (KeyError, IndexError, TypeError):
            return ""
    if isinstance(raw, str) and raw != rendered:
        return f" (got {rendered!r} from {raw!r})"
    return f" (got {rendered!r})"


_WORKERS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
TARGET_KEYS = ("url", "uri", "host", "database", "path", "file", "table", "playbook", "project")


def _target(spec: PluginSpec) -> str:
    """'; it was working on URL': what a stuck plugin was talking to, from its arguments
    (a catalog's uri sits one level down), so the message points somewhere."""
    args = spec.model_dump()
    scopes = (args, *(v for v in args.values() if isinstance(v, dict)))
    for key in TARGET_KEYS:  # the most telling key first, wherever it sits
        for scope in scopes:
            value = scope.get(key)
            if isinstance(value, str | int) and value != "":
                return f"; it was working on {key} {value}"
    return ""


def _resolve(future: Future[Any], fn: Any, *args: Any) -> None:
    """Run fn in this thread and settle the future with its result or exception."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # handed to the waiting thread, which decides
        future.set_exception(exc)


def running_plugins() -> list[str]:
    """The threads of plugins still running (named step-<id>)."""
    return [w.name for w in list(_WORKERS) if w.is_alive()]


def finish_plugins(timeout: float = 5.0) -> list[str]:
    """Give plugins still running (cancelled by Ctrl-C or a timeout) up to `timeout` seconds
    to clean up (a shell step ends its process group) before the process exits; daemon
    threads would otherwise die mid-cleanup. Returns the names of those abandoned."""
    deadline = time.monotonic() + timeout
    for worker in list(_WORKERS):
        worker.join(max(0.0, deadline - time.monotonic()))
    return running_plugins()
