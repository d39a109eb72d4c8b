"""How long `runbook history NAME --steps` takes over 10,000 recorded runs of a 30-step runbook.

Fills a fresh history folder exactly as the recorder leaves it (3 sections x 10 steps,
realistic outputs and evidence; the record file, then the run's index entry as it ends),
then times the real command in a subprocess:

- with 1,000 runs, then with 10,000 runs;
- each time the first query right after the runs were recorded, and the next ones;
- `runbook --version` as the floor (interpreter and CLI start-up, no history at all).

(benchmarks/history_flat.py times every history command, and the code before the index.)

Usage: .venv/bin/python benchmarks/history_steps.py [--runs 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runbook_engine.history.index import append_records
from runbook_engine.history.journals import Record, record_path, write_record
from runbook_engine.history.liveness import ProcessId
from runbook_engine.journal import ExpectationResult, RunJournal, SectionResult, StepResult

NAME = "bench"
SECTIONS, STEPS_PER_SECTION = 3, 10
REPEATS = 5


def template() -> dict[str, Any]:
    """One realistic 30-step journal as plain data; each run is this with new figures."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    sections = []
    for s in range(SECTIONS):
        steps = [
            StepResult(
                id=f"s{s}-step-{k}",
                name=f"Section {s} check {k} answers",
                kind="check",
                plugin="http",
                section=f"Section {s}",
                outcome="passed",
                attempts=1,
                started_at=t0,
                duration_s=0.1,
                args={"url": f"http://127.0.0.1:8000/api/v1/thing/{k}", "headers": {"X-API-Key": "***"}},
                expectations=[
                    ExpectationResult(expr="status == 200", passed=True, detail="status == 200 (status=200)")
                ],
                outputs={
                    "status": 200,
                    "json": {"status": "healthy", "items": list(range(20))},
                    "elapsed_ms": 12,
                },
                evidence=[f"GET http://127.0.0.1:8000/api/v1/thing/{k} -> 200 in 12 ms"],
            )
            for k in range(STEPS_PER_SECTION)
        ]
        sections.append(
            SectionResult(name=f"Section {s}", budget_s=60.0, started_at=t0, duration_s=5.0, steps=steps)
        )
    journal = RunJournal(
        run_id="x",
        runbook=NAME,
        title="Benchmark runbook",
        file="runbooks/bench.yaml",
        file_sha256="0" * 64,
        environment="local",
        started_at=t0,
        finished_at=t0,
        duration_s=15.0,
        host="bench-host",
        user="bench",
        engine_version="0.1.0",
        status="finished",
        verdict="GO",
        sections=sections,
    )
    data: dict[str, Any] = json.loads(journal.model_dump_json())
    return data


def fill(history: Path, first: int, count: int, rng: random.Random) -> None:
    """Write runs number first .. first+count-1, ten minutes apart."""
    data = template()
    proc = ProcessId(pid=1, host="bench-host")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(first, first + count):
        start = t0 + timedelta(minutes=10 * i)
        run_id = start.strftime("%Y%m%dT%H%M%SZ-") + f"{i:06x}"
        failed = 0
        for sec in data["sections"]:
            for n, step in enumerate(sec["steps"]):
                flaky = n == 3 and rng.random() < 0.1  # one check per section that flaps
                broken = n == 7 and i % 50 == 0
                step["outcome"] = "failed" if flaky or broken else "passed"
                step["message"] = "status == 200 -> status = 503" if flaky or broken else None
                step["duration_s"] = rng.lognormvariate(-1.5, 0.6)
                step["started_at"] = start.isoformat()
                failed += step["outcome"] == "failed"
            sec["duration_s"] = sum(s["duration_s"] for s in sec["steps"])
        data.update(
            run_id=run_id,
            started_at=start.isoformat(),
            finished_at=(start + timedelta(seconds=15)).isoformat(),
            duration_s=sum(s["duration_s"] for s in data["sections"]),
            file_sha256=f"{i // 1000:064x}",  # the runbook file changes every 1,000 runs
            verdict="NO-GO" if failed else "GO",
        )
        path = record_path(history, "run", NAME, run_id)
        text = json.dumps(data)
        write_record(path, text, proc)
        append_records(history, [Record(path.relative_to(history).as_posix(), json.loads(text), proc, None)])


def timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process, its output): CPU time is steadier on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "runbook_engine", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"runbook {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, cpu, proc.stdout


Timing = tuple[float, float]  # wall, CPU


def query(history: Path, cwd: Path) -> tuple[Timing, Timing]:
    """(first query, median of the next ones), checking the answer each time."""
    args = ["history", NAME, "--steps", "--last", "20", "--format", "json", "--history", str(history)]
    walls, cpus = [], []
    for _ in range(1 + REPEATS):
        wall, cpu, out = timed(args, cwd)
        rows = json.loads(out)
        assert len(rows) == SECTIONS * STEPS_PER_SECTION, len(rows)
        walls.append(wall)
        cpus.append(cpu)
    return (walls[0], cpus[0]), (statistics.median(walls[1:]), statistics.median(cpus[1:]))


def show(t: Timing) -> str:
    return f"{t[0]:6.3f} s ({t[1]:.3f} s CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument(
        "--keep", type=Path, help="Build the history here and leave it (default: a temp folder)."
    )
    opts = parser.parse_args()
    rng = random.Random(7)
    base = opts.keep or Path(tempfile.mkdtemp(prefix="history-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    history = base / "history"
    if history.exists():
        shutil.rmtree(history)
    small = min(1_000, opts.runs)
    try:
        floors = [timed(["--version"], base)[:2] for _ in range(REPEATS)]
        floor = (statistics.median(f[0] for f in floors), statistics.median(f[1] for f in floors))
        print(f"start-up floor (`runbook --version`): {show(floor)}")
        results = []
        for target, done in ((small, 0), (opts.runs, small)):
            if target <= done:
                continue
            t = time.perf_counter()
            fill(history, done, target - done, rng)
            print(f"wrote {target - done:,} record files in {time.perf_counter() - t:.1f} s")
            first, steady = query(history, base)
            results.append((target, first, steady))
            print(
                f"{target:>6,} runs: first query after {target - done:,} new runs {show(first)}, "
                f"then {show(steady)} (median of {REPEATS})"
            )
        size = sum(p.stat().st_size for p in (history / "index").rglob("*.csv")) / 1e6
        print(f"index: {size:.1f} MB for {opts.runs:,} runs x {SECTIONS * STEPS_PER_SECTION} steps")
        print()
        print("runbook history NAME --steps (30 steps, last 20 runs), wall time (CPU time):")
        for target, first, steady in results:
            print(f"  {target:>6,} runs  first {show(first)}   next {show(steady)}")
        print(f"  start-up floor (runbook --version)  {show(floor)}")
    finally:
        if opts.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
