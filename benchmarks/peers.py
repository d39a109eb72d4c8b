"""The same 20 local HTTP checks in runbook, Chaos Toolkit, pyinfra and ansible-playbook.

One local HTTP server (127.0.0.1) answers `GET /health` with `{"status": "healthy"}`; each
tool runs as a whole process, as its user would start it, with 1 check and with N checks.
Printed per tool: the median whole-process wall time (and CPU time), the cost per check
beyond start-up (paired per round: (t_N - t_1) / (N - 1)), and the ratio runbook / peer,
against the goals of issue 12. Also `runbook --help` and the import floor.

Fair by construction, checked before anything is timed, and again on every timed run:
- every run of every tool sends exactly its number of requests (the server counts them);
- every tool fails, by its own verdict, when the server is down, and when only the LAST of
  the N checks sees a wrong JSON field (so no tool wins by not judging).

Runs alternate (runbook, peer, runbook, peer...; the order reversed every other round) so
that drift on a shared machine hits every tool alike. The peers are installed by this
benchmark into a side venv (benchmarks/.peers-venv, pinned in benchmarks/peers-requirements.txt),
never into the project's venv.

    nice .venv/bin/python benchmarks/peers.py [--runs 5] [--checks 20] [--tools runbook,chaos,pyinfra,ansible]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.before import DEFAULT_BEFORE, before_tree  # noqa: E402  (after sys.path)
from benchmarks.peer_tools import TOOLS, Case, base_env, runbook_case  # noqa: E402
from tests.support.httpserver import Server  # noqa: E402

REQUIREMENTS = ROOT / "benchmarks" / "peers-requirements.txt"
FLOOR = "import typer, rich, pydantic, yaml, jinja2"


def ensure_venv(venv: Path) -> Path:
    """The side venv with the pinned peers; (re)installed when the pins change."""
    stamp = venv / "requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want:
        return venv / "bin"
    print(f"installing the peers into {venv} (once; pins in {REQUIREMENTS.relative_to(ROOT)})")
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(want)
    return venv / "bin"


def closed_port_url() -> str:
    """A URL nobody answers: the server is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/health"


def timed(case: Case) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Wall and CPU (user + system, of the child and its children) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(case.argv, cwd=case.cwd, env=case.env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def explain(label: str, proc: subprocess.CompletedProcess[bytes]) -> str:
    tail = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-8:]
    return f"{label}: exit {proc.returncode}\n    " + "\n    ".join(tail)


class Bench:
    def __init__(self, server: Server, venv_bin: Path, work: Path, checks: int) -> None:
        self.server, self.venv_bin, self.work, self.checks = server, venv_bin, work, checks
        self.health = f"{server.url}/health"

    def case(self, tool: str, label: str, urls: list[str]) -> Case:
        return TOOLS[tool][1](self.work / f"{tool}-{label}", urls, self.venv_bin)

    def hits(self) -> int:
        with self.server.lock:
            return self.server.hits.get("/health", 0)

    def run_checked(self, tool: str, case: Case, n: int) -> tuple[float, float]:
        """Time one run; it must pass by the tool's own verdict and send exactly n requests."""
        seen = self.hits()
        wall, cpu, proc = timed(case)
        sent = self.hits() - seen
        if not case.passed(proc):
            raise SystemExit(explain(f"{tool} with {n} checks did not pass", proc))
        if sent != n:
            raise SystemExit(f"{tool} with {n} checks sent {sent} requests, not {n}: not a fair run")
        return wall, cpu

    def must_fail(self, tool: str, label: str, urls: list[str]) -> None:
        case = self.case(tool, label, urls)
        _, _, proc = timed(case)
        if case.passed(proc):
            raise SystemExit(explain(f"{tool} PASSED with {label}: it does not really check", proc))

    def verify_fairness(self, tool: str) -> None:
        n = self.checks
        self.must_fail(tool, "server-down", [closed_port_url()] * n)
        last_wrong = [self.health] * (n - 1) + [f"{self.server.url}/degraded"]
        self.must_fail(tool, "last-check-wrong-field", last_wrong)


def fmt_s(x: float) -> str:
    return f"{x:6.2f} s"


def fmt_ms(x: float) -> str:
    return f"{x * 1000:7.1f} ms"


def goal(label: str, value: float, limit: float, unit: str = "x") -> str:
    ok = "met" if value <= limit else "MISSED"
    shown = f"{value * 1000:.1f} ms" if unit == "ms" else f"{value:.2f}x"
    bound = f"{limit * 1000:g} ms" if unit == "ms" else f"{limit:g}x"
    return f"  {label:<52} {shown:>10}  (goal <= {bound})  {ok}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (medians of these)")
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--tools", default="runbook,chaos,pyinfra,ansible")
    parser.add_argument("--venv", type=Path, default=ROOT / "benchmarks" / ".peers-venv")
    parser.add_argument(
        "--before", default=DEFAULT_BEFORE, help="also time runbook at this commit; 'none' to skip"
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or "runbook" not in tools:
        raise SystemExit(f"--tools: runbook plus any of {', '.join(TOOLS)} (got {args.tools})")
    if args.before != "none":
        TOOLS["before"] = (
            f"runbook {args.before}",
            functools.partial(runbook_case, tree=before_tree(args.before)),
        )
        tools.insert(tools.index("runbook") + 1, "before")
    venv_bin = ensure_venv(args.venv.resolve())
    n = args.checks
    with tempfile.TemporaryDirectory(prefix="runbook-peers-") as tmp:
        server = Server()
        server.route("/health")
        server.route("/degraded", body={"status": "starting"})  # 200, but not healthy
        server.start()
        try:
            report(Bench(server, venv_bin, Path(tmp), n), tools, args.runs)
        finally:
            server.stop()


def report(bench: Bench, tools: list[str], runs: int) -> None:
    n = bench.checks
    cases = {(t, k): bench.case(t, f"ok-{k}", [bench.health] * k) for t in tools for k in (1, n)}
    print(f"checking that every tool really checks ({', '.join(TOOLS[t][0] for t in tools)})...")
    for (tool, k), case in cases.items():
        bench.run_checked(tool, case, k)  # warm-up: also writes runbook's bytecode cache
    for tool in tools:
        bench.verify_fairness(tool)
    py = sys.executable
    env = base_env(bench.venv_bin)
    baselines = {
        "python -c pass": Case([py, "-c", "pass"], ROOT, env),
        "import floor (typer, rich, pydantic, yaml, jinja2)": Case([py, "-c", FLOOR], ROOT, env),
        "runbook --help": Case([py, "-m", "runbook_engine", "--help"], ROOT, env),
    }
    wall: dict[tuple[str, int], list[float]] = {key: [] for key in cases}
    cpu: dict[tuple[str, int], list[float]] = {key: [] for key in cases}
    per_check: dict[str, list[float]] = {t: [] for t in tools}
    per_check_cpu: dict[str, list[float]] = {t: [] for t in tools}
    base: dict[str, list[float]] = {name: [] for name in baselines}
    order = list(cases)
    print(f"timing {runs} rounds, alternating tools...")
    for r in range(runs):
        for key in order if r % 2 == 0 else order[::-1]:
            w, c = bench.run_checked(key[0], cases[key], key[1])
            wall[key].append(w)
            cpu[key].append(c)
        for tool in tools:  # paired within the round: the same machine state for 1 and N
            per_check[tool].append((wall[(tool, n)][-1] - wall[(tool, 1)][-1]) / (n - 1))
            per_check_cpu[tool].append((cpu[(tool, n)][-1] - cpu[(tool, 1)][-1]) / (n - 1))
        for name, case in baselines.items():
            base[name].append(timed(case)[0])
    med = statistics.median
    print(
        f"\n{n} local HTTP checks (GET /health, expect status 200 and json status == healthy); "
        f"median of {runs} alternating rounds\n"
    )
    head = (
        f"{'tool':<17} {'whole process':>13} {'its CPU':>8} {'1 check':>8}  "
        f"{'per check beyond start-up':>25}  {'runbook/peer':>12} {'(CPU)':>7}"
    )
    print(f"{head}\n{'-' * len(head)}")
    ours, ours_cpu = med(wall[("runbook", n)]), med(cpu[("runbook", n)])
    for tool in tools:
        whole = med(wall[(tool, n)])
        ratio = "" if tool in ("runbook", "before") else f"{ours / whole:.2f}x"
        cpu_ratio = "" if not ratio else f"{ours_cpu / med(cpu[(tool, n)]):.2f}x"
        per = f"{med(per_check[tool]) * 1000:6.1f} ms ({med(per_check_cpu[tool]) * 1000:5.1f} CPU)"
        print(
            f"{TOOLS[tool][0]:<17} {fmt_s(whole):>13} {fmt_s(med(cpu[(tool, n)])):>8} "
            f"{fmt_s(med(wall[(tool, 1)])):>8}  {per:>25}  {ratio:>12} {cpu_ratio:>7}"
        )
    print(
        "\n(CPU: user + system time of the process and its children; steadier than wall time"
        " on a busy machine)\n"
    )
    for name, values in base.items():
        print(f"{name:<52} {fmt_ms(med(values))}")
    if "before" in tools:
        then, now = med(wall[("before", n)]), ours
        then_pc, now_pc = med(per_check["before"]), med(per_check["runbook"])
        print(
            f"\nrunbook before -> after: whole process {then:.2f} s -> {now:.2f} s ({now / then:.2f}x); "
            f"per check {then_pc * 1000:.1f} ms -> {now_pc * 1000:.1f} ms"
        )
    print("\ngoals (issue 12)")
    if "chaos" in tools:
        print(goal("runbook whole process / Chaos Toolkit", ours / med(wall[("chaos", n)]), 1.0))
    if "pyinfra" in tools:
        print(goal("runbook whole process / pyinfra", ours / med(wall[("pyinfra", n)]), 0.33))
    print(goal("runbook cost per check beyond start-up", med(per_check["runbook"]), 0.002, "ms"))
    floor = med(base["import floor (typer, rich, pydantic, yaml, jinja2)"])
    print(goal("runbook --help / import floor", med(base["runbook --help"]) / floor, 1.1))
    print(
        f"\nfair: every run above sent exactly its number of requests, and every tool failed "
        f"with the server down and with only check {n} seeing a wrong JSON field."
    )
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; peers: {pins()}")


def pins() -> str:
    lines = REQUIREMENTS.read_text().splitlines()
    return ", ".join(line for line in lines if line and not line.startswith("#"))


if __name__ == "__main__":
    main()
