"""Bounded expressions (sandbox.py, watchdog.py): size, integer and time limits, through the
real CLI and the expression functions, with exact messages."""

from __future__ import annotations

import time

import pytest

from runbook_engine import sandbox
from runbook_engine.expr import ExpressionError, compile_expression, render
from tests.conftest import Project

LIMIT = "over a limit: "
HINT = "; expressions and templates are bounded (docs/limits.md): make large data in a step"


def test_validate_refuses_static_repetitions_in_expect_with_and_vars(project: Project) -> None:
    """`('a' * 2000000)|length` and the like, with no variable in them, fail `validate` with
    file:line: key (before the fix: accepted, and 10**10 took 9 GB while loading)."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars:
          big: "{{ 'a' * 2000000 }}"
        sections:
          - name: S
            steps:
              - name: a
                check: shell
                with: {command: "echo {{ [1] * 10**9 }}"}
                expect: "('a' * 2000000)|length > 0"
        """,
    )
    result = project.cli("validate")
    assert result.code == 2
    assert result.out + result.err == (
        "runbooks/r.yaml:4: vars.big: over a limit: a repetition of 2,000,000 characters or items is over "
        f"the limit of 1,000,000 in \"{{{{ 'a' * 2000000 }}}}\"{HINT}\n"
        "runbooks/r.yaml:10: sections[0].steps[0].with.command: over a limit: a repetition of 1,000,000,000 "
        f"characters or items is over the limit of 1,000,000 in 'echo {{{{ [1] * 10**9 }}}}'{HINT}\n"
        "runbooks/r.yaml:11: sections[0].steps[0].expect[0]: over a limit: a repetition of 2,000,000 "
        f"characters or items is over the limit of 1,000,000 in \"('a' * 2000000)|length > 0\"{HINT}\n"
    )


def test_a_limit_reached_at_run_time_is_a_step_error_naming_the_key(project: Project) -> None:
    """A repetition sized by a var fails its step (exit 1, NO-GO) naming `with.command`,
    quickly, and the next step still runs."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars: {n: 10}
        sections:
          - name: S
            steps:
              - {name: big, check: shell, with: {command: "echo {{ ('a' * vars.n ** 10)|length }}"}}
              - {name: next, check: shell, with: {command: "echo fine"}, expect: "'fine' in stdout"}
        """,
    )
    start = time.monotonic()
    result, journal = project.run_json("r", "--no-history")
    assert time.monotonic() - start < 30  # before: 8-9 s of CPU and 9.5 GB for this one step
    assert result.code == 1
    big, following = journal["sections"][0]["steps"]  # type: ignore[index]
    assert big["outcome"] == "error"
    assert big["message"] == (
        "with.command: template \"echo {{ ('a' * vars.n ** 10)|length }}\": over a limit: a repetition of "
        f"10,000,000,000 characters or items is over the limit of 1,000,000{HINT}"
    )
    assert following["outcome"] == "passed"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[1] * n", "a repetition of 2,000,000 characters or items is over the limit of 1,000,000"),
        ("n ** n", "a number of about 41,863,138 bits is over the limit of 4,096"),
        ("10 ** (n // 1000)", "a number of about 6,644 bits is over the limit of 4,096"),
        ("'a' | center(n)", "a centred text of 2,000,000 characters or items is over the limit of 1,000,000"),
        ("'a'.ljust(n)", "a padded text of 2,000,000 characters or items is over the limit of 1,000,000"),
        ("'a'.zfill(n)", "a padded text of 2,000,000 characters or items is over the limit of 1,000,000"),
        (
            "'%*d' % (n, 1)",
            "a formatted text of 2,000,004 characters or items is over the limit of 1,000,000",
        ),
        ("'%.' ~ n ~ 'f'", None),  # only text: fine
        (
            "('%.' ~ n ~ 'f') % 1.5",
            "a formatted text of 2,000,013 characters or items is over the limit of 1,000,000",
        ),
        (
            "'%*d' | format(n, 1)",
            "a formatted text of 2,000,004 characters or items is over the limit of 1,000,000",
        ),
        (
            "'{:>{}}'.format('a', n)",
            "a formatted text of 2,000,007 characters or items is over the limit of 1,000,000",
        ),
        (
            "('a' * 999999) | replace('a', 'aa')",
            "a replaced text of 2,999,997 characters or items is over the limit of 1,000,000",
        ),
        (
            "('a' * 999) | replace('', 'b' * 1001)",
            "a replaced text of 1,001,999 characters or items is over the limit of 1,000,000",
        ),
        ("range(n) | list", "a value of 2,000,000 characters or items is over the limit of 1,000,000"),
        (
            "(['a' * 1000] * 1000) | join(',')",
            "a joined text of 1,000,999 characters or items is over the limit of 1,000,000",
        ),
        (
            "','.join(['a' * 1000] * 1000)",
            "a joined text of 1,000,999 characters or items is over the limit of 1,000,000",
        ),
        (
            "(('a' * 999999) ~ 'bb') | length",
            "a joined text of 1,000,001 characters or items is over the limit of 1,000,000",
        ),
        (
            "'a\nb' | indent(n)",
            "an indented text of 4,000,003 characters or items is over the limit of 1,000,000",
        ),
        (
            "('a ' * 1000) | wordwrap(1, wrapstring='x' * 1000)",
            "a wrapped text of 2,002,000 characters or items is over the limit of 1,000,000",
        ),
        ("[1] | tojson(indent=n)", "tojson indent 2000000 is over the limit of 32"),
        (
            "([[1] * 1000] * 1001) | sum(start=[])",
            "a sum of sequences of 1,001,000 characters or items is over the limit of 1,000,000",
        ),
        (
            "('\t' * 1000).expandtabs(n)",
            "a text with tabs expanded of 2,000,001,000 characters or items is over the limit of 1,000,000",
        ),
    ],
)
def test_each_growing_operation_is_refused_before_it_runs(source: str, message: str | None) -> None:
    """Every operator, method and filter that can grow a value is checked from its arguments
    (when the expression reads no variable, already when it is compiled, at load)."""
    if message is None:
        assert compile_expression(source).evaluate({"n": 2_000_000}) == "%.2000000f"
        return
    with pytest.raises(ExpressionError) as exc:
        compile_expression(source).evaluate({"n": 2_000_000})
    assert str(exc.value) == LIMIT + message + HINT


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("[1, 2] * 3", [1, 2, 1, 2, 1, 2]),
        ("2 ** 100", 2**100),
        ("'%5.2f|%-4s|%d' % (3.14159, 'ab', n)", " 3.14|ab  |2000000"),
        ("'{:>5}'.format('a')", "    a"),
        ("range(3) | map('string') | join('-')", "0-1-2"),
        ("'a b' | replace(' ', '_') | center(7)", "  a_b  "),
        ("(range(1000) | list | length) + (('x' * 1000) | length)", 2000),
        ("dict(a=1).a + namespace(b=2).b", 3),
        ("[[1], [2]] | sum(start=[])", [1, 2]),
    ],
)
def test_ordinary_expressions_are_unaffected(source: str, value: object) -> None:
    """The limits leave everyday expressions alone."""
    assert compile_expression(source).evaluate({"n": 2_000_000}) == value


def test_a_template_loop_is_stopped_by_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested loops that make nothing (no size limit applies) are interrupted after the
    time limit, between two bytecode instructions, with a clear error."""
    monkeypatch.setattr(sandbox, "TIME_LIMIT", 0.3)
    # Loops over given data, not over range(): a range counts towards the total an
    # evaluation may make, and on a fast machine that limit would be hit first.
    template = "{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}done"
    start = time.monotonic()
    with pytest.raises(ExpressionError) as exc:
        render(template, {"xs": list(range(100_000))})
    assert time.monotonic() - start < 20  # 10**10 iterations would take minutes
    assert str(exc.value) == (
        f"template {template!r}: over a limit: the evaluation took longer than 0.3 s and was stopped{HINT}"
    )


def test_doubling_text_in_a_loop_is_stopped_by_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """`~` is checked too: a text doubled 40 times in a namespace stops at the size limit."""
    template = (
        "{% set ns = namespace(s='a') %}{% for i in range(n) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}x"
    )
    with pytest.raises(ExpressionError) as exc:
        render(template, {"n": 40})
    assert "over a limit: a joined text of 1,048,576 characters or items" in str(exc.value)


def test_the_time_limit_never_fires_after_an_evaluation_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a deadline of a millisecond, each of 300 evaluations either returns or raises
    ExpressionError; the watchdog's exception never escapes into the code that follows."""
    monkeypatch.setattr(sandbox, "TIME_LIMIT", 0.001)
    expr = compile_expression("range(n) | map('string') | join | length")
    outcomes = set()
    for _ in range(300):
        try:
            outcomes.add(expr.evaluate({"n": 3000}))
        except ExpressionError as exc:
            outcomes.add(str(exc).split(":")[0])
        for _ in range(2000):  # bytecode after the evaluation, where a stray exception would land
            pass
    assert outcomes <= {10890, "over a limit"}


def test_the_total_made_by_one_evaluation_is_bounded() -> None:
    """Many values each under the size limit still stop at MAX_TOTAL for one evaluation."""
    with pytest.raises(ExpressionError) as exc:
        compile_expression("range(n) | map('string') | map('center', 999999) | list | length").evaluate(
            {"n": 20}
        )
    assert (
        str(exc.value)
        == LIMIT + "the expression makes more than 10,000,000 characters or items in all" + HINT
    )


def test_a_swallowed_timeout_is_raised_again_until_the_evaluation_ends() -> None:
    """Code that catches the watchdog's exception once (a finalizer, a tracer) does not keep
    a runaway going: it is raised again, and nothing is left pending afterwards."""
    from runbook_engine.watchdog import Timeout, with_deadline

    caught = []

    def stubborn() -> None:
        while True:
            try:
                while True:
                    pass
            except Timeout:
                caught.append(1)
                if len(caught) == 2:
                    raise

    with pytest.raises(Timeout):
        with_deadline(stubborn, 0.05)
    assert len(caught) == 2
    total = 0
    for i in range(200_000):  # a stray exception would land in this loop
        total += i
    assert total == 19_999_900_000
