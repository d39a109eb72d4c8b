"""`runbook report JOURNAL.json -o ...`: re-render a saved journal; bad journals exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.report import scenario
from tests.support.httpserver import Server


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", scenario.SECRET)


def test_rerender_gives_the_same_reports_as_the_run(project: Project, http_server: Server) -> None:
    """Reports re-rendered from the saved journal equal those the run wrote, in every format."""
    scenario.setup(project, http_server)
    scenario.run(project, http_server, "journal", "run.md", "run.html", "run.xml")
    result = project.cli(
        "report", "journal.json", "-o", "re.md", "-o", "re.html", "-o", "re.xml", "-o", "re.json"
    )
    assert result.code == 0, result.err
    assert result.out == "report: re.md\nreport: re.html\nreport: re.xml\nreport: re.json\n"
    root = project.root
    for ext in ("md", "html", "xml"):
        assert (root / f"re.{ext}").read_text() == (root / f"run.{ext}").read_text(), ext
    assert json.loads((root / "re.json").read_text()) == json.loads((root / "journal.json").read_text())


def test_without_output_prints_markdown(project: Project, http_server: Server) -> None:
    """Without -o the Markdown report goes to stdout."""
    scenario.setup(project, http_server)
    scenario.run(project, http_server, "journal", "run.md")
    result = project.cli("report", "journal.json")
    assert (result.code, result.out) == (0, (project.root / "run.md").read_text())


def _bad(project: Project, name: str, content: str | None) -> tuple[int, str]:
    if content is not None:
        (project.root / name).write_text(content)
    result = project.cli("report", name, "-o", "out.html")
    assert not (project.root / "out.html").exists()
    return result.code, result.err


def test_a_journal_that_does_not_validate_exits_2_naming_the_file(
    project: Project, http_server: Server
) -> None:
    """A wrong field, broken JSON, a missing file or a newer version: exit 2, one line, the file named."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server)
    data = json.loads(run.path.read_text())
    data["sections"][0]["steps"][0]["outcome"] = "exploded"
    assert _bad(project, "wrong.json", json.dumps(data)) == (
        2,
        "wrong.json: not a valid run journal: sections.0.steps.0.outcome: Input should be 'passed', "
        "'failed', 'error', 'skipped', 'blocked' or 'pending'\n",
    )
    del data["run_id"]
    data["surprise"] = 1
    code, err = _bad(project, "two.json", json.dumps(data))
    assert (code, err.count("\n")) == (2, 1)
    assert err.startswith(
        "two.json: not a valid run journal: run_id: Field required (and 2 more problems)"
    ), err
    assert _bad(project, "broken.json", '{"version": 1,') == (
        2,
        "broken.json: not a run journal: invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 15 (char 14)\n",
    )
    assert _bad(project, "missing.json", None) == (2, "missing.json: no such journal file\n")
    data = json.loads(run.path.read_text())
    data["version"] = 99
    assert _bad(project, "future.json", json.dumps(data)) == (
        2,
        "future.json: journal version 99 is newer than this runbook understands (1); upgrade runbook-engine\n",
    )
    assert _bad(project, "list.json", "[]")[1] == (
        "list.json: not a valid run journal: (top level): Input should be a valid dictionary or instance "
        "of RunJournal\n"
    )


def test_unknown_output_format_exits_2_before_reading(project: Project, tmp_path: Path) -> None:
    """-o with an unknown extension is refused even before the journal is read."""
    result = project.cli("report", "nothing.json", "-o", "out.pdf")
    assert (result.code, result.err) == (
        2,
        "-o out.pdf: unknown report format '.pdf'; use one of .html, .json, .md, .xml\n",
    )
