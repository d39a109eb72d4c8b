"""The K2 runbooks against the real local K2 stack (k2local), as a team would run them.

One stack per module, in a temp project with its own home folder and a free port, so the
tests never touch a developer's own .k2 or port 8000. Manual steps are confirmed by flag.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class K2Project:
    root: Path
    home: Path
    port: int

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("K2_API_KEY", None)  # the local environment's secrets_file provides it
        env.update({"K2_HOME": str(self.home), "NO_COLOR": "1"})
        return env

    def runbook(self, *args: str) -> tuple[int, str, dict[str, Any] | None]:
        report = self.root / "last.json"
        report.unlink(missing_ok=True)
        wants_report = args and args[0] in ("run", "drill", "recover") and "--all" not in args
        cmd = [sys.executable, "-m", "runbook_engine", *args]
        if wants_report:
            cmd += ["--report", str(report)]
        proc = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=600)
        journal = json.loads(report.read_text()) if wants_report and report.exists() else None
        return proc.returncode, proc.stdout + proc.stderr, journal

    def k2(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = self.env()
        env["K2_API_KEY"] = "k2-local-dev-key"
        return subprocess.run(
            [sys.executable, "-m", "k2local", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def k2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[K2Project]:
    root = tmp_path_factory.mktemp("k2project")
    shutil.copytree(ROOT / "runbooks", root / "runbooks")
    home = root / "k2home"
    port = _free_port()
    local = root / "runbooks" / "environments" / "local.yaml"
    text = local.read_text().replace(".k2", str(home)).replace("8000", str(port))
    local.write_text(text)
    project = K2Project(root, home, port)
    try:
        yield project
    finally:
        project.k2("stop")


def _outcomes(journal: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["outcome"] for sec in journal["sections"] for s in sec["steps"]}


def test_t_minus_2h_brings_the_stack_up_and_is_go(k2: K2Project) -> None:
    """T-2h resets, starts the local stack, loads data and ends GO with data flowing."""
    code, out, journal = k2.runbook("run", "t-minus-2h", "--yes")
    assert journal is not None, out
    assert (code, journal["verdict"]) == (0, "GO"), out
    steps = _outcomes(journal)
    assert steps["iceberg-trades"] == "passed"
    assert steps["stream"] == "passed"
    assert steps["compose-stack-is-up-and-healthy"] == "skipped"  # docker-only step


def test_t_minus_90m_checks_materials(k2: K2Project) -> None:
    """T-90m captures the backup materials and finds at least 10 screenshots."""
    code, out, journal = k2.runbook("run", "t-minus-90m", "--confirm-manual")
    assert journal is not None, out
    assert (code, journal["verdict"]) == (0, "GO"), out
    screenshots = next(s for sec in journal["sections"] for s in sec["steps"] if s["id"] == "screenshots")
    assert screenshots["outputs"]["count"] == 10


def test_t_minus_30m_is_go_on_a_healthy_stack(k2: K2Project) -> None:
    """T-30m's full validation passes, its latency step measuring p99 over 50 requests and
    judging it against the runbook's budget var. The budget is raised here: the test proves
    the measuring and judging, not this CI machine's speed (the runbook's own 500 ms is
    what the event is held to)."""
    code, out, journal = k2.runbook("run", "t-minus-30m", "--confirm-manual", "--var", "p99_budget_ms=5000")
    assert journal is not None, out
    assert (code, journal["verdict"]) == (0, "GO"), out
    p99 = next(s for sec in journal["sections"] for s in sec["steps"] if s["id"] == "api-p99")
    assert (p99["outputs"]["samples"], p99["outputs"]["errors"]) == (50, 0)
    assert 0 < p99["outputs"]["p99_ms"] < 5000
    assert p99["expectations"][1]["detail"].startswith("p99_ms < vars.p99_budget_ms -> p99_ms = ")
    assert p99["expectations"][1]["detail"].endswith("vars.p99_budget_ms = 5000")


def test_go_no_go_is_go_with_a_full_score(k2: K2Project) -> None:
    """go-no-go holds over a (shortened) window and scores 100 on the rubric."""
    code, out, journal = k2.runbook(
        "run", "go-no-go", "--confirm-manual", "--stable-for", "3s", "--operator", "test-lead"
    )
    assert journal is not None, out
    assert (code, journal["verdict"]) == (0, "GO"), out
    assert journal["extra"]["score"]["score"] == 100.0
    assert journal["extra"]["gate"]["held"] is True
    assert journal["extra"]["decision"]["confirmed_by"] == "test-lead"


def test_demo_rehearsal_and_demo_mode_runbooks(k2: K2Project) -> None:
    """The rehearsal (with its live resilience section) and the demo-mode runbooks are GO."""
    for name in ("demo-rehearsal", "demo-load", "demo-validate"):
        code, out, journal = k2.runbook("run", name, "--confirm-manual")
        assert journal is not None, out
        assert (name, code, journal["verdict"]) == (name, 0, "GO"), out
    rehearsal_budget = sum(s["budget_s"] for s in _sections(k2, "demo-rehearsal"))
    assert rehearsal_budget == 12 * 60


def _sections(k2: K2Project, name: str) -> list[dict[str, Any]]:
    code, out, journal = k2.runbook("run", name, "--dry-run")
    assert journal is not None, out
    assert code == 0, out
    return list(journal["sections"])


def test_stopped_feed_makes_t_minus_30m_no_go_naming_the_stream_contingency(k2: K2Project) -> None:
    """With the feed stopped, T-30m is NO-GO and recommends the stream contingency first."""
    assert k2.k2("break", "feed-stop").returncode == 0
    # The stream contingency's detect check looks at the last 5 seconds of trades: let the
    # stall become visible, as it would be by the time anyone runs T-30m.
    time.sleep(6)
    try:
        code, out, journal = k2.runbook("run", "t-minus-30m", "--confirm-manual")
        assert journal is not None, out
        assert (code, journal["verdict"]) == (1, "NO-GO"), out
        assert journal["recommended"][0]["name"] == "stream-not-ingesting", (journal["recommended"], out)
        assert journal["recommended"][0]["confirmed"] is True  # its detect check saw the stall
        assert "contingency stream-not-ingesting" in out
    finally:
        assert k2.k2("heal", "feed-stop").returncode == 0


def test_every_contingency_injects_detects_and_recovers(k2: K2Project) -> None:
    """drill --all: each inject really breaks the stack, detect sees it, recovery meets the RTO."""
    code, out, _ = k2.runbook("drill", "--all", "--yes", "--poll", "100ms")
    assert code == 0, out
    table = out[out.index("Recovery times (measured)") :]
    for title in (
        "Services won't start",
        "Stream not ingesting",
        "Notebook kernel crash",
        "Network problems",
        "Queries return empty",
        "Dashboards empty",
        "Performance degraded",
    ):
        row = next(line for line in table.splitlines() if title in line)
        assert row.rstrip().rstrip("│").strip().endswith("yes"), row


def test_checklist_all_prints_the_whole_event(k2: K2Project) -> None:
    """checklist --all covers T-2h to T-5m in order, then the contingency table with RTOs."""
    code, out, _ = k2.runbook("checklist", "--all")
    assert code == 0, out
    order = [
        out.index(t)
        for t in (
            "T-2h: environment setup",
            "T-90m: materials and people",
            "T-30m: final validation",
            "T-5m: go / no-go",
        )
    ]
    assert order == sorted(order)
    assert "Stream not ingesting" in out[order[-1] :]


def test_post_demo_winds_the_stack_down(k2: K2Project) -> None:
    """post-demo's last automated step stops the local stack."""
    code, out, journal = k2.runbook("run", "post-demo", "--confirm-manual")
    assert journal is not None, out
    assert (code, journal["verdict"]) == (0, "GO"), out
    status = k2.k2("status")
    assert status.returncode == 1
    assert json.loads(status.stdout)["processes"]["api"]["running"] is False
