"""The `runbook` command line: exit codes, listings, schema and reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook_engine.journal import RunJournal
from tests.conftest import Project

SIMPLE = """
    kind: runbook
    name: simple
    title: A simple one
    offset: -2h
    vars: {greeting: hello}
    sections:
      - name: Only
        steps:
          - {name: Says hello, check: shell, with: {command: "echo {{ vars.greeting }}"}, expect: "'hello' in stdout"}
"""


def test_list_shows_every_kind(project: Project) -> None:
    """`runbook list` shows runbooks with their offset, contingencies with RTO, environments."""
    project.runbook("simple", SIMPLE)
    project.write("runbooks/env.yaml", "kind: environment\nname: local\ndescription: Laptop\n")
    project.write(
        "runbooks/c.yaml",
        """
        kind: contingency
        name: api-down
        title: API down
        rto: 30s
        detect: [{name: API answers, check: tcp, with: {host: 127.0.0.1, port: 1}, expect: connected}]
    """,
    )
    result = project.cli("list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["runbook", "simple", "T-2h", "A", "simple", "one"]
    assert lines[1].split() == ["contingency", "api-down", "RTO", "30.0s", "API", "down"]
    assert lines[2].split() == ["environment", "local", "Laptop", "(default)"]


def test_validate_ok_counts_documents(project: Project) -> None:
    """`runbook validate` on a good library says how many documents it checked; exit 0."""
    project.runbook("simple", SIMPLE)
    result = project.cli("validate")
    assert (result.code, result.out) == (0, "ok: 1 document (1 runbook, 0 contingencies, 0 environments)\n")


def test_validate_takes_a_document_name(project: Project) -> None:
    """`runbook validate NAME` checks the library and that the name exists; a misspelt
    name (and no such file) exits 2 with a suggestion, a missing file names the file."""
    project.runbook("simple", SIMPLE)
    assert project.cli("validate", "simple").code == 0
    wrong = project.cli("validate", "simpel")
    assert (wrong.code, wrong.err) == (
        2,
        "simpel: no such file, and no runbook, contingency or environment of that name "
        "(did you mean 'simple'?); `runbook list` shows them\n",
    )
    missing = project.cli("validate", "other.yaml")
    assert (missing.code, missing.err) == (2, "other.yaml: no such file or folder\n")


def test_run_unknown_runbook_is_a_usage_error(project: Project) -> None:
    """A misspelt runbook name exits 2 with a suggestion."""
    project.runbook("simple", SIMPLE)
    result = project.cli("run", "simpel")
    assert result.code == 2
    assert result.err == "no runbook named 'simpel' (did you mean 'simple'?); `runbook list` shows them\n"


def test_var_override_and_bad_var(project: Project) -> None:
    """--var overrides a declared var; an undeclared one or a malformed one exits 2."""
    project.runbook("simple", SIMPLE)
    assert project.cli("run", "simple", "--var", "greeting=hello there").code == 0
    assert project.cli("run", "simple", "--var", "greeting=bye").code == 1
    bad = project.cli("run", "simple", "--var", "greting=x")
    assert (bad.code, bad.err) == (
        2,
        "simple has no var 'greting' (did you mean 'greeting'?); declared vars: greeting\n",
    )
    assert project.cli("run", "simple", "--var", "novalue").err == "--var 'novalue': write KEY=VALUE\n"


def test_var_override_takes_the_declared_type(project: Project) -> None:
    """`--var n=5` is the number 5 when the runbook declares a number, so expressions
    compare numbers; a value that is not one is a usage error naming the var."""
    project.runbook(
        "typed",
        """
        kind: runbook
        name: typed
        vars: {n: 10, ratio: 0.5, strict: false, label: "007"}
        sections:
          - name: Only
            steps:
              - name: Compares
                check: shell
                with: {command: "echo 7"}
                expect: "stdout | int < vars.n and vars.ratio < 1 and not vars.strict and vars.label == '08'"
    """,
    )
    assert project.cli("run", "typed", "--var", "label=08").code == 0
    assert project.cli("run", "typed", "--var", "n=5", "--var", "label=08").code == 1
    ok = project.cli(
        "run", "typed", "--var", "n=8", "--var", "ratio=0.25", "--var", "strict=false", "--var", "label=08"
    )
    assert ok.code == 0, ok.out
    bad = project.cli("run", "typed", "--var", "n=five")
    assert (bad.code, bad.err) == (
        2,
        "runbooks/typed.yaml:3: --var n='five': this var is a whole number (declared 10)\n",
    )


def test_var_override_of_a_templated_or_structured_var(project: Project) -> None:
    """A var declared by a template takes the override as YAML reads a plain value (9000 a
    number); a list or empty var cannot be set from the command line."""
    project.write("runbooks/env.yaml", "kind: environment\nname: local\nvars: {port: 8000}\n")
    project.runbook(
        "t",
        """
        kind: runbook
        name: t
        vars: {port: "{{ env.port }}", hosts: [a, b]}
        sections: [{name: S, steps: [{name: Port, check: shell, with: {command: "true"}, expect: vars.port > 8500}]}]
    """,
    )
    assert project.cli("run", "t", "--env", "local", "--var", "port=9000").code == 0
    bad = project.cli("run", "t", "--env", "local", "--var", "hosts=c")
    assert bad.code == 2
    assert (
        "--var hosts='c': this var is a list in the file; --var sets text, numbers and true/false only"
        in bad.err
    )


def test_unknown_report_format_is_refused_before_running(project: Project, tmp_path: Path) -> None:
    """--report with an unknown extension exits 2 and runs nothing."""
    marker = tmp_path / "ran"
    project.runbook(
        "m",
        f"""
        kind: runbook
        name: m
        sections: [{{name: S, steps: [{{name: Touch, action: shell, with: {{command: "touch {marker}"}}}}]}}]
    """,
    )
    result = project.cli("run", "m", "--report", "out.pdf")
    assert result.code == 2
    assert "unknown report format '.pdf'" in result.err
    assert not marker.exists()


def test_json_report_round_trips_into_the_journal_model(project: Project) -> None:
    """The JSON report is the journal: it loads back into RunJournal unchanged."""
    project.runbook("simple", SIMPLE)
    result, data = project.run_json("simple")
    journal = RunJournal.model_validate(data)
    assert journal.model_dump(mode="json") == data
    assert (journal.verdict, journal.runbook, journal.version, result.code) == ("GO", "simple", 1, 0)
    assert journal.steps()[0].expectations[0].detail == "'hello' in stdout -> stdout = 'hello\\n'"


def test_plugins_lists_builtins_with_kind_and_source(project: Project) -> None:
    """`runbook plugins` lists each built-in with its kinds and where it comes from."""
    result = project.cli("plugins")
    rows = {
        line.split()[0]: line.split()[1:3] for line in result.out.splitlines() if not line.startswith(" ")
    }
    assert rows["http"] == ["action/check", "built-in"]
    assert rows["sleep"] == ["action", "built-in"]
    assert rows["tcp"] == ["check", "built-in"]


def test_schema_is_json_schema_with_plugin_specs(project: Project) -> None:
    """`runbook schema` prints JSON Schema for the three kinds and every plugin's with:."""
    result = project.cli("schema")
    schema = json.loads(result.out)
    assert {"Runbook", "Contingency", "Environment", "Step"} <= set(schema["$defs"])
    assert "url" in schema["x-plugins"]["http"]["properties"]
    assert schema["x-plugins"]["http"]["x-outputs"]["status"].startswith("HTTP status")


def test_help_and_version_exit_zero() -> None:
    """`runbook --help` and `--version` work as a real subprocess."""
    out = subprocess.run([sys.executable, "-m", "runbook_engine", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "validate" in out.stdout and "run" in out.stdout
    ver = subprocess.run(
        [sys.executable, "-m", "runbook_engine", "--version"], capture_output=True, text=True
    )
    assert ver.stdout.startswith("runbook 0.")


def test_missing_runbook_directory_is_a_usage_error(project: Project) -> None:
    """Pointing --dir at nothing exits 2 saying how to fix it."""
    result = project.cli("list", "--dir", "nowhere")
    assert (result.code, result.err) == (
        2,
        "nowhere: runbook directory not found; pass --dir or set RUNBOOK_DIR\n",
    )


def test_missing_secret_is_a_usage_error(project: Project) -> None:
    """A declared secret that is not set exits 2 before anything runs."""
    project.runbook(
        "s",
        """
        kind: runbook
        name: s
        secrets: [RUNBOOK_TEST_UNSET_SECRET]
        sections: [{name: S, steps: [{manual: x}]}]
    """,
    )
    result = project.cli("run", "s")
    assert (result.code, result.err) == (
        2,
        "secret RUNBOOK_TEST_UNSET_SECRET is not set: export RUNBOOK_TEST_UNSET_SECRET=...\n",
    )


def test_secrets_file_of_the_environment(project: Project) -> None:
    """An environment's secrets_file supplies secret values (masked like any secret)."""
    project.write("local.env", "# local throwaway key\nRB_TEST_KEY=abc-local-123\n")
    project.write("runbooks/env.yaml", "kind: environment\nname: local\nsecrets_file: local.env\n")
    project.runbook(
        "s",
        """
        kind: runbook
        name: s
        secrets: [RB_TEST_KEY]
        sections: [{name: S, steps: [{name: Echo, check: shell, with: {command: "echo {{ secrets.RB_TEST_KEY }}"}, expect: "stdout | trim | length == 13"}]}]
    """,
    )
    result, journal = project.run_json("s")
    assert (result.code, journal["environment"]) == (0, "local")
    assert "abc-local-123" not in result.out + json.dumps(journal)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, full filesystem: a 16 KiB tmpfs mounted for the test (we run as root) and
    filled until the kernel says ENOSPC."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], check=True)
    try:
        with (mnt / "filler").open("wb", buffering=0) as fh, pytest.raises(OSError, match="No space left"):
            for _ in range(100):
                fh.write(b"x" * 4096)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_report_that_cannot_be_written_exits_4_with_the_verdict(project: Project, full_disk: Path) -> None:
    """Disk full when the report is written: the verdict is printed, the other report is
    written, the failing file and the OS's reason are named, and the exit code is 4."""
    project.runbook("simple", SIMPLE)
    full, fine = full_disk / "out.json", project.root / "fine.md"
    result = project.cli("run", "simple", "--no-history", "-r", str(full), "-r", str(fine))
    assert result.code == 4, result.out + result.err
    assert "GO" in result.out and f"report: {fine}" in result.out
    assert result.err == f"cannot write {full}: No space left on device; the verdict above (GO) stands\n"
    assert fine.exists() and not full.exists()
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no temporary file left


def test_a_history_that_cannot_be_written_exits_4(project: Project, full_disk: Path) -> None:
    """History on a full disk: the run still decides and prints GO, says the history could
    not be written and where, and exits 4 (not 0, not 2)."""
    project.runbook("simple", SIMPLE)
    result = project.cli("run", "simple", "--history", str(full_disk / "history"))
    assert result.code == 4, result.out + result.err
    assert "GO" in result.out
    assert result.err.startswith(f"history: cannot record this run in {full_disk / 'history'}: ")
    assert "No space left on device" in result.err


def test_the_crash_log_never_follows_a_planted_symlink(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (exit 3) writes its traceback to a new private file (0600) in the user's state
    folder, not through a symlink planted at the old fixed /tmp path or at that folder."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = Path(tempfile.gettempdir()) / f"runbook-crash-{os.getpid()}.log"
    planted.unlink(missing_ok=True)
    planted.symlink_to(victim)
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    project.write("checks/boom.py", BUGGY_PLUGIN)
    project.runbook(
        "b", "kind: runbook\nname: b\nsections: [{name: S, steps: [{name: x, action: boom, with: {}}]}]\n"
    )
    try:
        result = project.cli("run", "b", "--no-history")
    finally:
        planted.unlink()
    assert result.code == 3, result.out + result.err
    log = Path(result.err.rsplit(" ", 1)[1].strip())
    assert log.parent == state / "runbook" / "crashes"
    assert "RuntimeError: a bug in a plugin" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert victim.read_text() == "precious\n"

    # A symlink where the crash folder should be is refused too: a new private folder instead.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(state / "runbook" / "crashes")
    (state / "runbook" / "crashes").symlink_to(elsewhere)
    again = project.cli("run", "b", "--no-history")
    log = Path(again.err.rsplit(" ", 1)[1].strip())
    assert again.code == 3 and list(elsewhere.iterdir()) == []
    assert log.parent.parent == Path(tempfile.gettempdir()) and log.parent.name.startswith("runbook-crash-")
    assert oct(log.parent.stat().st_mode & 0o777) == "0o700"
    shutil.rmtree(log.parent)


# A plugin whose is_destructive raises: the runner does not guard it, so this is a real
# crash path of the engine (exit 3), reached without mocking anything.
BUGGY_PLUGIN = """
from runbook_engine.plugin import Context, PluginSpec

KINDS = frozenset({"action"})
OUTPUTS: dict[str, str] = {}


class Spec(PluginSpec):
    pass


def is_destructive(spec: Spec) -> bool:
    raise RuntimeError("a bug in a plugin")


def run(spec: Spec, ctx: Context) -> dict[str, object]:
    return {}
"""
