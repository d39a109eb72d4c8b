"""Property-based fuzzing of the expression layer (Hypothesis, bounded to a few hundred
examples): any expression or template gives a value or the project's own ExpressionError,
never another exception, within a time and memory bound."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_engine import sandbox
from runbook_engine.expr import ENV, ExpressionError, compile_expression, render, template_uses

DATA: dict[str, Any] = {
    "vars": {"n": 7, "big": 10**6, "s": "text", "items": [1, 2, 3], "m": {"a": 1}},
    "env": {"url": "http://127.0.0.1"},
    "steps": {"a": {"stdout": "ok\n"}},
    "stdout": "line one\nline two\n",
    "status": 200,
}
# Every filter Jinja has, each with arguments that make it grow when they can.
FILTERS = sorted(n for n in ENV.filters if n.isidentifier())
ATOMS = [
    "1", "0", "-1", "10", "2", "10**6", "1000000000", "9999999999999", "1.5", "1e308", "'a'", "''", "'ab c'",
    "'%s'", "'%*d'", "'{:>{}}'", "'{0.__class__}'", "'\\t'", "[1]", "[]", "[[1] * 1000] * 1000", "{}",
    "{'a': 1}", "true", "none", "range(10)", "range(big)", "vars", "vars.n", "vars.big", "vars.s",
    "vars.items", "vars.m", "env", "steps", "steps.a.stdout", "stdout", "status", "undefined_name",
    "namespace(x=1)", "dict(a=1)", "lipsum(5)", "cycler(1, 2)", "joiner()",
]  # fmt: skip
BINARY = ["+", "-", "*", "/", "//", "%", "**", "~", "and", "or", "==", "<", "in", "not in"]
METHODS = [
    "upper()", "center(big)", "ljust(10**7)", "zfill(vars.big * 10)", "join(range(big) | map('string'))",
    "replace('', 'xx' * 1000)", "expandtabs(10**6)", "format(1, 2)", "split()", "__class__", "__init__",
    "update({'x': 1})", "append(1)", "pop()", "items()", "mro()", "copy()", "keys()",
]  # fmt: skip
SUBSCRIPTS = ["0", "-1", ":3", "::-1", '"a"', "big"]
ARGS = [
    "",
    "(1)",
    "(big)",
    "(10**9)",
    "('x')",
    "(1, 'y')",
    "(indent=big)",
    "('__class__')",
    "(attribute='__class__')",
]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:  # noqa: PLR0911 (one return per form)
    kind = draw(st.integers(0, 6 if depth < 4 else 0))
    if kind == 0:
        return draw(st.sampled_from(ATOMS))
    inner = draw(expressions(depth + 1))
    if kind == 1:
        return f"({inner} {draw(st.sampled_from(BINARY))} {draw(expressions(depth + 1))})"
    if kind == 2:
        return f"({inner} | {draw(st.sampled_from(FILTERS))}{draw(st.sampled_from(ARGS))})"
    if kind == 3:
        return f"({inner}).{draw(st.sampled_from(METHODS))}"
    if kind == 4:
        return f"{inner}[{draw(st.sampled_from(SUBSCRIPTS))}]"
    if kind == 5:
        return f"[{inner}, {draw(expressions(depth + 1))}]"
    return f"(not {inner})"


@st.composite
def templates(draw: st.DrawFn) -> str:
    parts = draw(st.lists(expressions(), min_size=1, max_size=3))
    loop = draw(
        st.sampled_from(["", "{% for i in range(vars.big) %}{% for j in range(vars.big) %}{% endfor %}"])
    )
    close = "{% endfor %}" if loop else ""
    return "x " + loop + " ".join(f"{{{{ {p} }}}}" for p in parts) + close


@pytest.fixture(autouse=True)
def short_time_limit() -> Iterator[None]:
    """The time limit at 0.2 s, so an example that hits it costs little (a plain fixture:
    Hypothesis runs every example inside the one test call)."""
    saved = sandbox.TIME_LIMIT
    sandbox.TIME_LIMIT = 0.2
    yield
    sandbox.TIME_LIMIT = saved


def memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bounded_outcome(run: Any) -> None:
    """run() returns or raises ExpressionError, within 10 s and 500 MB more memory."""
    before = memory_mb()
    start = time.monotonic()
    with contextlib.suppress(ExpressionError):  # the project's own error: fine
        run()
    assert time.monotonic() - start < 10
    assert memory_mb() - before < 500


FUZZ = settings(
    max_examples=250,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,  # the same examples every run: CI stays reproducible
    database=None,
)


@FUZZ
@given(expressions())
def test_any_expression_compiles_and_evaluates_or_says_why(source: str) -> None:
    """compile_expression and evaluate: a value or ExpressionError, never another exception."""
    bounded_outcome(lambda: compile_expression(source).evaluate(DATA))


@settings(FUZZ, max_examples=150)  # a template may loop until the time limit (0.2 s here)
@given(templates())
def test_any_template_renders_or_says_why(text: str) -> None:
    """template_uses (load) and render (run): a value or ExpressionError, never another exception."""
    bounded_outcome(lambda: (template_uses(text), render(text, DATA)))


@settings(max_examples=150, deadline=timedelta(seconds=10), derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(list("{}()[]|.'\"~*%+-/ =<>!#,:0123456789abxsn_\\\n")), max_size=60))
def test_any_text_is_an_expression_or_a_syntax_error(text: str) -> None:
    """Arbitrary characters, as an expression and as a template: never another exception."""
    bounded_outcome(lambda: compile_expression(text).evaluate(DATA))
    bounded_outcome(lambda: (template_uses(text), render(text, DATA)))


@pytest.mark.parametrize(
    "source",
    ["(" * 3000 + "1" + ")" * 3000, "-" * 3000 + "1", "1" + "+1" * 5000, "x" + "|string" * 3000],
)
def test_deep_nesting_is_an_expression_error(source: str) -> None:
    """Thousands of nested brackets or operators exhaust Jinja's recursive parser: that is
    reported as an ExpressionError, not a RecursionError (exit 3)."""
    with pytest.raises(ExpressionError) as exc:
        compile_expression(source)
    assert str(exc.value) == "nested too deeply (brackets, operators or filters); split it into vars"
