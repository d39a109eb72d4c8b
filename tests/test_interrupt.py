"""Stopping a run: Ctrl-C or SIGTERM ends its commands and still writes the reports, and a
reader that goes away (`| head`) does not stop the run or change its exit code."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from rich.console import Console

from runbook_engine import stops
from runbook_engine.cli.finish import JournalKeeper, run_to_the_end, write_results
from runbook_engine.execute.events import Event, RunStarted
from runbook_engine.execute.options import RunOptions
from runbook_engine.execute.runner import Runner
from runbook_engine.format.loader import load_library
from tests.processes.tree import wait_for_handler
from tests.support.httpserver import Server
from tests.support.procs import running

SLOW = """
kind: runbook
name: slow
sections:
  - name: S
    steps:
      - {{name: Quick, check: shell, with: {{command: "true"}}}}
      - {{name: Long, action: shell, with: {{command: "echo $$ > {pidfile}; exec sleep 60"}}}}
      - {{name: Never, check: shell, with: {{command: "true"}}}}
"""


def _start(tmp_path: Path, *args: str, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runbook_engine", *args],
        cwd=tmp_path,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, what: str) -> None:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{what} never happened"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_run_writes_a_partial_report(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    """SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) during a long step ends the step's
    command, writes the journal as interrupted, and exits 130 or 143."""
    (tmp_path / "runbooks").mkdir()
    pidfile = tmp_path / "child.pid"
    (tmp_path / "runbooks" / "slow.yaml").write_text(SLOW.format(pidfile=pidfile))
    report = tmp_path / "out.json"
    proc = _start(tmp_path, "run", "slow", "--report", str(report))
    _wait_for(pidfile, "the long step's start")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, out + err
    journal = json.loads(report.read_text())
    steps = [s for sec in journal["sections"] for s in sec["steps"]]
    assert (journal["status"], journal["verdict"]) == ("interrupted", "NO-GO")
    assert journal["reasons"][0] == "the run was interrupted"
    assert [(s["name"], s["outcome"]) for s in steps] == [
        ("Quick", "passed"),
        ("Long", "error"),
        ("Never", "skipped"),
    ]
    assert steps[2]["message"] == "not run: the run was interrupted"
    how = "interrupted (Ctrl-C)" if sig == signal.SIGINT else "terminated (SIGTERM)"
    assert steps[1]["message"] == f"{how} while running"
    assert not running(int(pidfile.read_text())), "the step's command survived"


def test_ctrl_c_in_the_stability_window_still_gives_a_verdict(tmp_path: Path, http_server: Server) -> None:
    """Interrupted while the gate holds its window: NO-GO, the window so far in the report."""
    http_server.route("/health")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "g.yaml").write_text(f"""
kind: runbook
name: g
sections:
  - name: S
    steps:
      - {{name: API answers, check: http, with: {{url: "{http_server.url}/health"}}}}
gate: {{stable_for: 60s, interval: 100ms}}
""")
    report = tmp_path / "out.json"
    proc = _start(tmp_path, "run", "g", "--report", str(report), "--no-history")
    assert proc.stdout is not None
    for line in proc.stdout:  # plain output: one line per gate round
        if "gate round 2" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    journal = json.loads(report.read_text())
    gate = journal["extra"]["gate"]
    assert (journal["status"], journal["verdict"], gate["held"]) == ("interrupted", "NO-GO", False)
    assert gate["rounds"] >= 2 and journal["reasons"] == ["the run was interrupted"]
    assert "decision" not in journal["extra"]  # nobody confirmed an interrupted decision


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path: Path) -> None:
    """`runbook run X -r out.json | head -1`: the run goes on, writes its report and exits
    with its verdict (1 here: a failing check), with nothing on stderr."""
    (tmp_path / "runbooks").mkdir()
    steps = "\n".join(
        f'      - {{name: "Step {i}", check: shell, with: {{command: "echo {i}"}}}}' for i in range(40)
    )
    (tmp_path / "runbooks" / "many.yaml").write_text(
        "kind: runbook\nname: many\nsections:\n  - name: S\n    steps:\n"
        f'{steps}\n      - {{name: Fails, check: shell, with: {{command: "false"}}}}\n'
    )
    report = tmp_path / "out.json"
    shell = (
        f"{sys.executable} -m runbook_engine run many --no-history -r {report} | head -1; "
        'echo "status=${PIPESTATUS[0]}" >&2'
    )
    proc = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout == "runbook many\n"
    assert proc.stderr == "status=1\n"
    journal = json.loads(report.read_text())
    assert (journal["verdict"], len(journal["sections"][0]["steps"])) == ("NO-GO", 41)


STUCK_PLUGIN = '''
"""A check whose library call never returns and ignores every timeout."""
import threading

from runbook_engine.plugin import Context, PluginSpec

NAME = "stuck"
KINDS = frozenset({"check"})
OUTPUTS: dict[str, str] = {}


class Spec(PluginSpec):
    url: str


def run(spec: Spec, ctx: Context) -> dict[str, object]:
    threading.Event().wait()  # like a socket read on a server that never answers
    return {}
'''


def test_a_plugin_that_never_returns_is_abandoned_and_the_run_exits(tmp_path: Path) -> None:
    """The step errors at its timeout (plus the plugins' grace) and the process exits with
    the verdict instead of waiting for the stuck thread forever."""
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "stuck.py").write_text(STUCK_PLUGIN)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "s.yaml").write_text(
        "kind: runbook\nname: s\nsections: [{name: S, steps: [{name: Hangs, check: stuck, timeout: 1s,"
        " with: {url: 'http://127.0.0.1:9/never'}}]}]\n"
    )
    report = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "runbook_engine", "run", "s", "--no-history", "-r", str(report)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,  # before the fix: never exits
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    step = json.loads(report.read_text())["sections"][0]["steps"][0]
    assert (step["outcome"], step["message"]) == (
        "error",
        "timed out after 1s: stuck did not finish (abandoned); it was working on url http://127.0.0.1:9/never",
    )
    assert step["duration_s"] < 5


@pytest.mark.parametrize(
    ("sig", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_while_waiting_for_a_stuck_plugin_stops_the_wait(
    tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    """After the verdict the CLI waits up to 5 s for a stuck plugin; Ctrl-C or SIGTERM then
    ends the wait cleanly (no traceback) with the matching exit code, reports written."""
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "stuck.py").write_text(STUCK_PLUGIN)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "s.yaml").write_text(
        "kind: runbook\nname: s\nsections: [{name: S, steps: [{name: Hangs, check: stuck, timeout: 1s,"
        " with: {url: 'http://127.0.0.1:9/never'}}]}]\n"
    )
    report = tmp_path / "out.json"
    proc = _start(tmp_path, "run", "s", "--no-history", "-r", str(report))
    assert proc.stderr is not None
    waiting = proc.stderr.readline()
    assert waiting.startswith("waiting up to 5s for step-"), waiting
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, out + err
    assert err == f"{said} while plugins were stopping\n"
    assert json.loads(report.read_text())["verdict"] == "NO-GO"


def test_an_interrupted_drill_says_its_failure_may_still_be_in_place(tmp_path: Path) -> None:
    """Ctrl-C after a drill injected its failure and before it recovered: the verdict says
    the failure may still be there and how to mend it."""
    injected = tmp_path / "injected"
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "c.yaml").write_text(f"""
kind: contingency
name: feed-stops
rto: 30s
inject: [{{name: Stop the feed, action: shell, with: {{command: "touch {injected}"}}}}]
detect: [{{name: Feed runs, check: shell, with: {{command: "true"}}}}]
recover: [{{name: Start the feed, action: shell, with: {{command: "rm -f {injected}"}}}}]
""")
    report = tmp_path / "out.json"
    proc = _start(
        tmp_path, "drill", "feed-stops", "--yes", "--detect-timeout", "60s", "--no-history", "-r", str(report)
    )
    deadline = time.monotonic() + 20
    while not injected.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert injected.exists(), "the drill never injected"
    time.sleep(0.3)  # polling detect now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    reasons = json.loads(report.read_text())["reasons"]
    assert reasons[:2] == [
        "the drill was interrupted",
        "the injected failure may still be in place: run `runbook recover feed-stops`",
    ]
    assert "runbook recover feed-stops" in out


def test_sigterm_while_the_files_load_exits_143_with_a_line(tmp_path: Path) -> None:
    """SIGTERM while a runbook file is still being read (a FIFO here, like a hung network
    disk) exits 143, not Typer's silent 130, and says that nothing ran."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "a.yaml").write_text(
        "kind: runbook\nname: a\nsections: [{name: S, steps: [{name: x, check: shell, with: {command: 'true'}}]}]\n"
    )
    fifo = tmp_path / "runbooks" / "b.yaml"
    os.mkfifo(fifo)
    report = tmp_path / "out.json"
    proc = _start(tmp_path, "run", "a", "--no-history", "-r", str(report))
    with open(fifo, "w"):  # returns once runbook opened the file to load it
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert (proc.returncode, out, err) == (
        143,
        "",
        "terminated (SIGTERM) before the run started: nothing ran, no report written\n",
    )
    assert not report.exists()


def test_a_stop_before_the_command_starts_is_not_a_traceback(tmp_path: Path) -> None:
    """SIGTERM as soon as the handler is in place (while the CLI still imports) exits 143
    with one line, no traceback; Ctrl-C then exits 130."""
    for sig, code, words in (
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
        (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    ):
        proc = _start(tmp_path, "--version")
        wait_for_handler(proc.pid)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == code, out + err
        assert "Traceback" not in err
        assert err.startswith(words), err


RANDOM_RUN = """
kind: runbook
name: r
sections:
  - name: Quick
    steps:
{quick}
  - name: Slow
    steps:
      - {{name: Waits, action: shell, with: {{command: "sleep 0.5"}}}}
gate: {{stable_for: 1s, interval: 100ms}}
"""


def _one_run(tmp_path: Path, sig: signal.Signals, delay: float | None) -> tuple[int | None, str, str, bool]:
    """Start a run, signal it `delay` s after its handler is in place (None: no signal).
    Returns (exit code or None if it ended before the signal, stdout, stderr, report written)."""
    report = tmp_path / f"out-{time.monotonic_ns()}.json"
    proc = _start(tmp_path, "run", "r", "--no-history", "-r", str(report))
    wait_for_handler(proc.pid)
    if delay is not None:
        time.sleep(delay)
        if proc.poll() is not None:
            proc.communicate()
            return None, "", "", False
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err, report.exists()


@pytest.mark.parametrize(("sig", "code", "runs"), [(signal.SIGTERM, 143, 20), (signal.SIGINT, 130, 10)])
def test_a_signal_at_a_random_moment_always_gives_its_exit_code(
    tmp_path: Path, sig: signal.Signals, code: int, runs: int
) -> None:
    """20 SIGTERMs (10 Ctrl-Cs) at random moments of a run (starting, loading, steps, the
    gate's window, reports) all exit 143 (130), never a traceback; whenever the run had
    started, its report is written."""
    (tmp_path / "runbooks").mkdir()
    quick = "\n".join(f'      - {{name: "Q{i}", check: shell, with: {{command: "true"}}}}' for i in range(10))
    (tmp_path / "runbooks" / "r.yaml").write_text(RANDOM_RUN.format(quick=quick))
    started = time.monotonic()
    calm, out, err, _ = _one_run(tmp_path, sig, None)
    assert calm == 0, out + err
    span = time.monotonic() - started  # how long a whole run takes on this machine now
    rng = random.Random(sig * 1000 + runs)  # reproducible moments
    results = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        # Within the first 70% of a run's time, so the signal comes before it ends.
        results = list(
            pool.map(lambda d: _one_run(tmp_path, sig, d), [rng.uniform(0, 0.7 * span) for _ in range(runs)])
        )
    signalled = [r for r in results if r[0] is not None]
    assert len(signalled) >= runs * 3 // 4, "most runs ended before their signal: the run is too quick"
    for rc, out, err, wrote in signalled:
        assert rc == code, out + err
        assert "Traceback" not in err, err
        if "runbook r\n" in out:  # the run had started: its report is written
            assert wrote, out + err


def test_a_stop_that_escapes_the_runner_still_gives_a_partial_report(tmp_path: Path) -> None:
    """A real SIGTERM landing where the runner has no handler of its own (here while an
    observer takes the run's start, as the history does when it writes its first record)
    still gives an interrupted journal, tells the observers the run finished, writes the
    report and exits 143."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "two.yaml").write_text(
        "kind: runbook\nname: two\nsections: [{name: S, steps: ["
        "{name: A, check: shell, with: {command: 'true'}}, {name: B, check: shell, with: {command: 'true'}}]}]\n"
    )
    lib = load_library(tmp_path / "runbooks")
    keeper = JournalKeeper()
    seen: list[str] = []

    def stopped_on_start(event: Event) -> None:
        seen.append(type(event).__name__)
        if isinstance(event, RunStarted):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises Terminated in here

    runner = Runner(lib, RunOptions(), observers=[keeper, stopped_on_start])
    report = tmp_path / "out.json"
    assert stops.install()
    try:
        journal, failures = run_to_the_end(partial(runner.run, "two"), keeper, runner.emit)
        code = write_results(journal, [report], None, Console(file=io.StringIO()), True, failures)
    finally:
        stops.restore()
    assert code == 143
    assert seen == ["RunStarted", "RunFinished"]
    saved = json.loads(report.read_text())
    assert (saved["status"], saved["verdict"], saved["reasons"]) == (
        "interrupted",
        "NO-GO",
        ["the run was interrupted"],
    )
    assert [(s["name"], s["outcome"], s["message"]) for s in saved["sections"][0]["steps"]] == [
        ("A", "skipped", "not run: the run was interrupted"),
        ("B", "skipped", "not run: the run was interrupted"),
    ]
