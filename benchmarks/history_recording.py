"""What recording a run in the history costs, as the runbook grows.

Each step is a shell check printing 64 KB (its evidence is kept, truncated, in the journal).
For each size the same runbook runs in this process (best of three each): unrecorded (the baseline),
recorded the old way (the whole record rewritten after every step: grows with the square of
the step count), and recorded as shipped (steps appended to a log, the record rewritten at
most every REWRITE_EVERY seconds). The figure is the extra time per step over the baseline.

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


def timed(steps: int, mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / "bench.yaml").write_text(runbook(steps))
        lib = load_library(rb)
        # "every step" is the old behaviour: no step log, a whole rewrite per step.
        recorder_module.REWRITE_EVERY = 0.0 if mode == "every step" else 2.0
        observers = [] if mode == "off" else [Recorder(Path(tmp) / "history")]
        began = time.perf_counter()
        journal = Runner(lib, observers=observers).run("bench")
        elapsed = time.perf_counter() - began
        assert journal.verdict == "GO", journal.reasons
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,100,200,400")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    timed(5, "off")  # warm up
    print("steps  unrecorded (baseline)  rewrite every step  append log (shipped)   extra ms/step old -> new")
    for n in sizes:
        # Best of three: the machine's other work only ever adds time.
        off, old, new = (min(timed(n, mode) for _ in range(3)) for mode in ("off", "every step", "log"))
        print(
            f"{n:5d}  {off:17.2f} s  {old:16.2f} s  {new:18.2f} s"
            f"   {(old - off) / n * 1000:8.2f} -> {(new - off) / n * 1000:.2f}"
        )


if __name__ == "__main__":
    main()
