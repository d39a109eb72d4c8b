"""Parallel sections not bounded by threads or the GIL: 50 and 1,000 http checks against a
server that answers each after 200 ms. Goals: 50 in <= 1.3 x 200 ms of section time;
1,000 in <= 1.0 s of section time with the process under 150 MB (peak RSS).

The server is an asyncio server in its own process (it holds 1,000 connections at once).
Each size runs in a fresh process, after a warm-up run of 2 checks. The baseline is the
engine at 48336c2 in the same run; its `max_parallel` could not exceed 64, so it runs
with 64 (the best it could do), the engine now with max_parallel = the number of checks.

    nice python benchmarks/engine_parallel.py [--sizes 50,1000] [--delay 0.2] [--no-baseline-above 50]
"""

from __future__ import annotations

import argparse
import json

from engine_harness import (
    ROOT,
    baseline_tree,
    engine_source,
    http_server,
    measure,
    peak_rss_mb,
    run_runbook,
    section,
)

OLD_MAX_PARALLEL = 64


def checks(url: str, n: int, max_parallel: int) -> str:
    steps = [f"{{name: Check {i}, check: http, with: {{url: '{url}/health'}}}}" for i in range(n)]
    return section(steps, parallel=True, max_parallel=max_parallel)


def child(url: str, n: int, max_parallel: int) -> None:
    run_runbook(checks(url, 2, 2))  # warm-up: imports
    journal, wall, cpu = run_runbook(checks(url, n, max_parallel))
    assert journal.verdict == "GO", journal.reasons[:3]
    figures = {
        "section_s": journal.sections[0].duration_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mb": peak_rss_mb(),
        "engine": engine_source(),
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--max-parallel", type=int, default=50)
    parser.add_argument("--sizes", default="50,1000")
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--no-baseline-above", type=int, default=100000, help="skip slow baselines")
    args = parser.parse_args()
    if args.measure:
        child(args.url, args.checks, args.max_parallel)
        return
    delay_ms = args.delay * 1000
    print(f"http checks in one parallel section, server answers each after {delay_ms:.0f} ms")
    with http_server(delay=args.delay) as url:
        for n in (int(s) for s in args.sizes.split(",")):
            new = measure(
                ROOT, "engine_parallel.py", "--url", url, "--checks", str(n), "--max-parallel", str(n)
            )
            goal = f"goal <= {1.3 * delay_ms:.0f} ms" if n <= 50 else "goal <= 1000 ms, < 150 MB"
            print(
                f"  {n} checks, now:      section {new['section_s'] * 1000:7.0f} ms  "
                f"CPU {new['cpu_s']:6.2f} s  peak RSS {new['rss_mb']:5.0f} MB   ({goal}; "
                f"{new['section_s'] / args.delay:.2f} x {delay_ms:.0f} ms)"
            )
            if n > args.no_baseline_above:
                print(f"  {n} checks, baseline: skipped (--no-baseline-above {args.no_baseline_above})")
                continue
            old = measure(
                baseline_tree(),
                "engine_parallel.py",
                "--url",
                url,
                "--checks",
                str(n),
                "--max-parallel",
                str(min(n, OLD_MAX_PARALLEL)),
            )
            print(
                f"  {n} checks, baseline: section {old['section_s'] * 1000:7.0f} ms  "
                f"CPU {old['cpu_s']:6.2f} s  peak RSS {old['rss_mb']:5.0f} MB   "
                f"(48336c2, max_parallel {min(n, OLD_MAX_PARALLEL)})"
            )
            print(
                f"  {n} checks, ratio now/baseline: section {new['section_s'] / old['section_s']:.3f}, "
                f"CPU {new['cpu_s'] / old['cpu_s']:.3f}"
            )


if __name__ == "__main__":
    main()
