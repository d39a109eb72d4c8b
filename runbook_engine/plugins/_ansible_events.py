"""ansible-runner's event stream as facts, and the timeout/cancel watcher for a playbook run.

Kept apart from plugins/ansible.py (the step: arguments, private folder, secrets) because
this part only reads events and decides when to stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from runbook_engine.plugin import Context

MAX_TASKS = 500
MAX_FAILED = 100
MAX_MESSAGE = 2000
MAX_VERBOSE = 4000
TASK_EVENTS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})


class Events:
    """Turns ansible-runner's event stream into facts and evidence lines; keeps none on disk."""

    def __init__(self, ctx: Context, scrub: Callable[[str], str]) -> None:
        self.ctx = ctx
        self.scrub = scrub
        self.on_start: Callable[[], None] = lambda: None
        self.tasks: list[dict[str, Any]] = []
        self.task_count = 0
        self.failed: list[dict[str, Any]] = []
        self.stats: dict[str, dict[str, int]] | None = None
        self.verbose: list[str] = []
        self.pid: int | None = None  # ansible-playbook's own process: callbacks run there

    def handle(self, event: dict[str, Any]) -> bool:
        try:
            self._handle(event)
        except Exception as exc:  # an odd event must not kill a running playbook
            self.ctx.log(f"ignored an ansible-runner event we could not read: {exc!r}")
        # False: ansible-runner keeps no job event file (events carry task args and results).
        return False

    def _handle(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event", ""))
        data: dict[str, Any] = event.get("event_data") or {}
        if self.pid is None and isinstance(event.get("pid"), int):
            self.pid = event["pid"]
        if kind == "playbook_on_start":
            self.on_start()
        elif kind in TASK_EVENTS:
            self._task(kind, data)
        elif kind == "playbook_on_stats":
            self.stats = _stats(data)
        elif kind == "verbose":
            text = str(event.get("stdout") or "").rstrip()
            if text:
                self.verbose.append(self.scrub(text))
                if len(self.verbose) <= 200:
                    self.ctx.log(self.verbose[-1])

    def _task(self, kind: str, data: dict[str, Any]) -> None:
        res: dict[str, Any] = data.get("res") or {}
        status = _task_status(kind, data, res)
        host = self.scrub(str(data.get("host", "")))
        task = self.scrub(str(data.get("task", "")))
        duration = data.get("duration")
        duration_s = round(float(duration), 3) if isinstance(duration, (int, float)) else None
        self.task_count += 1
        if len(self.tasks) < MAX_TASKS:
            self.tasks.append({"host": host, "task": task, "status": status, "duration_s": duration_s})
        line = f"{status} {host}: {task}"
        if duration_s is not None:
            line += f" ({duration_s:.2f}s)"
        if status in ("failed", "unreachable", "ignored"):
            message = self.scrub(_message(res))
            line += f" - {message}"
            if status != "ignored" and len(self.failed) < MAX_FAILED:
                self.failed.append({"host": host, "task": task, "message": message})
        self.ctx.log(line)

    def verbose_text(self) -> str:
        return "\n".join(self.verbose)[-MAX_VERBOSE:]


class Stopper:
    """ansible-runner's cancel callback: stops ansible-playbook at the deadline or on cancel.

    ansible-runner stops a run with SIGKILL to ansible-playbook's process group, but Ansible's
    workers run in sessions of their own (setsid) and would go on running the current task
    (a `sleep 30` outlived a killed playbook in our tests). SIGTERM first lets ansible-playbook
    stop its workers; the SIGKILL follows only if it has not exited after a grace period.
    """

    GRACE_S = 5.0

    def __init__(self, ctx: Context, events: Events) -> None:
        self.ctx = ctx
        self.events = events
        self.reason: str | None = None
        self.term_sent: float | None = None

    def backstop_timeout(self) -> int | None:
        remaining = self.ctx.remaining()
        return None if remaining is None else int(remaining + self.GRACE_S + 2)

    def __call__(self) -> bool:
        if self.reason is None:
            remaining = self.ctx.remaining()
            if self.ctx.cancel.is_set():
                self.reason = "cancelled"
            elif remaining is not None and remaining <= 0:
                self.reason = "timeout"
            else:
                return False
        if self.events.pid is None:
            return True  # no event yet, so no task and no worker: the group kill is enough
        if self.term_sent is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.events.pid, signal.SIGTERM)
            self.term_sent = time.monotonic()
        return time.monotonic() - self.term_sent > self.GRACE_S


def _task_status(kind: str, data: dict[str, Any], res: dict[str, Any]) -> str:
    if kind == "runner_on_ok":
        return "changed" if res.get("changed") else "ok"
    if kind == "runner_on_failed":
        return "ignored" if data.get("ignore_errors") else "failed"
    if kind == "runner_on_skipped":
        return "skipped"
    return "unreachable"


def _message(res: dict[str, Any]) -> str:
    # `censored` is what Ansible leaves of a no_log task's result.
    parts = [str(res[key]).strip() for key in ("msg", "censored", "reason") if res.get(key)]
    if res.get("stderr"):
        parts.append(str(res["stderr"]).strip())
    return (": ".join(parts) or "no message")[:MAX_MESSAGE]


def _stats(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    # Our names -> the keys of Ansible's recap ("dark" is Ansible's word for unreachable).
    keys = {
        "ok": "ok",
        "changed": "changed",
        "failed": "failures",
        "unreachable": "dark",
        "skipped": "skipped",
        "rescued": "rescued",
        "ignored": "ignored",
    }
    hosts: set[str] = set(data.get("processed") or {})
    for source in keys.values():
        hosts |= set(data.get(source) or {})
    return {
        host: {name: int((data.get(source) or {}).get(host, 0)) for name, source in keys.items()}
        for host in sorted(hosts)
    }
