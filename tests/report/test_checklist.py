"""`runbook checklist`: runbooks and contingencies as paper checklists, from the specs."""

from __future__ import annotations

import pytest

from tests.conftest import Project
from tests.report.library import write_event
from tests.report.test_formats import _golden


@pytest.fixture
def event(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("K2_API_KEY", "never-printed-key")
    write_event(project)
    return project


def test_markdown_checklist_matches_golden(event: Project) -> None:
    """Without -o the checklist is Markdown on stdout, exactly the golden file."""
    result = event.cli("checklist", "t-minus-90m")
    assert result.code == 0, result.err
    _golden("checklist-t-minus-90m.md", result.out)


def test_every_step_has_a_checkbox_and_a_time_to_fill(event: Project) -> None:
    """25 steps, 25 task-list checkboxes; manual steps bold with owner, automated ones say what they check."""
    out = event.cli("checklist", "t-minus-90m").out
    boxes = [ln for ln in out.splitlines() if ln.startswith("- [ ] ")]
    assert len(boxes) == 25
    assert all(ln.endswith("time: ______") for ln in boxes)
    assert (
        "- [ ] **1. Projector on, laptop mirrored at 1920x1080** · MANUAL · owner: av · time: ______" in boxes
    )
    assert "- [ ] 15. API answers healthy · _automated check, `http`_ · time: ______" in boxes
    assert '  - expects: `status == 200`; `json.status == "healthy"`' in out
    assert "  - expects (plugin default): `exit_code == 0`" in out
    assert "## Room and stage · budget 10m00s" in out
    assert (
        "**Decision:** [ ] GO  [ ] NO-GO · decided by ____________ at ______ · signature ____________" in out
    )


def test_checklist_never_shows_secret_values(event: Project) -> None:
    """Secrets are never looked up and credential-like with: keys are left out entirely."""
    md = event.cli("checklist", "t-minus-90m").out
    event.cli("checklist", "t-minus-90m", "-o", "c.html")
    html = (event.root / "c.html").read_text()
    for text in (md, html):
        assert "never-printed-key" not in text
        assert "X-API-Key" not in text
    assert "`url=http://127.0.0.1:8000/health`" in md


RENDERED = """
kind: runbook
name: stack-up
title: Stack up
offset: -2h
secrets: [K2_API_KEY]
vars:
  api: "http://127.0.0.1:{{ env.api_port }}"
  key_header: "Bearer {{ secrets.K2_API_KEY }}"
sections:
  - name: Stack
    steps:
      - name: Compose is up
        id: up
        action: shell
        with: {command: "docker compose -f {{ env.compose_file }} up -d --wait", cwd: deploy}
      - name: Key works
        check: shell
        with: {command: "curl -H 'X-Key: {{ secrets.K2_API_KEY }}' {{ env.api_url }}/health"}
      - name: Snapshot answers
        check: http
        with:
          url: "{{ env.api_url }}/snapshots/{{ steps.up.outputs.exit_code }}"
          method: "{{ 'GET' if env.api_port > 0 else 'HEAD' }}"
      - name: Checked at the event
        check: shell
        with: {command: "echo {{ event }} {{ now }}"}
      - manual: "API docs open at {{ env.api_url }}/docs"
        owner: presenter
"""

ENVIRONMENT = """
kind: environment
name: {name}
default: {default}
vars: {{api_port: {port}, api_url: "http://127.0.0.1:{port}", compose_file: compose/{name}.yml}}
"""


@pytest.fixture
def environments(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("K2_API_KEY", "never-printed-key")
    monkeypatch.delenv("RUNBOOK_ENV", raising=False)
    project.runbook("stack-up", RENDERED)
    for name, default, port in (("laptop", "true", 8000), ("stage", "false", 9000)):
        text = ENVIRONMENT.format(name=name, default=default, port=port)
        project.write(f"runbooks/environments/{name}.yaml", text)
    return project


def test_with_values_are_rendered_for_the_default_environment(environments: Project) -> None:
    """env/vars templates in with: and manual: text are filled in; secrets show as ***; step
    outputs, event and now stay as written."""
    result = environments.cli("checklist", "stack-up")
    assert result.code == 0, result.err
    withs = [ln for ln in result.out.splitlines() if ln.startswith("  - with: ")]
    assert withs == [
        "  - with: `command=docker compose -f compose/laptop.yml up -d --wait, cwd=deploy`",
        "  - with: `command=curl -H 'X-Key: ***' http://127.0.0.1:8000/health`",
        # The env part is filled in; the step output stays as written (then cut at 60).
        "  - with: `url=http://127.0.0.1:8000/snapshots/{{ steps.up.outputs.exit_co…, method=GET`",
        "  - with: `command=echo {{ event }} {{ now }}`",
    ]
    assert "Runbook `stack-up` · 5 steps (1 manual) · environment `laptop` · started" in result.out
    assert (
        "- [ ] **5. API docs open at http://127.0.0.1:8000/docs** · MANUAL · owner: presenter" in result.out
    )
    assert "never-printed-key" not in result.out


def test_env_option_and_runbook_env_choose_the_values(
    environments: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--env (or RUNBOOK_ENV) picks the environment whose values are shown; an unknown one is exit 2."""
    stage = environments.cli("checklist", "stack-up", "--env", "stage")
    assert "`command=docker compose -f compose/stage.yml up -d --wait, cwd=deploy`" in stage.out
    assert "environment `stage`" in stage.out
    monkeypatch.setenv("RUNBOOK_ENV", "stage")
    assert "compose/stage.yml" in environments.cli("checklist", "stack-up").out
    unknown = environments.cli("checklist", "stack-up", "--env", "stag")
    assert (unknown.code, unknown.err) == (
        2,
        "unknown environment 'stag' (did you mean 'stage'?); known: laptop, stage\n",
    )
    environments.cli("checklist", "stack-up", "--env", "stage", "-o", "c.html")
    html = (environments.root / "c.html").read_text()
    assert "<code>command=docker compose -f compose/stage.yml up -d --wait, cwd=deploy</code>" in html
    assert "Values are those of environment <code>stage</code>" in html
    assert "never-printed-key" not in html


def test_vars_render_without_an_environment_and_mask_their_secrets(project: Project) -> None:
    """With no environment the vars still render: one built from a secret (never set here)
    shows it masked; one that needs the event time stays as written, as do templates using it."""
    project.runbook(
        "v",
        """
        kind: runbook
        name: v
        secrets: [NOT_SET_ANYWHERE]
        vars: {api: "http://127.0.0.1:1", auth: "Bearer {{ secrets.NOT_SET_ANYWHERE }}", at: "{{ event }}"}
        sections:
          - name: S
            steps:
              - {name: Up, check: http, with: {url: "{{ vars.api }}/up"}}
              - {name: Call, check: shell, with: {command: "call '{{ vars.auth }}'"}}
              - {name: Stamp, check: shell, with: {command: "echo {{ vars.at }}"}}
              - {name: Id, id: id, check: http, with: {url: "{{ vars.api }}/id"}}
              - {name: Use, check: http, with: {url: "{{ vars.api }}/x?id={{ steps.id.json.id }}"}}
    """,
    )
    result = project.cli("checklist", "v")
    assert result.code == 0, result.err
    withs = [ln for ln in result.out.splitlines() if ln.startswith("  - with: ")]
    assert withs == [
        "  - with: `url=http://127.0.0.1:1/up`",
        "  - with: `command=call 'Bearer ***'`",
        "  - with: `command=echo {{ vars.at }}`",
        "  - with: `url=http://127.0.0.1:1/id`",
        # Mixed: the var is filled in, the step's output (known only in a run) stays as written.
        "  - with: `url=http://127.0.0.1:1/x?id={{ steps.id.json.id }}`",
    ]
    assert "environment `" not in result.out


def test_all_orders_runbooks_by_offset_then_lists_contingencies(event: Project) -> None:
    """--all: every runbook with an offset, most negative first; the untimed one left out; contingency table last."""
    out = event.cli("checklist", "--all").out
    headings = [ln for ln in out.splitlines() if ln.startswith("# ")]
    assert headings == [
        "# Event checklist",
        "# T-2h environment setup",
        "# T-90m final checks",
        "# T-30m warm-up",
        "# T-5m last look",
        "# Contingencies",
        "# Event sign-off",
    ]
    assert "Smoke test" not in out
    table = out.split("# Contingencies")[1]
    assert "| `api-down` | API down | /health answers 5xx or nothing | 3m00s | Restart the API |" in table
    assert (
        "| `projector-fails` | Projector fails | Black screen or flicker on the main screen | 2m00s | "
        "Move to the backup screen and mirror the backup laptop |"
    ) in table


def test_only_gates_and_the_event_get_a_go_no_go_box(event: Project) -> None:
    """A T-0 and a T+1h runbook print their label once and end with a plain sign-off; only the
    gated runbook and the event sign-off at the end of --all ask for GO / NO-GO."""
    event.runbook(
        "demo",
        """
        kind: runbook
        name: demo
        title: The demo itself
        offset: 0s
        sections: [{name: Demo, steps: [{manual: Keynote starts, owner: presenter}]}]
    """,
    )
    event.runbook(
        "post-demo",
        """
        kind: runbook
        name: post-demo
        title: After the demo
        offset: 1h
        sections: [{name: Wrap-up, steps: [{manual: Thank the venue, owner: host}]}]
    """,
    )
    event.runbook(
        "decision",
        """
        kind: runbook
        name: decision
        title: "T-5m: the call"
        offset: -15m
        gate: {stable_for: 5m}
        sections: [{name: Call, steps: [{manual: Everyone says go, owner: host}]}]
    """,
    )
    out = event.cli("checklist", "--all").out
    sheets = {
        part.split("\n", 1)[0]: part
        for part in ("\n" + out).split("\n# ")[1:]
        if not part.startswith("Event")
    }
    assert list(sheets) == [
        "T-2h environment setup",
        "T-90m final checks",
        "T-30m warm-up",
        "T-5m: the call",
        "T-5m last look",
        "T-0: The demo itself",
        "T+1h: After the demo",
        "Contingencies",
    ]
    decision = "**Decision:** [ ] GO  [ ] NO-GO · decided by ____________ at ______ · signature ____________"
    done = "**Done:** [ ] every step above checked · signed ____________ at ______"
    boxes = {title: (decision in text, done in text) for title, text in sheets.items()}
    assert boxes == {
        "T-2h environment setup": (False, True),
        "T-90m final checks": (True, False),  # has a gate
        "T-30m warm-up": (False, True),
        "T-5m: the call": (True, False),
        "T-5m last look": (False, True),
        "T-0: The demo itself": (False, True),
        "T+1h: After the demo": (False, True),
        "Contingencies": (False, False),
    }
    assert "Runbook `decision` · 1 steps (1 manual) · starts at T-15m · started" in sheets["T-5m: the call"]
    assert "| **T-0** | The demo itself (`demo`) | 1 (1 manual) | - | |" in out
    assert out.endswith(
        "# Event sign-off\n\n"
        "**Event decision:** [ ] GO  [ ] NO-GO · decided by ____________ at ______ · signature ____________\n"
    )
    assert event.cli("checklist", "--all", "-o", "e.html").code == 0
    html = (event.root / "e.html").read_text()
    assert '<div class="when">T-0</div>' in html and "<h1>The demo itself</h1>" in html
    assert '<div class="when">T-15m</div>' in html and "<h1>T-5m: the call</h1>" in html
    assert '<div class="when">T-2h</div>' in html and "<h1>environment setup</h1>" in html
    assert html.count('<div class="decision">Decision:') == 2
    assert html.count('<div class="decision">Done:') == 5
    assert html.count('<div class="decision">Event decision:') == 1


def test_contingency_checklist_has_phases_and_rto_sign_off(event: Project) -> None:
    """A contingency prints detect/recover/verify/fallback with an RTO sign-off line."""
    out = event.cli("checklist", "api-down").out
    assert out.startswith("# RTO 3m00s: API down\n")
    headings = [ln for ln in out.splitlines() if ln.startswith("## ")]
    assert headings == [
        "## Detect: confirm the scenario",
        "## Recover",
        "## Verify the recovery",
        "## Fallback: if recovery misses the RTO",
    ]
    assert "**Recovered within the RTO (3m00s)?** [ ] yes  [ ] no: use the fallback" in out


def test_checklist_html_escapes_step_text(project: Project) -> None:
    """A manual step with markup comes out as text in the HTML checklist."""
    project.runbook(
        "x",
        """
        kind: runbook
        name: x
        sections: [{name: S, steps: [{manual: "<script>alert(1)</script> & <b>bold</b>"}]}]
    """,
    )
    assert project.cli("checklist", "x", "-o", "x.html").code == 0
    html = (project.root / "x.html").read_text()
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_checklist_usage_errors_exit_2(event: Project) -> None:
    """Unknown names, a bad extension, or no name at all: exit 2 with one line."""
    unknown = event.cli("checklist", "t-minus-91m")
    assert (unknown.code, unknown.err) == (
        2,
        "no runbook or contingency named 't-minus-91m' (did you mean 't-minus-90m'?); `runbook list` shows them\n",
    )
    bad = event.cli("checklist", "t-minus-90m", "-o", "c.pdf")
    assert (bad.code, bad.err) == (2, "-o c.pdf: unknown checklist format '.pdf'; use one of .html, .md\n")
    assert not (event.root / "c.pdf").exists()
    none = event.cli("checklist")
    assert (none.code, none.err) == (2, "checklist: give a runbook or contingency name, or --all\n")
    both = event.cli("checklist", "smoke", "--all")
    assert (both.code, both.err) == (2, "checklist: give a name or --all, not both\n")


def test_all_without_timed_runbooks_is_a_usage_error(project: Project) -> None:
    """--all needs at least one runbook with an offset."""
    project.runbook(
        "s",
        """
        kind: runbook
        name: s
        sections: [{name: S, steps: [{manual: Do it}]}]
    """,
    )
    result = project.cli("checklist", "--all")
    assert (result.code, result.err) == (
        2,
        "--all: no runbook has an offset: (e.g. offset: -2h), so there is no event plan\n",
    )
