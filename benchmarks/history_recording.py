"""What recording a run in the history costs, as the runbook grows.

Each step is a shell check printing 64 KB (its evidence is kept, truncated, in the journal).
For each size the same runbook runs in this process (best of three each): unrecorded (the baseline),
recorded the old way (the whole record rewritten after every step: grows with the square of
the step count), and recorded as shipped (steps appended to a log, the record rewritten at
most every REWRITE_EVERY seconds, the index entry appended when the run ends). The figure
is the extra time per step over the baseline: wall time, and this process's CPU time (the
recorder's own work; the steps' shell processes are not in it), which a busy machine
disturbs much less.

    .venv/bin/python benchmarks/history_recording.py [--sizes 50,100,200,400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbook_engine.execute.runner import Runner  # noqa: E402
from runbook_engine.format.loader import load_library  # noqa: E402
from runbook_engine.history import recorder as recorder_module  # noqa: E402  (after sys.path)
from runbook_engine.history.recorder import Recorder  # noqa: E402

COMMAND = "head -c 65536 /dev/zero | tr '\\\\0' x"


def runbook(steps: int) -> str:
    body = "\n".join(
        f'      - {{name: Step {i}, check: shell, with: {{command: "{COMMAND}"}}}}' for i in range(steps)
    )
    return f"kind: runbook\nname: bench\nsections:\n  - name: Steps\n    steps:\n{body}\n"


def timed(steps: int, mode: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / "bench.yaml").write_text(runbook(steps))
        lib = load_library(rb)
        # "every step" is the old behaviour: no step log, a whole rewrite per step.
        recorder_module.REWRITE_EVERY = 0.0 if mode == "every step" else 2.0
        observers = [] if mode == "off" else [Recorder(Path(tmp) / "history")]
        began, cpu = time.perf_counter(), time.process_time()
        journal = Runner(lib, observers=observers).run("bench")
        elapsed, used = time.perf_counter() - began, time.process_time() - cpu
        assert journal.verdict == "GO", journal.reasons
        return elapsed, used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,100,200,400")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    timed(5, "off")  # warm up
    print("steps  unrecorded (baseline)  rewrite every step  append log (shipped)   extra ms/step old -> new")
    for n in sizes:
        # Best of three: the machine's other work only ever adds time.
        runs = {mode: [timed(n, mode) for _ in range(3)] for mode in ("off", "every step", "log")}
        off, old, new = (min(t[0] for t in runs[m]) for m in ("off", "every step", "log"))
        c_off, c_old, c_new = (min(t[1] for t in runs[m]) for m in ("off", "every step", "log"))
        print(
            f"{n:5d}  {off:10.2f} s ({c_off:.2f} CPU)  {old:7.2f} s ({c_old:.2f})  {new:9.2f} s ({c_new:.2f})"
            f"   wall {(old - off) / n * 1000:6.2f} -> {(new - off) / n * 1000:.2f},"
            f" CPU {(c_old - c_off) / n * 1000:6.2f} -> {(c_new - c_off) / n * 1000:.2f}"
        )


if __name__ == "__main__":
    main()
