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


def timed(args: list[str], cwd: Path, pythonpath: str | None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak memory MB) of one `runbook ARGS` process.

    CPU time (user + system) is what the command costs: on a busy shared machine the wall
    time also counts the time spent waiting for a core."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M CPU %U %S", sys.executable, "-m", "runbook_engine", *args],
        cwd=pythonpath or cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"runbook {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    rss, user, system = proc.stderr.rstrip().rsplit("MAXRSS ", 1)[1].replace("CPU ", "").split()
    return elapsed, float(user) + float(system), int(rss) / 1024


Figures = tuple[str, float, float, float, float, float]


def measure(history: Path, cwd: Path, pythonpath: str | None, repeats: int) -> list[Figures]:
    """Per command: (label, first wall, first CPU, median wall and CPU of the next ones, peak MB)."""
    out = []
    for label, args in COMMANDS:
        full = [*args, "--history", str(history), "--format", "json"]
        wall, cpu, rss = timed(full, cwd, pythonpath)
        later = [timed(full, cwd, pythonpath) for _ in range(repeats)]
        out.append(
            (
                label,
                wall,
                cpu,
                statistics.median(t[0] for t in later),
                statistics.median(t[1] for t in later),
                rss,
            )
        )
    return out


def floor_of(args: list[str], cwd: Path, pythonpath: str | None) -> tuple[float, float]:
    runs = [timed(args, cwd, pythonpath) for _ in range(REPEATS)]
    return statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs)


def report(
    title: str, figures: list[Figures], floor: tuple[float, float], empty: dict[str, tuple[float, float]]
) -> None:
    print(f"\n{title}")
    print(
        f"{'wall s (CPU s)':30} {'first':>15} {'next':>15} {'memory':>7} {'empty history':>15}"
        "  beyond empty (CPU)"
    )
    for label, wall, cpu, later_wall, later_cpu, rss in figures:
        e_wall, e_cpu = empty.get(label, floor)
        beyond = max(cpu, later_cpu) - e_cpu
        print(
            f"{label:30} {wall:6.3f} ({cpu:5.3f}) {later_wall:6.3f} ({later_cpu:5.3f}) {rss:4.0f} MB"
            f" {e_wall:6.3f} ({e_cpu:5.3f})  {beyond * 1000:+6.0f} ms"
        )
    print(f"{'floor: runbook --version':30} {floor[0]:6.3f} ({floor[1]:5.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--old", help="A checkout of the engine before the index (the before figures).")
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="history-flat-"))
    try:
        floor = floor_of(["--version"], base, None)
        empty = {
            label: floor_of([*args, "--history", str(base / "empty"), "--format", "json"], base, None)
            for label, args in COMMANDS
        }
        took = fill(base / "new", opts.runs, index=True)
        print(f"recorded {opts.runs:,} runs with their index entries in {took:.1f} s")
        figures = measure(base / "new", base, None, REPEATS)
        report(f"now, at {opts.runs:,} runs (budget {BUDGET_S * 1000:.0f} ms each)", figures, floor, empty)
        if opts.old:
            fill(base / "old", opts.runs, index=False)
            old_floor = floor_of(["--version"], base, opts.old)
            old = measure(base / "old", base, opts.old, 2)
            report(f"before ({opts.old}), at {opts.runs:,} runs", old, old_floor, {})
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
