"""Health assessment shared by GET /health and the metrics.

Degradation levels, worst condition wins:
    0 normal      everything fine
    1 soft        feed stale/stopped, or consumer lag above LAG_LIMIT
    2 graceful    API answering slowly (api-slow fault)
    3 aggressive  table has no rows
    4 shed        catalog or table unreadable -> status "unhealthy" (HTTP 503)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k2local import faults, procs
from k2local.home import FAULT_API_SLOW, Home, read_json

LEVEL_NAMES = ("normal", "soft", "graceful", "aggressive", "shed")
LAG_LIMIT = 1000
MIN_STALE_S = 3.0  # a feed is stale after max(MIN_STALE_S, 5 * its interval)


@dataclass
class Observation:
    """Everything health and metrics need, gathered once per request."""

    now: float
    table: dict[str, Any] | None
    table_error: str | None
    feed: dict[str, Any] | None
    feed_pid: int | None
    kernel: dict[str, Any] | None
    kernel_pid: int | None
    active_faults: list[str] = field(default_factory=list)

    @property
    def feed_age_s(self) -> float:
        """Seconds since the feed last committed a batch; +inf if it never did."""
        last = (self.feed or {}).get("last_batch_at")
        return max(0.0, self.now - float(last)) if last is not None else math.inf

    @property
    def feed_stale_after_s(self) -> float:
        interval = float((self.feed or {}).get("interval_s") or 1.0)
        return max(MIN_STALE_S, 5 * interval)

    @property
    def lag(self) -> int:
        return int((self.feed or {}).get("lag_messages") or 0)

    @property
    def kernel_age_s(self) -> float:
        at = (self.kernel or {}).get("at")
        return max(0.0, self.now - float(at)) if at is not None else math.inf


def observe(home: Home, read_table: Callable[[], dict[str, Any]]) -> Observation:
    table: dict[str, Any] | None = None
    error: str | None = None
    try:
        table = read_table()
    except Exception as exc:  # any catalog failure is a health signal, not a crash
        error = f"{type(exc).__name__}: {exc}"
    return Observation(
        now=time.time(),
        table=table,
        table_error=error,
        feed=read_json(home.feed_state),
        feed_pid=procs.running_pid(home, "feed"),
        kernel=read_json(home.kernel_heartbeat),
        kernel_pid=procs.running_pid(home, "kernel"),
        active_faults=faults.active_flags(home),
    )


def _num(x: float) -> float | None:
    """JSON has no infinity; report unknown ages as null."""
    return None if math.isinf(x) else round(x, 3)


def assess(obs: Observation) -> tuple[str, int, dict[str, Any]]:
    """Return (status, degradation_level, checks)."""
    feed_fresh = obs.feed_age_s <= obs.feed_stale_after_s
    checks: dict[str, Any] = {
        "catalog": {"ok": obs.table is not None, "error": obs.table_error},
        "table": {
            "ok": bool(obs.table and obs.table["rows"] > 0),
            "rows": obs.table["rows"] if obs.table else None,
            "snapshots": obs.table["snapshots"] if obs.table else None,
        },
        "feed": {
            "ok": feed_fresh and obs.lag <= LAG_LIMIT,
            "running": obs.feed_pid is not None,
            "last_batch_age_seconds": _num(obs.feed_age_s),
            "stale_after_seconds": obs.feed_stale_after_s,
            "lag_messages": obs.lag,
        },
        "latency": {"ok": FAULT_API_SLOW not in obs.active_faults},
        # Informational: a dead notebook kernel does not degrade serving.
        "kernel": {
            "ok": obs.kernel_pid is not None,
            "running": obs.kernel_pid is not None,
            "heartbeat_age_seconds": _num(obs.kernel_age_s),
        },
    }
    level = 0
    if not checks["feed"]["ok"]:
        level = 1
    if not checks["latency"]["ok"]:
        level = 2
    if obs.table is not None and obs.table["rows"] == 0:
        level = 3
    if obs.table is None:
        level = 4
    status = "healthy" if level == 0 else ("unhealthy" if level == 4 else "degraded")
    return status, level, checks
