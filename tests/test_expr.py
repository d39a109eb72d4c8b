"""Failure explanations (expr.py): values as people read them, floats rounded for display only."""

from __future__ import annotations

import pytest

from runbook_engine.expr import compile_expression, display
from tests.conftest import Project


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (13.58748459815979, "13.5875"),
        (0.1 + 0.2, "0.3"),
        (-3.14159265, "-3.1416"),
        (0.000123456, "0.0001235"),  # small values keep four significant digits
        (2.5e-08, "2.5e-08"),
        (9.99999, "9.99999"),  # would read as 10: all digits kept
        (2.0, "2.0"),
        (7, "7"),
        (True, "True"),
        ("13.58748459815979", "'13.58748459815979'"),  # text is shown as it is
        ([1.23456789, "a", {"x": 0.333333333}], "[1.2346, 'a', {'x': 0.3333}]"),
        (float("inf"), "inf"),
    ],
)
def test_display_rounds_floats_only(value: object, shown: str) -> None:
    """Floats get at most four decimals (or four significant digits below 1); the rest is repr."""
    assert display(value) == shown


def test_explanation_keeps_digits_where_rounding_would_mislead() -> None:
    """A value that would round to a number it is compared with keeps all its digits."""
    expr = compile_expression("ratio <= 0.5")
    assert expr.explain({"ratio": 0.500001}) == "ratio <= 0.5 -> ratio = 0.500001"
    assert expr.explain({"ratio": 0.51234567}) == "ratio <= 0.5 -> ratio = 0.5123"
    pair = compile_expression("a == b")
    assert pair.explain({"a": 1.00001, "b": 1.0}) == "a == b -> a = 1.00001, b = 1.0"


def test_the_judged_value_is_not_rounded() -> None:
    """Rounding is for display: 10.00001 is still more than 10 when judged."""
    expr = compile_expression("value <= 10")
    assert expr.evaluate({"value": 10.00001}) is False
    assert expr.explain({"value": 10.00001}) == "value <= 10 -> value = 10.00001"


def test_failure_message_of_a_real_run_rounds_floats(project: Project) -> None:
    """A run's step message, console line and journal show `value = 13.5875`."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars: {latency: 13.58748459815979, count: 4}
        sections:
          - name: S
            steps:
              - name: fast enough
                check: shell
                with: {command: "true"}
                expect: ["vars.latency < 10", "vars.count == 3", "vars.latency * 2 > 100"]
        """,
    )
    result, journal = project.run_json("r", "--no-history")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert step["message"] == (
        "vars.latency < 10 -> vars.latency = 13.5875; vars.count == 3 -> vars.count = 4; "
        "vars.latency * 2 > 100 -> vars.latency = 13.5875"
    )
    assert "vars.latency < 10 -> vars.latency = 13.5875" in result.out
    assert "13.58748" not in result.out
    assert journal["vars"] == {"latency": 13.58748459815979, "count": 4}
