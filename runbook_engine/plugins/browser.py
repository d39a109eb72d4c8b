"""Load a page in a real headless Chromium and report what a person would see (check)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins._chromium import FLAGS, find_chromium, kill_processes_of
from runbook_engine.plugins._pixels import is_blank, one_colour_share, share_pct

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["status < 400", "found != false", "not blank"]
KINDS = frozenset({"check"})
OUTPUTS = {
    "status": "HTTP status of the page's main document (null when the browser got none)",
    "title": "the page's <title>",
    "text": "the visible text of the page body, as a person reads it (at most 65,536 characters)",
    "console_errors": "errors in the browser console and uncaught exceptions (at most 50)",
    "found": "true when `wait_for` appeared in time, false when it did not; null without wait_for",
    "screenshot": "the path of the screenshot written, or null without `screenshot:`",
    "blank": "true when the page shows a single colour or nearly so (over 99.9% of its pixels)",
    "one_colour_pct": "percentage of the screenshot's pixels that have its dominant colour",
    "elapsed_ms": "from asking for the page to it being loaded (and wait_for found), in ms",
}
KEEP_CHARS = 64 * 1024
KEEP_ERRORS = 50
# Kept back from the step's time for the screenshot and for closing the browser, so a page
# that never loads ends with this plugin's own message rather than the engine's timeout.
RESERVE_S = 3.0


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = Field(default=1280, ge=200, le=7680, description="Window width in CSS pixels.")
    height: int = Field(default=800, ge=200, le=4320, description="Window height in CSS pixels.")


class Spec(PluginSpec):
    url: str = Field(description="The page to load, http:// or https://.")
    wait_for: str | None = Field(
        default=None,
        description="A CSS selector (#chart svg rect) or visible text (Throughput) to wait for "
        "after the page loaded; whichever appears first counts.",
    )
    screenshot: str | None = Field(default=None, description="Write a PNG screenshot to this path.")
    full_page: bool = Field(default=False, description="Screenshot the whole page, not only the window.")
    verify: bool = Field(default=True, description="Verify TLS certificates (false: self-signed servers).")
    viewport: Viewport = Field(default_factory=Viewport, description="Window size: {width, height}.")
    timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="How long the page may take to load and wait_for to appear. Default: the "
        "step's timeout less a few seconds kept for the screenshot and closing the browser.",
    )

    @model_validator(mode="after")
    def _http_only(self) -> Spec:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {self.url!r})")
        return self


def run(spec: Spec, ctx: Context) -> Outputs:
    sync_api = require("playwright.sync_api", "browser")
    image_module = require("PIL.Image", "browser")
    executable = find_chromium()
    # A fresh profile per attempt: no cookies or cache from an earlier run, and a unique
    # folder name that marks this browser's processes (see _chromium).
    profile = tempfile.mkdtemp(prefix="runbook-chromium-")
    done = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(ctx, profile, done), daemon=True)
    watchdog.start()
    try:
        return _visit(sync_api, image_module, executable, profile, spec, ctx)
    except sync_api.Error as exc:
        if ctx.cancel.is_set():
            raise StepError(f"{spec.url}: cancelled; the browser was closed") from None
        if ctx.remaining() == 0:
            raise StepError(f"{spec.url}: timed out after {ctx.timeout:g}s; the browser was closed") from None
        raise StepError(f"{spec.url}: the browser failed: {_first_line(exc)}") from None
    finally:
        done.set()
        watchdog.join(timeout=2)
        left = kill_processes_of(profile)  # normally none: Playwright closed them
        if left:
            ctx.log(f"ended {left} leftover Chromium processes")
        shutil.rmtree(profile, ignore_errors=True)


def _watch(ctx: Context, profile: str, done: threading.Event) -> None:
    """End the browser from outside when the run is cancelled or the step's time is up:
    the Playwright call blocked in the worker thread then fails at once."""
    while not done.is_set():
        left = ctx.remaining()
        if ctx.cancel.is_set() or left == 0:
            kill_processes_of(profile)
            return
        ctx.cancel.wait(0.2 if left is None else min(0.2, left))


def _visit(
    sync_api: Any, image_module: Any, executable: str, profile: str, spec: Spec, ctx: Context
) -> Outputs:
    with sync_api.sync_playwright() as pw:
        began = time.monotonic()
        try:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=FLAGS,
                viewport={"width": spec.viewport.width, "height": spec.viewport.height},
                ignore_https_errors=not spec.verify,
                # Chromium's crash handler keeps its database under HOME: keep it in the
                # profile (removed afterwards) and not in the user's home folder.
                env={**os.environ, "HOME": profile},
                timeout=_ms(ctx.remaining()),
            )
        except sync_api.TimeoutError:
            raise StepError(f"Chromium ({executable}) did not start within {ctx.timeout:g}s") from None
        ctx.log(f"Chromium started in {time.monotonic() - began:.1f}s ({executable})")
        try:
            return _look(sync_api, image_module, context, spec, ctx)
        finally:
            # Already ended when the watchdog struck; run() sweeps any leftover process.
            with contextlib.suppress(sync_api.Error):
                context.close()


def _look(sync_api: Any, image_module: Any, context: Any, spec: Spec, ctx: Context) -> Outputs:
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(_console_line(msg)) if _counts(msg) else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught {exc.name}: {exc.message}"))
    left = ctx.remaining()
    budget = left - min(RESERVE_S, 0.3 * left) if left is not None else None
    if spec.timeout is not None:
        budget = spec.timeout if budget is None else min(spec.timeout, budget)
    started = time.monotonic()
    deadline = None if budget is None else started + budget
    try:
        response = page.goto(spec.url, wait_until="load", timeout=_ms(budget))
    except sync_api.TimeoutError:
        raise StepError(f"{spec.url}: the page did not load within {round(budget or 0, 1):g}s") from None
    except sync_api.Error as exc:
        if ctx.cancel.is_set() or ctx.remaining() == 0:
            raise
        raise StepError(f"cannot load {spec.url}: {_net_reason(exc)}") from None
    status = response.status if response is not None else None
    ctx.log(f"GET {spec.url}: {status} in {(time.monotonic() - started) * 1000:.0f} ms")
    found = None
    if spec.wait_for is not None:
        found = _wait_for(sync_api, page, spec.wait_for, deadline)
        ctx.log(f"wait_for {spec.wait_for!r}: {'found' if found else 'not found in time'}")
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    quick = _ms(None if ctx.remaining() is None else max(0.5, (ctx.remaining() or 0) - 0.5))
    title = page.title()
    text = page.locator("body").inner_text(timeout=quick) if page.locator("body").count() else ""
    shot_path = None
    if spec.screenshot is not None:
        shot_path = ctx.resolve(spec.screenshot)
        shot_path.parent.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(
        path=None if shot_path is None else str(shot_path), full_page=spec.full_page, timeout=quick
    )
    share = one_colour_share(image_module.open(io.BytesIO(png)))
    written = f", written to {shot_path}" if shot_path else ""
    ctx.log(f"screenshot: {share_pct(share)}% one colour{written}")
    return {
        "status": status,
        "title": title,
        "text": text[:KEEP_CHARS],
        "console_errors": errors[:KEEP_ERRORS],
        "found": found,
        "screenshot": None if shot_path is None else str(shot_path),
        "blank": is_blank(share),
        "one_colour_pct": share_pct(share),
        "elapsed_ms": elapsed_ms,
    }


def _wait_for(sync_api: Any, page: Any, target: str, deadline: float | None) -> bool:
    """Wait for a CSS selector or a piece of visible text, whichever shows first."""
    valid_css = page.evaluate(
        "s => { try { document.querySelector(s); return true } catch (e) { return false } }", target
    )
    locator = page.get_by_text(target)
    if valid_css:
        locator = page.locator(target).or_(locator)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        locator.first.wait_for(state="visible", timeout=_ms(left))
    except sync_api.TimeoutError:
        return False
    return True


def _ms(seconds: float | None) -> float:
    """Playwright's timeout in ms; 0 means 'no limit' to Playwright, so never pass 0."""
    return 0 if seconds is None else max(1.0, seconds * 1000)


def _first_line(exc: BaseException) -> str:
    """Playwright's message without its call log and API prefix ("Page.goto: ")."""
    text = str(getattr(exc, "message", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    head, sep, rest = line.partition(": ")
    return rest if sep and "." in head and " " not in head else line


NET_REASONS = {
    "ERR_CONNECTION_REFUSED": "connection refused; is the server up?",
    "ERR_NAME_NOT_RESOLVED": "the host name does not resolve",
    "ERR_CONNECTION_RESET": "the server reset the connection",
    "ERR_EMPTY_RESPONSE": "the server closed the connection without answering",
    "ERR_ADDRESS_UNREACHABLE": "the address is unreachable",
    "ERR_CERT_AUTHORITY_INVALID": "the TLS certificate is not trusted",
    "ERR_UNSAFE_PORT": "Chromium refuses to connect to this port (it is on its list of unsafe ports)",
}


def _net_reason(exc: BaseException) -> str:
    line = _first_line(exc)
    for code, reason in NET_REASONS.items():
        if code in line:
            return f"{reason} (net::{code})"
    return line


def _counts(msg: Any) -> bool:
    """An error a person would see. Chromium asks for /favicon.ico by itself: a site without
    one logs a 404 that says nothing about the page, so it is not counted."""
    where = (msg.location or {}).get("url") or ""
    return bool(msg.type == "error") and not where.endswith("/favicon.ico")


def _console_line(msg: Any) -> str:
    where = msg.location or {}
    line, column = where.get("lineNumber") or 0, where.get("columnNumber") or 0
    # Chromium counts lines from 0; a failed resource load has no line at all (0:0).
    at = f":{line + 1}" if line or column else ""
    return f"{msg.text[:500]} ({where['url']}{at})" if where.get("url") else msg.text[:500]
