"""Templates are compiled when files load (semantics.py, expr.py): an unknown filter or
test is a `file:line: key: message` error of `runbook validate`, not a failure mid-run."""

from __future__ import annotations

from tests.conftest import Project

FILTERS_LISTED = "; Jinja2's built-in filters are: abs, attr, batch, capitalize, center, count, d, default"


def test_unknown_filter_in_every_templated_place(project: Project) -> None:
    """with: (at any depth), vars, manual: and contingency steps are all checked; exit 2."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars:
          v: "{{ 'x' | nofilter2 }}"
          nested: {list: ["ok", "{{ 'x' | lowr }}"]}
        sections:
          - name: S
            steps:
              - {name: a, check: shell, with: {command: "echo {{ 'x' | nofilter }}"}}
              - manual: "do {{ 'x' | nofilter3 }}"
              - {name: b, check: shell, with: {command: "true", env: {X: "{{ 'x' | uper }}"}}}
        """,
    )
    project.runbook(
        "c",
        """
        kind: contingency
        name: c
        rto: 5m
        detect:
          - {name: d, check: shell, with: {command: "echo {{ 'x' | trimm }}"}}
        """,
    )
    result = project.cli("validate")
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == (
        "runbooks/c.yaml:5: detect[0].with.command: unknown filter 'trimm' (did you mean 'trim'?) "
        "in \"echo {{ 'x' | trimm }}\""
    )
    assert lines[1].startswith(
        "runbooks/r.yaml:4: vars.v: unknown filter 'nofilter2' in \"{{ 'x' | nofilter2 }}\"" + FILTERS_LISTED
    )
    assert lines[2] == (
        "runbooks/r.yaml:5: vars.nested.list[1]: unknown filter 'lowr' (did you mean 'lower'?) "
        "in \"{{ 'x' | lowr }}\""
    )
    assert lines[3].startswith(
        "runbooks/r.yaml:9: sections[0].steps[0].with.command: unknown filter 'nofilter' "
        "in \"echo {{ 'x' | nofilter }}\"" + FILTERS_LISTED
    )
    assert lines[4].startswith(
        "runbooks/r.yaml:10: sections[0].steps[1].manual: unknown filter 'nofilter3' "
        "in \"do {{ 'x' | nofilter3 }}\"" + FILTERS_LISTED
    )
    assert lines[5] == (
        "runbooks/r.yaml:11: sections[0].steps[2].with.env.X: unknown filter 'uper' (did you mean 'upper'?) "
        "in \"{{ 'x' | uper }}\""
    )
    assert len(lines) == 6


def test_unknown_test_and_ansible_names(project: Project) -> None:
    """Tests are checked too, even in an `{% if %}` branch; Ansible-only names say so."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {name: a, check: shell, with: {command: "{% if 1 is nmber %}echo{% endif %}"}}
              - {name: b, check: shell, with: {command: "echo {{ 'x' | to_nice_json }}"}}
              - {name: c, check: shell, with: {command: "true"}, expect: "stdout is match('x')"}
        """,
    )
    result = project.cli("validate")
    assert result.code == 2
    assert result.err == (
        "runbooks/r.yaml:6: sections[0].steps[0].with.command: unknown test 'nmber' (did you mean 'number'?) "
        "in '{% if 1 is nmber %}echo{% endif %}'\n"
        "runbooks/r.yaml:7: sections[0].steps[1].with.command: unknown filter 'to_nice_json' "
        "in \"echo {{ 'x' | to_nice_json }}\"; it is an Ansible filter, and only Jinja2's built-in "
        "filters are available (Jinja2 has 'tojson(indent=2)')\n"
        "runbooks/r.yaml:8: sections[0].steps[2].expect[0]: unknown test 'match' in \"stdout is match('x')\"; "
        "it is an Ansible test, and only Jinja2's built-in tests are available\n"
    )


def test_run_stops_before_any_step(project: Project) -> None:
    """`runbook run` refuses the file (exit 2) before the first step could run."""
    marker = project.root / "ran"
    project.runbook(
        "r",
        f"""
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {{name: a, action: shell, with: {{command: "touch {marker}"}}}}
              - manual: "do {{{{ 'x' | nofilter3 }}}}"
        """,
    )
    result = project.cli("run", "r", "--no-history")
    assert result.code == 2
    assert "sections[0].steps[1].manual: unknown filter 'nofilter3'" in result.err
    assert not marker.exists()


def test_known_filters_and_tests_validate_and_run(project: Project) -> None:
    """Built-in filters and tests, in plain and `{% %}` templates, pass and render as before."""
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        vars:
          port: 8000
          shout: "{{ 'x' | upper }}"
        sections:
          - name: S
            steps:
              - name: a
                check: shell
                with: {command: "echo {{ vars.shout }}{% if vars.port is number %}-{{ vars.port | string | length }}{% endif %}"}
                expect: "stdout | trim == 'X-4'"
        """,
    )
    assert project.cli("validate").code == 0
    _, journal = project.run_json("r", "--no-history")
    assert journal["verdict"] == "GO"


def test_environment_vars_are_not_compiled(project: Project) -> None:
    """An environment's vars are never rendered (documented), so a template there is not judged."""
    project.write(
        "runbooks/env.yaml", "kind: environment\nname: local\nvars: {text: \"{{ 'x' | nofilter }}\"}\n"
    )
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {name: a, check: shell, with: {command: "echo {{ env.text | length }}"}, expect: "stdout | trim == '20'"}
        """,
    )
    assert project.cli("validate").code == 0
    _, journal = project.run_json("r", "--no-history")
    assert journal["verdict"] == "GO"
