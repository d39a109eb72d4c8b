"""Shared parts of the engine benchmarks: the baseline tree, a child process per
measurement, and an asyncio HTTP server (in its own process) that holds 1,000
connections at once.

The baseline is the engine at commit 48336c2 (before the asyncio execution model),
extracted with `git archive` and imported through PYTHONPATH in a child process, so both
sides run the same benchmark code on the same machine in the same run.

    python benchmarks/engine_harness.py serve --delay 0.2 [--refuse-half]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "48336c2"


def baseline_tree() -> Path:
    """The package as it was at BASELINE_COMMIT, extracted once into the temp folder."""
    target = Path(tempfile.gettempdir()) / f"runbook-baseline-{BASELINE_COMMIT}"
    if not (target / "runbook_engine").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "runbook_engine"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target


def measure(tree: Path, script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run `script --measure ARGS` with runbook_engine imported from `tree`; its last
    stdout line is a JSON object of figures."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--measure", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{script} {' '.join(args)} failed in {tree}:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not str(figures.get("engine", "")).startswith(str(tree)):
        raise SystemExit(f"{script} measured {figures.get('engine')}, not {tree}")
    return figures


def engine_source() -> str:
    """Where the child imported runbook_engine from (a guard against measuring the wrong tree)."""
    import runbook_engine

    return str(Path(runbook_engine.__file__).parent.parent)


def run_runbook(text: str, name: str = "bench") -> tuple[Any, float, float]:
    """Load and run a one-file library; returns (journal, wall s, CPU s) of the run alone."""
    from runbook_engine.execute.runner import Runner
    from runbook_engine.format.loader import load_library

    with tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / f"{name}.yaml").write_text(text)
        lib = load_library(rb)
        runner = Runner(lib)
        wall, cpu = time.perf_counter(), time.process_time()
        journal = runner.run(name)
        return journal, time.perf_counter() - wall, time.process_time() - cpu


def section(steps: list[str], parallel: bool = False, max_parallel: int | None = None) -> str:
    """A runbook with one section of the given step lines (YAML flow mappings)."""
    head = f"kind: runbook\nname: bench\nsections:\n  - name: Checks\n    parallel: {str(parallel).lower()}\n"
    if max_parallel is not None:
        head += f"    max_parallel: {max_parallel}\n"
    return head + "    steps:\n" + "".join(f"      - {s}\n" for s in steps)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the test server ----------------------------------------------------------------------
class _Answerer(asyncio.Protocol):
    """One connection of the test server: a Protocol, not streams, so the server spends
    little CPU per request and is not what the benchmark measures."""

    count = 0

    def __init__(self, delay: float, refuse_half: bool, trickle: float) -> None:
        self.delay, self.refuse_half, self.trickle = delay, refuse_half, trickle
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            _Answerer.count += 1
            self._answer(_Answerer.count)

    def _answer(self, n: int) -> None:
        assert self.transport is not None
        if self.refuse_half and n % 4 == 1:  # a quarter: connection closed without an answer
            self.transport.close()
            return
        if self.refuse_half and n % 4 == 3:  # a quarter: 503
            status, body = b"503 Service Unavailable", b'{"status": "starting"}'
        else:
            status, body = b"200 OK", b'{"status": "healthy"}'
        head = (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        loop = asyncio.get_running_loop()
        if self.trickle:
            data = head + body
            for i in range(len(data)):
                loop.call_later(self.delay + i * self.trickle, self._write, data[i : i + 1])
        else:
            loop.call_later(self.delay, self._write, head + body)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def _serve(delay: float, refuse_half: bool, trickle: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Answerer(delay, refuse_half, trickle), "127.0.0.1", 0, backlog=4096
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def http_server(delay: float = 0.0, refuse_half: bool = False, trickle: float = 0.0) -> Iterator[str]:
    """An asyncio HTTP/1.1 server in a child process on 127.0.0.1; yields its base URL.
    Half its answers fail with refuse_half (a quarter closed, a quarter 503)."""
    cmd = [sys.executable, str(Path(__file__)), "serve", "--delay", str(delay), "--trickle", str(trickle)]
    if refuse_half:
        cmd.append("--refuse-half")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["serve"])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--trickle", type=float, default=0.0)
    parser.add_argument("--refuse-half", action="store_true")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 connections at once
    asyncio.run(_serve(args.delay, args.refuse_half, args.trickle))


if __name__ == "__main__":
    main()
