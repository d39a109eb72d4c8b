"""Synchronous plugins on the worker pool: reused threads, abandoned when stuck; and the
parts of a step's pipeline that are plain functions."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from runbook_engine.execute.loop import IDLE_WORKERS
from runbook_engine.execute.runner import Runner
from runbook_engine.execute.section import in_cycles
from runbook_engine.execute.step import plain, running_plugins
from runbook_engine.format.loader import load_library
from runbook_engine.format.spec import Step
from runbook_engine.journal import RunJournal
from tests.conftest import Project
from tests.support.httpserver import Server

PLUGINS = '''
"""Test plugins: one that never returns until released, one that says which thread ran it."""
import threading

from runbook_engine.plugin import Context, PluginSpec

NAME = "{name}"
KINDS = frozenset({{"check"}})
OUTPUTS = {{"thread": "the id of the thread that ran it"}}
RELEASE = threading.Event()
THREADS: list[threading.Thread] = []


class Spec(PluginSpec):
    url: str = "none"


def run(spec: Spec, ctx: Context) -> dict[str, object]:
    THREADS.append(threading.current_thread())
    if NAME == "stuck":
        RELEASE.wait()  # ignores ctx.cancel and its timeout, like a socket read that never returns
    return {{"thread": threading.get_ident()}}
'''


def _run(tmp_path: Path, runbook: str) -> RunJournal:
    (tmp_path / "checks").mkdir(exist_ok=True)
    for name in ("stuck", "whoami"):
        (tmp_path / "checks" / f"{name}.py").write_text(PLUGINS.format(name=name))
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "r.yaml").write_text(textwrap.dedent(runbook))
    return Runner(load_library(tmp_path / "runbooks")).run("r")


def test_a_sync_plugin_that_ignores_its_timeout_is_abandoned_and_reported(tmp_path: Path) -> None:
    """The step errors at its timeout plus the grace, naming what the plugin worked on; its
    worker is listed as still running until the call returns, then it is free again."""
    journal = _run(
        tmp_path,
        """
        kind: runbook
        name: r
        sections: [{name: S, steps: [{name: Hangs, check: stuck, timeout: 300ms, with: {url: 'http://127.0.0.1:9/x'}}]}]
        """,
    )
    step = journal.sections[0].steps[0]
    assert (step.outcome, step.message) == (
        "error",
        "timed out after 0.3s: stuck did not finish (abandoned); it was working on url http://127.0.0.1:9/x",
    )
    assert step.duration_s is not None and step.duration_s < 10
    assert running_plugins() == ["step-hangs"]
    sys.modules["runbook_checks_stuck"].RELEASE.set()
    deadline = time.monotonic() + 10
    while running_plugins() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running_plugins() == []


def test_sequential_sync_steps_reuse_worker_threads(tmp_path: Path) -> None:
    """Thirty sync steps in a row run on a few reused threads, not on a new thread each
    (before: two new threads per attempt)."""
    steps = ", ".join(f"{{name: Step {i}, check: whoami, expect: 'thread > 0'}}" for i in range(30))
    journal = _run(tmp_path, f"kind: runbook\nname: r\nsections: [{{name: S, steps: [{steps}]}}]\n")
    assert journal.verdict == "GO", journal.reasons
    threads: list[threading.Thread] = sys.modules["runbook_checks_whoami"].THREADS
    assert len(threads) == 30
    assert len(set(threads)) <= IDLE_WORKERS
    assert all(t.daemon for t in threads)


def test_plugin_outputs_become_plain_data() -> None:
    """Outputs reach templates and the journal as JSON data (tuples as lists, objects as
    text, keys as text), and data that is already plain is not copied."""
    already: dict[str, Any] = {"a": [1, {"b": None}], "c": "x"}
    assert plain(already) is already
    assert plain({"t": (1, 2), 1: Path("/x"), None: True}) == {"t": [1, 2], "1": "/x", "null": True}


def test_steps_caught_in_a_needs_cycle_are_found() -> None:
    """A needs cycle inside a parallel section (and what waits on it) is found before the
    section starts, so the run reports them instead of hanging."""
    steps = [
        Step.model_validate({"name": n, "check": "file", "needs": needs})
        for n, needs in (("a", ["b"]), ("b", ["a"]), ("c", ["a"]), ("d", []), ("e", ["d", "outside"]))
    ]
    assert in_cycles(steps) == {"a", "b", "c"}


def test_the_last_poll_of_a_wait_reports_what_it_saw(project: Project, http_server: Server) -> None:
    """A slow answer near the end of a wait's window is judged (failed, with what it saw),
    not cut off into an error by the little time left (a flake of the old engine)."""
    http_server.route("/slow", status=503, body={"status": "starting"}, delay_s=0.5)
    project.runbook(
        "w",
        f"""
        kind: runbook
        name: w
        sections:
          - name: S
            steps:
              - name: Slow and down
                check: http
                with: {{url: "{http_server.url}/slow"}}
                expect: status == 200
                wait: {{timeout: 700ms, interval: 50ms}}
        """,
    )
    _, journal = project.run_json("w")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert step["outcome"] == "failed", step["message"]
    assert step["message"].startswith("still not passing after waiting 0.7s (")
    assert step["message"].endswith("polls): status == 200 -> status = 503")
