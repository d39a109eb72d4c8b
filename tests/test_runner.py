"""The runner against real targets: a local HTTP server, real subprocesses, real files."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.conftest import Project
from tests.support.httpserver import Server
from tests.support.procs import running


def steps_by_id(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for sec in journal["sections"] for s in sec["steps"]}


def test_every_outcome_and_the_verdict(project: Project, http_server: Server) -> None:
    """passed, failed, error, skipped, blocked and pending each arise for their documented reason."""
    http_server.route("/health", status=200, body={"status": "healthy"})
    http_server.route("/bad", status=503, body={"status": "degraded"})
    project.runbook(
        "outcomes",
        f"""
        kind: runbook
        name: outcomes
        vars: {{api: "{http_server.url}", profile: local}}
        sections:
          - name: All
            steps:
              - name: Healthy
                id: ok
                check: http
                with: {{url: "{{{{ vars.api }}}}/health"}}
                expect: [status == 200, json.status == "healthy"]
              - name: Degraded
                id: bad
                check: http
                with: {{url: "{{{{ vars.api }}}}/bad"}}
                expect: [status == 200]
              - name: Nobody home
                id: err
                check: http
                with: {{url: "http://127.0.0.1:1/"}}
              - name: Docker only
                id: skip
                check: shell
                with: {{command: "true"}}
                when: vars.profile == "docker"
              - name: After the bad one
                id: blocked
                check: shell
                with: {{command: "true"}}
                needs: [bad]
              - manual: Laptop on power
                id: manual
    """,
    )
    result, journal = project.run_json("outcomes")
    steps = steps_by_id(journal)
    assert {k: v["outcome"] for k, v in steps.items()} == {
        "ok": "passed",
        "bad": "failed",
        "err": "error",
        "skip": "skipped",
        "blocked": "blocked",
        "manual": "pending",
    }
    assert steps["bad"]["message"] == "status == 200 -> status = 503"
    assert "connection failed" in steps["err"]["message"]
    assert steps["skip"]["message"] == 'when: vars.profile == "docker" is false'
    assert steps["blocked"]["message"] == "needs bad, which did not pass"
    assert journal["verdict"] == "NO-GO"
    assert result.code == 1
    assert len(journal["reasons"]) == 4  # failed, error, blocked, pending


def test_go_when_manual_steps_are_confirmed_by_flag(project: Project) -> None:
    """--confirm-manual confirms manual steps without a terminal, recorded as such; exit 0."""
    project.runbook(
        "m",
        """
        kind: runbook
        name: m
        sections:
          - name: People
            steps:
              - manual: Phone silenced
                owner: presenter
    """,
    )
    result, journal = project.run_json("m", "--confirm-manual")
    step = steps_by_id(journal)["phone-silenced"]
    assert (step["outcome"], step["answered_by"], journal["verdict"], result.code) == (
        "passed",
        "--confirm-manual",
        "GO",
        0,
    )
    assert step["answered_at"] is not None


def test_warning_failure_keeps_go(project: Project) -> None:
    """A failed step of severity warning is listed as a warning and does not make NO-GO."""
    project.runbook(
        "w",
        """
        kind: runbook
        name: w
        sections:
          - name: S
            steps:
              - {name: Optional thing, check: shell, with: {command: "exit 4"}, severity: warning}
    """,
    )
    result, journal = project.run_json("w")
    assert (journal["verdict"], result.code) == ("GO", 0)
    assert journal["warnings"] == ["S / Optional thing failed: exit_code == 0 -> exit_code = 4"]


def test_retry_until_a_flaky_service_answers(project: Project, http_server: Server) -> None:
    """retry re-runs a failing check; it passes on the third attempt and records 3 attempts."""
    http_server.route("/flaky", fail_first=2)
    project.runbook(
        "r",
        f"""
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - name: Flaky
                check: http
                with: {{url: "{http_server.url}/flaky"}}
                expect: status == 200
                retry: {{attempts: 3, delay: 50ms}}
    """,
    )
    _, journal = project.run_json("r")
    step = steps_by_id(journal)["flaky"]
    assert (step["outcome"], step["attempts"], http_server.hits["/flaky"]) == ("passed", 3, 3)


def test_retry_gives_up_after_its_attempts(project: Project, http_server: Server) -> None:
    """retry stops after `attempts` and reports the last failure."""
    http_server.route("/down", status=500)
    project.runbook(
        "r",
        f"""
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - name: Down
                check: http
                with: {{url: "{http_server.url}/down"}}
                expect: status == 200
                retry: {{attempts: 2, delay: 10ms}}
    """,
    )
    _, journal = project.run_json("r")
    step = steps_by_id(journal)["down"]
    assert (step["outcome"], step["attempts"], step["message"]) == (
        "failed",
        2,
        "status == 200 -> status = 500",
    )


def test_wait_polls_until_expectations_hold(project: Project, http_server: Server) -> None:
    """wait polls a service that is starting until it reports healthy."""
    http_server.route("/health", fail_first=4)
    project.runbook(
        "w",
        f"""
        kind: runbook
        name: w
        sections:
          - name: S
            steps:
              - name: Comes up
                check: http
                with: {{url: "{http_server.url}/health"}}
                expect: json.status == "healthy"
                wait: {{timeout: 10s, interval: 100ms}}
    """,
    )
    _, journal = project.run_json("w")
    step = steps_by_id(journal)["comes-up"]
    assert (step["outcome"], step["attempts"]) == ("passed", 5)


def test_wait_gives_up_at_its_timeout(project: Project, http_server: Server) -> None:
    """wait ends at its timeout with the last failure and the number of polls."""
    http_server.route("/health", status=503, body={"status": "starting"})
    project.runbook(
        "w",
        f"""
        kind: runbook
        name: w
        sections:
          - name: S
            steps:
              - name: Never up
                check: http
                with: {{url: "{http_server.url}/health"}}
                expect: status == 200
                wait: {{timeout: 600ms, interval: 100ms}}
    """,
    )
    _, journal = project.run_json("w")
    step = steps_by_id(journal)["never-up"]
    assert step["outcome"] == "failed"
    assert step["message"].startswith("still not passing after waiting 0.6s (")
    assert step["message"].endswith("polls): status == 200 -> status = 503")
    assert 2 <= step["attempts"] <= 7  # 100 ms polls over 600 ms; a loaded machine polls less


def test_timeout_kills_the_command_and_its_children(project: Project, tmp_path: Path) -> None:
    """A hanging command is ended at its timeout together with every process it started."""
    pids = tmp_path / "pids"
    project.runbook(
        "t",
        f"""
        kind: runbook
        name: t
        sections:
          - name: S
            steps:
              - name: Hangs
                action: shell
                with: {{command: "sleep 60 & echo $! > {pids}; sleep 60"}}
                timeout: 1s
    """,
    )
    started = time.monotonic()
    _, journal = project.run_json("t")
    elapsed = time.monotonic() - started
    step = steps_by_id(journal)["hangs"]
    assert step["outcome"] == "error"
    assert step["message"] == "timed out after 1s; the command and its children were killed"
    child = int(pids.read_text())
    deadline = time.monotonic() + 2
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child), "the background child survived the timeout"
    assert elapsed < 10


def test_parallel_section_runs_steps_concurrently(project: Project) -> None:
    """Ten 1-second steps in a parallel section (default max_parallel) finish in under 2 seconds."""
    steps = "\n".join(
        f"              - {{name: Sleeper {i}, action: shell, with: {{command: 'sleep 1'}}}}"
        for i in range(10)
    )
    project.runbook(
        "p",
        f"""
        kind: runbook
        name: p
        sections:
          - name: Together
            parallel: true
            steps:
{steps}
    """,
    )
    _, journal = project.run_json("p")
    section = journal["sections"][0]
    assert [s["outcome"] for s in section["steps"]] == ["passed"] * 10
    assert section["duration_s"] < 2.0


def test_needs_inside_a_parallel_section_orders_steps(project: Project, tmp_path: Path) -> None:
    """In a parallel section a step starts only after the steps it needs have finished."""
    marker = tmp_path / "first-done"
    project.runbook(
        "p",
        f"""
        kind: runbook
        name: p
        sections:
          - name: Together
            parallel: true
            steps:
              - {{name: Second, check: file, with: {{path: "{marker}"}}, expect: exists, needs: [first]}}
              - {{name: First, action: shell, with: {{command: "sleep 0.3; touch {marker}"}}}}
    """,
    )
    _, journal = project.run_json("p")
    assert [s["outcome"] for s in journal["sections"][0]["steps"]] == ["passed", "passed"]


def test_templates_see_outputs_of_earlier_steps(project: Project) -> None:
    """steps.<id> exposes an earlier step's outputs to later templates and expressions."""
    project.runbook(
        "s",
        """
        kind: runbook
        name: s
        sections:
          - name: S
            steps:
              - {name: Count, id: count, action: shell, with: {command: "echo 42"}}
              - name: Use it
                check: shell
                with: {command: "echo {{ steps.count.stdout | trim | int + 1 }}"}
                expect: ["stdout | trim == '43'", "steps.count.exit_code == 0"]
    """,
    )
    _, journal = project.run_json("s")
    assert steps_by_id(journal)["use-it"]["outcome"] == "passed"


def test_secrets_never_reach_console_or_journal(project: Project, monkeypatch: Any) -> None:
    """A secret's value is masked in console output, messages, outputs and the journal."""
    monkeypatch.setenv("K2_API_KEY", "s3cr3t-value-xyz")
    project.runbook(
        "sec",
        """
        kind: runbook
        name: sec
        secrets: [K2_API_KEY]
        vars: {header: "Bearer {{ secrets.K2_API_KEY }}"}
        sections:
          - name: S
            steps:
              - name: Prints it
                check: shell
                with: {command: "echo key={{ secrets.K2_API_KEY }}; echo {{ vars.header }} >&2; exit 1"}
              - name: Fails on it
                check: shell
                with: {command: "echo {{ secrets.K2_API_KEY }}"}
                expect: "stdout == 'nope'"
    """,
    )
    result, journal = project.run_json("sec", "--var", "header=x")
    dry = project.cli("run", "sec", "--dry-run")
    text = result.out + result.err + str(journal) + (project.root / "journal.json").read_text()
    text += dry.out + dry.err
    assert "s3cr3t-value-xyz" not in text
    assert "shell: command=echo ***" in dry.out  # the plan shows where the secret goes, masked
    steps = steps_by_id(journal)
    assert steps["prints-it"]["outputs"]["stdout"] == "key=***\n"
    assert steps["fails-on-it"]["message"] == "stdout == 'nope' -> stdout = '***\\n'"


def test_dry_run_runs_nothing_and_marks_destructive(project: Project, tmp_path: Path) -> None:
    """--dry-run renders the plan, marks destructive steps, and runs no action."""
    target = tmp_path / "created"
    project.runbook(
        "d",
        f"""
        kind: runbook
        name: d
        vars: {{where: "{target}"}}
        sections:
          - name: S
            steps:
              - {{name: Wipe, action: shell, with: {{command: "touch {{{{ vars.where }}}}"}}, destructive: true}}
    """,
    )
    result, journal = project.run_json("d", "--dry-run")
    step = steps_by_id(journal)["wipe"]
    assert not target.exists()
    assert (step["outcome"], step["message"], journal["verdict"], result.code) == (
        "skipped",
        "dry run (destructive)",
        "DRY-RUN",
        0,
    )
    assert step["args"] == {"command": f"touch {target}"}
    assert "[destructive]" in result.out
    assert f"          shell: command=touch {target}\n" in result.out  # the resolved plan, printed


def test_destructive_without_yes_and_without_terminal_is_refused(project: Project, tmp_path: Path) -> None:
    """Without --yes and no terminal to ask, a destructive runbook exits 2 before running anything."""
    target = tmp_path / "created"
    project.runbook(
        "d",
        f"""
        kind: runbook
        name: d
        sections:
          - name: S
            steps:
              - {{name: Before, action: shell, with: {{command: "touch {target}"}}}}
              - {{name: Wipe, action: shell, with: {{command: "true"}}, destructive: true}}
    """,
    )
    result = project.cli("run", "d")
    assert result.code == 2
    assert result.err == (
        "destructive steps need confirmation: Wipe; pass --yes to allow them "
        "(or run in a terminal to be asked)\n"
    )
    assert not target.exists()
    assert project.cli("run", "d", "--yes").code == 0
    assert target.exists()


def test_budgets_are_compared(project: Project) -> None:
    """A section that takes longer than its budget is flagged and warned about."""
    project.runbook(
        "b",
        """
        kind: runbook
        name: b
        sections:
          - name: Slow
            budget: 100ms
            steps:
              - {name: Nap, action: sleep, with: {duration: 300ms}}
    """,
    )
    _, journal = project.run_json("b")
    assert journal["verdict"] == "GO"
    section = journal["sections"][0]  # type: ignore[index]
    assert section["duration_s"] >= 0.3
    assert re.fullmatch(r"section Slow took \d+\.\d\ds, over its 0\.10s budget", journal["warnings"][0])


def test_when_applies_to_manual_steps(project: Project) -> None:
    """A manual step whose `when` is false is skipped, not left pending."""
    project.runbook("m", """
        kind: runbook
        name: m
        vars: {profile: local}
        sections:
          - name: S
            steps:
              - manual: Restart the Jupyter kernel
                when: vars.profile == "docker"
    """)
    result, journal = project.run_json("m")
    step = journal["sections"][0]["steps"][0]
    assert (step["outcome"], result.code) == ("skipped", 0)


def test_a_run_shorter_than_its_min_duration_is_a_warning(project: Project) -> None:
    """A timed performance ("12 minutes, plus or minus one") that ends early is flagged,
    without changing the verdict."""
    project.runbook(
        "demo",
        """
        kind: runbook
        name: demo
        budget: 13m
        min_duration: 11m
        sections: [{name: S, steps: [{name: Quick, check: shell, with: {command: "true"}}]}]
    """,
    )
    result, journal = project.run_json("demo")
    assert (result.code, journal["verdict"], journal["min_duration_s"]) == (0, "GO", 660.0)
    assert len(journal["warnings"]) == 1
    assert journal["warnings"][0].endswith("under its 11m00s minimum (min_duration)")
