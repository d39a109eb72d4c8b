"""Golden files for the error output of malformed runbooks (tests/golden/errors/).

Each CASE.yaml is validated alone; stderr must equal CASE.txt and the exit code must be 2.
Regenerate after an intended change with: RUNBOOK_UPDATE_GOLDEN=1 pytest tests/test_load_errors.py
(each rewritten case then fails once, so a rewrite is never mistaken for a pass)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Project

GOLDEN = Path(__file__).parent / "golden" / "errors"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def test_there_are_at_least_fifteen_cases() -> None:
    """The error catalogue covers at least 15 different mistakes."""
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_error_output_matches_golden(case: str, project: Project) -> None:
    """`runbook validate` reports this mistake with file, line, key and a hint; exit 2."""
    shutil.copy(GOLDEN / f"{case}.yaml", project.runbooks / f"{case}.yaml")
    result = project.cli("validate")
    expected_file = GOLDEN / f"{case}.txt"
    stale = not expected_file.exists() or expected_file.read_text() != result.err
    if os.environ.get("RUNBOOK_UPDATE_GOLDEN") and stale:
        expected_file.write_text(result.err)
        pytest.fail(f"rewrote {expected_file.name}: check the diff and run again")
    assert result.code == 2
    assert "Traceback" not in result.err
    assert result.err == expected_file.read_text()
    assert result.out == ""
