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
    """Templates stay unrendered and credential-like with: keys are left out entirely."""
    md = event.cli("checklist", "t-minus-90m").out
    event.cli("checklist", "t-minus-90m", "-o", "c.html")
    html = (event.root / "c.html").read_text()
    for text in (md, html):
        assert "never-printed-key" not in text
        assert "X-API-Key" not in text
    assert "`url={{ vars.api }}/health`" in md


def test_all_orders_runbooks_by_offset_then_lists_contingencies(event: Project) -> None:
    """--all: every runbook with an offset, most negative first; the untimed one left out; contingency table last."""
    out = event.cli("checklist", "--all").out
    headings = [ln for ln in out.splitlines() if ln.startswith("# ")]
    assert headings == [
        "# Event checklist",
        "# T-2h: T-2h environment setup",
        "# T-90m: T-90m final checks",
        "# T-30m: T-30m warm-up",
        "# T-5m: T-5m last look",
        "# Contingencies",
    ]
    assert "Smoke test" not in out
    table = out.split("# Contingencies")[1]
    assert "| `api-down` | API down | /health answers 5xx or nothing | 3m00s | Restart the API |" in table
    assert (
        "| `projector-fails` | Projector fails | Black screen or flicker on the main screen | 2m00s | "
        "Move to the backup screen and mirror the backup laptop |"
    ) in table


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
