"""A real pyiceberg SQL catalog (SQLite) with a local warehouse, for the Iceberg plugin tests.

REAL-PARTS.md: SqlCatalog + file:// warehouse works offline in tens of milliseconds.
The catalog name matters: a SQL catalog keeps tables per catalog name, so the
properties given to the plugins carry the same `name`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATALOG_NAME = "k2"


def catalog_props(root: Path) -> dict[str, str]:
    """Plugin `catalog:` properties for a SQLite catalog and warehouse under ``root``."""
    return {
        "name": CATALOG_NAME,
        "type": "sql",
        "uri": f"sqlite:///{root}/catalog.db",
        "warehouse": f"file://{root}/warehouse",
    }


def open_catalog(root: Path) -> Any:
    """The same catalog opened directly with pyiceberg (creating it when new)."""
    from pyiceberg.catalog.sql import SqlCatalog

    root.mkdir(parents=True, exist_ok=True)
    props = catalog_props(root)
    return SqlCatalog(CATALOG_NAME, uri=props["uri"], warehouse=props["warehouse"])


def events(ids: list[int], kind: str = "a") -> Any:
    """An Arrow table of events: id, kind, ts (one fixed day, so one partition)."""
    import pyarrow as pa

    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "kind": pa.array([kind] * len(ids), pa.string()),
        "ts": pa.array([1_714_557_600_000_000] * len(ids), pa.timestamp("us")),  # 2024-05-01 10:00
    })


@dataclass(frozen=True)
class Seeded:
    """What `seed_events` wrote: two appends of 3 then 2 rows."""

    table: Any
    first_snapshot_id: int
    first_timestamp_ms: int
    second_snapshot_id: int


def seed_events(root: Path, name: str = "ops.events") -> Seeded:
    """Create ``name`` partitioned by day(ts), then append 3 rows and later 2 rows."""
    from pyiceberg.transforms import DayTransform

    catalog = open_catalog(root)
    catalog.create_namespace_if_not_exists(name.rsplit(".", 1)[0])
    table = catalog.create_table(name, schema=events([]).schema)
    with table.update_spec() as update:
        update.add_field("ts", DayTransform(), "ts_day")
    table.append(events([1, 2, 3]))
    first = table.current_snapshot()
    # Snapshot times are in milliseconds: keep the two commits apart so "as of the
    # first commit's time" names exactly the first snapshot.
    time.sleep(0.02)
    table.append(events([4, 5], kind="b"))
    second = table.current_snapshot()
    return Seeded(table, first.snapshot_id, first.timestamp_ms, second.snapshot_id)
