"""How fast the CLI starts, against two baselines measured in the same run.

- floor: the interpreter plus the libraries every command needs (typer, rich, pydantic,
  yaml, jinja2) and nothing of ours;
- eager: the same plus every heavy integration imported up front (what the CLI would cost
  without lazy imports).

Prints the median of N runs of each; `runbook --help` and `runbook validate` should sit
near the floor and far below eager.

    .venv/bin/python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import typer, rich, pydantic, yaml, jinja2"
EAGER = (
    FLOOR
    + "; import duckdb, pyiceberg.catalog.sql, docker, ansible_runner, httpx, pyarrow, prometheus_client"
)


def median_s(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    py = sys.executable
    rows = [
        ("baseline: python -c pass", [py, "-c", "pass"]),
        ("baseline: floor (typer, rich, pydantic, yaml, jinja2)", [py, "-c", FLOOR]),
        ("baseline: eager heavy imports", [py, "-c", EAGER]),
        ("runbook --help", [py, "-m", "runbook_engine", "--help"]),
        ("runbook validate (the K2 runbooks)", [py, "-m", "runbook_engine", "validate"]),
        ("runbook list", [py, "-m", "runbook_engine", "list"]),
    ]
    results = {name: median_s(cmd, runs) for name, cmd in rows}
    width = max(len(n) for n in results)
    for name, secs in results.items():
        print(f"{name:<{width}}  {secs * 1000:7.0f} ms")
    eager = results["baseline: eager heavy imports"]
    validate = results["runbook validate (the K2 runbooks)"]
    print(
        f"\nvalidate is {eager / validate:.1f}x faster than importing the integrations eagerly "
        f"({eager * 1000:.0f} ms -> {validate * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
