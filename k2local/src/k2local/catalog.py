"""The Iceberg side: sqlite-backed SqlCatalog, the `k2.trades` table, safe commits.

Importing this module imports pyiceberg (~0.9 s), so the CLI only imports it
inside commands that touch the table.

Table `k2.trades` (unpartitioned, so no pyiceberg-core features are needed):

    1 symbol    string     e.g. BTCUSDT
    2 trade_id  long       per-symbol id; feed ids start at 1, `load` ids at 1e9
    3 price     double
    4 quantity  double
    5 side      string     "buy" | "sell"
    6 ts        timestamp  microseconds, no zone; values are UTC
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestampType
from sqlalchemy.exc import OperationalError

from k2local.home import Home
from k2local.synth import Trade

NAMESPACE = "k2"
TABLE_NAME = "trades"
TABLE = f"{NAMESPACE}.{TABLE_NAME}"

SCHEMA = Schema(
    NestedField(1, "symbol", StringType(), required=False),
    NestedField(2, "trade_id", LongType(), required=False),
    NestedField(3, "price", DoubleType(), required=False),
    NestedField(4, "quantity", DoubleType(), required=False),
    NestedField(5, "side", StringType(), required=False),
    NestedField(6, "ts", TimestampType(), required=False),
)

ARROW_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("trade_id", pa.int64()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("side", pa.string()),
        ("ts", pa.timestamp("us")),
    ]
)

# The feed commits about once a second, so without merging every append would
# add a manifest and scans would slow down linearly; merging keeps it flat.
TABLE_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "20",
    # Whole-table overwrites (table-empty drill, compaction) race with the
    # feed's appends every second. Under the default "serializable" level each
    # concurrent append fails the overwrite, which can livelock on a busy
    # machine. "snapshot" deletes exactly the files the overwrite planned
    # against and keeps appends that landed meanwhile: no loss, no duplicates.
    "write.delete.isolation-level": "snapshot",
    "write.update.isolation-level": "snapshot",
    # One commit a second writes a new metadata file each time; keep only the last few
    # (an hour of them was ~1 MB each, 850 MB in 45 minutes).
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
}

T = TypeVar("T")

# Two writers (feed + load/reset/break) race on the same sqlite row; the loser
# gets CommitFailedException (optimistic concurrency) or a sqlite lock error.
# An overwrite that sees a concurrent append raises ValidationException
# (serializable isolation); redoing it on a freshly loaded table is correct.
RETRYABLE: tuple[type[BaseException], ...] = (
    CommitFailedException,
    ValidationException,
    OperationalError,
    sqlite3.OperationalError,
)


def with_retry(fn: Callable[[], T], attempts: int = 25) -> T:
    """Run fn, retrying retryable commit conflicts with jittered backoff."""
    for attempt in range(attempts):
        try:
            return fn()
        except RETRYABLE:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.02 * (2**attempt)) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def open_catalog(home: Home) -> SqlCatalog:
    """Open (creating if needed) the sqlite catalog with a file:// warehouse."""
    home.ensure_dirs()
    return with_retry(
        lambda: SqlCatalog(
            "k2",
            uri=f"sqlite:///{home.catalog_db}",
            warehouse=home.warehouse.as_uri(),
        )
    )


def ensure_table(catalog: SqlCatalog) -> Table:
    """Create the namespace and table if missing; safe if another process races us."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(NAMESPACE)
    try:
        return catalog.load_table(TABLE)
    except NoSuchTableError:
        pass
    try:
        return catalog.create_table(TABLE, SCHEMA, properties=TABLE_PROPERTIES)
    except TableAlreadyExistsError:
        table = catalog.load_table(TABLE)
        missing = {k: v for k, v in TABLE_PROPERTIES.items() if table.properties.get(k) != v}
        if missing:  # a table made by an older k2local: bring its settings up to date
            with table.transaction() as tx:
                tx.set_properties(missing)
            table = catalog.load_table(TABLE)
        return table


def load_table(catalog: SqlCatalog) -> Table:
    """Always a fresh load: the table is committed to by other processes."""
    return catalog.load_table(TABLE)


def to_arrow(trades: Iterable[Trade]) -> pa.Table:
    return pa.Table.from_pylist([t.as_row() for t in trades], schema=ARROW_SCHEMA)


def append_trades(catalog: SqlCatalog, trades: list[Trade]) -> Table:
    """Append as one snapshot; reload and retry on conflicts."""
    data = to_arrow(trades)

    def attempt() -> Table:
        table = load_table(catalog)
        table.append(data)
        return table

    return with_retry(attempt)


def empty_table(catalog: SqlCatalog) -> Table:
    """Overwrite with zero rows (keeps history, so time travel still works)."""

    def attempt() -> Table:
        table = load_table(catalog)
        table.overwrite(ARROW_SCHEMA.empty_table())
        return table

    return with_retry(attempt)


def reset_table(catalog: SqlCatalog) -> Table:
    """Drop (purging files) and recreate the table empty. Destructive."""
    with contextlib.suppress(NoSuchTableError):
        with_retry(lambda: catalog.purge_table(TABLE))
    return with_retry(lambda: ensure_table(catalog))


def summary_int(snapshot: Snapshot | None, key: str) -> int:
    """Integer field of a snapshot summary; 0 when absent.

    pyiceberg's Summary returns None (not KeyError) for missing keys, so
    Mapping.get's default would never apply.
    """
    if snapshot is None or snapshot.summary is None:
        return 0
    value = snapshot.summary[key]
    return int(value) if value else 0


def compact(catalog: SqlCatalog, max_files: int, keep_snapshots_s: float) -> bool:
    """Rewrite into one file when there are too many, and expire old snapshots.

    The feed writes one small file per second; without this a long session
    would make every scan open thousands of files. Returns True if rewritten.
    """
    table = load_table(catalog)
    files = summary_int(table.current_snapshot(), "total-data-files")
    rewritten = False
    if files > max_files:

        def attempt() -> None:
            t = load_table(catalog)
            t.overwrite(t.scan().to_arrow())

        with_retry(attempt)
        rewritten = True
    cutoff = datetime.now(UTC) - timedelta(seconds=keep_snapshots_s)
    with_retry(
        lambda: load_table(catalog).maintenance.expire_snapshots().older_than(cutoff).commit()
    )
    return rewritten


def table_stats(table: Table) -> dict[str, Any]:
    """Row count and snapshot info from metadata only (no data files read)."""
    snap = table.current_snapshot()
    return {
        "rows": summary_int(snap, "total-records"),
        "data_files": summary_int(snap, "total-data-files"),
        "snapshots": len(table.snapshots()),
        "current_snapshot_id": snap.snapshot_id if snap is not None else None,
    }


def snapshot_rows(table: Table) -> list[dict[str, Any]]:
    """Snapshots oldest first with operation and row counts from their summaries."""
    out = []
    for s in sorted(table.snapshots(), key=lambda s: s.timestamp_ms):
        out.append(
            {
                "snapshot_id": s.snapshot_id,
                "parent_id": s.parent_snapshot_id,
                "timestamp_ms": s.timestamp_ms,
                "operation": s.summary.operation.value if s.summary is not None else None,
                "added_rows": summary_int(s, "added-records"),
                "deleted_rows": summary_int(s, "deleted-records"),
                "total_rows": summary_int(s, "total-records"),
            }
        )
    return out
