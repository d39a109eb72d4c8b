"""Behaviour found wrong in review, pinned: template errors, operator skips, dry-run needs, YAML merges."""

from __future__ import annotations

from typing import Any

from runbook_engine.execute.interaction import ManualAnswer
from runbook_engine.execute.options import RunOptions
from runbook_engine.execute.runner import Runner
from runbook_engine.expr import compile_expression
from runbook_engine.format.loader import load_library
from runbook_engine.journal import StepResult
from runbook_engine.plugins import tcp
from runbook_engine.testing import run_plugin
from tests.conftest import Project


def test_a_template_that_fails_to_evaluate_is_a_step_error(project: Project) -> None:
    """`{{ 1 + 'a' }}` is reported on its step (exit 1), not a crash (exit 3)."""
    project.runbook("t", """
        kind: runbook
        name: t
        sections: [{name: S, steps: [{name: Bad math, check: shell, with: {command: "echo {{ 1 + 'a' }}"}}]}]
    """)
    result, journal = project.run_json("t")
    step = journal["sections"][0]["steps"][0]
    assert (result.code, step["outcome"]) == (1, "error")
    assert "TypeError" in step["message"]


def test_a_lone_undefined_name_is_an_error_not_an_object(project: Project) -> None:
    """`"{{ steps.x.missing }}"` alone fails the step with the name, instead of passing an object on."""
    project.runbook("t", """
        kind: runbook
        name: t
        sections:
          - name: S
            steps:
              - {name: First, id: x, check: shell, with: {command: "true"}}
              - {name: Second, check: shell, with: {command: "{{ steps.x.missing }}"}}
    """)
    _, journal = project.run_json("t")
    step = journal["sections"][0]["steps"][1]
    assert step["outcome"] == "error"
    assert "has no attribute 'missing'" in step["message"]


class Answers:
    """A person's answers, given through the engine's own Interaction interface (not a
    mock of a component). These tests are about the verdict that follows from answers; the
    terminal that asks for them is driven for real, in a pty, by tests/test_terminal.py."""

    interactive = True

    def __init__(self, manual: str, destructive: bool) -> None:
        self.manual, self.destructive = manual, destructive

    def ask_manual(self, step: StepResult, text: str) -> ManualAnswer | None:
        return ManualAnswer(self.manual, "alice")  # type: ignore[arg-type]

    def confirm_destructive(self, step: StepResult, args: dict[str, object]) -> bool | None:
        return self.destructive

    def confirm_decision(self, verdict: str, summary: str) -> str | None:
        return "alice"


def _run(project: Project, answers: Answers) -> Any:
    lib = load_library(project.runbooks)
    return Runner(lib, RunOptions(), interaction=answers).run("ops")


OPS = """
    kind: runbook
    name: ops
    sections:
      - name: S
        steps:
          - manual: External monitor connected
          - {name: Wipe, action: shell, with: {command: "true"}, destructive: true, severity: warning}
"""


def test_skipping_a_critical_manual_step_is_no_go(project: Project) -> None:
    """A person may skip a critical manual step, but then it is not confirmed: NO-GO, saying so."""
    project.runbook("ops", OPS)
    journal = _run(project, Answers("skip", destructive=True))
    assert journal.verdict == "NO-GO"
    assert journal.reasons == ["S / External monitor connected was skipped by the operator"]
    # The section's problems count agrees with the verdict: the skipped step is one.
    from runbook_engine.report import RENDERERS

    assert "| S | 2 | 1 |" in RENDERERS[".md"](journal)


def test_declining_a_destructive_warning_step_is_a_warning(project: Project) -> None:
    """Declining a destructive step is recorded; for a warning step it is a warning, not NO-GO."""
    project.runbook("ops", OPS)
    journal = _run(project, Answers("done", destructive=False))
    wipe = journal.steps()[1]
    assert (journal.verdict, wipe.outcome, wipe.operator_skipped) == ("GO", "skipped", True)
    assert journal.warnings == ["S / Wipe was declined by the operator"]


def test_dry_run_does_not_block_steps_with_needs(project: Project) -> None:
    """In a dry run a step that needs another is shown as it would run, not BLOCKED."""
    project.runbook("d", """
        kind: runbook
        name: d
        sections:
          - name: S
            steps:
              - {name: Count, id: count, action: shell, with: {command: "echo 1"}}
              - {name: Use, check: shell, with: {command: "echo {{ steps.count.stdout }}"}, needs: [count]}
    """)
    result, journal = project.run_json("d", "--dry-run")
    steps = journal["sections"][0]["steps"]
    assert [s["outcome"] for s in steps] == ["skipped", "skipped"]
    assert steps[1]["message"] == "dry run (shown unrendered: uses earlier steps' outputs)"
    assert (result.code, journal["reasons"]) == (0, [])


def test_yaml_merge_keys_work(project: Project) -> None:
    """`<<: *defaults` merges a mapping, as YAML users expect."""
    project.runbook("m", """
        kind: runbook
        name: m
        sections:
          - name: S
            steps:
              - &base {name: One, check: shell, with: {command: "true"}, timeout: 5s}
              - <<: *base
                name: Two
    """)
    result, journal = project.run_json("m")
    assert [s["name"] for s in journal["sections"][0]["steps"]] == ["One", "Two"]
    assert result.code == 0


def test_explain_shows_the_value_not_the_method() -> None:
    """`stdout.startswith('x')` explains with stdout's value."""
    expr = compile_expression("stdout.startswith('ok')")
    assert expr.explain({"stdout": "fail"}) == "stdout.startswith('ok') -> stdout = 'fail'"


def test_tcp_without_expect_fails_on_a_refused_port(project: Project) -> None:
    """tcp's default expectation is `connected`, so a bare tcp check fails on a closed port."""
    assert run_plugin(tcp, {"host": "127.0.0.1", "port": 1})["connected"] is False
    project.runbook("t", """
        kind: runbook
        name: t
        sections: [{name: S, steps: [{name: Port open, check: tcp, with: {host: 127.0.0.1, port: 1}}]}]
    """)
    result, journal = project.run_json("t")
    assert (result.code, journal["sections"][0]["steps"][0]["message"]) == (1, "connected -> connected = False")


def test_two_default_environments_are_refused(project: Project) -> None:
    """Only one environment may be marked default."""
    project.write("runbooks/a.yaml", "kind: environment\nname: a\ndefault: true\n")
    project.write("runbooks/b.yaml", "kind: environment\nname: b\ndefault: true\n")
    result = project.cli("validate")
    assert (result.code, result.err) == (2, "runbooks/b.yaml:3: default: environment 'a' (runbooks/a.yaml) is "
                                            "already the default; mark only one environment `default: true`\n")


def test_a_var_that_fails_when_rendered_names_its_file_and_line(project: Project) -> None:
    """A var whose template only fails at run time (a type error) still points at file:line."""
    project.runbook(
        "m",
        """
        kind: runbook
        name: m
        vars:
          a: x
          b: "{{ 1 + vars.a }}"
        sections: [{name: S, steps: [{manual: X}]}]
    """,
    )
    result = project.cli("run", "m")
    assert result.code == 2
    assert result.err.startswith("runbooks/m.yaml:5: vars.b: template '{{ 1 + vars.a }}': TypeError")


def test_a_bad_rendered_argument_shows_the_value_and_its_template(project: Project) -> None:
    """A `with:` value that only turns out wrong once rendered names what it became and
    the template it came from (the file shows only the template)."""
    project.write("runbooks/env.yaml", "kind: environment\nname: staging\nvars: {port: eighty}\n")
    project.runbook(
        "m",
        """
        kind: runbook
        name: m
        sections: [{name: S, steps: [{name: A, check: tcp, with: {host: 127.0.0.1, port: "{{ env.port }}"}}]}]
    """,
    )
    result, journal = project.run_json("m", "--env", "staging")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert (result.code, step["outcome"]) == (1, "error")
    assert step["message"] == (
        "with.port: Input should be a valid integer, unable to parse string as an integer "
        "(got 'eighty' from '{{ env.port }}')"
    )


def test_a_rendered_value_refused_by_a_plugin_rule_reads_cleanly(project: Project) -> None:
    """A plugin's own rule, met only once a template is rendered, shows its message
    without Pydantic's 'Value error, ' prefix."""
    project.runbook(
        "p",
        """
        kind: runbook
        name: p
        vars: {prom: "http://127.0.0.1:9"}
        sections:
          - name: S
            steps:
              - {name: Up, check: prometheus.query, with: {url: "{{ vars.prom }}/api/v1/query", query: up}}
    """,
    )
    _, journal = project.run_json("p")
    message = journal["sections"][0]["steps"][0]["message"]  # type: ignore[index]
    assert message.startswith("with.url: give the base URL, without /api/v1/query"), message


def test_manual_answers_in_words_and_with_notes() -> None:
    """The manual prompt takes letters or words, and a note after them."""
    from runbook_engine.terminal.prompts import parse_manual_answer

    assert parse_manual_answer("") == ("done", None)
    assert parse_manual_answer("D") == ("done", None)
    assert parse_manual_answer("done") == ("done", None)
    assert parse_manual_answer("n charger missing") == ("not-done", "charger missing")
    assert parse_manual_answer("not done: no cable") == ("not-done", "no cable")
    assert parse_manual_answer("skip - later") == ("skip", "later")
    assert parse_manual_answer("maybe") is None
