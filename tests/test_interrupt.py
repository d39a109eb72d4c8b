"""Ctrl-C: the run stops, its command is ended, a partial report is written, exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_sigint_writes_a_partial_report_and_exits_130(tmp_path: Path) -> None:
    """SIGINT during a long step ends it, writes the journal as interrupted, and exits 130."""
    (tmp_path / "runbooks").mkdir()
    pidfile = tmp_path / "child.pid"
    (tmp_path / "runbooks" / "slow.yaml").write_text(f"""
kind: runbook
name: slow
sections:
  - name: S
    steps:
      - {{name: Quick, check: shell, with: {{command: "true"}}}}
      - {{name: Long, action: shell, with: {{command: "echo $$ > {pidfile}; exec sleep 60"}}}}
      - {{name: Never, check: shell, with: {{command: "true"}}}}
""")
    report = tmp_path / "out.json"
    proc = subprocess.Popen([sys.executable, "-m", "runbook_engine", "run", "slow", "--report", str(report)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pidfile.exists(), "the long step never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    journal = json.loads(report.read_text())
    steps = [s for sec in journal["sections"] for s in sec["steps"]]
    assert journal["status"] == "interrupted"
    assert journal["reasons"][0] == "the run was interrupted"
    assert [(s["name"], s["outcome"]) for s in steps] == [("Quick", "passed"), ("Long", "error"), ("Never", "skipped")]
    assert steps[2]["message"] == "not run: the run was interrupted"
    child = int(pidfile.read_text())
    try:
        stat = Path(f"/proc/{child}/stat").read_text()
        alive = stat.split(") ")[1][0] != "Z"
    except FileNotFoundError:
        alive = False
    assert not alive, "the step's command survived Ctrl-C"
