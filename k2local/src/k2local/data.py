"""Data commands: demo-mode load, readiness validation, destructive reset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc

from k2local import SYMBOLS
from k2local import catalog as cat
from k2local.home import Home
from k2local.synth import demo_rows


def load(home: Home, rows: int, seed: int) -> dict[str, Any]:
    """Append `rows` deterministic known-good trades covering the last hour."""
    catalog = cat.open_catalog(home)
    cat.ensure_table(catalog)
    # Anchor on the whole second so the same seed gives the same rows within a second.
    end = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    cat.append_trades(catalog, demo_rows(rows, seed, end))
    return {"appended": rows, "seed": seed, **cat.table_stats(cat.load_table(catalog))}


def reset(home: Home) -> dict[str, Any]:
    """Drop (purge) and recreate k2.trades empty. Destroys all rows and history."""
    catalog = cat.open_catalog(home)
    table = cat.reset_table(catalog)
    return {"reset": True, **cat.table_stats(table)}


def empty(home: Home) -> dict[str, Any]:
    """Overwrite the table with zero rows (the table-empty drill)."""
    catalog = cat.open_catalog(home)
    table = cat.empty_table(catalog)
    return cat.table_stats(table)


def validate(home: Home, min_rows: int) -> dict[str, Any]:
    """Data readiness: table exists, enough rows, all symbols, >= 2 snapshots."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        table = cat.load_table(cat.open_catalog(home))
    except Exception as exc:
        checks["table_exists"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": False, "min_rows": min_rows, "checks": checks}
    checks["table_exists"] = {"ok": True, "table": cat.TABLE}
    stats = cat.table_stats(table)
    checks["min_rows"] = {"ok": stats["rows"] >= min_rows, "rows": stats["rows"], "min": min_rows}
    snap = table.current_snapshot()
    present: list[str] = []
    if snap is not None:
        col = table.scan(snapshot_id=snap.snapshot_id, selected_fields=("symbol",)).to_arrow()[
            "symbol"
        ]
        present = sorted(str(s) for s in pc.unique(col).to_pylist() if s is not None)
    missing = [s for s in SYMBOLS if s not in present]
    checks["symbols"] = {"ok": not missing, "present": present, "missing": missing}
    checks["snapshots"] = {"ok": stats["snapshots"] >= 2, "count": stats["snapshots"], "min": 2}
    return {"ok": all(c["ok"] for c in checks.values()), "min_rows": min_rows, "checks": checks}
