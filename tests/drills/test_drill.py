"""Contingency drills against real local services: a failure is caused, seen, fixed and timed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import Project
from tests.support.httpserver import Server
from tests.support.procs import running

FLAG_DRILL = """
    kind: contingency
    name: api-broken
    title: API answers 503
    symptoms: Health endpoint answers 503
    rto: {rto}
    inject:
      - name: Break the API
        action: shell
        with: {{command: "date +%s.%N > {tmp}/injected_at; touch {flag}"}}
    detect:
      - name: API is healthy
        check: http
        with: {{url: "{url}/health"}}
        expect: status == 200
    recover:
      - name: Mend the API
        action: shell
        with: {{command: "sleep {repair}; rm {flag}; date +%s.%N > {tmp}/recovered_at"}}
    verify:
      - name: API is healthy again
        check: http
        with: {{url: "{url}/health"}}
        expect: status == 200
    fallback:
      - manual: Switch to the recorded demo video
      - manual: Show the static screenshots
"""


def _write(project: Project, server: Server, tmp_path: Path, rto: str, repair: float) -> Path:
    flag = tmp_path / "broken"
    server.route("/health", broken_while=str(flag))
    project.write(
        "runbooks/c.yaml", FLAG_DRILL.format(rto=rto, tmp=tmp_path, flag=flag, url=server.url, repair=repair)
    )
    return flag


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_drill_within_rto_with_accurate_timings(
    project: Project, http_server: Server, tmp_path: Path
) -> None:
    """A drill measures time-to-detect and time-to-recover within 100 ms of when things really happened."""
    _write(project, http_server, tmp_path, rto="30s", repair=0.4)
    report = tmp_path / "drill.json"
    result = project.cli("drill", "api-broken", "--yes", "--poll", "20ms", "--report", str(report))
    import json

    journal = json.loads(report.read_text())
    drill = journal["extra"]["drill"]
    assert (result.code, journal["kind"], journal["verdict"], drill["within_rto"]) == (0, "drill", "GO", True)
    injected = float((tmp_path / "injected_at").read_text())
    recovered = float((tmp_path / "recovered_at").read_text())
    true_ttd = _epoch(drill["detected_at"]) - injected
    true_ttr = recovered - _epoch(drill["detected_at"])
    assert abs(drill["time_to_detect_s"] - true_ttd) < 0.1
    assert abs(drill["time_to_recover_s"] - true_ttr) < 0.1
    assert 0.4 <= drill["time_to_recover_s"] < 1.5
    assert [s["name"] for s in journal["sections"]] == ["Inject", "Detect", "Recover", "Verify"]
    detect = journal["sections"][1]["steps"][0]
    assert (detect["outcome"], detect["message"]) == (
        "passed",
        "scenario seen: status == 200 -> status = 503",
    )
    assert "within RTO" in result.out
    # The console says the failure was seen and what the check saw, not a green PASS.
    assert "  SEEN    API is healthy" in result.out
    assert "scenario seen: status == 200 -> status = 503" in result.out
    assert "PASS    API is healthy again" in result.out


def test_drill_that_misses_its_rto_prints_the_fallback(
    project: Project, http_server: Server, tmp_path: Path
) -> None:
    """When recovery is slower than the RTO the drill is NO-GO and prints the fallback steps."""
    _write(project, http_server, tmp_path, rto="200ms", repair=0.6)
    result = project.cli("drill", "api-broken", "--yes", "--poll", "20ms")
    assert result.code == 1
    assert "MISSED the RTO" in result.out
    assert (
        "fallback:\n    1. Switch to the recorded demo video\n    2. Show the static screenshots"
        in result.out
    )
    assert "time to recover 0." in result.out and "missed the RTO of 0.2s" in result.out


def test_recover_runs_against_the_live_system(project: Project, http_server: Server, tmp_path: Path) -> None:
    """`runbook recover` skips inject: it detects the live failure, recovers and verifies."""
    flag = _write(project, http_server, tmp_path, rto="30s", repair=0.1)
    flag.touch()  # the system is already broken
    result = project.cli("recover", "api-broken", "--poll", "20ms")
    assert result.code == 0
    assert not flag.exists()


def test_recover_when_nothing_is_wrong_says_so(project: Project, http_server: Server, tmp_path: Path) -> None:
    """If detect never sees the scenario, nothing is recovered and the command says why."""
    _write(project, http_server, tmp_path, rto="30s", repair=0.1)
    result = project.cli("recover", "api-broken", "--poll", "20ms", "--detect-timeout", "200ms")
    assert result.code == 1
    assert "the scenario was not detected within 0.2s (every detect check still passes)" in result.out
    assert "fallback" not in result.out  # nothing failed that a fallback would stand in for


def test_drill_needs_yes_without_a_terminal(project: Project, http_server: Server, tmp_path: Path) -> None:
    """A drill breaks things on purpose: without --yes and no terminal it refuses (exit 2)."""
    flag = _write(project, http_server, tmp_path, rto="30s", repair=0.1)
    result = project.cli("drill", "api-broken")
    assert result.code == 2
    assert "pass --yes to allow it" in result.err
    assert not flag.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, pidfile: Path) -> str:
    """The server's pid, once it listens (the drill must break a server that was up)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return pidfile.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"the server never listened on {port}")


def test_drill_kills_and_restarts_a_real_process(project: Project, tmp_path: Path) -> None:
    """A contingency that kills a server process and starts it again; drill --all prints the table."""
    port = _free_port()
    pidfile = tmp_path / "server.pid"
    start = (
        f"cd {tmp_path} && nohup {sys.executable} -m http.server {port} --bind 127.0.0.1 "
        f">/dev/null 2>&1 & echo $! > {pidfile}"
    )
    subprocess.run(["sh", "-c", start], check=True)
    first_pid = _wait_for_port(port, pidfile)
    try:
        project.write(
            "runbooks/c.yaml",
            f"""
            kind: contingency
            name: server-crash
            title: Server process crashed
            rto: 20s
            inject: [{{name: Kill the server, action: shell, with: {{command: "kill $(cat {pidfile})"}}}}]
            detect: [{{name: Port answers, check: tcp, with: {{host: 127.0.0.1, port: {port}}}, expect: connected}}]
            recover: [{{name: Start the server, action: shell, with: {{command: "{start}"}}}}]
            verify:
              - name: Server answers HTTP
                check: http
                with: {{url: "http://127.0.0.1:{port}/"}}
                expect: status == 200
        """,
        )
        result = project.cli("drill", "--all", "--yes", "--poll", "50ms")
        assert result.code == 0, result.out
        assert "Recovery times (measured)" in result.out
        row = next(line for line in result.out.splitlines() if "Server process crashed" in line)
        assert row.split("│")[-2].strip() == "yes"
        # The drill really killed the first server and started another one.
        assert pidfile.read_text().strip() != first_pid
        assert not running(int(first_pid)), "the first server still runs: the drill did not kill it"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):  # the drill may have left it stopped
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
        time.sleep(0.1)


def test_detect_checks_skipped_by_when_do_not_count(project: Project, http_server: Server, tmp_path: Path) -> None:
    """A detect check for another environment (`when:` false) neither confirms nor denies the scenario."""
    http_server.route("/health")
    project.write("runbooks/c.yaml", f"""
        kind: contingency
        name: other-env
        title: Other environment only
        vars: {{profile: local}}
        rto: 30s
        detect:
          - {{name: API answers, check: http, with: {{url: "{http_server.url}/health"}}}}
          - {{name: Docker port open, check: tcp, with: {{host: 127.0.0.1, port: 1}}, when: vars.profile == "docker"}}
        recover: [{{name: Nothing, action: shell, with: {{command: "true"}}}}]
    """)
    result = project.cli("recover", "other-env", "--poll", "20ms", "--detect-timeout", "200ms")
    assert result.code == 1
    assert "the scenario was not detected within 0.2s" in result.out


def test_a_contingency_detected_by_a_person_cannot_be_drilled(project: Project) -> None:
    """Manual detect steps are fine on paper, but drill/recover refuse them with a clear usage error."""
    project.write("runbooks/c.yaml", """
        kind: contingency
        name: projector-fails
        title: Projector fails
        rto: 2m
        detect: [{manual: The projector shows nothing}]
        recover: [{manual: Switch to the spare projector}]
    """)
    assert project.cli("validate").code == 0
    result = project.cli("recover", "projector-fails")
    assert (result.code, result.err) == (2, "contingency 'projector-fails' has detect/verify steps that are not "
                                            "checks (The projector shows nothing), so it cannot be timed "
                                            "automatically; print it with `runbook checklist projector-fails`\n")
