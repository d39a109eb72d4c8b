"""A secret from a run reaches no history output: views, --sql, the index and the record files."""

from __future__ import annotations

import pytest

from runbook_engine.redact import MASK
from tests.conftest import Project

SECRET = "s3cr3t-Hist0ry-value"

LEAKY = """
kind: runbook
name: leaky
secrets: [HIST_PW]
sections:
  - name: Only
    steps:
      - {name: Prints it, check: shell, with: {command: 'echo "$HIST_PW"'}, expect: "stdout == 'x'"}
      - {name: In its args, check: shell, with: {command: "echo {{ secrets.HIST_PW }}"}, expect: "stdout == 'y'"}
      - {name: Fails with it, check: shell, with: {command: 'echo "$HIST_PW" >&2; exit 3'}}
"""


def test_no_history_output_holds_the_secret(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every history view and format, --sql over every view, and every file in the history: masked only."""
    monkeypatch.setenv("HIST_PW", SECRET)
    project.runbook("leaky", LEAKY)
    for _ in range(2):
        assert project.cli("run", "leaky").code == 1
    outputs = []
    for fmt in ("table", "json", "csv"):
        for args in (["history"], ["history", "leaky", "--steps"], ["history", "--drills"]):
            result = project.cli(*args, "-f", fmt)
            assert result.code == 0, result.err
            outputs.append(result.out + result.err)
        for view in ("runs", "steps", "sections", "drills"):
            result = project.cli("history", "--sql", f"SELECT * FROM {view}", "-f", fmt)
            assert result.code == 0, result.err
            outputs.append(result.out + result.err)
    history = project.root / ".runbook" / "history"
    files = [p for p in history.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"runs.csv", "steps.csv", "sections.csv", "extra.csv"}
    outputs += [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    assert [i for i, text in enumerate(outputs) if SECRET in text or SECRET[:10] in text] == []
    # The data is there, masked: the step's output went through the views.
    steps = project.cli(
        "history", "--sql", "SELECT message FROM steps WHERE step_id = 'prints-it'", "-f", "csv"
    )
    shown = f"stdout == 'x' -> stdout = '{MASK}\\n'\n"  # the echo's newline, as the message spells it
    assert steps.out == "message\n" + shown * 2
