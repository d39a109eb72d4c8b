"""Independent checks run concurrently: the same 20 HTTP checks, sequential vs parallel.

A local HTTP server answers each request after 100 ms (a realistic health endpoint): the
asyncio server of engine_harness.py, in its own process (the threaded test server listens
with a backlog of 5, so 8 connections at once wait for SYN retransmits, a second each).
The baseline is the sequential section in the same run.

    .venv/bin/python benchmarks/parallel_checks.py [--steps 20] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine_harness import http_server  # noqa: E402

from runbook_engine.execute.runner import Runner  # noqa: E402
from runbook_engine.format.loader import load_library  # noqa: E402  (after sys.path)


def runbook(url: str, steps: int, parallel: bool) -> str:
    body = "\n".join(
        f"      - {{name: Check {i}, check: http, with: {{url: '{url}/health'}}}}" for i in range(steps)
    )
    return (
        f"kind: runbook\nname: bench\nsections:\n  - name: Checks\n    parallel: {str(parallel).lower()}\n"
        f"    max_parallel: 8\n    steps:\n{body}\n"
    )


def timed(url: str, steps: int, parallel: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / "bench.yaml").write_text(runbook(url, steps, parallel))
        journal = Runner(load_library(rb)).run("bench")
        assert journal.verdict == "GO", journal.reasons
        return journal.sections[0].duration_s or 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    with http_server(delay=args.delay) as url:
        timed(url, 2, True)  # warm up: imports once
        sequential = timed(url, args.steps, False)
        parallel = timed(url, args.steps, True)
    print(f"{args.steps} HTTP checks, each answered after {args.delay * 1000:.0f} ms")
    print(f"  sequential section (baseline)  {sequential:6.2f} s")
    print(f"  parallel section, 8 at a time  {parallel:6.2f} s")
    print(f"  speed-up                       {sequential / parallel:6.1f}x")


if __name__ == "__main__":
    main()
