"""The reports' "compared with the previous run" section, from real runs recorded in the
history: the same runbook run three times with the real CLI, the third time with a step
made slower, one check made to fail and another fixed (all flipped with --var)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.report import browser, scenario

GOLDEN = Path(__file__).parent.parent / "golden" / "reports"
SECRET = "hunter2-login-secret"
SPARK_BLUE = (0x09, 0x69, 0xDA)  # .spark-line and the end dot
BUDGET_ORANGE = (0xBC, 0x4C, 0x00)  # .spark-budget (no step errors here, so nothing else has it)

RUNBOOK = """
kind: runbook
name: nightly
title: Nightly checks
budget: 5s
secrets: [LOGIN_TOKEN]
vars:
  pause: "0"
  login: accepted
  queue: "12"
sections:
  - name: Warm-up
    budget: 500ms
    steps:
      - name: Cache <warm> & ready
        check: shell
        with: {command: "sleep {{ vars.pause }}"}
  - name: Checks
    budget: 5s
    steps:
      - name: Login works
        check: shell
        with: {command: "echo 'login with {{ secrets.LOGIN_TOKEN }} {{ vars.login }}'"}
        expect: ["'accepted' in stdout"]
      - name: Queue is drained
        check: shell
        severity: warning
        with: {command: "test {{ vars.queue }} = 0 || { echo '{{ vars.queue }} jobs waiting'; exit 1; }"}
        expect: [exit_code == 0]
"""

SLOW_AND_FLIPPED = ["--var", "pause=0.6", "--var", "login=refused", "--var", "queue=0"]

EXPECTED_MARKDOWN = r"""## Compared with the previous run of this runbook

Previous run `<RUN_ID>`, started <TIMESTAMP> (<DURATION> before this one): GO in <DURATION>. The runbook file is the same as then.

- Slower steps (at least 20% and <DURATION> slower): 1
- New failures: 1
- Fixed failures: 1

### Slower steps

| Section | Step | Before | After | Change |
|---|---|---|---|---|
| Warm-up | Cache \<warm> & ready | <DURATION> | <DURATION> | +<DURATION> (+<PERCENT>%) |

### New failures

| Section | Step | Before | Now | Message |
|---|---|---|---|---|
| Checks | Login works | ✅ passed | ❌ failed | 'accepted' in stdout -> stdout = 'login with \*\*\* refused\\n' |

### Fixed failures

| Section | Step | Before | Now | Message then |
|---|---|---|---|---|
| Checks | Queue is drained | ❌ failed | ✅ passed | exit_code == 0 -> exit_code = 1 |

### Section budgets over the last 3 runs

Bars go from 0 to the budget (or to the slowest run, when one was over it); the last bar is this run.

| Section | Trend | This run | Budget | Runs, oldest first |
|---|---|---|---|---|
| Warm-up | ▁▁█ | <DURATION> **over budget** | <DURATION> | <DURATION>, <DURATION>, <DURATION> |
| Checks | <SPARK> | <DURATION> | <DURATION> | <DURATION>, <DURATION>, <DURATION> |
| **Total** | <SPARK> | <DURATION> | <DURATION> | <DURATION>, <DURATION>, <DURATION> |
"""


@dataclass
class Runs:
    project: Project
    journal: dict[str, object]  # the third run's journal, as the JSON report has it


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGIN_TOKEN", SECRET)
    monkeypatch.delenv("RUNBOOK_HISTORY", raising=False)  # the project's own .runbook/ history


@pytest.fixture
def runs(project: Project) -> Runs:
    """Two quiet runs, then a slow one where Login fails and the queue is drained."""
    project.runbook("nightly", RUNBOOK)
    for _ in range(2):
        first, _journal = project.run_json("nightly")
        assert first.code == 0, first.out + first.err
    third, journal = project.run_json("nightly", *SLOW_AND_FLIPPED, "--report", "r.md", "--report", "r.html")
    assert third.code == 1, third.out + third.err
    return Runs(project, journal)


def _normalise(text: str) -> str:
    text = scenario.normalise(text)
    text = re.sub(r"\(\+\d+%\)", "(+<PERCENT>%)", text)
    # Sparkline heights follow the timings; only the x positions are fixed.
    text = re.sub(r"([ML][\d.]+),[\d.]+", r"\1,<Y>", text)
    return re.sub(r'\b(cy|y1|y2)="[\d.]+"', r'\1="<Y>"', text)


def _md_section(text: str) -> str:
    start = text.index("## Compared with the previous run")
    return text[start : text.index("\n## ", start)].rstrip("\n") + "\n"


def _html_section(text: str) -> str:
    start = text.index('<section id="comparison">')
    return text[start : text.index("</section>", start) + len("</section>\n")]


def test_markdown_shows_slower_steps_new_and_fixed_failures_and_the_trend(runs: Runs) -> None:
    """The Markdown section names the previous run, the slower step, the flipped checks and the trend."""
    text = (runs.project.root / "r.md").read_text()
    # The quick sections' bars follow this machine's load; the over-budget one cannot move.
    section = re.sub(r"^(\| (?:Checks|\*\*Total\*\*) \| )[▁-█]{3}", r"\1<SPARK>", _md_section(text), flags=re.M)
    assert _normalise(section) == EXPECTED_MARKDOWN
    assert text.count("## Compared with the previous run") == 1
    assert "## Comparison" not in text  # not repeated as generic extra data
    assert SECRET not in text


def test_comparison_figures_are_the_journal_figures(runs: Runs) -> None:
    """Before, after and change in the report are the journal's comparison numbers, formatted."""
    comparison = runs.journal["extra"]["comparison"]  # type: ignore[index]
    slow = comparison["slower"][0]
    assert (slow["name"], slow["section"]) == ("Cache <warm> & ready", "Warm-up")
    assert 0.59 <= slow["after_s"] - slow["before_s"] == slow["change_s"]
    text = (runs.project.root / "r.md").read_text()
    row = (
        f"| Warm-up | Cache \\<warm> & ready | {slow['before_s']:.2f}s | {slow['after_s']:.2f}s "
        f"| +{slow['change_s']:.2f}s (+{slow['change_pct']:.0f}%) |"
    )
    assert row in text
    warm = comparison["trend"]["sections"][0]
    assert (warm["name"], warm["budget_s"], len(warm["durations_s"])) == ("Warm-up", 0.5, 3)
    assert f"| Warm-up | ▁▁█ | {warm['durations_s'][2]:.2f}s **over budget** | 0.50s |" in text


def test_html_section_matches_golden_with_one_sparkline_per_section_and_total(runs: Runs) -> None:
    """The HTML section (times and line heights normalised) is the golden file: escaped, no script."""
    text = (runs.project.root / "r.html").read_text()
    section = _html_section(text)
    path = GOLDEN / "comparison-section.html"
    if os.environ.get("RUNBOOK_UPDATE_GOLDEN") and path.read_text(encoding="utf-8") != _normalise(section):
        path.write_text(_normalise(section), encoding="utf-8")
        pytest.fail("rewrote comparison-section.html: check the diff and run again")
    assert _normalise(section) == path.read_text(encoding="utf-8")
    assert section.count("<svg ") == 3 and section.count('class="spark-budget"') == 3
    # Over budget, the slowest run is the top of the scale: this run's dot sits at the top edge.
    assert '<circle class="spark-end over" cx="157.0" cy="3.0" r="2.6"/>' in section
    assert "Cache &lt;warm&gt; &amp; ready" in section and "<warm>" not in text
    assert "<script" not in text and SECRET not in text
    assert text.count("<h2>Compared with the previous run") == 1


def test_edited_runbook_says_so_and_a_new_section_starts_its_trend(project: Project) -> None:
    """After an edit adding a failing step in a new section: 'changed since', 'new step', a gap in the trend."""
    project.runbook("nightly", RUNBOOK)
    assert project.run_json("nightly")[0].code == 0
    project.runbook(
        "nightly",
        RUNBOOK
        + """
  - name: Smoke
    steps:
      - name: Homepage renders
        check: shell
        with: {command: "exit 4"}
""",
    )
    result, journal = project.run_json("nightly", "--report", "r.md", "--report", "r.html")
    assert result.code == 1, result.out + result.err
    md = _normalise(_md_section((project.root / "r.md").read_text()))
    assert "GO in <DURATION>. The runbook file has changed since then.\n" in md
    assert "- Slower steps (at least 20% and <DURATION> slower): none\n" in md
    assert "- Fixed failures: none\n" in md
    assert "### Slower steps" not in md and "### Fixed failures" not in md
    message = journal["sections"][2]["steps"][0]["message"]  # type: ignore[index]
    assert f"| Smoke | Homepage renders | new step | ❌ failed | {message} |" in md
    # Without a budget the scale tops at the slowest run: here the only one.
    assert "| Smoke | ·█ | <DURATION> | - | -, <DURATION> |" in md
    html = _normalise(_html_section((project.root / "r.html").read_text()))
    assert '<span class="badge o-new-step">new step</span>' in html
    assert "<strong>The runbook file has changed since then.</strong>" in html
    # The new section has one point: no line, only this run's dot.
    smoke = html[html.index("<tr><td>Smoke</td>\n") :]  # the trend row, not the failure
    smoke = smoke[: smoke.index("</tr>")]
    assert '<path class="spark-line" d="M157.0,<Y>"/>' in smoke
    assert "spark-budget" not in smoke  # the section has no budget


def test_a_comparison_of_another_shape_is_shown_as_plain_extra_data(runs: Runs) -> None:
    """A journal whose comparison was edited into another shape still renders: as generic tables."""
    journal = dict(runs.journal)
    extra = dict(journal["extra"])  # type: ignore[call-overload]
    extra["comparison"] = {**extra["comparison"], "trend": "not a trend"}
    journal["extra"] = extra
    (runs.project.root / "edited.json").write_text(json.dumps(journal))
    result = runs.project.cli("report", "edited.json", "-o", "edited.md")
    assert result.code == 0, result.err
    text = (runs.project.root / "edited.md").read_text()
    assert "## Compared with the previous run" not in text
    assert "\n## Comparison\n" in text
    assert "| trend | not a trend |" in text


def test_sparklines_are_drawn_in_chromium(runs: Runs, tmp_path: Path) -> None:
    """Headless Chromium paints the sparklines (blue line) and the dashed budget lines (orange)."""
    png = tmp_path / "report.png"
    browser.screenshot(runs.project.root / "r.html", png, tmp_path / "profile", width=1200, height=1700)
    image = browser.read_png(png)
    assert _count(image, SPARK_BLUE) > 150  # three lines of 1.6px, anti-aliased
    assert _count(image, BUDGET_ORANGE) > 100  # three dashed lines of 1px


def _count(image: browser.Image, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
    """Pixels near a colour, as Image.count, but by a bytes regex: seconds faster on a whole page."""
    ranges = b"".join(
        b"["
        + re.escape(bytes([max(c - tolerance, 0)]))
        + b"-"
        + re.escape(bytes([min(c + tolerance, 255)]))
        + b"]"
        for c in rgb
    )
    # The lookahead finds overlapping matches; only those starting on a pixel boundary count.
    found = re.finditer(b"(?=" + ranges + b")", image.pixels, re.DOTALL)
    return sum(1 for m in found if m.start() % image.channels == 0)
