"""Shared fixtures: a real local HTTP server, and a project folder with runbooks to run."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook_engine.cli import main
from tests.support.httpserver import Server, serve


def pytest_configure(config: pytest.Config) -> None:
    """Children hear Ctrl-C as a terminal's foreground job does.

    A test run started in the background (`cmd &` in a script) ignores SIGINT, and an
    ignored signal is inherited across exec: every `runbook` the tests start would then
    ignore the SIGINT that Ctrl-C tests send (as `runbook` rightly does in a background
    job). A handled signal is reset to its default on exec, so handling it here is enough."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def http_server() -> Iterator[Server]:
    with serve() as s:
        yield s


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class Project:
    """A temporary project folder: runbooks/ (and checks/), run with the real CLI in-process."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.runbooks = root / "runbooks"
        self.runbooks.mkdir()
        self.capsys = capsys

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def runbook(self, name: str, text: str) -> Path:
        return self.write(f"runbooks/{name}.yaml", text)

    def cli(self, *args: str) -> CliResult:
        self.capsys.readouterr()
        cwd = Path.cwd()
        os.chdir(self.root)
        try:
            with pytest.raises(SystemExit) as exc:
                main(list(args))
        finally:
            os.chdir(cwd)
        captured = self.capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 0
        return CliResult(code, captured.out, captured.err)

    def run_json(self, *args: str) -> tuple[CliResult, dict[str, object]]:
        """Run with a JSON report and return the journal as data."""
        report = self.root / "journal.json"
        report.unlink(missing_ok=True)
        result = self.cli("run", *args, "--report", str(report))
        return result, json.loads(report.read_text())


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Project:
    return Project(tmp_path, capsys)
