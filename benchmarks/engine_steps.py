"""Engine cost per step: 1,000 `file` checks (the check's own work is ~0.05 ms).
Goals: <= 0.3 ms of CPU per step; a 1,000-step run uses <= 10 MB more memory than a
1-step run.

CPU per step = (CPU of a 1,000-step run - CPU of a 1-step run) / 999, in one process after
a warm-up, with no observer (the engine alone) and again with the console view writing
plain lines to a null file (what `runbook run` adds). Memory: peak RSS of a fresh process
that loads and runs the 1-step, then the 1,000-step runbook. The baseline is the engine
at 48336c2, measured in the same run.

    nice python benchmarks/engine_steps.py [--steps 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from engine_harness import ROOT, baseline_tree, engine_source, measure, peak_rss_mb, section


def checks(n: int) -> str:
    return section(
        [f"{{name: File check {i}, check: file, with: {{path: runbooks/bench.yaml}}}}" for i in range(n)]
    )


def timed(n: int, view: bool) -> tuple[float, float]:
    """(wall s, CPU s) of Runner.run alone for n file checks."""
    from rich.console import Console

    from runbook_engine.execute.runner import Runner
    from runbook_engine.format.loader import load_library
    from runbook_engine.terminal.console import ConsoleView

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / "bench.yaml").write_text(checks(n))
        lib = load_library(rb)
        observers = [ConsoleView(Console(file=null, force_terminal=False, width=100))] if view else []
        runner = Runner(lib, observers=observers)  # type: ignore[arg-type]
        wall, cpu = time.perf_counter(), time.process_time()
        journal = runner.run("bench")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert journal.verdict == "GO", journal.reasons[:3]
        return wall, cpu


def own_work_ms(n: int) -> float:
    """CPU of the file check itself (its run() called directly), per call."""
    from runbook_engine.plugins import file
    from runbook_engine.testing import make_context

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "runbooks").mkdir()
        (Path(tmp) / "runbooks" / "bench.yaml").write_text(checks(1))
        ctx = make_context(workdir=Path(tmp))
        spec = file.Spec(path="runbooks/bench.yaml")
        cpu = time.process_time()
        for _ in range(n):
            file.run(spec, ctx)
        return (time.process_time() - cpu) / n * 1000


def child_cpu(n: int, repeat: int) -> None:
    timed(2, True)  # warm-up: imports
    out: dict[str, object] = {"engine": engine_source(), "own_ms": own_work_ms(n)}
    for view in (False, True):
        walls, cpus = [], []
        for _ in range(repeat):
            w1, c1 = timed(1, view)
            wn, cn = timed(n, view)
            walls.append((wn - w1) / (n - 1) * 1000)
            cpus.append((cn - c1) / (n - 1) * 1000)
        key = "view" if view else "engine"
        out[f"{key}_wall_ms"], out[f"{key}_cpu_ms"] = statistics.median(walls), statistics.median(cpus)
    print(json.dumps(out))


def child_memory(n: int) -> None:
    timed(n, False)
    print(json.dumps({"rss_mb": peak_rss_mb(), "engine": engine_source()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.measure:
        child_memory(args.steps) if args.memory else child_cpu(args.steps, args.repeat)
        return
    rows = {}
    for label, tree in (("baseline 48336c2", baseline_tree()), ("now", ROOT)):
        cpu = measure(tree, "engine_steps.py", "--steps", str(args.steps), "--repeat", str(args.repeat))
        one = measure(tree, "engine_steps.py", "--memory", "--steps", "1")
        many = measure(tree, "engine_steps.py", "--memory", "--steps", str(args.steps))
        rows[label] = (cpu, many["rss_mb"] - one["rss_mb"])
    print(f"engine cost per step, {args.steps} file checks, median of {args.repeat} (CPU of both threads)")
    for label, (cpu, extra_mb) in rows.items():
        print(
            f"  {label:<17} step {cpu['engine_cpu_ms']:6.3f} ms CPU {cpu['engine_wall_ms']:6.3f} ms wall, "
            f"of which the check's own work {cpu['own_ms']:5.3f} | "
            f"with console {cpu['view_cpu_ms']:6.3f} ms CPU | {args.steps} steps use {extra_mb:+5.1f} MB vs 1"
        )
    old, new = rows["baseline 48336c2"][0], rows["now"][0]
    print("  goal: engine <= 0.300 ms CPU per step (the step's CPU, check included), <= +10 MB")
    cpu, wall = new["engine_cpu_ms"] / old["engine_cpu_ms"], new["engine_wall_ms"] / old["engine_wall_ms"]
    view = new["view_cpu_ms"] / old["view_cpu_ms"]
    print(f"  ratio now/baseline: engine CPU {cpu:.3f}, wall {wall:.3f}, with console {view:.3f}")


if __name__ == "__main__":
    main()
