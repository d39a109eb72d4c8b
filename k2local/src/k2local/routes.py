"""The K2 query API's request handling, independent of the HTTP plumbing (api.py).

    GET  /health                 no key; 200 healthy/degraded, 503 unhealthy
    GET  /metrics                no key; Prometheus text format
    GET  /v1/symbols             symbols with trade counts
    GET  /v1/trades              ?symbol=BTCUSDT&limit=100   latest trades
    GET  /v1/trades/recent       ?seconds=60&limit=100       trades in the last N s
    GET  /v1/snapshots           ?limit=100                  Iceberg snapshots
    GET  /v1/trades/as-of        ?snapshot_id=N | ?timestamp_ms=T   time travel
    POST /v1/query               {"sql": "SELECT ..."}       read-only DuckDB SQL

/v1 requires header X-API-Key equal to $K2_API_KEY (read once at start).
Reads always reload the table from the catalog, because the feed commits a
new snapshot every tick from another process.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import prometheus_client

from k2local import catalog as cat
from k2local import faults, health
from k2local.home import FAULT_METRICS_EMPTY, Home
from k2local.metrics import ApiMetrics
from k2local.scancache import ScanCache

ENDPOINTS = (
    "/health",
    "/metrics",
    "/v1/symbols",
    "/v1/trades",
    "/v1/trades/recent",
    "/v1/snapshots",
    "/v1/trades/as-of",
    "/v1/query",
)
MAX_QUERY_ROWS = 1000
MAX_BODY_BYTES = 64 * 1024
TRADE_COLUMNS = "symbol, trade_id, price, quantity, side, ts, epoch_ms(ts) AS ts_ms"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, datetime):
        # Naive values are UTC by the table's convention.
        return v.isoformat() + ("Z" if v.tzinfo is None else "")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


def json_response(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, json.dumps(_jsonable(payload)).encode() + b"\n")


def _int_param(
    q: dict[str, list[str]], name: str, default: int | None, lo: int, hi: int
) -> int | None:
    raw = q.get(name, [None])[0]
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}")
    return value


def _duck(data: Any) -> duckdb.DuckDBPyConnection:
    """A throwaway DuckDB with the Arrow data as view `trades` and no file access."""
    con = duckdb.connect(config={"enable_external_access": False})
    con.register("trades", data)
    return con


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class K2Api:
    """Request handling, independent of the HTTP plumbing."""

    def __init__(self, home: Home, api_key: str) -> None:
        self.home = home
        self._key = api_key.encode()
        self._catalog = cat.open_catalog(home)
        # SqlCatalog shares one SQLAlchemy engine; serialise the short
        # metadata loads, scans then run in parallel on their own objects.
        self._lock = threading.Lock()
        self.metrics = ApiMetrics(self.observe)
        self._scans = ScanCache()

    # -- sources -------------------------------------------------------
    def table(self) -> Any:
        with self._lock:
            return cat.load_table(self._catalog)

    def observe(self) -> health.Observation:
        return health.observe(self.home, lambda: cat.table_stats(self.table()))

    def _scan(self, snapshot_id: int | None = None) -> Any:
        table = self.table()
        if snapshot_id is not None:
            return table.scan(snapshot_id=snapshot_id).to_arrow()
        return self._scans.current(table)

    # -- dispatch ------------------------------------------------------
    def handle(
        self, method: str, path: str, q: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        if path == "/health" and method == "GET":
            return self.health()
        if path == "/metrics" and method == "GET":
            if self.home.fault_flag(FAULT_METRICS_EMPTY).exists():
                return Response(200, b"", "text/plain; version=0.0.4; charset=utf-8")
            return Response(200, self.metrics.render(), prometheus_client.CONTENT_TYPE_LATEST)
        routes = {
            ("GET", "/v1/symbols"): lambda: self.symbols(),
            ("GET", "/v1/trades"): lambda: self.trades(q),
            ("GET", "/v1/trades/recent"): lambda: self.recent(q),
            ("GET", "/v1/snapshots"): lambda: self.snapshots(q),
            ("GET", "/v1/trades/as-of"): lambda: self.as_of(q),
            ("POST", "/v1/query"): lambda: self.query(body),
        }
        if path not in ENDPOINTS:
            raise ApiError(404, f"no such endpoint: {path}")
        if (method, path) not in routes:
            raise ApiError(405, f"{method} not allowed on {path}")
        given = (headers.get("X-API-Key") or "").encode()
        if not hmac.compare_digest(given, self._key):
            raise ApiError(401, "missing or invalid X-API-Key header")
        delay = faults.slow_seconds(self.home)
        if delay:
            time.sleep(delay)  # the api-slow drill
        return routes[(method, path)]()

    # -- endpoints -----------------------------------------------------
    def health(self) -> Response:
        status, level, checks = health.assess(self.observe())
        payload = {
            "status": status,
            "degradation_level": level,
            "degradation": health.LEVEL_NAMES[level],
            "checks": checks,
        }
        return json_response(503 if status == "unhealthy" else 200, payload)

    def symbols(self) -> Response:
        con = _duck(self._scan())
        rows = _rows(
            con,
            "SELECT symbol, count(*) AS trades, arg_max(price, ts) AS last_price, "
            "min(ts) AS first_ts, max(ts) AS last_ts FROM trades GROUP BY symbol ORDER BY symbol",
        )
        return json_response(200, {"symbols": rows, "count": len(rows)})

    def trades(self, q: dict[str, list[str]]) -> Response:
        limit = _int_param(q, "limit", 100, 1, 10_000)
        symbol = (q.get("symbol", [""])[0] or "").upper() or None
        con = _duck(self._scan())
        rows = _rows(
            con,
            f"SELECT {TRADE_COLUMNS} FROM trades WHERE ($1::VARCHAR IS NULL OR symbol = $1) "
            "ORDER BY ts DESC, trade_id DESC LIMIT $2",
            [symbol, limit],
        )
        return json_response(200, {"symbol": symbol, "count": len(rows), "trades": rows})

    def recent(self, q: dict[str, list[str]]) -> Response:
        seconds = _int_param(q, "seconds", 60, 1, 7 * 86_400)
        limit = _int_param(q, "limit", 100, 0, 10_000)
        assert seconds is not None
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds)
        con = _duck(self._scan())
        by_symbol = {
            r["symbol"]: r["n"]
            for r in _rows(
                con,
                "SELECT symbol, count(*) AS n FROM trades WHERE ts >= $1 "
                "GROUP BY symbol ORDER BY symbol",
                [cutoff],
            )
        }
        rows = _rows(
            con,
            f"SELECT {TRADE_COLUMNS} FROM trades WHERE ts >= $1 "
            "ORDER BY ts DESC, trade_id DESC LIMIT $2",
            [cutoff, limit],
        )
        return json_response(
            200,
            {
                "seconds": seconds,
                "since": cutoff,
                "count": sum(by_symbol.values()),
                "by_symbol": by_symbol,
                "trades": rows,
            },
        )

    def snapshots(self, q: dict[str, list[str]]) -> Response:
        limit = _int_param(q, "limit", 100, 1, 100_000)
        assert limit is not None
        table = self.table()
        snaps = cat.snapshot_rows(table)
        current = table.current_snapshot()
        return json_response(
            200,
            {
                "count": len(snaps),
                "current_snapshot_id": current.snapshot_id if current else None,
                "snapshots": snaps[-limit:],
            },
        )

    def as_of(self, q: dict[str, list[str]]) -> Response:
        snapshot_id = _int_param(q, "snapshot_id", None, -(2**63), 2**63 - 1)
        ts_ms = _int_param(q, "timestamp_ms", None, 0, 2**63 - 1)
        if (snapshot_id is None) == (ts_ms is None):
            raise ApiError(400, "give exactly one of snapshot_id or timestamp_ms")
        table = self.table()
        snap = (
            table.snapshot_by_id(snapshot_id)
            if snapshot_id is not None
            else (table.snapshot_as_of_timestamp(ts_ms))
        )
        if snap is None:
            raise ApiError(404, "no such snapshot (or none at/before that time)")
        con = _duck(table.scan(snapshot_id=snap.snapshot_id).to_arrow())
        total = _rows(
            con, "SELECT count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts FROM trades"
        )[0]
        by_symbol = {
            r["symbol"]: r["n"]
            for r in _rows(
                con, "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol ORDER BY symbol"
            )
        }
        return json_response(
            200,
            {
                "snapshot_id": snap.snapshot_id,
                "timestamp_ms": snap.timestamp_ms,
                "count": total["n"],
                "first_ts": total["first_ts"],
                "last_ts": total["last_ts"],
                "by_symbol": by_symbol,
            },
        )

    def query(self, body: bytes) -> Response:
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, 'body must be JSON like {"sql": "SELECT ..."}') from None
        sql = req.get("sql") if isinstance(req, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            raise ApiError(400, 'body must be JSON like {"sql": "SELECT ..."}')
        con = _duck(self._scan())
        # Let DuckDB's own parser decide what the statement is, instead of
        # guessing with string matching: exactly one SELECT is allowed.
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise ApiError(400, f"SQL parse error: {exc}") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise ApiError(400, "only a single read-only SELECT statement is allowed")
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            fetched = cur.fetchmany(MAX_QUERY_ROWS + 1)
        except duckdb.Error as exc:
            raise ApiError(400, f"query failed: {exc}") from None
        return json_response(
            200,
            {
                "columns": columns,
                "rows": [list(r) for r in fetched[:MAX_QUERY_ROWS]],
                "row_count": min(len(fetched), MAX_QUERY_ROWS),
                "truncated": len(fetched) > MAX_QUERY_ROWS,
            },
        )
