"""Stand-in for the analysts' notebook kernel.

A long-lived process that runs the demo "notebook" queries (DuckDB over an
Arrow scan of the Iceberg table) every few seconds and rewrites a heartbeat
file, so drills can check "is the kernel alive" via the PID file or the
heartbeat age, and `break kernel-crash` has something real to kill.

Run: python -m k2local.kernel --home DIR [--interval S]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from k2local.home import DEFAULT_KERNEL_INTERVAL, Home, resolve_home, write_json_atomic
from k2local.lifecycle import log, stop_event

DEMO_QUERIES = {
    "trades_per_symbol": "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol ORDER BY symbol",
    "vwap": (
        "SELECT symbol, sum(price * quantity) / nullif(sum(quantity), 0) AS vwap "
        "FROM trades GROUP BY symbol ORDER BY symbol"
    ),
}


def run(home: Home, interval: float) -> int:
    stop = stop_event()
    import duckdb

    from k2local import catalog as cat

    catalog = cat.open_catalog(home)
    iterations = 0
    log("kernel", f"started pid={os.getpid()} interval={interval}s")
    while not stop.is_set():
        beat: dict[str, Any] = {"pid": os.getpid(), "iterations": iterations + 1}
        try:
            data = cat.load_table(catalog).scan().to_arrow()
            con = duckdb.connect(config={"enable_external_access": False})
            try:
                con.register("trades", data)
                beat["results"] = {
                    name: [list(r) for r in con.execute(sql).fetchall()]
                    for name, sql in DEMO_QUERIES.items()
                }
            finally:
                con.close()
            beat.update(ok=True, rows=data.num_rows, error=None)
        except Exception as exc:  # a notebook cell failing does not kill the kernel
            beat.update(ok=False, rows=None, error=f"{type(exc).__name__}: {exc}")
        iterations += 1
        beat["at"] = time.time()
        write_json_atomic(home.kernel_heartbeat, beat)
        stop.wait(interval)
    log("kernel", "stopping on signal")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m k2local.kernel", description=__doc__)
    p.add_argument("--home")
    p.add_argument("--interval", type=float, default=DEFAULT_KERNEL_INTERVAL)
    a = p.parse_args(argv)
    return run(Home(resolve_home(a.home)), a.interval)


if __name__ == "__main__":
    raise SystemExit(main())
