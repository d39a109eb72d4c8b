"""Cost per HTTP check beyond start-up, sequential: goal <= 2 ms wall.

A runbook of N http checks against a local asyncio server that answers at once, and the
same runbook with 1 check, run in one process after a warm-up; the cost per check is
(run time with N - run time with 1) / (N - 1), wall and CPU of this process (the server
runs in its own). The baseline is the engine at 48336c2, measured in the same run.

    nice python benchmarks/engine_http.py [--checks 201] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics

from engine_harness import ROOT, baseline_tree, engine_source, http_server, measure, run_runbook, section


def checks(url: str, n: int) -> str:
    return section([f"{{name: Check {i}, check: http, with: {{url: '{url}/health'}}}}" for i in range(n)])


def child(url: str, n: int, repeat: int) -> None:
    run_runbook(checks(url, 2))  # warm-up: imports, first connection
    walls, cpus = [], []
    for _ in range(repeat):
        journal1, wall1, cpu1 = run_runbook(checks(url, 1))
        journal, wall, cpu = run_runbook(checks(url, n))
        assert journal.verdict == journal1.verdict == "GO", journal.reasons[:3]
        walls.append((wall - wall1) / (n - 1) * 1000)
        cpus.append((cpu - cpu1) / (n - 1) * 1000)
    print(
        json.dumps(
            {
                "wall_ms": statistics.median(walls),
                "cpu_ms": statistics.median(cpus),
                "engine": engine_source(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--checks", type=int, default=201)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.measure:
        child(args.url, args.checks, args.repeat)
        return
    with http_server() as url:
        opts = ("--url", url, "--checks", str(args.checks), "--repeat", str(args.repeat))
        old = measure(baseline_tree(), "engine_http.py", *opts)
        new = measure(ROOT, "engine_http.py", *opts)
    print(f"cost per HTTP check beyond start-up, {args.checks} sequential checks, median of {args.repeat}")
    print(f"  baseline 48336c2   {old['wall_ms']:7.2f} ms wall  {old['cpu_ms']:7.2f} ms CPU")
    now = f"{new['wall_ms']:7.2f} ms wall  {new['cpu_ms']:7.2f} ms CPU"
    print(f"  now                {now}   (goal <= 2 ms wall)")
    wall, cpu = new["wall_ms"] / old["wall_ms"], new["cpu_ms"] / old["cpu_ms"]
    print(f"  ratio now/baseline {wall:7.3f} wall     {cpu:7.3f} CPU")


if __name__ == "__main__":
    main()
