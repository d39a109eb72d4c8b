"""No record stays `running` after its process ended; a full disk is a clear error, not a stuck record."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from runbook_engine.history.index import R, current_generation, read_runs, unplain
from tests.support import procs
from tests.support.history import QUICK_RUNBOOK, records, runbook_cmd, wait_for

KILLED = """
kind: runbook
name: killed
sections:
  - name: Only
    steps:
      - {name: First, check: shell, with: {command: "echo one"}}
      - {name: Long, action: shell, with: {command: "echo $$ > {pidfile}; exec sleep 30"}}
      - {name: Never, check: shell, with: {command: "echo never"}}
"""
def _write(root: Path, name: str, text: str) -> None:
    (root / "runbooks").mkdir(parents=True, exist_ok=True)
    (root / "runbooks" / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _indexed(history: Path) -> list[tuple[str, str]]:
    gen = current_generation(history)
    return sorted((unplain(r[R["journal"]]), r[R["status"]]) for r in read_runs(gen)) if gen else []


def test_the_next_run_closes_a_run_killed_mid_step(tmp_path: Path) -> None:
    """SIGKILL a real `runbook run` mid-step; the next `runbook run` (no history command) marks it aborted."""
    pidfile = tmp_path / "sleeper.pid"
    _write(tmp_path, "killed", KILLED.replace("{pidfile}", str(pidfile)))
    _write(tmp_path, "quick", QUICK_RUNBOOK)
    history = tmp_path / ".runbook" / "history"
    proc = subprocess.Popen(
        runbook_cmd("run", "killed"), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for("the long step to start", lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        assert [m.name for m in (history / "open").iterdir()] == [
            records(history, "killed")[0]["journal"]["run_id"]
        ]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not procs.running(proc.pid)
        assert records(history, "killed")[0]["journal"]["status"] == "running"  # as the kill left it

        ran = subprocess.run(
            runbook_cmd("run", "quick"), cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr
        killed = records(history, "killed")[0]
        j = killed["journal"]
        assert (j["status"], j["verdict"]) == ("aborted", None)
        pid = killed["process"]["pid"]
        assert j["reasons"][0].startswith(f"aborted: the run's process (pid {pid} on ")
        assert j["extra"]["aborted"]["found_by"]["pid"] != pid
        done = [
            (s["id"], s["outcome"])
            for sec in j["sections"]
            for s in sec["steps"]
            if s["duration_s"] is not None
        ]
        assert done == [("first", "passed")]
        assert list((history / "open").iterdir()) == []
        assert _indexed(history) == [
            (f"runs/killed/{j['run_id']}.json", "aborted"),
            (f"runs/quick/{records(history, 'quick')[0]['journal']['run_id']}.json", "finished"),
        ]
    finally:
        proc.kill()
        proc.wait()
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the orphaned `sleep 30`


BIG = "kind: runbook\nname: big\nsections:\n  - name: Only\n    steps:\n" + "".join(
    f'      - {{name: Step {i}, check: shell, with: {{command: "head -c 20000 /dev/zero | tr \\\\\\\\0 x"}}}}\n'
    for i in range(30)
)

IN_PROCESS = """
import json, sys
from pathlib import Path
from runbook_engine.execute.runner import Runner
from runbook_engine.format.loader import load_library
from runbook_engine.history import HistoryWriteError
from runbook_engine.history.recorder import Recorder

recorder = Recorder(Path(sys.argv[1]))
journal = Runner(load_library(Path("runbooks")), observers=[recorder]).run("big")
try:
    recorder.raise_if_failed()
    print(json.dumps({"verdict": journal.verdict, "error": None}))
except HistoryWriteError as exc:
    print(json.dumps({"verdict": journal.verdict, "error": str(exc), "code": exc.exit_code}))
"""

FULL_DISK = """
set -e
mount -t tmpfs -o size=64k tmpfs "$1"
"$PY" -c "$SCRIPT" "$1"
set +e
"$PY" -m runbook_engine run big --history "$1" >/dev/null 2>run.err; echo "run exit $?"
"$PY" -m runbook_engine history --history "$1" -f json >history.out 2>history.err; echo "history exit $?"
"""


def test_a_full_disk_is_a_clear_error_and_leaves_no_running_record(tmp_path: Path) -> None:
    """On a real full filesystem (a 64 KB tmpfs): HistoryWriteError names the folder; history still answers."""
    assert shutil.which("unshare"), "needs util-linux unshare (a private mount namespace for the tmpfs)"
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "big.yaml").write_text(BIG, encoding="utf-8")
    full = tmp_path / "full"
    full.mkdir()
    env = dict(os.environ, PY=sys.executable, SCRIPT=IN_PROCESS)
    # A user and mount namespace of our own: mounting needs no root on the host, and the
    # tmpfs disappears with the namespace.
    out = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", FULL_DISK, "sh", str(full)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    result = json.loads(lines[0])
    assert result["verdict"] == "GO"  # the run went on: only its record is missing
    assert result["code"] == 4
    assert result["error"].startswith(f"{full}/runs/big/")
    assert result["error"].endswith(": history: this run was not recorded: No space left on device")
    # The CLI exits 4: the verdict (GO) was decided and printed, the history was not written.
    assert lines[1:] == ["run exit 4", "history exit 0"]
    err = (tmp_path / "run.err").read_text()
    assert f"history: cannot record this run in {full}: [Errno 28] No space left on device" in err
    listed = json.loads((tmp_path / "history.out").read_text())
    # The runs whose final record could not be written read as aborted, never as running.
    assert listed and {r["status"] for r in listed} == {"aborted"}
    assert "Traceback" not in (tmp_path / "history.err").read_text()
