"""How far a drill's time to recover is from the real one, at the default poll; before and after.

The error is measured against a recovery whose real moment is known exactly: a local HTTP
server (tests/drills/recovery_server.py) answers 503 until a recover step asks it to be
healthy S seconds later, and remembers that moment. The drill (`runbook recover`, the same
code as a drill without injection) reports detected_at and time_to_recover_s; the error is

    (detected_at + time_to_recover_s) - the real recovery moment

positive when the drill saw the recovery late. S is spread over several trials (0.2 s to
0.6 s) so the recovery falls at every phase of the poll. Printed: each trial's error, the
median and the largest |error|, for the engine at an earlier commit (--before, default the
tree issue 12 measured) and for this tree, in the same run. Goal (issue 12): <= 50 ms.

    nice .venv/bin/python benchmarks/drill_timing.py [--trials 9] [--before 48336c2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(afters: list[float]) -> None:
    """Run the trials with whichever runbook_engine is first on sys.path; print the errors."""
    spec = importlib.util.spec_from_file_location("recovery_server", ROOT / "tests/drills/recovery_server.py")
    assert spec is not None and spec.loader is not None
    rs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rs)
    from runbook_engine.execute.drill import Drill, DrillOptions
    from runbook_engine.execute.runner import Runner
    from runbook_engine.format.loader import load_library

    errors = []
    with rs.RecoveryServer() as server, tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        for i, after in enumerate([0.1, *afters]):  # the first is a warm-up (imports httpx)
            server.brk()
            (rb / "c.yaml").write_text(textwrap.dedent(rs.contingency(server.url, after)))
            journal = Drill(Runner(load_library(rb)), DrillOptions(inject=False)).run("api-down")
            d = journal.extra["drill"]
            assert d.get("recovered"), journal.reasons
            measured = datetime.fromisoformat(d["detected_at"]).timestamp() + d["time_to_recover_s"]
            if i:
                errors.append(measured - server.recovered_wall)
    print(json.dumps(errors))


def measure(tree: Path, afters: list[float]) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, __file__, "--child", json.dumps(afters)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the trials with {tree} failed:\n{out.stderr}")
    return [float(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--before", default=None, help="the commit to compare with (default 48336c2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    sys.path.insert(0, str(ROOT))
    from benchmarks.before import DEFAULT_BEFORE, before_tree

    rev = args.before or DEFAULT_BEFORE
    step = 0.4 / max(1, args.trials - 1)
    afters = [round(0.2 + i * step, 3) for i in range(args.trials)]
    results = {
        f"before ({rev})": measure(before_tree(rev), afters),
        "after (this tree)": measure(ROOT, afters),
    }
    print("time-to-recover error at the default poll (250 ms): measured recovery moment - real one")
    print(f"recovery {', '.join(f'{a:g}' for a in afters)} s after the recover step started\n")
    print(f"{'code':<22} {'median':>9} {'max |error|':>12}   each trial (ms)")
    for name, errs in results.items():
        each = " ".join(f"{e * 1000:+.0f}" for e in errs)
        worst = max(abs(e) for e in errs)
        print(f"{name:<22} {statistics.median(errs) * 1000:+7.0f} ms {worst * 1000:9.0f} ms   {each}")
    worst_now = max(abs(e) for e in results["after (this tree)"])
    verdict = "met" if worst_now <= 0.05 else "MISSED"
    print(f"\ngoal (issue 12): |error| <= 50 ms at the default poll: {worst_now * 1000:.0f} ms, {verdict}")


if __name__ == "__main__":
    main()
