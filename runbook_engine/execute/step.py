"""One automated step, straight through: render once -> run (attempts) -> judge -> record.

Retries, waits, timeouts and judging live here once, for every plugin (plugins only
report facts). Each attempt runs the plugin's `run_async` on the engine loop, or its sync
`run` on a worker thread (execute/loop.py). Manual steps and ordering are the runner's
business.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runbook_engine.execute.data import TemplateData
from runbook_engine.execute.loop import WORKERS
from runbook_engine.expr import ExpressionError, render
from runbook_engine.format.spec import Step
from runbook_engine.journal import ExpectationResult, Outcome, StepResult
from runbook_engine.plugin import Context, PluginSpec, Resources, StepError
from runbook_engine.registry import PluginInfo

DEFAULT_TIMEOUT_S = 60.0
# A sync plugin that ignores its timeout is abandoned this long after it (its worker is a
# daemon thread); the step is reported as an error either way.
GRACE_S = 2.0
# An async plugin is cancelled this long after its timeout if it has not ended itself
# (well-behaved ones end at the timeout with their own message).
ASYNC_GRACE_S = 0.25
# The last poll of a `wait:` gets at least this long, so a slow answer near the end of
# the window is judged on what it says instead of becoming a timeout.
LAST_POLL_FLOOR_S = 2.0


@dataclass
class Attempt:
    outcome: Outcome
    message: str | None
    outputs: dict[str, Any]
    expectations: list[ExpectationResult]


class RunCancel(threading.Event):
    """The run-wide stop (Ctrl-C, SIGTERM): setting it also tells every attempt running on
    a worker thread to stop (its ctx.cancel), without a watcher thread per attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: set[threading.Event] = set()
        self.reason: BaseException | None = None

    def set(self) -> None:
        super().set()
        for event in list(self.attempts):
            event.set()


class StepExecutor:
    def __init__(
        self,
        data: TemplateData,
        workdir: Path,
        run_dir: Path,
        cancel: RunCancel,
        on_retry: Callable[[int, str], None],
        resources: Resources | None = None,
    ) -> None:
        self.data = data
        # Absolute: plugins hand these paths to subprocesses that run in other folders.
        self.workdir = workdir.absolute()
        self.run_dir = run_dir.absolute()
        self.cancel = cancel
        self.on_retry = on_retry
        self.redact = data.redactor
        self.resources = resources or Resources()

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

    async def perform(
        self,
        step: Step,
        plugin: PluginInfo,
        sr: StepResult,
        dry_run: bool,
        confirm: Callable[[StepResult, dict[str, Any]], Awaitable[bool]] | None,
    ) -> None:
        """Render once -> (dry run | confirm a destructive step) -> attempts -> record.
        `confirm` asks a person about a destructive step; None when --yes allows them."""
        spec: PluginSpec | None = None
        args: dict[str, Any] = {}
        problem: StepError | None = None
        try:
            spec, args = self.render_args(step, plugin)
        except StepError as exc:
            problem = exc
        destructive = step.destructive or (spec is not None and plugin.is_destructive(spec))
        sr.destructive = destructive
        if dry_run:
            if problem is None:
                sr.args = self.redact.data(args, trim=True)
                sr.outcome, sr.message = "skipped", "dry run" + (" (destructive)" if destructive else "")
            elif "steps" not in str(step.with_):
                sr.outcome, sr.message = "error", str(problem)
            else:
                # It reads outputs of earlier steps, which a dry run does not produce.
                sr.args = self.redact.data(step.with_, trim=True)
                sr.outcome, sr.message = "skipped", "dry run (shown unrendered: uses earlier steps' outputs)"
            return
        if destructive and confirm is not None and not await confirm(sr, self.redact.data(args)):
            sr.outcome, sr.message = "skipped", "destructive step declined by the operator"
            sr.operator_skipped = True
            return
        if spec is None:
            sr.attempts, sr.outcome, sr.message = 1, "error", str(problem)
            self.data.steps[sr.id] = {}
            return
        self.data.steps[sr.id] = await self.run(step, plugin, sr, spec, args)

    async def run(
        self,
        step: Step,
        plugin: PluginInfo,
        result: StepResult,
        spec: PluginSpec,
        args: dict[str, Any],
        once: bool = False,
    ) -> dict[str, Any]:
        """Run all attempts with the rendered arguments, fill `result`, return the raw
        outputs (for `steps.<id>`). `once`: a single attempt, no retry or wait (re-checks)."""
        retry = None if once else step.retry
        attempts = retry.attempts if retry else 1
        delay = retry.delay if retry else 0.0
        last = Attempt("error", "not run", {}, [])
        for n in range(1, attempts + 1):
            if step.wait and not once:
                last = await self._wait_loop(step, plugin, result, spec)
            else:
                last = await self._attempt(step, plugin, result, spec)
            if last.outcome == "passed" or self.cancel.is_set():
                break
            if n < attempts:
                self.on_retry(n, last.message or last.outcome)
                await asyncio.sleep(delay)
                delay *= retry.backoff if retry else 1.0
        result.outcome = last.outcome
        result.message = last.message
        result.expectations = last.expectations
        result.outputs = self.redact.data(last.outputs, trim=True)
        result.args = self.redact.data(args, trim=True)
        return last.outputs

    async def _wait_loop(
        self, step: Step, plugin: PluginInfo, result: StepResult, spec: PluginSpec
    ) -> Attempt:
        assert step.wait is not None
        deadline = time.monotonic() + step.wait.timeout
        polls = 0
        while True:
            left = deadline - time.monotonic()
            # The last poll gets a floor: capped at a sliver of time, a slow but honest
            # answer would turn into a timeout (error) instead of the failure it shows.
            cap = round(max(left, LAST_POLL_FLOOR_S), 1)  # messages name it: 2.4s, not 2.399871s
            attempt = await self._attempt(step, plugin, result, spec, cap=cap)
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
            await asyncio.sleep(min(step.wait.interval, left))

    async def _attempt(
        self, step: Step, plugin: PluginInfo, result: StepResult, spec: PluginSpec, cap: float | None = None
    ) -> Attempt:
        result.attempts += 1
        timeout = step.timeout or DEFAULT_TIMEOUT_S
        if cap is not None:
            timeout = min(timeout, cap)
        lines: list[str] = []
        ctx = Context(
            step_id=result.id,  # the same id, without slugifying the name again
            timeout=timeout,
            workdir=self.workdir,
            run_dir=self.run_dir,
            secrets=self.data.secrets,
            log=lines.append,
            resources=self.resources,
        )
        outputs, error = await self._call(plugin, spec, ctx, timeout)
        result.evidence = [self.redact.text(str(line)) for line in lines[-50:]]
        if error is not None:
            return Attempt("error", self.redact.text(error), {}, [])
        return self._judge(step, plugin, outputs)

    async def _call(
        self, plugin: PluginInfo, spec: PluginSpec, ctx: Context, timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        try:
            if plugin.run_async is not None:
                outputs = await self._call_async(plugin, spec, ctx, timeout)
            else:
                outputs = await self._call_sync(plugin, spec, ctx, timeout)
        except _Abandoned as exc:
            return {}, f"timed out after {timeout:g}s: {plugin.name} did not finish ({exc}){_target(spec)}"
        except StepError as exc:
            return {}, str(exc)
        except Exception as exc:  # a plugin bug must not take the run down: report it on the step
            return {}, f"plugin {plugin.name} failed: {type(exc).__name__}: {exc}"
        if not isinstance(outputs, dict):
            return {}, f"plugin {plugin.name} returned {type(outputs).__name__}, not a mapping"
        try:
            return plain(outputs), None
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: it contains itself
            return {}, f"plugin {plugin.name} returned data that is not plain: {exc}"

    async def _call_async(self, plugin: PluginInfo, spec: PluginSpec, ctx: Context, timeout: float) -> Any:
        assert plugin.run_async is not None
        try:
            async with asyncio.timeout(timeout + ASYNC_GRACE_S) as limit:
                return await plugin.run_async(spec, ctx)
        except TimeoutError:
            if limit.expired():
                raise _Abandoned("cancelled") from None
            raise
        finally:
            ctx.cancel.set()

    async def _call_sync(self, plugin: PluginInfo, spec: PluginSpec, ctx: Context, timeout: float) -> Any:
        self.cancel.attempts.add(ctx.cancel)
        if self.cancel.is_set():
            ctx.cancel.set()
        future = WORKERS.submit(f"step-{ctx.step_id}", plugin.module.run, spec, ctx)
        # A timer rather than asyncio.timeout + shield (a quarter of the cost of the hand-off):
        # the future is ours, and the worker leaves a settled one alone.
        timer = asyncio.get_running_loop().call_later(timeout + GRACE_S, _give_up, future)
        try:
            return await future
        finally:
            timer.cancel()
            ctx.cancel.set()  # ends the plugin's waits if it is still going
            self.cancel.attempts.discard(ctx.cancel)

    def _judge(self, step: Step, plugin: PluginInfo, outputs: dict[str, Any]) -> Attempt:
        expressions = step.compiled_expect or plugin.default_expect
        data = self.data.for_expressions(outputs)
        results: list[ExpectationResult] = []
        failed: list[str] = []
        for expr in expressions:
            try:
                ok = bool(expr.evaluate(data))
                detail = expr.explain(data)
            except ExpressionError as exc:
                ok, detail = False, f"{expr.explain(data)} ({exc})"
            detail = self.redact.text(detail)
            results.append(ExpectationResult(expr=expr.source, passed=ok, detail=detail))
            if not ok:
                failed.append(detail)
        if failed:
            return Attempt("failed", "; ".join(failed), outputs, results)
        return Attempt("passed", None, outputs, results)


class _Abandoned(Exception):
    """The plugin did not end by its timeout (plus grace); the word says what was done."""


def _give_up(future: asyncio.Future[Any]) -> None:
    """The sync plugin's time (plus grace) is up: stop waiting for it; its worker thread
    finishes on its own, or is abandoned with the process."""
    if not future.done():
        future.set_exception(_Abandoned("abandoned"))


_PLAIN_SCALARS = (str, int, float, bool, type(None))
_EXACT = frozenset(_PLAIN_SCALARS)


def _is_plain(value: Any) -> bool:
    """Already JSON data (exact types: a subclass such as an enum is converted)."""
    kind = type(value)
    if kind in _EXACT:
        return True
    if kind is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if kind is list:
        return all(_is_plain(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """Plugin outputs as plain JSON data (what `json.loads(json.dumps(v, default=str))`
    gives: tuples as lists, other objects as their str, keys as text), without copying
    what is already plain (outputs almost always are)."""
    return value if _is_plain(value) else _converted(value)


def _converted(value: Any) -> Any:
    if type(value) in _EXACT:
        return value
    if isinstance(value, str | int | float):  # an enum or other subclass: its plain value, as json writes it
        base = str if isinstance(value, str) else float if isinstance(value, float) else int
        return base.__str__(value) if base is str else base(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, _PLAIN_SCALARS):
                raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")
            out[k if isinstance(k, str) else _key(k)] = _converted(v)
        return out
    if isinstance(value, list | tuple):
        return [_converted(v) for v in value]
    return str(value)


def _key(k: Any) -> str:
    """A JSON object key as json.dumps writes it (True -> "true", None -> "null")."""
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    return str(k) if isinstance(k, int) else repr(k)


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


def running_plugins() -> list[str]:
    """The sync plugins still running on worker threads (named step-<id>)."""
    return WORKERS.running()


def finish_plugins(timeout: float = 5.0) -> list[str]:
    """Give plugins still running (cancelled by Ctrl-C or a timeout) up to `timeout` seconds
    to clean up (a shell step ends its process group) before the process exits; daemon
    threads would otherwise die mid-cleanup. Returns the names of those abandoned."""
    return WORKERS.finish(timeout)
