"""Every `runbook history` command at 10,000 recorded runs, first query included.

Fills a fresh history with 10,000 runs of a 30-step runbook (and one drill per 100 runs)
exactly as the recorder leaves them: the record file, then the run's rows appended to the
index when it ends. Then times each command in a new process, the first time right after
the runs were recorded and the median of the next ones, with the process's peak memory,
against the start-up floor (`runbook --version`) of the same run.

With --old DIR (a checkout of the engine before the index, e.g. `git worktree add
/tmp/hist-old 48336c2`), the same commands run against the same records without an index,
with that code, in its own processes (PYTHONPATH=DIR): the before figures.

Usage: .venv/bin/python benchmarks/history_flat.py [--runs 10000] [--old /tmp/hist-old]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from history_steps import NAME, template  # noqa: E402

from runbook_engine.history.index import append_records  # noqa: E402
from runbook_engine.history.journals import Record, record_path, write_record  # noqa: E402
from runbook_engine.history.liveness import ProcessId  # noqa: E402

REPEATS = 5
BUDGET_S = 0.300
COMMANDS: list[tuple[str, list[str]]] = [
    ("history (last 20)", ["history"]),
    ("history NAME --steps", ["history", NAME, "--steps"]),
    ("history --drills", ["history", "--drills"]),
    ("--sql count(*) FROM runs", ["history", "--sql", "SELECT count(*) FROM runs"]),
    (
        "--sql per step FROM steps",
        ["history", "--sql", "SELECT step_id, count(*), avg(duration_s) FROM steps GROUP BY ALL ORDER BY 1"],
    ),
]


def fill(history: Path, runs: int, index: bool) -> float:
    """Write the records (and, as the recorder does when each run ends, its index entry)."""
    rng = random.Random(7)
    data = template()
    proc = ProcessId(pid=1, host="bench-host")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    for i in range(runs):
        start = t0 + timedelta(minutes=10 * i)
        run_id = start.strftime("%Y%m%dT%H%M%SZ-") + f"{i:06x}"
        drill = i % 100 == 99
        for sec in data["sections"]:
            for n, step in enumerate(sec["steps"]):
                bad = n == 3 and rng.random() < 0.1
                step["outcome"] = "failed" if bad else "passed"
                step["message"] = "status == 200 -> status = 503" if bad else None
                step["duration_s"] = rng.lognormvariate(-1.5, 0.6)
                step["started_at"] = start.isoformat()
        data.update(
            run_id=run_id,
            kind="drill" if drill else "run",
            runbook="api-down" if drill else NAME,
            started_at=start.isoformat(),
            finished_at=(start + timedelta(seconds=15)).isoformat(),
            file_sha256=f"{i // 1000:064x}",
            extra={"drill": {"mode": "drill", "rto_s": 180.0, "time_to_detect_s": rng.uniform(5, 30),
                             "time_to_recover_s": rng.uniform(60, 240), "within_rto": rng.random() < 0.7}}
            if drill
            else {},
        )  # fmt: skip
        path = record_path(history, data["kind"], data["runbook"], run_id)
        text = json.dumps(data)
        write_record(path, text, proc, durable=False)
        if index:
            rel = path.relative_to(history).as_posix()
            append_records(history, [Record(rel, json.loads(text), proc, None)])
    return time.perf_counter() - began


def timed(args: list[str], cwd: Path, pythonpath: str | None) -> tuple[float, float, str]:
    """(wall seconds, peak memory MB, stdout) of one `runbook ARGS` process."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "runbook_engine", *args],
        cwd=pythonpath or cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"runbook {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    rss = int(proc.stderr.rstrip().rsplit("MAXRSS ", 1)[1]) / 1024
    return elapsed, rss, proc.stdout


def measure(
    history: Path, cwd: Path, pythonpath: str | None, repeats: int
) -> list[tuple[str, float, float, float]]:
    """Per command: (label, first wall, median wall of the next ones, peak MB of the first)."""
    out = []
    for label, args in COMMANDS:
        full = [*args, "--history", str(history), "--format", "json"]
        first, rss, _ = timed(full, cwd, pythonpath)
        later = [timed(full, cwd, pythonpath)[0] for _ in range(repeats)]
        out.append((label, first, statistics.median(later), rss))  # peak memory: the first run
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--old", help="A checkout of the engine before the index (the before figures).")
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="history-flat-"))
    try:
        floor = statistics.median(timed(["--version"], base, None)[0] for _ in range(REPEATS))
        print(f"start-up floor (`runbook --version`): {floor:.3f} s")
        empty = {label: statistics.median(
                     timed([*args, "--history", str(base / "empty"), "--format", "json"], base, None)[0]
                     for _ in range(REPEATS))
                 for label, args in COMMANDS}  # fmt: skip
        took = fill(base / "new", opts.runs, index=True)
        print(f"recorded {opts.runs:,} runs with their index entries in {took:.1f} s")
        print(
            f"{'command at ' + format(opts.runs, ',') + ' runs':30} {'first':>8} {'next':>8} {'/floor':>7}"
            f" {'memory':>7} {'empty history':>14} {'cost of the runs':>17}"
        )
        for label, first, later, rss in measure(base / "new", base, None, REPEATS):
            verdict = "ok" if max(first, later) <= BUDGET_S else "OVER 300 ms"
            extra = max(first, later) - empty[label]
            print(
                f"{label:30} {first:7.3f}s {later:7.3f}s {later / floor:6.2f}x {rss:5.0f} MB"
                f" {empty[label]:13.3f}s {extra * 1000:+14.0f} ms  {verdict}"
            )
        if opts.old:
            fill(base / "old", opts.runs, index=False)
            old_floor = statistics.median(timed(["--version"], base, opts.old)[0] for _ in range(REPEATS))
            print(f"\nbefore ({opts.old}): floor {old_floor:.3f} s")
            for label, first, later, rss in measure(base / "old", base, opts.old, 2):
                print(f"{label:30} {first:7.3f}s {later:7.3f}s {later / old_floor:6.2f}x {rss:5.0f} MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
