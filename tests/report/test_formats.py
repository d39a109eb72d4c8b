"""Every report format, rendered from journals of real runs (local HTTP server, shell, a
project plugin): Markdown against golden files, JSON round-tripped, HTML escaped and
self-contained. JUnit has its own file, test_junit.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runbook_engine.journal import RunJournal
from runbook_engine.report import RENDERERS
from tests.conftest import Project
from tests.report import scenario
from tests.support.httpserver import Server

GOLDEN = Path(__file__).parent.parent / "golden" / "reports"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", scenario.SECRET)


def _golden(name: str, text: str) -> None:
    """Compare with tests/golden/reports/NAME; RUNBOOK_UPDATE_GOLDEN=1 rewrites one that
    differs, and fails so that a rewrite is never mistaken for a pass."""
    path = GOLDEN / name
    if os.environ.get("RUNBOOK_UPDATE_GOLDEN") and (not path.exists() or path.read_text(encoding="utf-8") != text):
        path.write_text(text, encoding="utf-8")
        pytest.fail(f"rewrote {name}: check the diff and run again")
    assert text == path.read_text(encoding="utf-8")


def test_markdown_report_of_a_no_go_run_matches_golden(project: Project, http_server: Server) -> None:
    """A NO-GO run's Markdown report (timings normalised) is exactly the golden file."""
    scenario.setup(project, http_server)
    http_server.route("/health", status=500, body={"status": "degraded"})
    run = scenario.run(project, http_server, "journal", "report.md")
    assert (run.result.code, run.journal.verdict) == (1, "NO-GO")
    text = (project.root / "report.md").read_text()
    _golden("no-go.md", scenario.normalise(text))


def test_event_time_and_scheduled_start_are_shown(project: Project, http_server: Server) -> None:
    """With --event, the report shows the event, the offset and the planned clock time."""
    scenario.setup(project, http_server)
    scenario.run(project, http_server, "journal", "r.md", "r.html", event="2026-12-01 10:00+01:00")
    md = (project.root / "r.md").read_text()
    event = "2026-12-01 10:00:00 +01:00 (this runbook runs at T-30m: 2026-12-01 09:30:00 +01:00)"
    assert f"| Event | {event} |" in md
    html = (project.root / "r.html").read_text()
    assert (
        "<dt>Event</dt><dd>2026-12-01 10:00:00 +01:00 (runs at T-30m: 2026-12-01 09:30:00 +01:00)</dd>"
        in html
    )


def test_markdown_report_of_a_go_run_matches_golden(project: Project, http_server: Server) -> None:
    """A GO run's Markdown report (timings normalised) is exactly the golden file."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server, "journal", "report.md")
    assert (run.result.code, run.journal.verdict) == (0, "GO")
    _golden("go.md", scenario.normalise((project.root / "report.md").read_text()))


def test_json_report_round_trips_into_the_journal(project: Project, http_server: Server) -> None:
    """The .json report validates as RunJournal and re-serialises to the same data."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server)
    raw = json.loads(run.path.read_text())
    assert raw["version"] == 1
    again = RunJournal.model_validate(raw)
    assert again == run.journal
    assert json.loads(again.to_json()) == raw


def test_secret_value_appears_in_no_format(project: Project, http_server: Server) -> None:
    """The secret the run used is masked in the JSON, Markdown, HTML and JUnit reports."""
    scenario.setup(project, http_server)
    scenario.run(project, http_server, "journal", "r.md", "r.html", "r.xml")
    for name in ("journal.json", "r.md", "r.html", "r.xml"):
        text = (project.root / name).read_text()
        assert scenario.SECRET not in text, name
        assert "token=***" in text, name


def test_html_escapes_step_names_and_is_self_contained(project: Project, http_server: Server) -> None:
    """A step named <script>... comes out escaped; the page loads nothing from anywhere."""
    scenario.setup(project, http_server)
    scenario.run(project, http_server, "journal", "r.html")
    html = (project.root / "r.html").read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; is shown as text" in html
    for needle in ("http://", "https://", "<link", "@import", "src="):
        outside_data = html.replace(http_server.url, "")
        assert needle not in outside_data.replace("http://127.0.0.1:1", ""), needle


def test_html_shows_timeline_budgets_manual_answers(project: Project, http_server: Server) -> None:
    """The HTML report has a bar per started step, section budgets, and who answered manual steps."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server, "journal", "r.html")
    html = (project.root / "r.html").read_text()
    started = [s for s in run.journal.steps() if s.started_at is not None]
    assert html.count('class="tl-bar o-') == len(started) == 10
    assert html.count('class="tl-bar o-passed"') == 8
    assert html.count('class="tl-bar o-skipped"') == 1
    assert html.count('class="tl-bar o-failed"') == 1
    assert '<header class="verdict verdict-GO" id="verdict">' in html
    assert "<td>Presenter laptop on power</td><td>presenter</td>" in html
    assert html.count("<td>--confirm-manual</td>") == 2
    assert "scanned partition 12 of orders" in html
    assert "[9 earlier lines]" in html  # 12 evidence lines of a passed step: the last 3 shown


def test_extra_sections_render_only_when_present(project: Project, http_server: Server) -> None:
    """score/gate/drill data in journal.extra become tables; without it, no such headings."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server)
    plain = RENDERERS[".md"](run.journal)
    assert "## Score" not in plain and "## Gate" not in plain and "## Drill" not in plain
    journal = run.journal.model_copy(deep=True)
    journal.extra = {
        "score": {
            "score": 97.5,
            "pass_score": 95,
            "passed": True,
            "sections": [{"name": "Service", "earned": 4.5, "possible": 5}],
        },
        "gate": {
            "stable_for_s": 300,
            "held": False,
            "checks": ["health", "orders"],
            "flaps": [{"step": "health", "round": 3, "at": "2026-12-01T09:00:01.5+00:00", "after_s": 61.5}],
        },
        "drill": {"time_to_detect_s": 4.2, "time_to_recover_s": 95, "rto_s": 180, "within_rto": True},
    }
    md = RENDERERS[".md"](journal)
    assert "## Score\n\n|  |  |\n|---|---|\n| score | 97.5 |\n| pass score | 95 |\n| passed | yes |\n" in md
    assert "## Score: sections\n\n| name | earned | possible |\n|---|---|---|\n| Service | 4.5 | 5 |\n" in md
    assert "| stable for | 5m00s |\n| held | no |\n| checks | health, orders |\n" in md
    assert (
        "## Gate: flaps\n\n| step | round | at | after |\n|---|---|---|---|\n"
        "| health | 3 | 2026-12-01 09:00:01.500 UTC | 1m02s |\n"
    ) in md
    assert (
        "## Drill timings\n\n|  |  |\n|---|---|\n| time to detect | 4.20s |\n| time to recover | 1m35s |\n| rto | 3m00s |\n| within rto | yes |\n"
        in md
    )
    html = RENDERERS[".html"](journal)
    assert "<h2>Drill timings</h2>" in html and "<td>time to recover</td><td>1m35s</td>" in html


def test_a_thirty_step_journal_renders_in_every_format(project: Project) -> None:
    """A real 30-step parallel run renders to Markdown, HTML and JUnit with every step in
    each (render times are measured in benchmarks/render_and_redact.py)."""
    steps = "\n".join(
        f"      - {{name: Step {i}, check: shell, with: {{command: 'echo {i}'}}, expect: \"'{i}' in stdout\"}}"
        for i in range(30)
    )
    project.runbook(
        "thirty",
        f"""
kind: runbook
name: thirty
sections:
  - name: All
    parallel: true
    steps:
{steps}
""",
    )
    result, _ = project.run_json("thirty")
    assert result.code == 0
    journal = RunJournal.model_validate_json((project.root / "journal.json").read_text())
    assert len(journal.steps()) == 30
    for ext in (".md", ".html", ".xml"):
        text = RENDERERS[ext](journal)
        assert all(f"Step {i}" in text for i in range(30)), ext


def test_autoescape_is_on_for_html_templates_only() -> None:
    """*.html.j2 templates escape; Markdown templates and the CSS included into <style> do not."""
    from runbook_engine.report.templating import template_env

    env = template_env()
    assert callable(env.autoescape)
    decided = {
        name: env.autoescape(name)
        for name in ("report.html.j2", "checklist.html.j2", "report.md.j2", "report.css")
    }
    assert decided == {
        "report.html.j2": True,
        "checklist.html.j2": True,
        "report.md.j2": False,
        "report.css": False,
    }
