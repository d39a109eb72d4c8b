"""Failure modes for contingency drills: `k2-local break MODE` / `heal MODE`.

Each break really breaks the running stack, observably by an HTTP, metrics,
file or process check; each heal restores it. Breaks return once the fault
is in place; heals that restart a process return at once (poll /health).

    feed-stop       SIGKILL the feed: last-batch age grows, no recent trades,
                    health degrades               -> heal restarts the feed
    api-crash       SIGKILL the API: connection refused -> heal restarts it
    api-slow        flag file: every /v1 request sleeps 1.5 s, degradation
                    level 2                       -> heal removes the flag
    table-empty     overwrite k2.trades with zero rows (history kept)
                                                  -> heal appends `load` rows
    api-port-block  stop the API; a blocker holds the port and resets every
                    connection                    -> heal frees it, restarts API
    metrics-empty   flag file: /metrics answers 200 with an empty body
                                                  -> heal removes the flag
    kernel-crash    SIGKILL the notebook kernel: PID gone, heartbeat stale
                                                  -> heal restarts it
"""

from __future__ import annotations

from k2local import faults, procs
from k2local.home import FAULT_API_SLOW, FAULT_METRICS_EMPTY, Home
from k2local.stack import Config, StackError, start_api

MODES: tuple[str, ...] = (
    "feed-stop",
    "api-crash",
    "api-slow",
    "table-empty",
    "api-port-block",
    "metrics-empty",
    "kernel-crash",
)
KILL_MODES = {"feed-stop": "feed", "api-crash": "api", "kernel-crash": "kernel"}
FLAG_MODES = {"api-slow": FAULT_API_SLOW, "metrics-empty": FAULT_METRICS_EMPTY}


def break_mode(home: Home, mode: str) -> str:
    cfg = Config.load(home)
    if mode in KILL_MODES:
        role = KILL_MODES[mode]
        # SIGKILL, not SIGTERM: a crash gives the process no chance to clean up.
        killed = procs.stop_roles(home, (role,), hard=True)
        if not killed:
            return f"{mode}: {role} was not running"
        return f"{mode}: killed {role} (pid {killed[role]})"
    if mode in FLAG_MODES:
        content = str(faults.DEFAULT_SLOW_S) if mode == "api-slow" else ""
        path = faults.set_flag(home, FLAG_MODES[mode], content)
        return f"{mode}: flag set ({path})"
    if mode == "table-empty":
        from k2local import data

        stats = data.empty(home)
        snap = stats["current_snapshot_id"]
        return f"table-empty: k2.trades overwritten with 0 rows (snapshot {snap})"
    if mode == "api-port-block":
        if procs.running_pid(home, "blocker") is not None:
            return f"api-port-block: port {cfg.port} already blocked"
        procs.stop_roles(home, ("api",))
        pid = procs.spawn(home, "blocker", cfg.args("blocker"))
        if not faults.wait_listening(cfg.port, timeout=10.0):
            procs.stop_roles(home, ("blocker",))
            raise StackError(f"api-port-block: blocker could not hold port {cfg.port}; see logs")
        return f"api-port-block: API stopped, port {cfg.port} held by blocker (pid {pid})"
    raise StackError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}", code=2)


def _restart(home: Home, role: str, cfg: Config) -> str:
    pid = procs.running_pid(home, role)
    if pid is not None:
        return f"{role} already running (pid {pid})"
    pid = start_api(home, cfg) if role == "api" else procs.spawn(home, role, cfg.args(role))
    return f"{role} restarted (pid {pid})"


def heal_mode(home: Home, mode: str, load_rows: int = 5000, seed: int = 42) -> str:
    cfg = Config.load(home)
    if mode in KILL_MODES:
        return f"{mode}: {_restart(home, KILL_MODES[mode], cfg)}"
    if mode in FLAG_MODES:
        existed = faults.clear_flag(home, FLAG_MODES[mode])
        return f"{mode}: flag {'removed' if existed else 'was not set'}"
    if mode == "table-empty":
        from k2local import data

        result = data.load(home, load_rows, seed)
        return f"table-empty: loaded {result['appended']} rows, table has {result['rows']}"
    if mode == "api-port-block":
        released = procs.stop_roles(home, ("blocker",))
        note = f"released port {cfg.port}" if released else "port was not blocked"
        return f"api-port-block: {note}; {_restart(home, 'api', cfg)}"
    raise StackError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}", code=2)
