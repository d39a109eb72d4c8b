"""Documents that validated and then failed at run time (or ran wrongly) are load errors now."""

from __future__ import annotations

import pytest

from runbook_engine.expr import template_uses
from runbook_engine.format.semantics import names_in_template
from tests.conftest import Project

HEAD = "kind: runbook\nname: a\n"


def _validate(project: Project, text: str) -> str:
    project.runbook("a", text)
    result = project.cli("validate")
    assert (result.code, result.out) == (2, ""), result
    assert "Traceback" not in result.err
    return result.err


def test_kind_as_a_list(project: Project) -> None:
    """`kind: [runbook]` crashed the loader (exit 3, TypeError); now it is exit 2 with a line."""
    assert _validate(project, "kind: [runbook]\nname: a\n") == (
        "runbooks/a.yaml:1: kind: a list is not a kind; use one of runbook, contingency, environment\n"
    )


@pytest.mark.parametrize(("value", "shown"), [("{runbook: 1}", "a mapping"), ("3", "3"), ("true", "True")])
def test_kind_of_another_type(project: Project, value: str, shown: str) -> None:
    """Any kind: that is not text is named for what it is."""
    assert _validate(project, f"kind: {value}\nname: a\n") == (
        f"runbooks/a.yaml:1: kind: {shown} is not a kind; use one of runbook, contingency, environment\n"
    )


def test_needs_cycle_in_a_parallel_section(project: Project) -> None:
    """A `needs` cycle inside a parallel section passed validation (the run then left both
    steps "pending / not confirmed"); now it names the circle at the need that closes it."""
    err = _validate(
        project,
        HEAD
        + "sections:\n  - name: s\n    parallel: true\n    steps:\n"
        + "      - {manual: one, id: a, needs: [c]}\n"
        + "      - {manual: two, id: b, needs: [a]}\n"
        + "      - {manual: three, id: c, needs: [b]}\n"
        + "      - {manual: four, id: d, needs: [a]}\n",
    )
    assert err == (
        "runbooks/a.yaml:7: sections[0].steps[0].needs[0]: these steps need each other in a circle "
        "(a -> c -> b -> a), so none of them could start: remove one of these needs\n"
    )


def test_needs_within_a_parallel_section_without_a_cycle(project: Project) -> None:
    """A chain of needs in a parallel section is still valid."""
    project.runbook(
        "a",
        HEAD + "sections:\n  - name: s\n    parallel: true\n    steps:\n"
        "      - {manual: one, id: a, needs: [b]}\n      - {manual: two, id: b}\n",
    )
    assert project.cli("validate").code == 0


def test_timeout_too_long(project: Project) -> None:
    """`timeout: 99999999h` validated, then overflowed at run time; now the maximum is named."""
    err = _validate(
        project,
        HEAD + "sections:\n  - name: s\n    steps:\n      - manual: x\n        timeout: 99999999h\n",
    )
    assert err == (
        "runbooks/a.yaml:7: sections[0].steps[0].timeout: duration '99999999h' is longer than 365d, "
        "the longest a runbook may hold: use a shorter one\n"
    )


def test_gate_window_longer_than_max_wait(project: Project) -> None:
    """stable_for 10m with max_wait 1m validated, then was NO-GO with an empty reason."""
    err = _validate(
        project,
        HEAD + "gate: {stable_for: 10m, max_wait: 1m}\nsections:\n  - name: s\n    steps:\n      - manual: x\n",
    )
    assert err == (
        "runbooks/a.yaml:3: gate: max_wait (1m00s) is shorter than stable_for (10m00s): the window "
        "could never hold; make max_wait at least as long as stable_for (or leave it out: it "
        "defaults to twice stable_for)\n"
    )


def test_retry_pause_that_overflows(project: Project) -> None:
    """A backoff whose last pause is astronomically long is refused at load."""
    err = _validate(
        project,
        HEAD + "sections:\n  - name: s\n    steps:\n      - name: x\n        check: shell\n"
        "        with: {command: 'true'}\n        retry: {attempts: 100, delay: 1s, backoff: 100}\n",
    )
    assert err == (
        "runbooks/a.yaml:9: sections[0].steps[0].retry: the last pause between attempts (delay x "
        "backoff to the power attempts - 2) would be longer than 365d: lower backoff, delay or attempts\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{{ steps.s1.stdout }}",
        "a {{ vars.dir }}/f1 {{x[0].y}} {{ x[0].y }}",
        "{{ a.b.c.d }}{{a}}",
        "plain text",
        "{{ true }} {{ none }}",
        "{{ a.if }}",
        "{{ a[10].b_c }}",
        "{{ a | upper }}",
        '{{ a["b"] }}',
        "{{ a }} } {",
        "{%- if a %}{{ b }}{% endif %}",
    ],
)
def test_fast_template_names_agree_with_jinja(text: str) -> None:
    """The quick path for plain-name templates finds exactly what Jinja's parse finds."""
    assert names_in_template(text) == template_uses(text)


def test_suggestions_from_long_lists_are_budgeted(project: Project) -> None:
    """Each "did you mean" compares with every step id: 5,000 unknown needs took 70 s of CPU.
    After 20 suggestions from lists of over 200 ids, the rest are reported without one."""
    steps = "".join(f"      - {{manual: step {i}, id: check-{i}, needs: [chek-{i}]}}\n" for i in range(300))
    err = _validate(project, S300 + steps)
    lines = err.splitlines()
    assert len(lines) == 300
    assert [("did you mean" in ln) for ln in lines] == [True] * 20 + [False] * 280
    assert lines[20] == (
        "runbooks/a.yaml:26: sections[0].steps[20].needs[0]: unknown step id 'chek-20'; needs: lists "
        "step ids (a step's id:, or its name in lowercase with dashes)"
    )


S300 = HEAD + "sections:\n  - name: s\n    steps:\n"
