"""End-to-end tests: real processes, a real Iceberg table in tmp_path, real HTTP.

One stack (api + feed + kernel) is shared by the module; the tests run in file
order and the last one stops it. Every break test heals what it broke.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from k2local import SYMBOLS
from k2local.synth import LOAD_ID_BASE, RandomWalk, demo_rows

KEY = "test-key-123"
FEED_INTERVAL = 0.3  # feed counts as stale after max(3 s, 5 * interval) = 3 s
V1_GETS = (
    "/v1/symbols",
    "/v1/trades?symbol=BTCUSDT&limit=5",
    "/v1/trades/recent?seconds=60",
    "/v1/snapshots",
    "/v1/trades/as-of?timestamp_ms=1",
)
METRIC_NAMES = (
    "k2_degradation_level",
    "k2_consumer_lag_messages",
    "k2_iceberg_rows_written_total",
    "k2_trades_ingested_total",
    "k2_feed_last_batch_age_seconds",
    "k2_api_requests_total",
    "k2_api_request_duration_seconds_bucket",
    "k2_iceberg_table_rows",
    "k2_component_up",
)


# -- helpers -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("K2_API_KEY", "K2_HOME")}
    if key is not None:
        env["K2_API_KEY"] = key
    return env


def cli(home: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    """Run `python -m k2local ARGS --home HOME` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "k2local", *args, "--home", str(home)],
        env=base_env(key),
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli_json(home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = cli(home, *args)
    return r.returncode, json.loads(r.stdout)


def request(
    port: int,
    path: str,
    key: str | None = KEY,
    method: str = "GET",
    body: Any = None,
    timeout: float = 15.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"X-API-Key": key} if key is not None else {}
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(port: int, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    status, body = request(port, path, **kw)
    return status, json.loads(body)


def metrics(port: int) -> dict[str, float]:
    """Samples as {'name{label="v"}': value} (no labels -> bare name)."""
    status, body = request(port, "/metrics", key=None)
    assert status == 200
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def wait_for(pred: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def health(port: int) -> dict[str, Any]:
    return get_json(port, "/health", key=None)[1]


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def processes_of(home: Path) -> list[int]:
    """Live PIDs whose command line mentions this home folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(home) in cmd and "k2local." in cmd and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@dataclass
class Stack:
    home: Path
    port: int

    def status(self) -> tuple[int, dict[str, Any]]:
        return cli_json(self.home, "status")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_for(lambda: health(self.port)["status"] == "healthy", timeout, "healthy")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("k2") / "home"
    port = free_port()
    script = Path(sys.executable).with_name("k2-local")
    assert script.exists(), "pip install -e k2local first"
    r = subprocess.run(
        [
            *(str(script), "start", "--home", str(home), "--port", str(port)),
            *("--feed-interval", str(FEED_INTERVAL), "--kernel-interval", "1"),
        ],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    s = Stack(home, port)
    try:
        assert cli(home, "load").returncode == 0
        s.wait_healthy()
        yield s
    finally:
        cli(home, "stop")


# -- pure units (no processes) -------------------------------------------------


def test_synthetic_data_is_deterministic() -> None:
    """Same seed -> same rows; a resumed walk continues the identical stream."""
    end = datetime(2024, 1, 1, 12, 0, 0)
    a, b = demo_rows(300, 7, end), demo_rows(300, 7, end)
    assert a == b
    assert demo_rows(300, 8, end) != a
    assert {t.symbol for t in a} == set(SYMBOLS)
    assert a[0].trade_id == LOAD_ID_BASE and a[-1].ts < end

    w1 = RandomWalk(5)
    first = [w1.batch(i, end, 1.0) for i in range(4)]
    w2 = RandomWalk(5)
    w2.batch(0, end, 1.0)
    w2.batch(1, end, 1.0)
    resumed = RandomWalk(5, prices=dict(w2.prices), next_ids=dict(w2.next_ids))
    assert [resumed.batch(i, end, 1.0) for i in (2, 3)] == first[2:]


def test_compaction_rewrites_files_without_losing_rows(tmp_path: Path) -> None:
    """compact() folds many small files into one and keeps every row."""
    from k2local import catalog as cat
    from k2local.home import Home

    catalog = cat.open_catalog(Home(tmp_path))
    cat.ensure_table(catalog)
    walk = RandomWalk(1)
    for i in range(5):
        cat.append_trades(catalog, walk.batch(i, datetime(2024, 1, 1), 1.0))
    before = cat.table_stats(cat.load_table(catalog))
    assert before["data_files"] == 5
    assert cat.compact(catalog, max_files=2, keep_snapshots_s=3600) is True
    after = cat.table_stats(cat.load_table(catalog))
    assert after["data_files"] == 1 and after["rows"] == before["rows"]
    assert cat.load_table(catalog).format_version == 2
    assert cat.compact(catalog, max_files=2, keep_snapshots_s=3600) is False


# -- start / status / data ------------------------------------------------------


def test_start_is_idempotent_and_status_reports_all_up(stack: Stack) -> None:
    """A second start changes nothing and exits 0; status lists three live pids."""
    r = cli(stack.home, "start", "--port", str(stack.port))
    assert r.returncode == 0
    assert "already running" in r.stdout
    code, st = stack.status()
    assert code == 0
    assert st["port"] == stack.port
    assert sorted(st["processes"]) == ["api", "feed", "kernel"]
    for role, info in st["processes"].items():
        assert info["running"] is True
        assert info["pid"] == int((stack.home / "run" / f"{role}.pid").read_text())
    assert st["rows"] >= 5000


def test_validate_load_and_reset_on_fresh_home(tmp_path: Path) -> None:
    """validate fails until the table has enough rows, symbols and 2 snapshots."""
    home = tmp_path / "fresh"
    code, v = cli_json(home, "validate")
    assert code == 1 and v["checks"]["table_exists"]["ok"] is False
    code, r = cli_json(home, "reset")
    assert code == 0 and r["rows"] == 0 and r["snapshots"] == 0
    code, r = cli_json(home, "load", "--rows", "3000")
    assert code == 0 and r["appended"] == 3000 and r["rows"] == 3000
    code, v = cli_json(home, "validate")
    assert code == 1
    assert v["checks"]["min_rows"] == {"ok": True, "rows": 3000, "min": 1000}
    assert v["checks"]["symbols"]["present"] == sorted(SYMBOLS)
    assert v["checks"]["snapshots"] == {"ok": False, "count": 1, "min": 2}
    code, r = cli_json(home, "load", "--rows", "300", "--seed", "7")
    assert code == 0 and r["rows"] == 3300
    code, v = cli_json(home, "validate", "--min-rows", "3300")
    assert code == 0 and v["ok"] is True
    assert processes_of(home) == []  # data commands never leave processes


def test_start_refuses_without_api_key(tmp_path: Path) -> None:
    """start and the API itself exit 2 naming K2_API_KEY; nothing is left running."""
    home = tmp_path / "nokey"
    r = cli(home, "start", "--port", str(free_port()), key=None)
    assert r.returncode == 2
    assert "K2_API_KEY" in r.stderr
    assert not (home / "run" / "api.pid").exists()
    api = subprocess.run(
        [sys.executable, "-m", "k2local.api", "--home", str(home), "--port", "0"],
        env=base_env(key=None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert api.returncode == 2 and "K2_API_KEY is not set" in api.stderr
    assert processes_of(home) == []


# -- endpoints ------------------------------------------------------------------


def test_health_and_metrics_need_no_key(stack: Stack) -> None:
    """/health is healthy at level 0 and /metrics exposes real values, both keyless."""
    status, h = get_json(stack.port, "/health", key=None)
    assert status == 200
    assert h["status"] == "healthy" and h["degradation_level"] == 0
    assert set(h["checks"]) == {"catalog", "table", "feed", "latency", "kernel"}
    assert h["checks"]["feed"]["running"] is True
    request(stack.port, "/v1/symbols")  # make sure one /v1 sample exists
    m = metrics(stack.port)
    names = {k.split("{")[0] for k in m}
    assert set(METRIC_NAMES) <= names
    assert m["k2_degradation_level"] == 0
    assert m["k2_iceberg_table_rows"] >= 5000
    assert m["k2_iceberg_rows_written_total"] > 0
    assert m["k2_trades_ingested_total"] >= m["k2_iceberg_rows_written_total"]
    assert m["k2_feed_last_batch_age_seconds"] < 3
    assert m['k2_api_requests_total{endpoint="/v1/symbols",status="200"}'] >= 1
    assert m['k2_component_up{component="kernel"}'] == 1


def test_v1_endpoints_require_the_api_key(stack: Stack) -> None:
    """Every /v1 endpoint answers 401 JSON without or with a wrong key, 200 with it."""
    for path in V1_GETS:
        for key in (None, "wrong"):
            status, body = get_json(stack.port, path, key=key)
            assert status == 401, path
            assert body == {"error": "missing or invalid X-API-Key header"}
    for key in (None, "wrong"):
        status, _ = get_json(
            stack.port, "/v1/query", key=key, method="POST", body={"sql": "SELECT 1"}
        )
        assert status == 401
    for path in V1_GETS[:4]:
        assert request(stack.port, path)[0] == 200, path


def test_symbols_trades_and_recent(stack: Stack) -> None:
    """Symbols have counts, trades come newest-first, recent sees the live feed."""
    _, s = get_json(stack.port, "/v1/symbols")
    assert [x["symbol"] for x in s["symbols"]] == sorted(SYMBOLS)
    assert all(x["trades"] >= 5000 // 3 for x in s["symbols"])

    _, t = get_json(stack.port, "/v1/trades?symbol=btcusdt&limit=5")
    assert t["symbol"] == "BTCUSDT" and t["count"] == 5
    assert {x["symbol"] for x in t["trades"]} == {"BTCUSDT"}
    stamps = [x["ts_ms"] for x in t["trades"]]
    assert stamps == sorted(stamps, reverse=True)
    assert set(t["trades"][0]) == {"symbol", "trade_id", "price", "quantity", "side", "ts", "ts_ms"}

    _, r = get_json(stack.port, "/v1/trades/recent?seconds=5&limit=3")
    assert r["seconds"] == 5 and r["count"] > 0 and len(r["trades"]) == 3
    assert sorted(r["by_symbol"]) == sorted(SYMBOLS)
    assert sum(r["by_symbol"].values()) == r["count"]

    assert get_json(stack.port, "/v1/trades?limit=abc")[0] == 400
    assert get_json(stack.port, "/v1/nope")[0] == 404
    assert get_json(stack.port, "/v1/symbols", method="POST", body={})[0] == 405


def test_time_travel_returns_fewer_rows_at_older_snapshot(stack: Stack) -> None:
    """as-of an old snapshot (by id or timestamp) counts that snapshot's rows only."""
    _, snaps = get_json(stack.port, "/v1/snapshots?limit=100000")
    assert snaps["count"] >= 2 and len(snaps["snapshots"]) == snaps["count"]
    first, last = snaps["snapshots"][0], snaps["snapshots"][-1]
    assert last["snapshot_id"] == snaps["current_snapshot_id"]
    assert {first["operation"], last["operation"]} == {"append"}

    _, old = get_json(stack.port, f"/v1/trades/as-of?snapshot_id={first['snapshot_id']}")
    _, new = get_json(stack.port, f"/v1/trades/as-of?snapshot_id={last['snapshot_id']}")
    assert old["count"] == first["total_rows"]
    assert new["count"] == last["total_rows"]
    assert old["count"] < new["count"]
    assert sum(old["by_symbol"].values()) == old["count"]

    _, by_ts = get_json(stack.port, f"/v1/trades/as-of?timestamp_ms={first['timestamp_ms']}")
    assert by_ts["snapshot_id"] == first["snapshot_id"] and by_ts["count"] == old["count"]
    assert get_json(stack.port, "/v1/trades/as-of?snapshot_id=1")[0] == 404
    assert get_json(stack.port, "/v1/trades/as-of")[0] == 400


def test_query_runs_select_only(stack: Stack) -> None:
    """POST /v1/query runs one SELECT, caps rows, rejects writes and file access."""
    sql = "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol ORDER BY symbol"
    status, q = get_json(stack.port, "/v1/query", method="POST", body={"sql": sql})
    assert status == 200
    assert q["columns"] == ["symbol", "n"] and q["truncated"] is False
    assert [row[0] for row in q["rows"]] == sorted(SYMBOLS)

    _, big = get_json(
        stack.port, "/v1/query", method="POST", body={"sql": "SELECT * FROM range(5000)"}
    )
    assert big["row_count"] == 1000 and big["truncated"] is True and len(big["rows"]) == 1000

    rejected = (
        "DROP VIEW trades",
        "INSERT INTO trades SELECT * FROM trades",
        "SELECT 1; SELECT 2",
        "COPY trades TO 'x.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELEC nonsense",
    )
    for bad in rejected:
        status, err = get_json(stack.port, "/v1/query", method="POST", body={"sql": bad})
        assert status == 400, bad
        assert "error" in err
    assert get_json(stack.port, "/v1/query", method="POST", body={"nosql": 1})[0] == 400


# -- failure drills ---------------------------------------------------------------


def test_break_feed_stop_and_heal(stack: Stack) -> None:
    """feed-stop kills the feed: status 1, no recent trades, stale feed degrades health."""
    r = cli(stack.home, "break", "feed-stop")
    assert r.returncode == 0 and "killed feed" in r.stdout
    code, st = stack.status()
    assert code == 1 and st["processes"]["feed"] == {"running": False, "pid": None}
    wait_for(lambda: health(stack.port)["degradation_level"] == 1, 10, "stale feed")
    h = health(stack.port)
    assert h["status"] == "degraded" and h["checks"]["feed"]["ok"] is False
    assert h["checks"]["feed"]["running"] is False
    m = metrics(stack.port)
    assert m["k2_feed_last_batch_age_seconds"] > 3
    assert m['k2_component_up{component="feed"}'] == 0
    assert get_json(stack.port, "/v1/trades/recent?seconds=2")[1]["count"] == 0

    assert cli(stack.home, "heal", "feed-stop").returncode == 0
    stack.wait_healthy()
    assert stack.status()[0] == 0
    assert get_json(stack.port, "/v1/trades/recent?seconds=2")[1]["count"] > 0


def test_break_api_crash_and_heal(stack: Stack) -> None:
    """api-crash kills the API: connections are refused until heal restarts it."""
    assert cli(stack.home, "break", "api-crash").returncode == 0
    try:
        # Seen once on a loaded CI machine: one connection reset instead of refused right
        # after the kill. What matters is that connections are refused from then on.
        deadline = time.monotonic() + 5
        while True:
            try:
                request(stack.port, "/health", key=None, timeout=2)
            except ConnectionRefusedError:
                break
            except (ConnectionResetError, TimeoutError):
                assert time.monotonic() < deadline, "connections were never refused after api-crash"
                time.sleep(0.2)
            else:
                raise AssertionError("the API still answers after api-crash")
        assert stack.status()[1]["processes"]["api"]["running"] is False
    finally:
        # Heal even on failure: the other tests share this stack.
        assert cli(stack.home, "heal", "api-crash").returncode == 0
    stack.wait_healthy()
    assert stack.status()[0] == 0


def test_break_api_slow_and_heal(stack: Stack) -> None:
    """api-slow makes /v1 take >= 1.5 s and sets degradation level 2; heal undoes it."""
    assert cli(stack.home, "break", "api-slow").returncode == 0
    t0 = time.monotonic()
    assert request(stack.port, "/v1/symbols")[0] == 200
    assert time.monotonic() - t0 >= 1.5
    h = health(stack.port)
    assert h["status"] == "degraded" and h["degradation_level"] == 2
    assert h["checks"]["latency"]["ok"] is False
    m = metrics(stack.port)
    assert m["k2_degradation_level"] == 2
    assert (
        m['k2_api_request_duration_seconds_bucket{endpoint="/v1/symbols",le="1.0"}']
        < (m['k2_api_request_duration_seconds_count{endpoint="/v1/symbols"}'])
    )

    assert cli(stack.home, "heal", "api-slow").returncode == 0
    t0 = time.monotonic()
    assert request(stack.port, "/v1/symbols")[0] == 200
    assert time.monotonic() - t0 < 1.5
    assert health(stack.port)["degradation_level"] == 0


def test_break_table_empty_and_heal(stack: Stack) -> None:
    """table-empty wipes the rows (a delete snapshot appears); heal reloads 5000."""
    assert cli(stack.home, "break", "table-empty").returncode == 0
    m = metrics(stack.port)
    assert m["k2_iceberg_table_rows"] < 200  # only what the live feed added since
    _, snaps = get_json(stack.port, "/v1/snapshots?limit=100000")
    assert "delete" in [s["operation"] for s in snaps["snapshots"]]
    _, s = get_json(stack.port, "/v1/symbols")
    assert sum(x["trades"] for x in s["symbols"]) < 200

    r = cli(stack.home, "heal", "table-empty")
    assert r.returncode == 0 and "loaded 5000 rows" in r.stdout
    assert metrics(stack.port)["k2_iceberg_table_rows"] >= 5000
    assert cli(stack.home, "validate").returncode == 0


def test_break_api_port_block_and_heal(stack: Stack) -> None:
    """api-port-block: the port accepts then resets connections; start refuses; heal fixes."""
    assert cli(stack.home, "break", "api-port-block").returncode == 0
    with pytest.raises(ConnectionError) as exc:
        request(stack.port, "/health", key=None)
    assert not isinstance(exc.value, ConnectionRefusedError)
    code, st = stack.status()
    assert code == 1
    assert st["processes"]["api"]["running"] is False
    assert st["processes"]["blocker"]["running"] is True
    r = cli(stack.home, "start", "--port", str(stack.port))
    assert r.returncode == 1 and "api-port-block" in r.stderr

    assert cli(stack.home, "heal", "api-port-block").returncode == 0
    stack.wait_healthy()
    code, st = stack.status()
    assert code == 0 and "blocker" not in st["processes"]


def test_break_metrics_empty_and_heal(stack: Stack) -> None:
    """metrics-empty makes /metrics return 200 with an empty body until healed."""
    assert cli(stack.home, "break", "metrics-empty").returncode == 0
    assert request(stack.port, "/metrics", key=None) == (200, b"")
    assert cli(stack.home, "heal", "metrics-empty").returncode == 0
    status, body = request(stack.port, "/metrics", key=None)
    assert status == 200 and b"k2_degradation_level 0.0" in body


def test_break_kernel_crash_and_heal(stack: Stack) -> None:
    """kernel-crash kills the notebook kernel; heal restarts it and heartbeats resume."""
    pid = stack.status()[1]["processes"]["kernel"]["pid"]
    assert cli(stack.home, "break", "kernel-crash").returncode == 0
    assert not pid_alive(pid)
    assert not (stack.home / "run" / "kernel.pid").exists()
    code, st = stack.status()
    assert code == 1 and st["processes"]["kernel"]["running"] is False
    assert health(stack.port)["checks"]["kernel"]["running"] is False
    assert metrics(stack.port)['k2_component_up{component="kernel"}'] == 0

    assert cli(stack.home, "heal", "kernel-crash").returncode == 0
    new_pid = stack.status()[1]["processes"]["kernel"]["pid"]
    assert new_pid != pid
    beat = stack.home / "kernel_heartbeat.json"
    wait_for(lambda: json.loads(beat.read_text())["pid"] == new_pid, 20, "new heartbeat")
    assert json.loads(beat.read_text())["ok"] is True


# -- teardown ---------------------------------------------------------------------


def test_stop_leaves_no_processes(stack: Stack) -> None:
    """stop SIGTERMs everything cleanly, removes pid files, frees the port; idempotent."""
    pids = [p["pid"] for p in stack.status()[1]["processes"].values()]
    assert len(pids) == 3 and sorted(processes_of(stack.home)) == sorted(pids)
    r = cli(stack.home, "stop")
    assert r.returncode == 0 and r.stdout.count("stopped") == 3
    assert [p for p in pids if pid_alive(p)] == []
    assert processes_of(stack.home) == []
    assert list((stack.home / "run").glob("*.pid")) == []
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", stack.port))
    logs = stack.home / "logs"
    assert (logs / "api.log").read_text().rstrip().endswith("api: stopped on signal")
    assert "feed: stopping on signal" in (logs / "feed.log").read_text().splitlines()[-1]
    assert (logs / "kernel.log").read_text().rstrip().endswith("kernel: stopping on signal")

    r = cli(stack.home, "stop")
    assert r.returncode == 0 and r.stdout.strip() == "nothing was running"
    assert stack.status()[0] == 1
