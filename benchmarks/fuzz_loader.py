"""Run 100,000 generated or mutated documents through the loader and count what happens.

Each document is written as the only file of a runbook folder and loaded in-process with
`load_library`, under a per-document watchdog (SIGALRM). Outcomes:

  loaded      the document is a valid library
  user error  LoadError/UserError whose every line is `file:line: message` (the goal)
  bad error   a user error with a line that does not start with `file:line:`
  crash       any other exception (a bug: exit code 3 at the command line)
  hang        longer than --timeout seconds

The first few crashing, hanging or badly reported inputs are saved to --save for a rerun.
The mix: mutations of the K2 runbooks, runbook-shaped random structures, YAML-ish text and
random bytes (tests/format/fuzzing.py has the generators the test suite uses too).

    nice .venv/bin/python benchmarks/fuzz_loader.py                # 100,000 documents
    .venv/bin/python benchmarks/fuzz_loader.py --count 2000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runbook_engine.errors import UserError
from runbook_engine.format.loader import load_library
from runbook_engine.registry import build_registry
from tests.format.fuzzing import bad_lines, k2_mutation, random_document, random_text


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so no `except Exception` in the loader eats it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def document(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.45:
        return k2_mutation(rng).encode("utf-8")
    if roll < 0.75:
        return random_document(rng).encode("utf-8")
    if roll < 0.95:
        return random_text(rng).encode("utf-8")
    return rng.randbytes(rng.randrange(200))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=5, help="seconds per document")
    parser.add_argument("--save", type=Path, default=Path("fuzz-findings"), help="folder for bad inputs")
    parser.add_argument("--keep", type=int, default=5, help="inputs saved per outcome")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    registry = build_registry()
    counts: Counter[str] = Counter()
    slowest = 0.0
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runbooks"
        root.mkdir()
        path = root / "doc.yaml"
        for n in range(args.count):
            data = document(rng)
            path.write_bytes(data)
            outcome, detail = "loaded", ""
            t = time.perf_counter()
            signal.alarm(args.timeout)
            try:
                load_library(root, registry=registry)
            except UserError as exc:
                wrong = bad_lines(exc, str(path))
                outcome, detail = ("bad error", "\n".join(wrong)) if wrong else ("user error", "")
            except Hang:
                outcome = "hang"
            except Exception:
                outcome, detail = "crash", traceback.format_exc()
            finally:
                signal.alarm(0)
            slowest = max(slowest, time.perf_counter() - t)
            counts[outcome] += 1
            if outcome in ("crash", "hang", "bad error") and counts[outcome] <= args.keep:
                args.save.mkdir(parents=True, exist_ok=True)
                stem = args.save / f"{outcome.replace(' ', '-')}-{counts[outcome]}"
                stem.with_suffix(".yaml").write_bytes(data)
                stem.with_suffix(".txt").write_text(detail)
            if (n + 1) % 10_000 == 0:
                print(f"{n + 1:,} documents: {dict(counts)}", flush=True)
    elapsed = time.perf_counter() - started
    print(f"\n{args.count:,} documents in {elapsed:.0f}s (slowest {slowest:.2f}s), seed {args.seed}")
    for outcome in ("loaded", "user error", "bad error", "crash", "hang"):
        print(f"  {outcome:<11} {counts[outcome]:>7,}")
    if counts["crash"] or counts["hang"] or counts["bad error"]:
        print(f"inputs saved in {args.save}/")
        sys.exit(1)


if __name__ == "__main__":
    main()
