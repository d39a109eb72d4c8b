"""The synthetic market-data feed: random-walk trades appended to Iceberg.

Stands in for "Binance stream -> Kafka -> consumer -> Iceberg". Every tick
the feed "receives" a batch from the exchange into a pending buffer (the
consumer's backlog) and commits the buffer as one Iceberg snapshot. If a
commit fails the buffer is kept and grows, and that size is the consumer lag.

State (HOME/feed_state.json) is rewritten after every tick; the API turns it
into metrics, and a restarted feed resumes the same deterministic stream.

Run: python -m k2local.feed --home DIR [--interval S] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

from k2local.home import DEFAULT_FEED_INTERVAL, Home, read_json, resolve_home, write_json_atomic
from k2local.lifecycle import log, stop_event
from k2local.synth import RandomWalk, Trade

MAX_PENDING = 100_000  # cap the backlog so a long outage cannot exhaust memory
COMPACT_EVERY_BATCHES = 60
COMPACT_MAX_FILES = 200
# Time travel in the demo goes minutes back, not hours; every kept snapshot makes each
# one-second commit rewrite a larger metadata file.
KEEP_SNAPSHOTS_S = 300.0


def utcnow_naive() -> datetime:
    """Wall clock in UTC without tzinfo, matching the Iceberg `timestamp` column."""
    return datetime.now(UTC).replace(tzinfo=None)


class FeedState:
    """Counters persisted between ticks and across restarts."""

    def __init__(self, seed: int, interval: float, saved: dict[str, Any] | None) -> None:
        s = saved if saved and saved.get("seed") == seed else {}
        self.seed = seed
        self.interval = interval
        self.batches_generated: int = int(s.get("batches_generated", 0))
        self.batches_committed: int = int(s.get("batches_committed", 0))
        self.trades_ingested: int = int(s.get("trades_ingested_total", 0))
        self.rows_written: int = int(s.get("rows_written_total", 0))
        self.commit_failures: int = int(s.get("commit_failures_total", 0))
        self.last_batch_at: float | None = s.get("last_batch_at")
        self.last_error: str | None = None
        self.walk = RandomWalk(seed, s.get("prices"), s.get("next_trade_ids"))

    def to_json(self, pending: int) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "seed": self.seed,
            "interval_s": self.interval,
            "updated_at": time.time(),
            "last_batch_at": self.last_batch_at,
            "batches_generated": self.batches_generated,
            "batches_committed": self.batches_committed,
            "trades_ingested_total": self.trades_ingested,
            "rows_written_total": self.rows_written,
            "commit_failures_total": self.commit_failures,
            "lag_messages": pending,
            "last_error": self.last_error,
            "prices": self.walk.prices,
            "next_trade_ids": self.walk.next_ids,
        }


def run(home: Home, interval: float, seed: int) -> int:
    stop = stop_event()
    # Imported here (not at module top) so `--help` stays instant.
    from k2local import catalog as cat

    catalog = cat.open_catalog(home)
    cat.ensure_table(catalog)
    state = FeedState(seed, interval, read_json(home.feed_state))
    pending: list[Trade] = []
    log("feed", f"started pid={os.getpid()} interval={interval}s seed={seed}")
    while not stop.is_set():
        tick = time.monotonic()
        batch = state.walk.batch(state.batches_generated, utcnow_naive(), window_s=interval)
        state.batches_generated += 1
        state.trades_ingested += len(batch)
        pending.extend(batch)
        del pending[:-MAX_PENDING]
        try:
            cat.append_trades(catalog, pending)
            state.rows_written += len(pending)
            state.batches_committed += 1
            state.last_batch_at = time.time()
            state.last_error = None
            pending = []
            due = state.batches_committed % COMPACT_EVERY_BATCHES == 0
            if due and cat.compact(catalog, COMPACT_MAX_FILES, KEEP_SNAPSHOTS_S):
                log("feed", "compacted table")
        except Exception as exc:  # keep the backlog and retry next tick, like a consumer
            state.commit_failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            log("feed", f"commit failed ({len(pending)} pending): {state.last_error}")
        write_json_atomic(home.feed_state, state.to_json(len(pending)))
        stop.wait(max(0.0, interval - (time.monotonic() - tick)))
    log("feed", f"stopping on signal; {len(pending)} trades not committed")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m k2local.feed", description=__doc__)
    p.add_argument("--home")
    p.add_argument("--interval", type=float, default=DEFAULT_FEED_INTERVAL)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    return run(Home(resolve_home(a.home)), a.interval, a.seed)


if __name__ == "__main__":
    raise SystemExit(main())
