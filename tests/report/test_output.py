"""Report and checklist paths that cannot be written: refused as usage errors (exit 2) naming
the path, before a run or a drill does anything, on real paths (/proc, a file used as a
folder, a folder used as a file). Tests run as root, where permission bits stop nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_engine.errors import UserError
from runbook_engine.report import check_report_paths
from runbook_engine.report.output import write_atomic
from tests.conftest import Project

RUNBOOK = """
kind: runbook
name: marks
sections:
  - name: S
    steps:
      - {name: Leave a mark, action: shell, with: {command: "touch ran"}}
"""

CONTINGENCY = """
kind: contingency
name: breaks
rto: 1m
inject:
  - {name: Break it, action: shell, with: {command: "touch injected"}}
detect:
  - {name: Broken, check: shell, with: {command: "test ! -e injected"}}
recover:
  - {name: Mend it, action: shell, with: {command: "rm -f injected"}}
"""


@pytest.fixture
def marks(project: Project) -> Project:
    project.runbook("marks", RUNBOOK)
    project.write("runbooks/contingencies/breaks.yaml", CONTINGENCY)
    project.write("notes.yaml", "a file, not a folder\n")
    (project.root / "folder.md").mkdir()
    return project


BAD = [
    ("notes.yaml/r.md", "notes.yaml/r.md: notes.yaml is a file, not a folder"),
    ("notes.yaml/deeper/r.md", "notes.yaml/deeper/r.md: notes.yaml is a file, not a folder"),
    ("folder.md", "folder.md: is a folder; give a file name"),
    ("/proc/r.md", "/proc/r.md: cannot write in /proc: No such file or directory"),
    ("/proc/new/r.md", "/proc/new/r.md: cannot write in /proc: No such file or directory"),
]


@pytest.mark.parametrize(("path", "why"), BAD)
def test_run_refuses_an_unwritable_report_before_running(marks: Project, path: str, why: str) -> None:
    """`run -r PATH`: exit 2, one line naming the path and why, and no step has run."""
    result = marks.cli("run", "marks", "-r", "ok.json", "-r", path)
    assert (result.code, result.out, result.err) == (2, "", f"--report {why}\n")
    assert not (marks.root / "ran").exists()
    assert not (marks.root / "ok.json").exists()


def test_drill_refuses_an_unwritable_report_before_injecting(marks: Project) -> None:
    """A drill breaks a system on purpose: a bad report path stops it before the injection."""
    result = marks.cli("drill", "breaks", "--yes", "-r", "notes.yaml/drill.md")
    assert (result.code, result.err) == (
        2,
        "--report notes.yaml/drill.md: notes.yaml is a file, not a folder\n",
    )
    assert not (marks.root / "injected").exists()


@pytest.mark.parametrize(("path", "why"), BAD)
def test_report_and_checklist_refuse_an_unwritable_output(marks: Project, path: str, why: str) -> None:
    """`report -o` and `checklist -o`: the same one-line usage error, nothing written, no crash log."""
    assert marks.cli("run", "marks", "-r", "j.json").code == 0
    report = marks.cli("report", "j.json", "-o", "fine.html", "-o", path)
    assert (report.code, report.out, report.err) == (2, "", f"-o {why}\n")
    checklist = marks.cli("checklist", "marks", "-o", "fine.md", "-o", path)
    assert (checklist.code, checklist.out, checklist.err) == (2, "", f"-o {why}\n")
    assert not (marks.root / "fine.html").exists() and not (marks.root / "fine.md").exists()


def test_missing_parent_folders_are_created_and_nothing_is_left_behind(marks: Project) -> None:
    """A report in a folder that does not exist yet is fine; the check leaves no probe files."""
    result = marks.cli("run", "marks", "-r", "out/reports/r.md", "-r", "out/r.xml")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (marks.root / "out").rglob("*")) == ["r.md", "r.xml", "reports"]
    check_report_paths([marks.root / "later" / "deeper" / "r.html"])
    assert not (marks.root / "later").exists()  # checked, not created: that happens on writing


def test_write_atomic_turns_filesystem_errors_into_user_errors(tmp_path: Path) -> None:
    """Writing where no file can be made is a UserError naming the path, not a crash."""
    (tmp_path / "notes.yaml").write_text("x")
    with pytest.raises(UserError, match=r"^/proc/x\.md: cannot write in /proc: No such file or directory$"):
        write_atomic(Path("/proc/x.md"), "text")
    target = tmp_path / "notes.yaml" / "x.md"
    with pytest.raises(UserError, match=rf"^{target}: {tmp_path}/notes.yaml is a file, not a folder$"):
        write_atomic(target, "text")
    write_atomic(tmp_path / "ok" / "x.md", "text")
    assert [p.name for p in (tmp_path / "ok").iterdir()] == ["x.md"]
