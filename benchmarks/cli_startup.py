"""How fast the CLI starts, before and after, against baselines measured in the same run.

- floor: the interpreter plus the libraries every command needs (typer, rich, pydantic,
  yaml, jinja2) and nothing of ours;
- eager: the same plus every heavy integration imported up front (what the CLI would cost
  without lazy imports);
- before: the engine at an earlier commit (--before, default the tree issue 12 measured),
  extracted by benchmarks/before.py and run with PYTHONPATH pointing there; after: this tree.

Each command runs as a whole process, before and after alternating (the order reversed every
other round); printed are medians and the ratio to the floor, against the goals of issue 12:
`runbook --help` <= 1.1x the floor, `runbook run` of a 1-step http runbook <= 1.5x,
`validate` of the whole K2 library (runbooks/) <= 1.5x.

    nice .venv/bin/python benchmarks/cli_startup.py [--runs 9] [--before 48336c2]
    nice .venv/bin/python benchmarks/cli_startup.py --importtime run [--top 20]   # what each imports
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.before import DEFAULT_BEFORE, before_tree  # noqa: E402  (after sys.path)
from tests.support.httpserver import serve  # noqa: E402

FLOOR = "import typer, rich, pydantic, yaml, jinja2"
EAGER = (
    FLOOR
    + "; import duckdb, pyiceberg.catalog.sql, docker, ansible_runner, httpx, pyarrow, prometheus_client"
)
GOALS = {"--help": 1.1, "run (1 http step)": 1.5, "validate (K2 library)": 1.5}


def commands(work: Path) -> dict[str, tuple[list[str], Path]]:
    """Our commands: argv after `python -m runbook_engine`, and the folder they run in."""
    return {
        "--help": (["--help"], ROOT),
        "run (1 http step)": (["run", "one", "--no-history"], work),
        "validate (K2 library)": (["validate", "--dir", str(ROOT / "runbooks")], ROOT),
        "list (K2 library)": (["list", "--dir", str(ROOT / "runbooks")], ROOT),
    }


def env_for(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode caches, as an installed tool has them (the first, untimed run writes ours).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    # `python -m` puts the working folder first on sys.path: run from the project root, the
    # "before" tree (on PYTHONPATH) was shadowed by this one. Safe-path mode, for every run.
    env["PYTHONSAFEPATH"] = "1"
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def once(argv: list[str], cwd: Path, env: dict[str, str], must_pass: bool = True) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if must_pass and proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout.decode()}{proc.stderr.decode()}"
        )
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_one_step(work: Path, url: str) -> None:
    (work / "runbooks").mkdir(parents=True, exist_ok=True)
    (work / "runbooks" / "one.yaml").write_text(
        "kind: runbook\nname: one\nsections:\n  - name: Checks\n    steps:\n"
        f"      - {{name: Health, check: http, with: {{url: '{url}/health'}}, expect: status == 200}}\n"
    )


Times = dict[tuple[str, str], list[tuple[float, float]]]


def timings(runs: int, trees: dict[str, Path], work: Path) -> Times:
    py = sys.executable
    base = env_for(None)
    rows: list[tuple[str, str, list[str], Path, dict[str, str]]] = [
        ("baseline", "python -c pass", [py, "-c", "pass"], ROOT, base),
        ("baseline", "floor", [py, "-c", FLOOR], ROOT, base),
        ("baseline", "eager", [py, "-c", EAGER], ROOT, base),
    ]
    for name, (args, cwd) in commands(work).items():
        for label, tree in trees.items():
            rows.append((label, name, [py, "-m", "runbook_engine", *args], cwd, env_for(tree)))
    for _, _, argv, cwd, env in rows:  # warm-up: writes bytecode, warms the disk cache
        once(argv, cwd, env)
    out: Times = {(label, name): [] for label, name, *_ in rows}
    for r in range(runs):
        for label, name, argv, cwd, env in rows if r % 2 == 0 else rows[::-1]:
            out[(label, name)].append(once(argv, cwd, env))
    return out


def report(times: Times, labels: list[str], runs: int) -> None:
    wall = {key: statistics.median(w for w, _ in v) for key, v in times.items()}
    cpu = {key: statistics.median(c for _, c in v) for key, v in times.items()}
    floor, floor_cpu = wall[("baseline", "floor")], cpu[("baseline", "floor")]
    print(f"start-up, median of {runs} alternating runs (whole processes)\n")
    for name in ("python -c pass", "floor", "eager"):
        what = {"floor": "floor: typer, rich, pydantic, yaml, jinja2", "eager": "eager heavy imports"}
        key = ("baseline", name)
        print(
            f"  baseline {what.get(name, name):<44} {wall[key] * 1000:7.0f} ms"
            f"  (CPU {cpu[key] * 1000:4.0f} ms)"
        )
    print()
    head = f"  {'runbook ...':<24}" + "".join(f"{lab:>30}" for lab in labels) + f"{'goal':>10}"
    print(head)
    for name in commands(Path()):
        cells = ""
        for lab in labels:
            secs = wall[(lab, name)]
            cells += f"{secs * 1000:9.0f} ms = {secs / floor:4.2f}x ({cpu[(lab, name)] / floor_cpu:4.2f}x)"
        limit = GOALS.get(name)
        verdict = ""
        if limit is not None:
            ok = wall[(labels[-1], name)] / floor <= limit
            verdict = f"<= {limit:g}x {'met' if ok else 'MISSED'}"
        print(f"  {name:<24}{cells}  {verdict}")
    print(
        "\n  (x = ratio of wall times to the floor's in the same run; in brackets the ratio of CPU\n"
        "   times, steadier on a busy machine)"
    )


def importtime(command: str, trees: dict[str, Path], work: Path, top: int) -> None:
    """The top imports by cumulative time, before and after, from `python -X importtime`."""
    args, cwd = commands(work)[command]
    for label, tree in trees.items():
        argv = [sys.executable, "-X", "importtime", "-m", "runbook_engine", *args]
        once(argv, cwd, env_for(tree))  # bytecode first
        proc = subprocess.run(argv, cwd=cwd, env=env_for(tree), capture_output=True, text=True, check=False)
        err = proc.stderr
        rows = []
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if m:
                rows.append((int(m[2]), int(m[1]), len(m[3]) // 2, m[4]))
        total = sum(cum for cum, _, depth, _ in rows if depth == 0)
        print(
            f"\n{label}: runbook {' '.join(args)}: all imports {total / 1000:.0f} ms; top {top} by cumulative"
        )
        for cum, own, depth, mod in sorted(rows, reverse=True)[:top]:
            print(f"  {cum / 1000:7.1f} ms (self {own / 1000:5.1f})  {'  ' * depth}{mod}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="commit to compare with; 'none' to skip")
    parser.add_argument("--importtime", choices=list(commands(Path())), help="print top imports instead")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    trees: dict[str, Path] = {}
    if args.before != "none":
        trees[f"before ({args.before})"] = before_tree(args.before)
    trees["after (this tree)"] = ROOT
    with serve() as server, tempfile.TemporaryDirectory() as tmp:
        server.route("/health")
        write_one_step(Path(tmp), server.url)
        if args.importtime:
            importtime(args.importtime, trees, Path(tmp), args.top)
            return
        times = timings(args.runs, trees, Path(tmp))
    report(times, list(trees), args.runs)


if __name__ == "__main__":
    main()
