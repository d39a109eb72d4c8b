"""The immutable sandbox: attribute tricks are user errors with the key (never exit 3), and
no expression can change the vars, env or step data later steps read."""

from __future__ import annotations

import pytest

from runbook_engine.execute.data import ReadOnly
from runbook_engine.expr import ExpressionError, compile_expression, render
from tests.conftest import Project

SANDBOX_HINT = "; expressions read values: Python internals and changing data are out of reach"


def test_attr_class_is_a_load_error_not_a_crash(project: Project) -> None:
    """`''|attr('__class__')` fails `validate` with file:line: key (before: exit 3 at run)."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {name: a, check: shell, with: {command: "true"}, expect: "''|attr('__class__')"}
        """,
    )
    result = project.cli("validate")
    assert (result.code, result.out + result.err) == (
        2,
        "runbooks/r.yaml:6: sections[0].steps[0].expect[0]: not allowed in the sandbox: access to attribute "
        f"'__class__' of 'str' object is unsafe in \"''|attr('__class__')\"{SANDBOX_HINT}\n",
    )


def test_attr_class_of_an_output_fails_the_step_not_the_process(project: Project) -> None:
    """The same trick on a plugin's output is only known at run time: the step fails with the
    sandbox's refusal (exit 1), and the run goes on (before: an uncaught SecurityError, exit 3)."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {name: a, check: shell, with: {command: "echo hi"}, expect: "stdout|attr('__class__')"}
              - {name: b, check: shell, with: {command: "echo there"}}
        """,
    )
    result, journal = project.run_json("r", "--no-history")
    assert result.code == 1
    a, b = journal["sections"][0]["steps"]  # type: ignore[index]
    assert a["outcome"] == "failed"
    assert a["message"] == (
        "stdout|attr('__class__') -> stdout = 'hi\\n' (not allowed in the sandbox: access to attribute "
        f"'__class__' of 'str' object is unsafe{SANDBOX_HINT})"
    )
    assert b["outcome"] == "passed"


def test_a_call_that_changes_data_is_refused_at_load(project: Project) -> None:
    """`when: "vars.update({'x':'evil'}) is none"` and `.append(...)` in a template fail
    `validate` with file:line: key (before: accepted, and later steps rendered 'evil')."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars: {x: good, items: [1, 2]}
        sections:
          - name: S
            steps:
              - {name: m1, check: shell, when: "vars.update({'x':'evil'}) is none", with: {command: "true"}}
              - {name: m2, check: shell, with: {command: "echo {{ vars['items'].append(3) }}"}}
        """,
    )
    result = project.cli("validate")
    hint = "; make a new value instead (`x + [1]`, `dict(x, k=1)`) or set it in a var"
    assert (result.code, result.out + result.err) == (
        2,
        "runbooks/r.yaml:7: sections[0].steps[0].when: update() would change data; expressions and "
        f"templates only read it in \"vars.update({{'x':'evil'}}) is none\"{hint}\n"
        "runbooks/r.yaml:8: sections[0].steps[1].with.command: append() would change data; expressions "
        f"and templates only read it in \"echo {{{{ vars['items'].append(3) }}}}\"{hint}\n",
    )


def test_an_expression_cannot_change_vars_for_later_steps(project: Project) -> None:
    """Methods reached in ways the load check cannot see (`vars|attr('update')`) are refused
    by the immutable sandbox when the step runs, and the next step renders the declared
    values (before: 'evil' and [1, 2, 3])."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars: {x: good, items: [1, 2]}
        sections:
          - name: S
            steps:
              - {name: m1, check: shell, when: "(vars|attr('update'))({'x':'evil'}) is none", with: {command: "true"}}
              - {name: m2, check: shell, with: {command: "echo {{ (vars['items']|attr('append'))(3) }}"}}
              - {name: m3, check: shell, with: {command: "true"}, expect: "(steps|attr('clear'))() is none"}
              - {name: show, check: shell, with: {command: "echo {{ vars.x }} {{ vars['items'] }}"}}
        """,
    )
    result, journal = project.run_json("r", "--no-history")
    assert result.code == 1
    steps = {s["id"]: s for s in journal["sections"][0]["steps"]}  # type: ignore[index]
    assert steps["show"]["outputs"]["stdout"] == "good [1, 2]\n"
    assert steps["m1"]["message"] == (
        f"when: not allowed in the sandbox: access to attribute 'update' of 'dict' object is unsafe{SANDBOX_HINT}"
    )
    assert steps["m2"]["message"] == (
        "with.command: template \"echo {{ (vars['items']|attr('append'))(3) }}\": not allowed in the sandbox: "
        f"access to attribute 'append' of 'list' object is unsafe{SANDBOX_HINT}"
    )
    assert "access to attribute 'clear' of 'dict' object is unsafe" in steps["m3"]["message"]
    assert journal["vars"] == {"x": "good", "items": [1, 2]}


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        (
            "''.__class__.__mro__[1].__subclasses__()",
            "access to attribute '__class__' of 'str' object is unsafe",
        ),
        ("x.__init__.__globals__", "access to attribute '__init__' of 'dict' object is unsafe"),
        ("x|attr('__init__')", "access to attribute '__init__' of 'dict' object is unsafe"),
        ("(x|attr('setdefault'))('k', 1)", "access to attribute 'setdefault' of 'dict' object is unsafe"),
        ("(x.k|attr('extend'))([9])", "access to attribute 'extend' of 'list' object is unsafe"),
        ("(x.k|attr('sort'))()", "access to attribute 'sort' of 'list' object is unsafe"),
        (
            "(x.k|map(attribute='__class__')|list)",
            "access to attribute '__class__' of 'int' object is unsafe",
        ),
        ("'{0.__class__}'.format(x)", "access to attribute '__class__' of 'dict' object is unsafe"),
        ("lipsum(10**6)", None),  # not provided at all: an undefined name
    ],
)
def test_every_refusal_is_an_expression_error(source: str, refused: str | None) -> None:
    """Escapes and mutations raise ExpressionError with the sandbox's reason; data is unchanged."""
    data = {"x": {"k": [3, 1, 2]}}
    with pytest.raises(ExpressionError) as exc:
        compile_expression(source).evaluate(data)
    if refused is None:
        assert str(exc.value) == "'lipsum' is undefined"
    else:
        assert str(exc.value) == f"not allowed in the sandbox: {refused}{SANDBOX_HINT}"
    assert data == {"x": {"k": [3, 1, 2]}}


def test_templates_get_read_only_views() -> None:
    """What a template is handed refuses changes, yet reads and shows as a plain dict."""
    view = ReadOnly({"a": 1})
    with pytest.raises(TypeError):
        view["b"] = 2
    with pytest.raises(TypeError):
        view.update(b=2)
    assert view == {"a": 1}
    with pytest.raises(ExpressionError) as exc:
        render("{{ vars.b }}", {"vars": view})
    assert str(exc.value) == "template '{{ vars.b }}': 'dict object' has no attribute 'b'"
