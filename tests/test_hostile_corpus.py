"""The hostile corpus: malformed projects and the exact output `runbook` gives for each.

Each case is a folder tests/golden/hostile/<case>/ holding
  runbooks/      the project's runbook folder (environments, secrets files... as needed)
  args           optional: the CLI arguments, one per line (default: the single `validate`)
  expected.txt   the exact output, stdout then stderr, as the CLI prints it with the case
                 folder copied to a temporary folder that is the working directory
Every case must exit with code 2 and every line it prints must start with `file:line: `.

Regenerate the expected files after an intended change with
    RUNBOOK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_hostile_corpus.py
(UPDATE_GOLDEN=1 works too). Each rewritten case then fails once, so a rewrite is never
mistaken for a pass: read the diff of every expected.txt before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from runbook_engine.cli import main

CORPUS = Path(__file__).parent / "golden" / "hostile"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "runbooks").is_dir())
LINE = re.compile(r"^[^\s:][^:]*:[1-9][0-9]*: \S")


def test_the_corpus_has_at_least_sixty_cases() -> None:
    """The corpus covers at least 60 different hostile or malformed inputs."""
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES)
def test_hostile_case(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """This malformed input is refused with exit code 2 and exactly the expected `file:line:` lines."""
    source = CORPUS / case
    # The case folder is the project: runbooks/ and any file beside it (a secrets file).
    shutil.copytree(source, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.txt", "args"))
    args_file = source / "args"
    args = args_file.read_text(encoding="utf-8").split("\n") if args_file.exists() else ["validate"]
    for name in ("RUNBOOK_DIR", "RUNBOOK_ENV", "RUNBOOK_EVENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([a for a in args if a])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    expected_file = source / "expected.txt"
    update = os.environ.get("RUNBOOK_UPDATE_GOLDEN") or os.environ.get("UPDATE_GOLDEN")
    if update and (not expected_file.exists() or expected_file.read_text(encoding="utf-8") != output):
        expected_file.write_text(output, encoding="utf-8")
        pytest.fail(f"rewrote {case}/expected.txt: check the diff and run again")
    assert exit_info.value.code == 2, output
    assert [ln for ln in output.splitlines() if not LINE.match(ln)] == []
    assert output == expected_file.read_text(encoding="utf-8")
