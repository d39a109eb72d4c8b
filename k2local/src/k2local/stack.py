"""Start, stop and inspect the whole miniature (api + feed + kernel)."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from typing import Any

from k2local import faults, procs, quickstat
from k2local.home import (
    DEFAULT_FEED_INTERVAL,
    DEFAULT_KERNEL_INTERVAL,
    DEFAULT_PORT,
    Home,
    read_json,
    write_json_atomic,
)


class StackError(Exception):
    """A user-facing failure: message for stderr plus the CLI exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Config:
    """Settings of the last `start`, so `heal` restarts processes the same way."""

    port: int = DEFAULT_PORT
    feed_interval: float = DEFAULT_FEED_INTERVAL
    kernel_interval: float = DEFAULT_KERNEL_INTERVAL
    seed: int = 42

    @classmethod
    def load(cls, home: Home) -> Config:
        saved = read_json(home.config) or {}
        known = {k: v for k, v in saved.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, home: Home) -> None:
        write_json_atomic(home.config, asdict(self))

    def args(self, role: str) -> list[str]:
        if role == "api":
            return ["--port", str(self.port)]
        if role == "feed":
            return ["--interval", str(self.feed_interval), "--seed", str(self.seed)]
        if role == "kernel":
            return ["--interval", str(self.kernel_interval)]
        if role == "blocker":
            return ["--port", str(self.port)]
        raise ValueError(role)


def require_api_key() -> None:
    if not os.environ.get("K2_API_KEY"):
        raise StackError(
            "K2_API_KEY is not set: export K2_API_KEY=<secret> before starting the API "
            "(clients must send it as the X-API-Key header)",
            code=2,
        )


def port_free(port: int) -> bool:
    """Can we bind 127.0.0.1:port? (SO_REUSEADDR like the server, so TIME_WAIT is ok.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ensure_table(home: Home) -> bool:
    """Create catalog and table if missing. True if created.

    Checked via sqlite first so a normal start skips the pyiceberg import.
    """
    if quickstat.table_exists(home):
        return False
    from k2local import catalog

    catalog.ensure_table(catalog.open_catalog(home))
    return True


def start_api(home: Home, cfg: Config) -> int:
    require_api_key()
    if procs.running_pid(home, "blocker") is not None:
        raise StackError(
            f"port {cfg.port} is held by the api-port-block drill; run `heal api-port-block`"
        )
    if not port_free(cfg.port):
        raise StackError(
            f"port {cfg.port} on 127.0.0.1 is already in use; choose another with --port"
        )
    return procs.spawn(home, "api", cfg.args("api"))


def start(
    home: Home,
    port: int | None = None,
    feed_interval: float | None = None,
    kernel_interval: float | None = None,
    seed: int | None = None,
) -> list[str]:
    """Start whatever is not running; returns human-readable lines. Never waits for health."""
    home.ensure_dirs()
    saved = Config.load(home)
    running = {r: procs.running_pid(home, r) for r in procs.ROLES}
    if all(running.values()):
        return [f"k2-local is already running (http://127.0.0.1:{saved.port}, home {home.root})"]
    if not running["api"]:
        require_api_key()  # refuse before starting anything, not half-way
    cfg = Config(
        port=port if port is not None else DEFAULT_PORT,
        feed_interval=feed_interval if feed_interval is not None else DEFAULT_FEED_INTERVAL,
        kernel_interval=kernel_interval if kernel_interval is not None else DEFAULT_KERNEL_INTERVAL,
        seed=seed if seed is not None else 42,
    )
    # Settings of processes that keep running must stay as they were.
    if running["api"]:
        cfg.port = saved.port
    if running["feed"]:
        cfg.feed_interval, cfg.seed = saved.feed_interval, saved.seed
    if running["kernel"]:
        cfg.kernel_interval = saved.kernel_interval
    lines = []
    if ensure_table(home):
        lines.append(f"created Iceberg table k2.trades in {home.root}")
    api_error: StackError | None = None
    for role in procs.ROLES:
        pid = running[role]
        if pid:
            lines.append(f"{role}: already running (pid {pid})")
            continue
        try:
            pid = start_api(home, cfg) if role == "api" else procs.spawn(home, role, cfg.args(role))
        except StackError as exc:
            # Still start feed and kernel; report the API problem at the end.
            api_error = exc
            continue
        lines.append(f"{role}: started (pid {pid})")
    cfg.save(home)
    if api_error is not None:
        raise StackError("\n".join([*lines, str(api_error)]), api_error.code)
    lines.append(f"API: http://127.0.0.1:{cfg.port} (poll /health); logs in {home.logs}")
    return lines


def stop(home: Home, grace: float = 5.0) -> list[str]:
    stopped = procs.stop_roles(home, procs.ALL_ROLES, grace=grace)
    if not stopped:
        return ["nothing was running"]
    return [f"{role}: stopped (pid {pid})" for role, pid in stopped.items()]


def status(home: Home) -> tuple[dict[str, Any], bool]:
    """Process table, port, faults and row count; ok when api, feed and kernel run."""
    cfg = Config.load(home)
    processes: dict[str, dict[str, Any]] = {}
    for role in procs.ALL_ROLES:
        pid = procs.running_pid(home, role)
        if role == "blocker" and pid is None:
            continue
        processes[role] = {"running": pid is not None, "pid": pid}
    stats = quickstat.table_stats(home)
    report = {
        "home": str(home.root),
        "port": cfg.port,
        "url": f"http://127.0.0.1:{cfg.port}",
        "processes": processes,
        "faults": faults.active_flags(home),
        "table_exists": stats is not None,
        "rows": stats["rows"] if stats else None,
        "snapshots": stats["snapshots"] if stats else None,
    }
    ok = all(processes[r]["running"] for r in procs.ROLES)
    return report, ok
