"""A realistic runbook run for real against a local HTTP server, shell commands and a
project plugin, so every report format is rendered from a journal the engine produced."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runbook_engine.journal import RunJournal
from tests.conftest import CliResult, Project
from tests.support.httpserver import Server

SECRET = "s3cr3t-token-value"

PROBE_PLUGIN = '''
"""Scan a table and log what it saw (a project-local check that leaves evidence)."""
from pydantic import Field
from runbook_engine.plugin import Context, PluginSpec

KINDS = frozenset({"check"})
OUTPUTS = {"rows": "rows scanned", "sample": "the first row"}


class Spec(PluginSpec):
    table: str = Field(description="Table name.")


def run(spec: Spec, ctx: Context) -> dict[str, object]:
    for i in range(1, 13):
        ctx.log(f"scanned partition {i} of {spec.table}")
    return {"rows": 1200, "sample": {"id": 1, "total": 9.5}}
'''

RUNBOOK = """
kind: runbook
name: launch-check
title: Launch readiness
description: Prove the service answers before the launch call.
offset: -30m
budget: 2m
secrets: [API_TOKEN]
vars:
  api: "http://127.0.0.1:1"
  profile: laptop
on_no_go: [api-down]
sections:
  - name: Service
    budget: 1m
    steps:
      - name: API is healthy
        id: health
        check: http
        with:
          url: "{{ vars.api }}/health"
          headers: {X-Token: "{{ secrets.API_TOKEN }}"}
        expect: [status == 200, json.status == "healthy"]
      - name: Orders endpoint answers after a restart
        check: http
        with: {url: "{{ vars.api }}/orders"}
        expect: [status == 200]
        retry: {attempts: 2, delay: 100ms}
      - name: Token is configured
        check: shell
        with: {command: "echo token={{ secrets.API_TOKEN }}; echo checked >&2"}
        expect: ["'token=' in stdout"]
      - name: "<script>alert(1)</script> is shown as text"
        check: shell
        with: {command: "printf 'line %s\\\\n' 1 2 3 4 5 6 7 8 9 10 11 12"}
      - name: Disk has room
        check: shell
        severity: warning
        with: {command: "for d in 1 2 3 4 5 6 7 8 9 10; do echo disk$d 97% used; done"}
        expect: ["'97%' not in stdout"]
  - name: Data
    steps:
      - name: Orders table has rows
        check: probe
        with: {table: orders}
        expect: [rows >= 1000]
      - name: Dashboard shows orders
        needs: [health]
        check: http
        with: {url: "{{ vars.api }}/dashboard"}
        expect: [status == 200]
      - name: Containers are up
        when: vars.profile == "docker"
        check: shell
        with: {command: "docker ps"}
  - name: People
    steps:
      - manual: Presenter laptop on power
        owner: presenter
      - manual: Backup demo video open
        owner: stage
"""

CONTINGENCY = """
kind: contingency
name: api-down
title: API down
symptoms: /health answers 5xx or nothing
rto: 3m
detect:
  - name: API answers
    check: http
    with: {url: "http://127.0.0.1:1/health"}
recover:
  - name: Restart the API
    action: shell
    with: {command: "true"}
verify:
  - name: API is healthy again
    check: http
    with: {url: "http://127.0.0.1:1/health"}
fallback:
  - manual: Switch to the recorded demo
    owner: presenter
"""


@dataclass
class Run:
    result: CliResult
    journal: RunJournal
    path: Path


def setup(project: Project, server: Server) -> None:
    """Write the runbooks and the project plugin; the server answers healthy."""
    project.write("checks/probe.py", PROBE_PLUGIN)
    project.runbook("launch-check", RUNBOOK)
    project.write("runbooks/contingencies/api-down.yaml", CONTINGENCY)
    server.route("/health", body={"status": "healthy"})
    server.route("/orders", fail_first=1)
    server.route("/dashboard", body={"orders": 42})


def run(
    project: Project, server: Server, name: str = "journal", *reports: str, event: str | None = None
) -> Run:
    """Run the scenario with the real CLI; the journal is always written as JSON."""
    path = project.root / f"{name}.json"
    args = ["run", "launch-check", "--var", f"api={server.url}", "--confirm-manual", "--report", str(path)]
    if event:
        args += ["--event", event]
    for extra in reports:
        args += ["--report", str(project.root / extra)]
    result = project.cli(*args)
    return Run(result, RunJournal.model_validate_json(path.read_text()), path)


_NORMALISE = [
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"), "<TIMESTAMP>"),
    (re.compile(r"\d\d:\d\d:\d\d \(\+[0-9.]+s\)"), "<START>"),
    (re.compile(r"\b\d+\.\d+s\b"), "<DURATION>"),
    (re.compile(r"\(\d+%\)"), "(<PERCENT>)"),
    (re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}"), "<RUN_ID>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    (re.compile(r"elapsed_ms=[0-9.]+"), "elapsed_ms=<MS>"),
    (re.compile(r"runbook \d+\.\d+\.\d+\S*"), "runbook <VERSION>"),
    (re.compile(r"^\| Host / user \|.*\|$", re.MULTILINE), "| Host / user | <HOST> / <USER> |"),
]


def normalise(text: str) -> str:
    """Timings, dates, ports, hosts and run ids replaced by placeholders, for golden files."""
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text
