"""Validation time against the number of steps: it must grow linearly (issue 12).

Goal: 5,000 steps validate in <= 1 s and 20,000 in <= 4 s. Writes one runbook of N
steps (sections of 50; every fourth section parallel with `needs` inside it; templates
that read earlier steps' outputs, expectations, a `when:`), then times `load_library`
(reading, shape, plugin arguments, semantics: everything `runbook validate` does) in a
fresh process, for this checkout and for a baseline commit checked out with
`git worktree` (default 48336c2, the code before this work), and prints both and the ratio.

    .venv/bin/python benchmarks/validate_scale.py                 # 1k, 5k, 20k steps
    .venv/bin/python benchmarks/validate_scale.py --sizes 1000 5000 --baseline-timeout 60
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = 50

TIMER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from runbook_engine.format.loader import load_library
    from runbook_engine.registry import build_registry
    root = Path(sys.argv[1])
    reg = build_registry(root.parent)  # plugins are discovered once, outside the timing
    t, c = time.perf_counter(), time.process_time()
    lib = load_library(root, registry=reg)
    print(f"{time.perf_counter() - t:.3f} {time.process_time() - c:.3f}")
    """
)


def runbook(steps: int) -> str:
    """A runbook of `steps` steps that exercises every check validation makes."""
    out = ["kind: runbook", "name: scale", "vars: {dir: /tmp}", "sections:"]
    for first in range(0, steps, SECTION):
        sec = first // SECTION
        parallel = sec % 4 == 3
        out += [f"  - name: section {sec}", f"    parallel: {'true' if parallel else 'false'}", "    steps:"]
        for i in range(first, min(first + SECTION, steps)):
            out += [f"      - name: step {i}", f"        id: s{i}"]
            if i % 2:
                out += ["        check: file", f'        with: {{path: "{{{{ vars.dir }}}}/f{i}"}}']
                out += ["        expect: [exists, size >= 0]"]
            else:
                prev = f"steps.s{i - 1}.stdout" if i else "vars.dir"
                out += ["        check: shell", f'        with: {{command: "echo {{{{ {prev} }}}}"}}']
                out += ["        expect: exit_code == 0", '        when: vars.dir != ""']
            if parallel and i > first:
                out.append(f"        needs: [s{i - 1}]")
    return "\n".join(out) + "\n"


def measure(checkout: Path, root: Path, timeout: float) -> tuple[float, float] | None:
    """Wall and CPU seconds load_library takes in `checkout`'s code (None: longer than timeout)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", TIMER, str(root)],
            cwd=checkout,
            env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        sys.exit(f"{checkout}: {exc.stderr.strip().splitlines()[-1]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--baseline", default="48336c2", help="commit to compare with ('' to skip)")
    parser.add_argument("--baseline-timeout", type=float, default=150.0)
    args = parser.parse_args()
    goals = {5000: 1.0, 20000: 4.0}
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        if args.baseline:
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(old), args.baseline], cwd=ROOT, check=True
            )
        try:
            print("seconds to validate (wall / CPU); the goal is judged on CPU time, as this")
            print("machine may be shared and wall time then includes waiting for a core")
            print(f"{'steps':>7} {'now':>15} {'baseline':>15} {'CPU ratio':>10}  goal")
            for n in args.sizes:
                project = Path(tmp) / f"p{n}"
                (project / "runbooks").mkdir(parents=True)
                (project / "runbooks" / "scale.yaml").write_text(runbook(n))
                now = measure(ROOT, project / "runbooks", 600)
                base = measure(old, project / "runbooks", args.baseline_timeout) if args.baseline else None
                shown_now = f"{now[0]:.2f} / {now[1]:.2f}" if now else "-"
                late = f"> {args.baseline_timeout:.0f} wall"
                shown_base = f"{base[0]:.2f} / {base[1]:.2f}" if base else late
                shown_base = shown_base if args.baseline else "-"
                ratio = f"{now[1] / base[1]:.3f}" if now and base else "-"
                goal = goals.get(n)
                verdict = ""
                if goal is not None and now is not None:
                    verdict = f"<= {goal:.0f}s {'met' if now[1] <= goal else 'MISSED'}"
                print(f"{n:>7} {shown_now:>15} {shown_base:>15} {ratio:>10}  {verdict}", flush=True)
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
